"""The per-run journal: what happened to each node, in order, with time and attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = ["Journal", "JournalEntry"]


class JournalEntry(NamedTuple):
    """One journal line.

    Attributes:
        sequence: position in the run's journal, from 1.
        type: ``node_started``, ``node_completed`` or ``node_failed``.
        node_id: the node.
        attempt: the attempt number, from 1.
        at: UNIX timestamp in seconds.
        scope: ``""`` for the main flow, else the branch or map item (``fan/b1``, ``loop[3]``).
        error: the error message (``node_failed`` only).
        code: the error code (``node_failed`` only).
        will_retry: whether another attempt follows (``node_failed`` only).
    """

    sequence: int
    type: str
    node_id: str
    attempt: int
    at: float
    scope: str = ""
    error: str | None = None
    code: str | None = None
    will_retry: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-able data (``at`` as an ISO-8601 UTC string)."""
        data: dict[str, Any] = {
            "sequence": self.sequence,
            "type": self.type,
            "node_id": self.node_id,
            "attempt": self.attempt,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat().replace("+00:00", "Z"),
        }
        if self.scope:
            data["scope"] = self.scope
        if self.type == "node_failed":
            data.update(error=self.error, code=self.code, will_retry=self.will_retry)
        return data


class Journal(list[JournalEntry]):
    """The entries of one run, in order (a list, so hosts can slice and iterate it)."""

    def add(
        self,
        type: str,
        node_id: str,
        attempt: int,
        at: float,
        scope: str = "",
        error: str | None = None,
        code: str | None = None,
        will_retry: bool = False,
    ) -> JournalEntry:
        """Append an entry and return it."""
        entry = JournalEntry(len(self) + 1, type, node_id, attempt, at, scope, error, code, will_retry)
        self.append(entry)
        return entry

    def to_list(self) -> list[dict[str, Any]]:
        """Return every entry as JSON-able data."""
        return [e.to_dict() for e in self]
