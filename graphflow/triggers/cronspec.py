"""Five-field cron: validation, expansion and next-fire computation with a stated DST policy.

croniter does the calendar arithmetic; this module adds what a scheduler needs around it:

* **Validation with useful messages.** Each field is checked here first (range, step, names), so a
  user reads "minute 60 is out of range 0-59" instead of a croniter traceback, and the extensions
  croniter accepts but other crons do not (``L``, ``W``, ``#``, ``?``, ``H``, seconds, years) are
  refused to keep expressions portable and their descriptions honest.
* **A schedule that can never fire is refused.** With five fields the only way is a day of the
  month that no listed month has (``0 0 31 2 *``); that is decided exactly from the expanded
  fields, without searching the calendar.
* **A cache.** Compiling costs ~80 µs (most of it croniter's), so every expression is compiled
  once (:func:`compile_cron`, LRU-cached, 4,096 expressions of ~3.5 KiB each at most) and keeps
  one croniter iterator behind a lock.
* **Time zones and DST.** Cron is matched against local wall time in the schedule's IANA zone:

  - a local time that does not exist (spring forward) fires once, at the first valid instant after
    the gap (02:30 on 2026-03-08 in America/New_York fires at 03:00 EDT);
  - a repeated local time (fall back) fires once, at its first occurrence.

  Schedules whose hour field is ``*`` (every hour or more often) follow the real clock instead: a
  time inside the gap is skipped (that hour did not happen) and a repeated time fires in both
  occurrences, so "every 15 minutes" stays every 15 real minutes across both transitions.
* **A loop guard.** The search crosses a gap in one step (Pacific/Apia skipped all of 2011-12-30:
  1,440 wall times of ``* * * * *``), visits at most :data:`MAX_CANDIDATES` wall times as a
  backstop, and never returns an instant at or before the one asked about (croniter has returned
  repeated instants around DST).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from croniter import CroniterError, croniter

from graphflow.exceptions import Problem, ValidationError

__all__ = [
    "MAX_CANDIDATES",
    "CronSpec",
    "compile_cron",
    "next_cron_fire",
    "resolve_wall_time",
    "schedule_error",
]

#: The most local wall times one next-fire search may look at before giving up. A backstop only:
#: a gap (even a skipped day) is crossed in one step, so a schedule that fires never reaches it.
MAX_CANDIDATES = 1000
_JUST_BEFORE = timedelta(microseconds=1)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: (name, low, high, names) for the five fields; weekday 7 is Sunday, as in every cron.
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),
)
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EXTENSION_RE = re.compile(r"^(?:l|lw|[0-9]+[lw]|h)$")
_ITEM_RE = re.compile(r"^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/([0-9]+))?$")
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_EXAMPLE = "e.g. '0 9 * * 1-5' (minute hour day-of-month month day-of-week)"


def schedule_error(message: str, hint: str = "") -> ValidationError:
    """Build the :class:`ValidationError` every refused schedule raises (path ``$.schedule``)."""
    return ValidationError([Problem("$.schedule", message, hint)], subject="schedule")


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A validated five-field cron expression and its expanded fields.

    Attributes:
        expression: the normalized expression (aliases expanded, names turned into numbers).
        minutes: the minutes it matches.
        hours: the hours it matches.
        days: the days of the month it matches, or ``None`` for every day.
        months: the months it matches.
        weekdays: the days of the week it matches (0 is Sunday), or ``None`` for every day.
    """

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None
    months: frozenset[int]
    weekdays: frozenset[int] | None
    _iterator: croniter = field(compare=False, repr=False)
    _lock: threading.Lock = field(compare=False, repr=False)

    @property
    def hourly_or_finer(self) -> bool:
        """Whether the hour field is ``*``, which selects the real-clock DST policy."""
        return len(self.hours) == 24

    def next_local(self, after: datetime) -> datetime:
        """Return the first matching naive wall time strictly after the naive ``after``."""
        with self._lock:
            found: datetime = self._iterator.get_next(datetime, start_time=after)
        return found


def _value(text: str, index: int, fields: list[str]) -> int:
    name, low, high, names = _FIELDS[index]
    if text.isdigit():
        number = int(text)
    elif text in names:
        number = names.index(text) + (1 if index == 3 else 0)
    elif _EXTENSION_RE.match(text):
        raise _extension_error(name, fields[index])
    else:
        raise schedule_error(
            f"{name} field {fields[index]!r} has {text!r}, which is not a number"
            + (f" or a name ({names[0].upper()}-{names[-1].upper()})" if names else ""),
            hint=_EXAMPLE,
        )
    if not low <= number <= high:
        raise schedule_error(f"{name} {number} is out of range {low}-{high} in {fields[index]!r}", hint=_EXAMPLE)
    return number


def _extension_error(name: str, text: str) -> ValidationError:
    return schedule_error(
        f"{name} field {text!r} uses a cron extension (L, W, #, ? or H)",
        hint="only plain five-field cron is supported: numbers, names, *, ranges, lists and steps",
    )


def _normalize_field(index: int, fields: list[str]) -> str:
    name, _low, high, _names = _FIELDS[index]
    raw = fields[index].lower()
    if any(char in raw for char in "#?("):
        raise _extension_error(name, fields[index])
    items = []
    for item in raw.split(","):
        match = _ITEM_RE.match(item)
        if match is None:
            raise schedule_error(f"{name} field {fields[index]!r} is not valid", hint=_EXAMPLE)
        star, start, end, step = match.groups()
        if step is not None and int(step) == 0:
            raise schedule_error(f"{name} field {fields[index]!r} has a step of 0", hint=_EXAMPLE)
        text = "*"
        if not star:
            first = _value(start, index, fields)
            text = str(first)
            if end is not None:
                last = _value(end, index, fields)
                if last < first:
                    raise schedule_error(
                        f"{name} range {start}-{end} runs backwards",
                        hint=f"write it as two ranges: '{first}-{high},{_FIELDS[index][1]}-{last}'",
                    )
                text = f"{first}-{last}"
        items.append(text if step is None else f"{text}/{int(step)}")
    return ",".join(items)


def _expanded(values: list[int | str]) -> frozenset[int] | None:
    if values == ["*"]:
        return None
    return frozenset(int(value) for value in values)


@lru_cache(maxsize=4096)
def compile_cron(text: str) -> CronSpec:
    """Validate a five-field cron expression (or an ``@daily``-style alias) and compile it.

    Args:
        text: the expression; surrounding and repeated whitespace is ignored.

    Returns:
        The compiled spec. Results are cached per text.

    Raises:
        ValidationError: when the expression is malformed, uses an unsupported extension, or can
            never fire.
    """
    stripped = " ".join(text.split())
    alias = stripped.lower()
    if alias.startswith("@"):
        if alias not in _ALIASES:
            raise schedule_error(f"unknown cron alias {stripped!r}", hint=f"use one of {', '.join(_ALIASES)}")
        stripped = _ALIASES[alias]
    fields = stripped.split(" ")
    if len(fields) != 5:
        extra = " (seconds and years are not supported)" if len(fields) > 5 else ""
        raise schedule_error(f"cron needs exactly 5 fields, {stripped!r} has {len(fields)}{extra}", hint=_EXAMPLE)
    expression = " ".join(_normalize_field(index, fields) for index in range(5))
    try:
        iterator = croniter(expression, datetime(2000, 1, 1))
        expanded = iterator.expanded  # what croniter.expand() returns, without expanding twice
    except CroniterError as exc:  # pragma: no cover - our own checks run first
        raise schedule_error(f"invalid cron expression {stripped!r}: {exc}", _EXAMPLE) from exc
    minutes, hours, days, months, weekdays = (_expanded(v) for v in expanded)
    all_months = months or frozenset(range(1, 13))
    longest = max(_MAX_DAYS[month - 1] for month in all_months)
    if days is not None and weekdays is None and min(days) > longest:
        names = ", ".join(_MONTHS[m - 1].capitalize() for m in sorted(all_months))
        raise schedule_error(
            f"{stripped!r} can never fire: no day {', '.join(map(str, sorted(days)))} exists in {names}",
            hint="check the day-of-month and month fields",
        )
    return CronSpec(
        expression=expression,
        minutes=minutes or frozenset(range(60)),
        hours=hours or frozenset(range(24)),
        days=days,
        months=all_months,
        weekdays=weekdays,
        _iterator=iterator,
        _lock=threading.Lock(),
    )


def _transition_after(naive: datetime, zone: tzinfo, old_offset: timedelta) -> datetime:
    """Return the first instant whose offset is no longer ``old_offset`` (the end of a DST gap)."""
    low = int((naive - _offset(naive, zone, 1)).replace(tzinfo=UTC).timestamp())
    high = int((naive - old_offset).replace(tzinfo=UTC).timestamp()) + 1
    while high - low > 1:  # about 12 steps: a gap is at most a few hours wide
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == old_offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _offset(naive: datetime, zone: tzinfo, fold: int) -> timedelta:
    offset = naive.replace(tzinfo=zone, fold=fold).utcoffset()
    return offset if offset is not None else timedelta(0)


def resolve_wall_time(naive: datetime, zone: tzinfo) -> datetime:
    """Turn a local wall time into a UTC instant, with the DST policy of fixed-time schedules.

    A wall time skipped by a spring-forward gap resolves to the end of the gap (the first valid
    instant after it); a wall time repeated by a fall-back resolves to its first occurrence.
    """
    first, second = _offset(naive, zone, 0), _offset(naive, zone, 1)
    if first >= second:
        return (naive - first).replace(tzinfo=UTC)
    return _transition_after(naive, zone, first)


def _gap_end(naive: datetime, zone: tzinfo) -> datetime:
    """The first wall time after the gap (spring forward) that holds the skipped ``naive``."""
    end = _transition_after(naive, zone, _offset(naive, zone, 0))
    return end.astimezone(zone).replace(tzinfo=None)


def _instants(spec: CronSpec, naive: datetime, zone: tzinfo) -> tuple[list[datetime], bool]:
    """Map a matching wall time to the instants it fires at, and say whether it was ambiguous."""
    first, second = _offset(naive, zone, 0), _offset(naive, zone, 1)
    if first == second or not spec.hourly_or_finer:
        return [resolve_wall_time(naive, zone)], first > second
    if first > second:  # fall back: the wall time happens twice, and so does this real hour
        return [(naive - first).replace(tzinfo=UTC), (naive - second).replace(tzinfo=UTC)], True
    return [], False  # spring forward: this wall time, and this real hour, never happen


def next_cron_fire(spec: CronSpec, after: datetime, zone: tzinfo | None) -> datetime:
    """Return the first fire instant strictly after ``after``, applying the DST policy.

    Args:
        spec: the compiled expression.
        after: an aware instant.
        zone: the zone the expression is read in; ``None`` means UTC (the fast path).

    Returns:
        An aware UTC datetime strictly after ``after``.

    Raises:
        ValidationError: if no fire time is found within :data:`MAX_CANDIDATES` wall times.
    """
    after = after.astimezone(UTC)
    try:
        if zone is None:
            cursor = after.replace(tzinfo=None)
            for _ in range(MAX_CANDIDATES):
                cursor = spec.next_local(cursor)
                instant = cursor.replace(tzinfo=UTC)
                if instant > after:
                    return instant
        else:
            local = after.astimezone(zone)
            cursor = local.replace(tzinfo=None)
            early, late = _offset(cursor, zone, 0), _offset(cursor, zone, 1)
            if spec.hourly_or_finer and early > late and local.fold == 0:
                cursor -= early - late  # later wall times in this repeated hour still lie ahead
            best: datetime | None = None
            for _ in range(MAX_CANDIDATES):
                cursor = spec.next_local(cursor)
                instants, ambiguous = _instants(spec, cursor, zone)
                if not instants:  # inside a gap: go on from its end, not wall time by wall time
                    cursor = _gap_end(cursor, zone) - _JUST_BEFORE
                    continue
                for instant in instants:
                    if instant > after and (best is None or instant < best):
                        best = instant
                if best is not None and (not ambiguous or best == instants[0]):
                    return best
    except CroniterError as exc:
        raise schedule_error(f"cron {spec.expression!r} has no next fire time: {exc}") from exc
    raise schedule_error(f"no fire time for {spec.expression!r} found within {MAX_CANDIDATES} candidate times")
