"""A fake clock that knows what is due next, so a test can step through time fire by fire.

:class:`~graphflow.clock.FakeClock` moves only when told. :class:`SteppingClock` also records
the instants its waiters want to be woken at (the engine's scheduler waits on the clock with its
next fire as the deadline; :meth:`~graphflow.clock.Clock.sleep_until` callers name theirs), so
:meth:`SteppingClock.next_deadline` says where the next thing happens. The
:class:`~graphflow.testing.harness.EngineHarness` uses it to advance through a week of schedules
in a handful of jumps, each due instant in order, with no real sleep.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import anyio

from graphflow.clock import FakeClock

__all__ = ["SteppingClock", "instant"]


def instant(when: datetime | str | float) -> float:
    """UNIX seconds of ``when``: an aware ``datetime``, an ISO-8601 string with an offset, or seconds.

    Raises:
        ValueError: a naive ``datetime`` or a string without an offset (the time it names is
            ambiguous), or seconds that are not finite.
    """
    if isinstance(when, int | float):
        if not math.isfinite(when):
            raise ValueError(f"{when!r} is not a time: give finite seconds")
        return float(when)
    moment = datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else when
    if moment.tzinfo is None:
        raise ValueError(f"{when!r} has no time zone: give an aware datetime or an offset such as 'Z'")
    return moment.astimezone(UTC).timestamp()


class SteppingClock(FakeClock):
    """A :class:`~graphflow.clock.FakeClock` that tracks the deadlines of the tasks waiting on it.

    Args:
        start: the initial time (UNIX seconds, an aware ``datetime`` or an ISO-8601 string).

    Example:
        ``clock = SteppingClock("2027-01-01T00:00:00Z")``; ``clock.next_deadline()`` is the
        earliest instant a parked task waits for (``None``: no one waits for a time).
    """

    def __init__(self, start: datetime | str | float = 1_767_225_600.0) -> None:
        super().__init__(instant(start))
        self._deadlines: dict[int, tuple[float, anyio.Event | None]] = {}
        self._tokens = 0

    def _token(self, until: float, event: anyio.Event | None) -> int:
        self._tokens += 1
        self._deadlines[self._tokens] = (until, event)
        return self._tokens

    async def wait(self, event: anyio.Event, until: float | None) -> None:
        if until is None or until <= self.now():
            await super().wait(event, until)
            return
        token = self._token(until, event)
        try:
            await super().wait(event, until)
        finally:
            self._deadlines.pop(token, None)

    async def sleep_until(self, instant: float) -> None:
        if instant <= self.now():
            return
        token = self._token(instant, None)
        try:
            await super().sleep_until(instant)
        finally:
            self._deadlines.pop(token, None)

    def next_deadline(self) -> float | None:
        """The earliest instant a waiting task asked to be woken at (later than now), or ``None``."""
        now = self.now()
        pending = [
            until for until, event in self._deadlines.values() if until > now and (event is None or not event.is_set())
        ]
        return min(pending, default=None)

    def utcnow(self) -> datetime:
        """The clock's time as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.now(), UTC)
