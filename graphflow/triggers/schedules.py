"""Schedules: parse what a person types, describe it back, and compute when it fires.

One entry point, :func:`parse_schedule`, accepts every form in ``docs/schedules.md`` and returns a
frozen :class:`Schedule` of one of three kinds:

* ``cron``: a five-field cron expression, read in the schedule's IANA time zone (UTC by default).
  Phrases such as "weekdays at 9am" and ``@daily`` aliases are compiled to cron, so
  ``expression`` is always plain cron. "every hour" means the top of every hour (``0 * * * *``).
* ``interval``: a fixed duration between fires ("every 30m"), counted from an anchor the scheduler
  passes (the previous scheduled instant), not aligned to the clock. ``expression`` is
  ``every <N><unit>`` in the largest whole unit (``every 90m``, ``every 2h``, ``every 1d``).
* ``once``: one instant ("in 2h", ``2026-03-15T09:00``). ``expression`` is the ISO-8601 UTC instant
  (``2026-03-15T09:00:00Z``).

``parse_schedule(s.expression, timezone=s.timezone)`` gives back an equal schedule (a past one-shot
aside, which :meth:`Schedule.from_dict` restores). Parsing, cron compilation and the DST policy live
in :mod:`graphflow.triggers.phrases` and :mod:`graphflow.triggers.cronspec`; this module only
dispatches between the forms. Hand-written parsing exists because no well-kept library turns this
English grammar into cron (see :mod:`graphflow.triggers.phrases`).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Literal

from graphflow.exceptions import Problem, ValidationError
from graphflow.triggers.cronspec import (
    compile_cron,
    next_cron_fire,
    resolve_wall_time,
    schedule_error,
)
from graphflow.triggers.phrases import (
    DURATION_UNITS,
    compile_phrase,
    describe_cron,
    describe_every,
    parse_amount,
)

__all__ = [
    "MAX_FIRES",
    "MAX_LENGTH",
    "Schedule",
    "ScheduleKind",
    "describe_schedule",
    "explain_schedule",
    "next_fire",
    "next_fires",
    "parse_schedule",
]

ScheduleKind = Literal["cron", "interval", "once"]
#: The longest schedule text accepted.
MAX_LENGTH = 200
#: The most fire times :func:`next_fires` returns in one call.
MAX_FIRES = 1000

_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)
_AMOUNT_RE = re.compile(r"(\d+)\s*([a-z]+)")
_CRON_FIRST_RE = re.compile(r"[\dh*,/?()-]+")
_CRON_FIELD_RE = re.compile(r"[\dlwh*,/?#()-]+|[a-z]{3}(?:[,/-][a-z0-9]{1,3})*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A parsed schedule. Build one with :func:`parse_schedule`.

    Attributes:
        kind: ``cron``, ``interval`` or ``once``.
        expression: the normalized form: cron text, ``every <N><unit>``, or an ISO UTC instant.
        timezone: the IANA zone cron is read in and displays use; intervals ignore it.
        display: the English description, e.g. ``Weekdays at 9:00 AM``.
        every: the duration between fires, for intervals.
        at: the aware UTC instant, for one-shots.
    """

    kind: ScheduleKind
    expression: str
    timezone: str = "UTC"
    display: str
    every: timedelta | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind == "interval" and not (self.every and self.every >= timedelta(minutes=1)):
            raise schedule_error("an interval schedule needs 'every' of at least one minute")
        if self.kind == "once" and (self.at is None or self.at.utcoffset() is None):
            raise schedule_error("a one-shot schedule needs an aware 'at' instant")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form stored with an automation."""
        return {
            "kind": self.kind,
            "expression": self.expression,
            "timezone": self.timezone,
            "display": self.display,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """Rebuild a stored schedule; unlike :func:`parse_schedule`, a past one-shot is allowed.

        Raises:
            ValidationError: if the stored expression is not valid or not of the stored kind.
        """
        schedule = _parse(str(data.get("expression", "")), str(data.get("timezone", "UTC")), None, allow_past=True)
        if schedule.kind != data.get("kind"):
            raise schedule_error(f"stored schedule is a {schedule.kind}, not {data.get('kind')!r}")
        return schedule


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    # "localtime" is whatever the host is set to and "Factory" a placeholder: neither is portable.
    names = zoneinfo.available_timezones() - {"localtime", "Factory"}
    return {name.lower(): name for name in names}


@lru_cache(maxsize=256)
def _zone(name: str) -> tuple[str, tzinfo]:
    """Return the canonical IANA name and zone for ``name`` (case-insensitive)."""
    canonical = "UTC" if name.upper() == "UTC" else _zone_names().get(name.strip().lower(), "")
    try:
        if canonical:
            return canonical, zoneinfo.ZoneInfo(canonical)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    hint = "use an IANA name such as 'Europe/Paris' or 'America/New_York'"
    if re.fullmatch(r"(?i)(utc|gmt)\s*[+-]\s*\d{1,2}", name.strip()):
        hint = "fixed offsets are not zone names; use a city zone, or 'Etc/GMT-5' for UTC+5"
    raise ValidationError([Problem("$.timezone", f"unknown time zone {name!r}", hint)], subject="schedule")


def _utc(value: datetime | None, name: str) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            [
                Problem(
                    f"$.{name}",
                    f"{name} must be timezone-aware",
                    "pass datetime.now(timezone.utc) or another aware value",
                )
            ]
        )
    return value.astimezone(UTC)


def _once(at: datetime, zone_name: str, zone: tzinfo, now: datetime, *, allow_past: bool) -> Schedule:
    if not allow_past and at <= now:
        raise schedule_error(
            f"{at:%Y-%m-%d %H:%M:%S} UTC is in the past (now is {now:%Y-%m-%d %H:%M:%S} UTC)",
            "give a future time, or 'in 30m' for a relative one",
        )
    text = at.isoformat(timespec="microseconds" if at.microsecond else "seconds")
    return Schedule(
        kind="once",
        expression=text.replace("+00:00", "Z"),
        timezone=zone_name,
        display=_describe_once(at, zone_name, zone),
        at=at,
    )


def _describe_once(at: datetime, zone_name: str, zone: tzinfo) -> str:
    local = at.astimezone(zone)
    clock = f"{local:%Y-%m-%d %H:%M}" + (f":{local:%S}" if local.second else "")
    suffix = "" if zone_name == "UTC" else f" ({zone_name})"
    return f"Once at {clock} {local.tzname()}{suffix}"


def _parse(text: str, timezone: str, now: datetime | None, *, allow_past: bool) -> Schedule:
    if type(text) is str and type(timezone) is str and len(text) <= MAX_LENGTH:
        recurring = _parse_recurring(text, timezone)
        if recurring is not None:
            return recurring
    return _parse_text(text, timezone, now, allow_past=allow_past)


@lru_cache(maxsize=4096)
def _parse_recurring(text: str, timezone: str) -> Schedule | None:
    """The cron or interval schedule ``text`` reads as, or ``None`` for a one-shot.

    Cached by ``(text, timezone)``: a cron or interval does not depend on the current time and a
    :class:`Schedule` is immutable, so 100,000 automations sharing a schedule parse it once (a
    cron costs ~100 µs to parse and compile, a hit ~0.3 µs). One-shots ("in 30m", ISO times) depend
    on the current time and are never cached. Invalid texts raise, and exceptions are not cached.
    """
    stripped = text.strip()
    if _ISO_RE.fullmatch(stripped) or " ".join(stripped.lower().split()).partition(" ")[0] == "in":
        return None
    return _parse_text(text, timezone, None, allow_past=True)


def _parse_text(text: str, timezone: str, now: datetime | None, *, allow_past: bool) -> Schedule:
    if not isinstance(text, str):
        raise schedule_error(f"a schedule must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise schedule_error(f"schedule text is {len(text)} characters; the limit is {MAX_LENGTH}")
    stripped = text.strip()
    if not stripped:
        raise schedule_error("the schedule is empty", "e.g. 'every monday at 9am' or '0 9 * * *'")
    zone_name, zone = _zone(timezone)
    if iso := _ISO_RE.fullmatch(stripped):
        at = _instant(iso, zone)
        return _once(at, zone_name, zone, _utc(now, "now"), allow_past=allow_past)
    if re.match(r"\d{4}-\d{2}", stripped):
        raise schedule_error(
            f"{stripped!r} is not an ISO-8601 date and time",
            "write e.g. '2026-03-15T09:00' (in the schedule's zone) or '2026-03-15T09:00Z'",
        )
    lowered = " ".join(stripped.lower().split())
    amounts = _parse_amounts(lowered, zone_name, zone, now)
    if amounts is not None:
        return amounts
    fields = lowered.split(" ")
    looks_cron = len(fields) >= 3 and _CRON_FIRST_RE.fullmatch(fields[0]) is not None
    if lowered.startswith("@") or (looks_cron and all(map(_CRON_FIELD_RE.fullmatch, fields))):
        spec = compile_cron(stripped)
    else:
        spec = compile_cron(compile_phrase(lowered))
    suffix = "" if zone_name == "UTC" else f" ({zone_name})"
    return Schedule(
        kind="cron",
        expression=spec.expression,
        timezone=zone_name,
        display=describe_cron(spec) + suffix,
    )


def _parse_amounts(lowered: str, zone_name: str, zone: tzinfo, now: datetime | None) -> Schedule | None:
    """Parse ``in <N><unit>`` and ``every <N><unit>``; refuse a bare ``<N><unit>``.

    Returns ``None`` when the text is not about an amount of time (``every monday at 9am``).
    """
    head, _, rest = lowered.partition(" ")
    amount = _AMOUNT_RE.fullmatch(rest)
    unit = amount.group(2) if amount else ""
    if head == "in":
        if amount is None or unit not in DURATION_UNITS:
            raise schedule_error(f"{lowered!r} is not a delay", "write e.g. 'in 30m' or 'in 2h'")
        start = _utc(now, "now").replace(microsecond=0)
        at = start + parse_amount(amount.group(1), unit, lowered)
        return _once(at, zone_name, zone, start, allow_past=True)
    if head == "every":
        if amount and unit in DURATION_UNITS:
            every = parse_amount(amount.group(1), unit, lowered)
            return Schedule(
                kind="interval",
                expression=_every_text(every),
                timezone=zone_name,
                display=describe_every(every),
                every=every,
            )
        if re.match(r"[-+.]|\d+[.,]\d", rest):
            raise schedule_error(
                f"{lowered!r} is not a whole number of minutes, hours or days",
                "e.g. 'every 90m' rather than 'every 1.5h'",
            )
        combined = re.match(r"\d+\s*([a-z]+)", rest)
        if combined and combined.group(1) in DURATION_UNITS:
            raise schedule_error(
                f"{lowered!r} mixes an interval with days or times",
                "an interval stands alone ('every 2h'); for days or times use cron, e.g. '0 */2 * * 1-5'",
            )
    whole = _AMOUNT_RE.fullmatch(lowered)
    if whole and whole.group(2) in DURATION_UNITS:
        raise schedule_error(
            f"{lowered!r} is ambiguous",
            f"write 'in {lowered}' to run once or 'every {lowered}' to repeat",
        )
    return None


def _instant(match: re.Match[str], zone: tzinfo) -> datetime:
    year, month, day, hour, minute, second, fraction, z, sign, off_h, off_m = match.groups()
    try:
        naive = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
        if z or sign:
            offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
            if offset >= timedelta(hours=24) or int(off_m or 0) > 59:
                raise ValueError(f"UTC offset {sign}{off_h}:{off_m} is out of range")
            return (naive - (offset if sign != "-" else -offset)).replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise schedule_error(
            f"{match.group(0)!r} is not a valid date and time: {exc}",
            "e.g. '2026-03-15T09:00' or '2026-03-15T09:00:00Z'",
        ) from exc
    return resolve_wall_time(naive, zone)


def _every_text(every: timedelta) -> str:
    minutes = int(every.total_seconds()) // 60
    size, unit = next((s, u) for s, u in ((10080, "w"), (1440, "d"), (60, "h"), (1, "m")) if minutes % s == 0)
    return f"every {minutes // size}{unit}"


def parse_schedule(text: str, *, timezone: str = "UTC", now: datetime | None = None) -> Schedule:
    """Parse schedule text into a :class:`Schedule`.

    Args:
        text: cron (``0 9 * * 1-5``, ``@daily``), an English phrase (``every monday at 9am``), an
            interval (``every 30m``), a delay (``in 2h``) or an ISO-8601 time.
        timezone: the IANA zone cron and naive ISO times are read in (case-insensitive).
        now: the current instant, for delays and the "not in the past" check; defaults to now.

    Returns:
        The parsed, normalized schedule.

    Raises:
        ValidationError: with path ``$.schedule`` (or ``$.timezone``) and a message saying what to
            write instead.
    """
    return _parse(text, timezone, now, allow_past=False)


def describe_schedule(schedule_or_text: Schedule | str) -> str:
    """Describe a schedule in English; never raises (falls back to the text or expression)."""
    try:
        if isinstance(schedule_or_text, Schedule):
            return schedule_or_text.display or schedule_or_text.expression
        return _parse(schedule_or_text, "UTC", None, allow_past=True).display
    except Exception:  # a description must never break the caller
        try:
            return str(getattr(schedule_or_text, "expression", schedule_or_text))
        except Exception:
            return ""


def next_fire(schedule: Schedule, after: datetime, *, anchor: datetime | None = None) -> datetime | None:
    """Return the first fire instant strictly after ``after``, or ``None`` when a one-shot is done.

    Args:
        schedule: the schedule.
        after: an aware instant (any zone).
        anchor: for intervals, an instant of the series (fires are ``anchor + k * every`` for
            k = 0, 1, 2...). The scheduler passes the previous *scheduled* instant (the first fire
            for a new schedule), so late runs never make the series drift. Defaults to ``after``.

    Returns:
        An aware UTC datetime, or ``None``.
    """
    after = _utc(after, "after")
    if schedule.kind == "once":
        return schedule.at if schedule.at is not None and schedule.at > after else None
    if schedule.kind == "interval" and schedule.every is not None:
        start = after if anchor is None else _utc(anchor, "anchor")
        if start > after:
            return start
        return start + ((after - start) // schedule.every + 1) * schedule.every
    zone = None if schedule.timezone == "UTC" else _zone(schedule.timezone)[1]
    return next_cron_fire(compile_cron(schedule.expression), after, zone)


def next_fires(schedule: Schedule, after: datetime, count: int, *, anchor: datetime | None = None) -> list[datetime]:
    """Return up to ``count`` successive fire instants after ``after`` (see :func:`next_fire`).

    Raises:
        ValidationError: if ``count`` is negative or above :data:`MAX_FIRES`.
    """
    if not 0 <= count <= MAX_FIRES:
        raise ValidationError(f"count must be between 0 and {MAX_FIRES}, not {count}")
    fires: list[datetime] = []
    current: datetime | None = after
    while len(fires) < count and current is not None:
        current = next_fire(schedule, current, anchor=anchor)
        if current is not None:
            fires.append(current)
    return fires


def explain_schedule(
    text: str,
    *,
    timezone: str = "UTC",
    count: int = 5,
    now: datetime | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> dict[str, Any]:
    """Parse ``text`` and return its normalized form, its display and its next ``count`` fires.

    With a window (``starts_at``, ``ends_at``: aware datetimes), the fires are those inside it,
    as an automation with that window fires; ``window`` says it.

    Raises:
        ValidationError: the schedule is not valid.
    """
    moment = _utc(now, "now")
    schedule = parse_schedule(text, timezone=timezone, now=moment)
    start = max(moment, starts_at) if starts_at is not None else moment
    anchor = start if schedule.kind == "interval" else None
    fires = next_fires(schedule, start - timedelta(microseconds=1) if start > moment else start, count, anchor=anchor)
    if ends_at is not None:
        fires = [fire for fire in fires if fire <= ends_at]
    info = {**schedule.to_dict(), "next": [f.isoformat().replace("+00:00", "Z") for f in fires]}
    if starts_at is not None or ends_at is not None:
        info["window"] = {
            "starts_at": None if starts_at is None else starts_at.isoformat().replace("+00:00", "Z"),
            "ends_at": None if ends_at is None else ends_at.isoformat().replace("+00:00", "Z"),
        }
    return info
