"""The automation lifecycle, exactly as the seed diagram draws it.

``draft → running`` (activate), ``running → paused`` (pause), ``paused → running`` (activate),
``paused → draft`` (reset); delete from any state. Any other move raises
:class:`~graphflow.exceptions.InvalidTransitionError` naming the moves allowed from the current
state.
"""

from __future__ import annotations

from graphflow.exceptions import InvalidTransitionError
from graphflow.records import AutomationStatus

__all__ = ["TRANSITIONS", "allowed_actions", "next_status"]

#: (current status, action) → new status.
TRANSITIONS: dict[tuple[str, str], AutomationStatus] = {
    ("draft", "activate"): "running",
    ("running", "pause"): "paused",
    ("paused", "activate"): "running",
    ("paused", "reset"): "draft",
}


def allowed_actions(status: str) -> list[str]:
    """The actions allowed from ``status`` (``delete`` is always allowed)."""
    return [action for (current, action) in TRANSITIONS if current == status] + ["delete"]


def next_status(automation_id: str, status: str, action: str) -> AutomationStatus:
    """Return the status after ``action``.

    Raises:
        InvalidTransitionError: ``action`` is not allowed from ``status``.
    """
    new = TRANSITIONS.get((status, action))
    if new is None:
        raise InvalidTransitionError(f"automation {automation_id!r}", status, action, allowed_actions(status))
    return new
