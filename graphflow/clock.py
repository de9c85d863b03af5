"""Clocks: the engine reads time and sleeps only through one, so tests can time-travel."""

from __future__ import annotations

import time

import anyio
import anyio.lowlevel

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock:
    """Wall-clock time in UNIX seconds, and sleeping until an instant."""

    def now(self) -> float:
        """The current UNIX time."""
        return time.time()

    async def sleep_until(self, instant: float) -> None:
        """Return at ``instant`` (at once if it has passed). Cancellable."""
        await anyio.sleep(max(0.0, instant - self.now()))

    async def wait(self, event: anyio.Event, until: float | None) -> None:
        """Return when ``event`` is set or the clock reaches ``until`` (``None``: only the event).

        May return early (spuriously); callers re-check their condition.
        """
        if until is None:
            await event.wait()
            return
        with anyio.move_on_after(max(0.0, until - self.now())):
            await event.wait()


class SystemClock(Clock):
    """The real clock."""


class FakeClock(Clock):
    """A clock that moves only when told: :meth:`advance` / :meth:`set` wake the sleepers due.

    :meth:`set` returns once the woken tasks had a few turns; to know that a task woken by it
    has *finished* reacting, wait until it is parked again (:meth:`wait_until_parked`). An
    engine's scheduler parks in :meth:`wait` only when nothing is due at the clock's time, so
    once it is parked every fire due by then is recorded, and a test may assert that nothing
    more fired.

    Example:
        ``clock = FakeClock(start); engine = Engine(clock=clock); await clock.advance(3600)``
        then ``await clock.wait_until_parked()`` before looking at what fired.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._changed = anyio.Event()
        self._waiting: set[anyio.Event] = set()
        self._parked = anyio.Event()  # set (and replaced) whenever a task parks in wait()

    def now(self) -> float:
        return self._now

    async def sleep_until(self, instant: float) -> None:
        while self._now < instant:
            changed = self._changed
            await changed.wait()

    async def wait(self, event: anyio.Event, until: float | None) -> None:
        if until is not None and until <= self._now:
            return
        self._waiting.add(event)
        parked, self._parked = self._parked, anyio.Event()
        parked.set()
        try:
            await event.wait()
        finally:
            self._waiting.discard(event)

    @property
    def parked(self) -> int:
        """How many tasks wait in :meth:`wait` and are not woken yet (a test hook)."""
        return sum(not event.is_set() for event in self._waiting)

    async def wait_until_parked(self, count: int = 1) -> None:
        """Return once at least ``count`` tasks wait in :meth:`wait`, none of them woken yet.

        A task woken by :meth:`set` counts again only once it has called :meth:`wait` anew,
        that is after it saw the new time. Waits forever if fewer tasks come to wait (bound it
        with ``anyio.fail_after``).
        """
        while self.parked < count:
            await self._parked.wait()

    async def set(self, instant: float) -> None:
        """Jump to ``instant`` and let the tasks it wakes run (see :meth:`wait_until_parked`)."""
        self._now = instant
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
        woken, self._waiting = self._waiting, set()
        for event in woken:
            event.set()
        for _ in range(20):
            await anyio.lowlevel.checkpoint()

    async def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        await self.set(self._now + seconds)
