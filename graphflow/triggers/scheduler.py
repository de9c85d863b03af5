"""The scheduler: fires running scheduled automations at their next instants.

Next fire times live in a heap (no scan of all automations per tick). Each entry carries a
sequence number, so replacing or removing an automation never searches the heap: stale entries
are skipped when they surface. Per automation the scheduler keeps the few values firing needs
(:class:`ScheduleEntry`), stored as a plain tuple of immutable values whose strings are the
record's own: ~0.3 KiB with its heap tuple, and invisible to the garbage collector (CPython stops
tracking a plain tuple of atomic values, but not a named tuple), so 100,000 of them add nothing to
each collection. Cron next fires are cached by (expression, zone, minute): cron has minute
resolution, so every automation sharing an expression shares one croniter computation (~55 µs).

Missed instants follow the automation's catch-up policy (``none``, ``latest``, ``all``, capped
by ``max_catchup_runs``) once they are later than ``misfire_grace``; overlap and ``repeat`` are
the job of the ``fire`` callback the scheduler is given (the engine's ``fire_scheduled``): the
scheduler knows nothing of engines, stores or runs.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio

from graphflow.clock import Clock
from graphflow.events import EngineEvent, RunSkipped
from graphflow.records import Automation

if TYPE_CHECKING:
    from graphflow.triggers.schedules import Schedule

__all__ = ["MAX_BACKLOG_SCAN", "Announce", "Fire", "ScheduleEntry", "Scheduler"]

logger = logging.getLogger(__name__)  # graphflow.triggers.scheduler

#: Most missed instants walked when catching up (a minutely schedule missed for a week is ~10k).
MAX_BACKLOG_SCAN = 20_000


@lru_cache(maxsize=4096)
def _schedule(kind: str, expression: str, zone: str) -> Schedule:
    from graphflow.triggers.schedules import Schedule

    return Schedule.from_dict({"kind": kind, "expression": expression, "timezone": zone})


@lru_cache(maxsize=65_536)
def _cron_next(expression: str, zone: str, minute: int) -> float | None:
    from graphflow.triggers.schedules import next_fire

    found = next_fire(_schedule("cron", expression, zone), datetime.fromtimestamp(minute * 60, UTC))
    return found.timestamp() if found is not None else None


class ScheduleEntry(NamedTuple):
    """A tracked automation, as the scheduler keeps it: what firing needs, nothing mutable.

    The fields are named as the :class:`~graphflow.records.Automation` fields they copy,
    so both read the same (``next_after``, ``Engine.fire_scheduled``). ``next_run_at`` is the due
    instant; the entry fires at ``next_run_at + delay`` (the jitter).
    """

    id: str
    app_id: str
    next_run_at: float
    delay: float
    seq: int
    schedule_kind: str | None
    schedule: str | None
    timezone: str
    misfire_grace: float
    catchup: str
    max_catchup_runs: int


#: ``fire(automation, instants, following)``: start the runs of the due ``instants`` (oldest
#: first; empty when every missed one is dropped) and record ``following``, the next fire
#: (``None``: the schedule is exhausted). It must not raise: a failure is the callback's to log.
Fire = Callable[["ScheduleEntry | Automation", list[float], float | None], Awaitable[None]]
#: ``announce(event)``: deliver an engine event (here :class:`~graphflow.events.RunSkipped`).
Announce = Callable[[EngineEvent], None]

#: How a :class:`ScheduleEntry` is stored: ``ScheduleEntry(*row)`` rebuilds it.
_Row = tuple[str, str, float, float, int, str | None, str | None, str, float, str, int]


def next_after(automation: Automation | ScheduleEntry, after: float, anchor: float | None = None) -> float | None:
    """The automation's first fire strictly after ``after`` (UNIX seconds), or ``None``."""
    kind = automation.schedule_kind
    if kind is None or automation.schedule is None:
        return None
    if kind == "cron":
        # Cron fires on whole minutes: the next fire after t is the next after floor(t / 60).
        return _cron_next(automation.schedule, automation.timezone, int(after // 60))
    from graphflow.triggers.schedules import next_fire

    schedule = _schedule(kind, automation.schedule, automation.timezone)
    anchor_dt = datetime.fromtimestamp(anchor, UTC) if anchor is not None else None
    found = next_fire(schedule, datetime.fromtimestamp(after, UTC), anchor=anchor_dt)
    return found.timestamp() if found is not None else None


class Scheduler:
    """Keeps every running scheduled automation's next fire and fires it on time.

    Args:
        fire: called with each due automation (see :data:`Fire`).
        clock: the time source; :meth:`run` waits on it.
        announce: delivers the :class:`~graphflow.events.RunSkipped` of dropped missed instants.
        rand: a ``() -> float`` in ``[0, 1)`` that scales each fire's jitter.
    """

    def __init__(self, *, fire: Fire, clock: Clock, announce: Announce, rand: Any = random.random) -> None:
        self._fire_due = fire
        self._clock = clock
        self._announce = announce
        self._heap: list[tuple[float, int, str]] = []
        self._entries: dict[str, _Row] = {}
        self._seq = itertools.count()
        self._wake = anyio.Event()
        self._rand = rand
        #: Missed instants dropped by the catch-up policies, in all (what metrics count).
        self.missed = 0

    def __len__(self) -> int:
        return len(self._entries)

    def first_fire(self, automation: Automation) -> float | None:
        """The next fire from now (what activation records as ``next_run_at``)."""
        now = self._clock.now()
        if automation.schedule_kind == "interval":
            return next_after(automation, now, anchor=now)
        if automation.schedule_kind == "once":
            return next_after(automation, now - automation.misfire_grace)
        return next_after(automation, now)

    def put(self, automation: Automation) -> None:
        """Track (or re-track) a running scheduled automation at its ``next_run_at``."""
        due = automation.next_run_at
        if due is None:
            self.discard(automation.id)
            return
        seq = next(self._seq)
        delay = automation.jitter * self._rand() if automation.jitter else 0.0
        automation_id = automation.id
        self._entries[automation_id] = (
            automation_id,
            automation.app_id,
            due,
            delay,
            seq,
            automation.schedule_kind,
            automation.schedule,
            automation.timezone,
            automation.misfire_grace,
            automation.catchup,
            automation.max_catchup_runs,
        )
        heapq.heappush(self._heap, (due + delay if delay else due, seq, automation_id))
        if self._heap[0][1] == seq:
            self._wake.set()

    def discard(self, automation_id: str) -> None:
        """Stop tracking an automation (its heap entry is skipped when it surfaces)."""
        self._entries.pop(automation_id, None)

    def earliest(self) -> float | None:
        """The earliest tracked fire instant (jitter included), or ``None`` (what metrics call the lag)."""
        heap, entries = self._heap, self._entries
        while heap:
            _, seq, automation_id = heap[0]
            row = entries.get(automation_id)
            if row is not None and row[4] == seq:
                return heap[0][0]
            heapq.heappop(heap)  # replaced or removed since it was pushed: drop it now
        return None

    def due_at(self, automation_id: str) -> float | None:
        """The tracked next fire of an automation, if any."""
        row = self._entries.get(automation_id)
        return row[2] if row is not None else None

    async def run(self) -> None:
        """Fire due automations forever (the engine runs this in its task group)."""
        clock = self._clock
        heap = self._heap
        while True:
            now = clock.now()
            while heap and heap[0][0] <= now:
                _, seq, automation_id = heapq.heappop(heap)
                row = self._entries.get(automation_id)
                if row is None or row[4] != seq:
                    continue  # replaced or removed since it was pushed
                del self._entries[automation_id]
                await self._fire(ScheduleEntry(*row), now)
            self._wake = wake = anyio.Event()
            await clock.wait(wake, heap[0][0] if heap else None)

    async def _fire(self, entry: ScheduleEntry, now: float) -> None:
        due = entry.next_run_at
        # Lateness is measured from the jittered instant: a jitter longer than the grace is not a misfire.
        instants, skipped = self._instants(entry, due, now - entry.delay)
        last = instants[-1] if instants else due
        anchor = last if entry.schedule_kind == "interval" else None
        following = next_after(entry, max(now, last), anchor=anchor)
        if skipped:
            self.missed += skipped
            logger.warning(
                "automation %s: %d scheduled fire(s) missed (later than misfire_grace %gs, catchup %r), first due %s",
                entry.id,
                skipped,
                entry.misfire_grace,
                entry.catchup,
                datetime.fromtimestamp(due, UTC).isoformat(),
                extra={"app_id": entry.app_id, "automation_id": entry.id},
            )
            self._announce(
                RunSkipped(at=now, app_id=entry.app_id, automation_id=entry.id, reason="missed", scheduled_at=due)
            )
        await self._fire_due(entry, instants, following)

    def _instants(self, automation: ScheduleEntry, due: float, now: float) -> tuple[list[float], int]:
        """The instants to fire now, and how many missed ones are dropped (the catch-up policy)."""
        if due >= now - automation.misfire_grace:
            return [due], 0
        if automation.catchup == "none":
            missed = self._backlog(automation, due, now, limit=MAX_BACKLOG_SCAN)
            return [], len(missed)
        missed = self._backlog(automation, due, now, limit=MAX_BACKLOG_SCAN)
        if automation.catchup == "latest":
            return [missed[-1]], len(missed) - 1
        keep = missed[-automation.max_catchup_runs :]
        return keep, len(missed) - len(keep)

    @staticmethod
    def _backlog(automation: ScheduleEntry, due: float, now: float, *, limit: int) -> list[float]:
        """Missed instants from ``due`` up to ``now`` (at most ``limit``, keeping the latest)."""
        instants = [due]
        current = due
        anchor = due if automation.schedule_kind == "interval" else None
        while len(instants) < limit:
            nxt = next_after(automation, current, anchor=anchor)
            if nxt is None or nxt > now:
                break
            instants.append(nxt)
            current = nxt
        return instants
