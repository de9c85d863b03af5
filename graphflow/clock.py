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

    Example:
        ``clock = FakeClock(start); engine = Engine(clock=clock); await clock.advance(3600)``
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._changed = anyio.Event()
        self._waiting: set[anyio.Event] = set()

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
        try:
            await event.wait()
        finally:
            self._waiting.discard(event)

    async def set(self, instant: float) -> None:
        """Jump to ``instant`` and let the tasks it wakes run."""
        self._now = instant
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
        for event in list(self._waiting):
            event.set()
        for _ in range(20):
            await anyio.lowlevel.checkpoint()

    async def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        await self.set(self._now + seconds)
