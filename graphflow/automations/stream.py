"""The app's event log (``engine.stream``): what SSE streams send, read from the store.

Every config, automation and run write appends its events in its own transaction (see
docs/stores.md), so reading after the last ``seq`` seen resumes with nothing lost and nothing
twice, in this process or any other sharing the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from graphflow.exceptions import Problem, ValidationError
from graphflow.ids import check_app, is_plain_id
from graphflow.records import STREAM_EVENT_TYPES, StreamEvent

if TYPE_CHECKING:
    from graphflow.automations.host import ServiceHost

__all__ = ["MAX_STREAM_PAGE", "StreamService"]

#: The most events one read returns.
MAX_STREAM_PAGE = 1000
_TYPES = frozenset(STREAM_EVENT_TYPES)


class StreamService:
    """Reads an app's event log and waits for it to grow."""

    def __init__(self, host: ServiceHost) -> None:
        self._host = host

    async def read(
        self,
        app_id: str,
        after: int = 0,
        *,
        run_id: str | None = None,
        types: Iterable[str] | None = None,
        limit: int = 100,
    ) -> list[StreamEvent]:
        """The app's events with ``seq > after``, oldest first, up to ``limit``.

        ``run_id`` keeps one run's events, ``types`` the events of those types. A ``seq`` or
        ``run_id`` of another app yields nothing of theirs.

        Raises:
            ValidationError: ``after`` is not a non-negative integer, ``limit`` not in 1…1000,
                or ``types`` names an unknown type (every problem is listed).
        """
        check_app(app_id)
        problems: list[Problem] = []
        if type(after) is not int or after < 0:
            problems.append(Problem("$.after", f"after must be a non-negative integer (an event's seq), not {after!r}"))
        if type(limit) is not int or not 1 <= limit <= MAX_STREAM_PAGE:
            problems.append(Problem("$.limit", f"limit must be an integer from 1 to {MAX_STREAM_PAGE}, not {limit!r}"))
        wanted = _types(types, problems)
        if problems:
            raise ValidationError(problems, subject="request")
        if run_id is not None and not is_plain_id(run_id):
            return []  # no run has such an id
        return await self._host.store.read_events(app_id, after=after, limit=limit, run_id=run_id, types=wanted)

    async def last_seq(self, app_id: str) -> int:
        """The app's newest ``seq`` (``0`` when it has no events): where a new reader starts."""
        check_app(app_id)
        return await self._host.store.last_event_seq(app_id)

    async def wait(self, timeout: float) -> None:
        """Return when new events may have been appended (a hint), or after ``timeout`` seconds.

        It may return early; read again after it returns either way.
        """
        await self._host.store.wait_for_events(max(0.0, float(timeout)))


def _types(types: Any, problems: list[Problem]) -> frozenset[str] | None:
    if types is None:
        return None
    if isinstance(types, str) or not isinstance(types, Iterable):
        problems.append(Problem("$.types", "types must be a collection of event types, e.g. ['run.failed']"))
        return None
    items = list(types)
    if not all(type(item) is str for item in items):
        problems.append(Problem("$.types", "every event type must be a string"))
        return None
    wanted = frozenset(items)
    if not wanted:
        problems.append(Problem("$.types", "types must name at least one event type (or be omitted for all)"))
    for unknown in sorted(wanted - _TYPES):
        problems.append(
            Problem("$.types", f"unknown event type {unknown!r}", f"use one of {', '.join(STREAM_EVENT_TYPES)}")
        )
    return wanted
