"""Machinery every store shares, so that the three backends agree by construction.

* **One JSON codec.** Every value a store keeps as JSON (payloads, results, journals, steps,
  metadata, config documents) goes through :func:`encode_json`, whichever the backend: the memory
  store refuses exactly what SQLite and PostgreSQL refuse. It is strict where the standard library
  is lenient and a database would fail later with a driver error: ``NaN``/``Infinity``, values that
  are not JSON data (bytes, datetimes, sets, objects), NUL characters and lone surrogates (which
  PostgreSQL's ``jsonb`` cannot hold). Keys that are not strings become strings, as JSON has it.
* **Cursor pages** (:func:`page`): ids are time-ordered, so the cursor is the last id of a page.
* **The lease-lost error** (:func:`lease_lost`): one message, saying what happened and what to do.
* **The event log's vocabulary** (:func:`automation_event`, :func:`run_event_type`,
  :func:`run_event_data`): which event a write appends, decided once for the memory store (the
  SQL stores encode the same table in their triggers, and the contract suite checks they agree).
"""

from __future__ import annotations

import json
from typing import Any

from graphflow.exceptions import LeaseLostError, StoreError
from graphflow.records import Page, Wait

__all__ = [
    "AUTOMATION_TRANSITIONS",
    "automation_event",
    "decode_json",
    "encode_json",
    "json_copy",
    "lease_lost",
    "page",
    "run_event_data",
    "run_event_type",
    "streak",
    "wait_data",
    "wait_event",
    "wait_filter",
    "wait_from_data",
]

#: (stored status, new status) → the event an automation write appends; others are ``automation.updated``.
AUTOMATION_TRANSITIONS = {
    ("draft", "running"): "automation.activated",
    ("paused", "running"): "automation.activated",
    ("running", "paused"): "automation.paused",
    ("paused", "draft"): "automation.reset",
}

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

#: JSON text → value (the standard decoder, bound once).
decode_json = json.JSONDecoder().decode


def encode_json(value: Any, what: str) -> str:
    r"""Compact JSON text of ``value``; ``what`` names it in the error when it cannot be stored.

    ASCII-only output: every character outside ASCII is a ``\u`` escape, so NUL characters and
    surrogates can only appear as ``\u0000`` and ``\ud800``…``\udfff`` — looked for only when
    such an escape is in the text (a valid surrogate pair is fine).

    Raises:
        StoreError: ``value`` holds something JSON (or one of the stores) cannot represent;
            nothing has been written.
    """
    try:
        text = _encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise StoreError(f"{what} cannot be stored: it is not JSON data ({exc})") from exc
    if "\\u0000" in text or "\\ud" in text:
        _refuse_unstorable_characters(value, what)
    return text


def _refuse_unstorable_characters(value: Any, what: str) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise StoreError(f"{what} cannot be stored: it holds a NUL character (\\u0000); remove it")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise StoreError(
                    f"{what} cannot be stored: it holds a lone surrogate ({exc.object[exc.start]!r}), which is not "
                    "valid Unicode text; encode binary data as base64"
                ) from exc


def json_copy(value: Any, what: str) -> Any:
    """``value`` as a store gives it back: checked by :func:`encode_json`, then decoded afresh."""
    return decode_json(encode_json(value, what))


def page(items: list[Any], limit: int) -> Page:
    """One page of ``items`` (up to ``limit + 1`` were fetched, newest first): cursor = the last id kept."""
    if len(items) > limit:
        return Page(items[:limit], items[limit - 1].id)
    return Page(items, None)


def lease_lost(run_id: str, fence: int | None) -> LeaseLostError:
    """The error for a write whose fence is stale: another worker or a cancel took the run over."""
    return LeaseLostError(
        f"run {run_id!r} is no longer held by this worker (fence {fence}): it was cancelled, finished, or "
        "taken over by another worker after this one's lease expired; stop working on it (nothing was written)"
    )


def automation_event(previous: str, status: str) -> tuple[str, dict[str, Any]]:
    """The type and data of the event for an automation write from ``previous`` to ``status``."""
    type = AUTOMATION_TRANSITIONS.get((previous, status), "automation.updated")
    return type, {"status": status, "previous_status": previous}


def run_event_type(previous: str | None, status: str) -> str | None:
    """The event of a run going from ``previous`` (``None``: a reclaim) to ``status``; ``None``: none."""
    if previous == status:
        return None
    if status == "running":
        return "run.started"
    if status == "pending":
        return "run.waiting"
    return f"run.{status}"


def run_event_data(status: str, result: Any) -> dict[str, Any]:
    """``{"status"}``, plus the result's ``error`` for a failed or cancelled run."""
    data: dict[str, Any] = {"status": status}
    if status in ("failed", "cancelled") and isinstance(result, dict) and result.get("error") is not None:
        data["error"] = str(result["error"])
    return data


# -- waits -----------------------------------------------------------------------------------

#: The fields of a :class:`Wait` the SQL stores keep in its ``data`` JSON (the rest are columns).
WAIT_DATA_FIELDS = ("node_id", "message", "choices", "assignees", "condition", "input", "resolution")


def wait_data(wait: Wait) -> str:
    """The JSON text of a wait's ``data`` column (what is not a column of its own)."""
    return encode_json({name: getattr(wait, name) for name in WAIT_DATA_FIELDS}, f"wait {wait.id!r}")


def wait_from_data(columns: dict[str, Any], text: str) -> Wait:
    """A wait from its columns (by name) and its ``data`` JSON text."""
    return Wait(**columns, **decode_json(text))


def wait_filter(
    marker: str, app_id: str, kind: str | None, run_id: str | None, status: str | None, cursor: str | None
) -> tuple[str, list[Any]]:
    """The ``WHERE`` condition and its parameters of a page of an app's waits (``marker``: ``?`` or ``%s``)."""
    where, args = [f"app_id = {marker}"], [app_id]
    for test, value in (("kind =", kind), ("run_id =", run_id), ("status =", status), ("id <", cursor)):
        if value is not None:
            where.append(f"{test} {marker}")
            args.append(value)
    return " AND ".join(where), args


def wait_event(wait: Wait) -> tuple[str, dict[str, Any]] | None:
    """The event-log entry of a steering request in its current status (``None`` for event waits).

    ``steering.requested`` when pending, else ``steering.<status>``; data: the request id, the
    node, and the choice once answered. The SQL stores encode the same in their triggers.
    """
    if wait.kind != "steering":
        return None
    data: dict[str, Any] = {"request_id": wait.id, "node_id": wait.node_id, "status": wait.status}
    if wait.status == "pending":
        return "steering.requested", data
    if wait.status == "answered" and wait.resolution is not None:
        data["choice"] = wait.resolution.get("choice")
    return f"steering.{wait.status}", data


# -- failure streaks -----------------------------------------------------------------------------

#: ``paused_reason`` of an automation paused by ``max_consecutive_failures``.
FAILURES_REASON = "failures"


def streak(status: str, current: int, maximum: int | None, automation_status: str) -> tuple[int, bool]:
    """The failure streak after a run ended ``status``, and whether the automation pauses now.

    A failed run adds one, a completed one resets it, a cancelled one leaves it; a ``running``
    automation with ``max_consecutive_failures`` pauses when the streak reaches it. The SQL stores
    encode the same in their outcome statements (the contract suite checks they agree).
    """
    count = current + 1 if status == "failed" else 0 if status == "completed" else current
    return count, maximum is not None and status == "failed" and count >= maximum and automation_status == "running"
