"""The English side of schedules: phrases compiled to cron, and cron described in words.

No well-kept library parses this small natural-language grammar into cron (the maintained ones
either go the other way, cron → English, or return fuzzy dates rather than recurrences), so it is
written by hand: a regex tokenizer and a single left-to-right pass with a closed vocabulary. Every
word must be understood; anything else is refused with a message that says what to write instead,
because a scheduler that guesses ("every other wednesday" silently meaning every week) is worse
than one that refuses. The grammar is documented in ``docs/schedules.md``.

:func:`describe_cron` is the reverse direction. It only names shapes it can describe exactly and
falls back to the expression itself otherwise: never misleading.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

from graphflow.triggers.cronspec import CronSpec, schedule_error

__all__ = [
    "DURATION_UNITS",
    "compile_phrase",
    "describe_cron",
    "describe_every",
    "parse_amount",
]

_DAYS = {
    **dict.fromkeys(("sunday", "sundays", "sun"), 0),
    **dict.fromkeys(("monday", "mondays", "mon"), 1),
    **dict.fromkeys(("tuesday", "tuesdays", "tue", "tues"), 2),
    **dict.fromkeys(("wednesday", "wednesdays", "wed", "weds"), 3),
    **dict.fromkeys(("thursday", "thursdays", "thu", "thur", "thurs"), 4),
    **dict.fromkeys(("friday", "fridays", "fri"), 5),
    **dict.fromkeys(("saturday", "saturdays", "sat"), 6),
}
_ALL_DAYS = frozenset(range(7))
_WEEKDAYS = frozenset(range(1, 6))
_WEEKEND = frozenset({0, 6})
_GROUPS = {
    **dict.fromkeys(("day", "days", "daily", "everyday"), _ALL_DAYS),
    **dict.fromkeys(("weekday", "weekdays"), _WEEKDAYS),
    **dict.fromkeys(("weekend", "weekends"), _WEEKEND),
}
_CONNECTORS = frozenset({"every", "each", "on", "at", "and", ",", "the", "of"})
_RANGES = frozenset({"-", "to", "through", "thru"})
_RELATIVE = (
    "relative dates are not supported",
    "use 'in 1d' or an ISO time such as '2026-03-15T09:00'",
)
_NTH = (
    "'first/second/last <weekday>' is not supported",
    "use a day of the month instead, e.g. 'monthly on the 1st at 9am'",
)
_COUNTED = ("'twice/N times' does not say when", "list the times in cron, e.g. '0 9,21 * * *'")
_REFUSED = {
    "other": (
        "'every other ...' cannot be written as cron and would silently run every time",
        "use an interval such as 'every 14d', or list the days in a cron expression",
    ),
    **dict.fromkeys(("twice", "thrice", "times"), _COUNTED),
    **dict.fromkeys(("first", "second", "third", "fourth", "last"), _NTH),
    **dict.fromkeys(("today", "tonight", "tomorrow", "next", "this"), _RELATIVE),
    "except": ("exceptions are not supported", "list the days you want instead"),
}
_MINUTE_UNITS = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 1),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 60),
    **dict.fromkeys(("d", "day", "days"), 1440),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 10080),
}
_SECOND_UNITS = frozenset({"s", "sec", "secs", "second", "seconds"})
_CALENDAR_UNITS = frozenset({"mo", "month", "months", "y", "yr", "yrs", "year", "years"})
#: Every word accepted (or refused with a message) as a duration unit.
DURATION_UNITS = frozenset(_MINUTE_UNITS) | _SECOND_UNITS | _CALENDAR_UNITS
_MAX_MINUTES = 3660 * 1440
_TOKEN_RE = re.compile(r"\d{1,2}:\d{2}(?:am|pm)?|:\d{2}|\d+(?:am|pm|st|nd|rd|th)?|[a-z]+|\S")
_HINT = "try '0 9 * * 1-5', 'every monday at 9am', 'weekdays at 9:30am', 'every 30m', 'in 2h' or '2026-03-15T09:00'"


def parse_amount(amount: str, unit: str, text: str) -> timedelta:
    """Turn ``"30", "m"`` into a duration of at least one minute and at most ten years.

    Raises:
        ValidationError: for an unknown unit, seconds, zero, or more than ten years.
    """
    if unit in _SECOND_UNITS:
        raise schedule_error(f"{text!r} is shorter than a minute", "the smallest unit is '1m'")
    if unit in _CALENDAR_UNITS:
        raise schedule_error(
            f"{text!r}: months and years vary in length, so they are not interval units",
            "use cron for calendar dates, e.g. '0 9 1 * *' (the 1st of every month)",
        )
    if len(amount) > 8 or not 1 <= int(amount) * _MINUTE_UNITS[unit] <= _MAX_MINUTES:
        raise schedule_error(f"{text!r} must be between 1 minute and 10 years", "e.g. 'every 30m'")
    return timedelta(minutes=int(amount) * _MINUTE_UNITS[unit])


def _time(token: str, after_at: bool) -> tuple[int, int] | None:
    """Read a clock time token (``9am``, ``9:30pm``, ``14:00``, ``at 7``), or return ``None``."""
    if token == "noon":
        return 12, 0
    if token == "midnight":
        return 0, 0
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", token)
    if match is None or (match.group(2) is None and match.group(3) is None and not after_at):
        return None
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half and not 1 <= hour <= 12:
        raise schedule_error(f"{token!r} is not a time", "with am/pm the hour runs 1-12: write 1pm or 13:00")
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise schedule_error(f"{token!r} is not a time", "use 0:00-23:59, or 1am-12pm")
    return hour, minute


def _field(values: frozenset[int], size: int) -> str:
    """Write a set as a cron field, with runs of three or more as ranges: {1..5} → ``1-5``."""
    if len(values) == size:
        return "*"
    ordered, parts, start = sorted(values), [], 0
    for index, value in enumerate(ordered):
        if index + 1 == len(ordered) or ordered[index + 1] != value + 1:
            run = ordered[start : index + 1]
            parts.append(f"{run[0]}-{run[-1]}" if len(run) >= 3 else ",".join(map(str, run)))
            start = index + 1
    return ",".join(parts)


@lru_cache(maxsize=1024)
def compile_phrase(text: str) -> str:
    """Compile a lower-cased, space-normalized English phrase to a five-field cron expression.

    Raises:
        ValidationError: when a word is not understood or the phrase is vague or contradictory.
    """
    spaced = re.sub(r"(\d)\s+(am|pm)\b", r"\1\2", text.replace("a.m.", "am").replace("p.m.", "pm"))
    tokens = _TOKEN_RE.findall(spaced)
    for token in tokens:  # a refused word explains itself better than whatever precedes it
        if token in _REFUSED:
            message, hint = _REFUSED[token]
            raise schedule_error(f"{message} ({text!r})", hint)
    days: set[int] | None = None
    clock: tuple[int, int] | None = None
    days_of_month: set[int] = set()
    minutes_of_hour: set[int] = set()
    hourly = every_minute = weekly = monthly = False
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        found = _time(token, index > 0 and tokens[index - 1] == "at")
        if found is not None:
            if clock is not None:
                raise schedule_error(f"{text!r} names more than one time", "use cron: '0 9,17 * * *'")
            clock = found
        elif token in _DAYS:
            days = (days or set()) | {_DAYS[token]}
            if following in _RANGES and index + 2 < len(tokens) and tokens[index + 2] in _DAYS:
                first, last = _DAYS[token], _DAYS[tokens[index + 2]]
                days |= {(first + step) % 7 for step in range((last - first) % 7 + 1)}
                index += 2
        elif token in _GROUPS:
            days = (days or set()) | _GROUPS[token]
        elif token in ("hour", "hourly"):
            hourly = True
        elif token == "minute":
            every_minute = True
        elif token in ("week", "weekly"):
            weekly = True
        elif token in ("month", "monthly"):
            monthly = True
        elif re.fullmatch(r"\d{1,2}(st|nd|rd|th)", token) and 1 <= int(token[:-2]) <= 31:
            days_of_month.add(int(token[:-2]))
        elif re.fullmatch(r":\d{2}", token) and int(token[1:]) < 60:
            minutes_of_hour.add(int(token[1:]))
        elif token not in _CONNECTORS:
            if token.isdigit():
                raise schedule_error(f"{token!r} in {text!r} is ambiguous", "write 9am, 9pm or 09:00")
            raise schedule_error(f"could not understand {token!r} in {text!r}", _HINT)
        index += 1
    dow = "*" if days is None else _field(frozenset(days), 7)
    dom = _field(frozenset(days_of_month), 31) if days_of_month else "*"
    if hourly or every_minute:
        if clock is not None or (every_minute and minutes_of_hour):
            raise schedule_error(f"{text!r} is contradictory", "use cron, e.g. '0 9-17 * * 1-5'")
        minute = "*" if every_minute else _field(frozenset(minutes_of_hour or {0}), 60)
        return f"{minute} * {dom} * {dow}"
    if minutes_of_hour:
        raise schedule_error(f"{text!r}: ':MM' goes with 'every hour'", "e.g. 'every hour at :30'")
    if days_of_month and days is not None:
        raise schedule_error(
            f"{text!r} names both a day of the month and days of the week",
            "cron would run on either one, which is rarely meant: pick one",
        )
    if clock is None:
        if days is None and not days_of_month and not (weekly or monthly):
            raise schedule_error(f"could not understand {text!r}", _HINT)
        raise schedule_error(f"{text!r} does not say at what time", "add one, e.g. 'at 9am'")
    if (weekly and days is None) or (monthly and not days_of_month):
        raise schedule_error(f"{text!r} does not say which day", "e.g. 'every monday at 9am', 'monthly on the 1st'")
    return f"{clock[1]} {clock[0]} {dom} * {dow}"


def _clock(hour: int, minute: int) -> str:
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "noon"
    return f"{hour % 12 or 12}:{minute:02d} {'AM' if hour < 12 else 'PM'}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


_DAY_NAMES = ("Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _days(weekdays: frozenset[int]) -> str:
    if weekdays == _WEEKDAYS:
        return "Weekdays"
    return _join([_DAY_NAMES[day] for day in sorted(weekdays, key=lambda d: (d + 6) % 7)])


def _ordinal(day: int) -> str:
    if day == 1:
        return "First"
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _step(values: frozenset[int], size: int) -> int | None:
    """Return N when ``values`` is exactly 0, N, 2N, ... and N divides ``size``, else ``None``."""
    step = min(values - {0}, default=0)
    if step > 1 and size % step == 0 and values == frozenset(range(0, size, step)):
        return step
    return None


@lru_cache(maxsize=1024)
def describe_cron(spec: CronSpec) -> str:
    """Describe a cron expression in English, or return the expression when it has no exact name."""
    minutes, hours, days, weekdays = spec.minutes, spec.hours, spec.days, spec.weekdays
    single_time = len(minutes) == len(hours) == 1
    if days is not None and weekdays is not None:
        return spec.expression  # day-of-month OR day-of-week: no short phrase says that honestly
    if len(spec.months) < 12:
        if len(spec.months) == 1 and days is not None and len(days) == 1 and single_time:
            (month,), (day,) = spec.months, days
            at = _clock(min(hours), min(minutes))
            return f"Yearly on {_MONTH_NAMES[month - 1]} {day} at {at}"
        return spec.expression
    on_days = "" if weekdays is None else f" on {_days(weekdays).replace('Weekdays', 'weekdays')}"
    hour_step = _step(hours, 24)
    if len(hours) == 24 or (hour_step and len(minutes) == 1):
        if days is not None:
            return spec.expression
        minute_step = _step(minutes, 60)
        if len(hours) == 24 and len(minutes) == 60:
            return "Every minute" + on_days
        if len(hours) == 24 and minute_step:
            return f"Every {minute_step} minutes" + on_days
        if len(minutes) != 1:
            return spec.expression
        (minute,) = minutes
        every = "Every hour" if len(hours) == 24 else f"Every {hour_step} hours"
        return every + (f" at :{minute:02d}" if minute else "") + on_days
    if len(minutes) * len(hours) > 4:
        return spec.expression
    at = _join([_clock(hour, minute) for hour in sorted(hours) for minute in sorted(minutes)])
    if days is not None:
        if len(days) != 1:
            return spec.expression
        (day,) = days
        shorter = " (skipped in shorter months)" if day > 28 else ""
        return f"{_ordinal(day)} of every month at {at}{shorter}"
    if weekdays is None:
        return f"Daily at {at}"
    if len(weekdays) == 1:
        return f"Weekly, {_days(weekdays)} at {at}"
    return f"{_days(weekdays)} at {at}"


def describe_every(every: timedelta) -> str:
    """Describe an interval: ``Every 30 minutes``, ``Every hour``, ``Every 2 days``."""
    minutes = int(every.total_seconds()) // 60
    for size, unit in ((10080, "week"), (1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
    return f"Every {minutes} minutes"  # pragma: no cover - minutes % 1 is always 0
