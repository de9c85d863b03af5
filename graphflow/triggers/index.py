"""The (app, event) → running trigger automations index behind ``publish``.

Matching is one dict lookup whatever the number of automations: an event's cost grows with the
automations that match it, never with those that do not.
"""

from __future__ import annotations

from graphflow.records import Automation

__all__ = ["TriggerIndex"]


class TriggerIndex:
    """Running trigger automations by ``(app_id, event)``."""

    def __init__(self) -> None:
        self._by_event: dict[tuple[str, str], dict[str, Automation]] = {}
        self._keys: dict[str, tuple[str, str]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, automation: Automation) -> None:
        """Index a running trigger automation (replacing its previous entry)."""
        self.discard(automation.id)
        if automation.type != "trigger" or automation.status != "running" or not automation.trigger:
            return
        key = (automation.app_id, automation.trigger)
        # A snapshot: the caller may hand ``automation`` to a host, who may change it.
        self._by_event.setdefault(key, {})[automation.id] = automation.snapshot()
        self._keys[automation.id] = key

    def discard(self, automation_id: str) -> None:
        """Remove an automation if it is indexed."""
        key = self._keys.pop(automation_id, None)
        if key is not None:
            bucket = self._by_event[key]
            bucket.pop(automation_id, None)
            if not bucket:
                del self._by_event[key]

    def get(self, automation_id: str) -> Automation | None:
        """The indexed snapshot of an automation, or ``None``."""
        key = self._keys.get(automation_id)
        return None if key is None else self._by_event[key].get(automation_id)

    def matches(self, app_id: str, event: str) -> list[Automation]:
        """The running trigger automations of ``app_id`` listening for ``event``."""
        bucket = self._by_event.get((app_id, event))
        return list(bucket.values()) if bucket else []
