"""Tests for the schedule grammar: parsing, displays, refusals, next-fire times and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from graphflow.exceptions import ValidationError
from graphflow.triggers import cronspec, schedules
from graphflow.triggers.cronspec import MAX_CANDIDATES, CronSpec, compile_cron, next_cron_fire
from graphflow.triggers.schedules import (
    Schedule,
    describe_schedule,
    next_fire,
    next_fires,
    parse_schedule,
)

UTC = UTC
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- accepted forms -------------------------------------------------------------------------

FORMS = [
    # cron, names and aliases
    ("0 9 * * *", "cron", "0 9 * * *", "Daily at 9:00 AM"),
    ("0 9 * * MON-FRI", "cron", "0 9 * * 1-5", "Weekdays at 9:00 AM"),
    ("0 9 * JAN,jul *", "cron", "0 9 * 1,7 *", "0 9 * 1,7 *"),
    ("  0   9 * *   1  ", "cron", "0 9 * * 1", "Weekly, Mondays at 9:00 AM"),
    ("@daily", "cron", "0 0 * * *", "Daily at midnight"),
    ("@hourly", "cron", "0 * * * *", "Every hour"),
    ("@weekly", "cron", "0 0 * * 0", "Weekly, Sundays at midnight"),
    ("@monthly", "cron", "0 0 1 * *", "First of every month at midnight"),
    ("@yearly", "cron", "0 0 1 1 *", "Yearly on January 1 at midnight"),
    ("@annually", "cron", "0 0 1 1 *", "Yearly on January 1 at midnight"),
    ("@midnight", "cron", "0 0 * * *", "Daily at midnight"),
    ("5/15 * * * *", "cron", "5/15 * * * *", "5/15 * * * *"),
    ("0 8-18/2 * * *", "cron", "0 8-18/2 * * *", "0 8-18/2 * * *"),
    # English phrases compiled to cron
    ("every Monday at 9am", "cron", "0 9 * * 1", "Weekly, Mondays at 9:00 AM"),
    ("every monday 9am", "cron", "0 9 * * 1", "Weekly, Mondays at 9:00 AM"),
    ("every day at 9am", "cron", "0 9 * * *", "Daily at 9:00 AM"),
    ("daily at 7am", "cron", "0 7 * * *", "Daily at 7:00 AM"),
    ("weekdays at 9am", "cron", "0 9 * * 1-5", "Weekdays at 9:00 AM"),
    ("weekends at 10am", "cron", "0 10 * * 0,6", "Saturdays and Sundays at 10:00 AM"),
    ("monday, wednesday at 9am", "cron", "0 9 * * 1,3", "Mondays and Wednesdays at 9:00 AM"),
    ("mon-fri at 9am", "cron", "0 9 * * 1-5", "Weekdays at 9:00 AM"),
    (
        "tuesday to thursday at 6pm",
        "cron",
        "0 18 * * 2-4",
        "Tuesdays, Wednesdays and Thursdays at 6:00 PM",
    ),
    (
        "fri-mon at 8 am",
        "cron",
        "0 8 * * 0,1,5,6",
        "Mondays, Fridays, Saturdays and Sundays at 8:00 AM",
    ),
    ("every hour", "cron", "0 * * * *", "Every hour"),
    ("hourly", "cron", "0 * * * *", "Every hour"),
    ("every hour at :30", "cron", "30 * * * *", "Every hour at :30"),
    ("hourly on weekdays", "cron", "0 * * * 1-5", "Every hour on weekdays"),
    ("every hour at :15 and :45", "cron", "15,45 * * * *", "15,45 * * * *"),
    ("on the 1st and 15th at 9am", "cron", "0 9 1,15 * *", "0 9 1,15 * *"),
    ("every minute", "cron", "* * * * *", "Every minute"),
    ("at 9am", "cron", "0 9 * * *", "Daily at 9:00 AM"),
    ("9:30pm", "cron", "30 21 * * *", "Daily at 9:30 PM"),
    ("daily at 9:30 p.m.", "cron", "30 21 * * *", "Daily at 9:30 PM"),
    ("14:00", "cron", "0 14 * * *", "Daily at 2:00 PM"),
    ("at 7", "cron", "0 7 * * *", "Daily at 7:00 AM"),
    ("at 19", "cron", "0 19 * * *", "Daily at 7:00 PM"),
    ("noon", "cron", "0 12 * * *", "Daily at noon"),
    ("weekdays at noon", "cron", "0 12 * * 1-5", "Weekdays at noon"),
    ("midnight", "cron", "0 0 * * *", "Daily at midnight"),
    ("12am", "cron", "0 0 * * *", "Daily at midnight"),
    ("12pm", "cron", "0 12 * * *", "Daily at noon"),
    ("12:30am", "cron", "30 0 * * *", "Daily at 12:30 AM"),
    ("monthly on the 1st at 3pm", "cron", "0 15 1 * *", "First of every month at 3:00 PM"),
    ("on the 15th at 9am", "cron", "0 9 15 * *", "15th of every month at 9:00 AM"),
    ("1st of every month at 8:30am", "cron", "30 8 1 * *", "First of every month at 8:30 AM"),
    # intervals
    ("every 30m", "interval", "every 30m", "Every 30 minutes"),
    ("every 2h", "interval", "every 2h", "Every 2 hours"),
    ("every 1d", "interval", "every 1d", "Every day"),
    ("every 15 minutes", "interval", "every 15m", "Every 15 minutes"),
    ("every 1 minute", "interval", "every 1m", "Every minute"),
    ("every 60 minutes", "interval", "every 1h", "Every hour"),
    ("every 90 mins", "interval", "every 90m", "Every 90 minutes"),
    ("every 36 hours", "interval", "every 36h", "Every 36 hours"),
    ("every 2 weeks", "interval", "every 2w", "Every 2 weeks"),
    ("Every 3 Days", "interval", "every 3d", "Every 3 days"),
    # one-shots (relative to NOW = 2026-03-01 12:00 UTC)
    ("in 30m", "once", "2026-03-01T12:30:00Z", "Once at 2026-03-01 12:30 UTC"),
    ("in 2h", "once", "2026-03-01T14:00:00Z", "Once at 2026-03-01 14:00 UTC"),
    ("in 1d", "once", "2026-03-02T12:00:00Z", "Once at 2026-03-02 12:00 UTC"),
    ("in 45 minutes", "once", "2026-03-01T12:45:00Z", "Once at 2026-03-01 12:45 UTC"),
    ("2026-03-15T09:00", "once", "2026-03-15T09:00:00Z", "Once at 2026-03-15 09:00 UTC"),
    ("2026-03-15T09:00:00Z", "once", "2026-03-15T09:00:00Z", "Once at 2026-03-15 09:00 UTC"),
    ("2026-03-15 09:00+05:30", "once", "2026-03-15T03:30:00Z", "Once at 2026-03-15 03:30 UTC"),
    ("2026-03-15T09:00-0300", "once", "2026-03-15T12:00:00Z", "Once at 2026-03-15 12:00 UTC"),
    (
        "2026-03-15T09:00:30.25Z",
        "once",
        "2026-03-15T09:00:30.250000Z",
        "Once at 2026-03-15 09:00:30 UTC",
    ),
]


@pytest.mark.parametrize(("text", "kind", "expression", "display"), FORMS)
def test_forms(text: str, kind: str, expression: str, display: str) -> None:
    schedule = parse_schedule(text, now=NOW)
    assert (schedule.kind, schedule.expression, schedule.display) == (kind, expression, display)
    assert schedule.timezone == "UTC"
    assert describe_schedule(schedule) == display


def test_interval_and_once_fields() -> None:
    assert parse_schedule("every 90m").every == timedelta(minutes=90)
    once = parse_schedule("in 2h", now=NOW)
    assert once.at == utc(2026, 3, 1, 14) and once.every is None
    assert parse_schedule("0 9 * * *").at is None


@pytest.mark.parametrize(("text", "kind"), [(t, k) for t, k, _, _ in FORMS])
def test_expression_round_trips(text: str, kind: str) -> None:
    schedule = parse_schedule(text, timezone="Europe/Paris", now=NOW)
    assert parse_schedule(schedule.expression, timezone="Europe/Paris", now=NOW) == schedule
    assert Schedule.from_dict(schedule.to_dict()) == schedule


def test_from_dict_restores_a_past_one_shot() -> None:
    past = parse_schedule("in 1h", now=utc(2020, 1, 1))
    assert Schedule.from_dict(past.to_dict()) == past
    with pytest.raises(ValidationError, match="is a once, not 'cron'"):
        Schedule.from_dict({**past.to_dict(), "kind": "cron"})


# --- displays --------------------------------------------------------------------------------

DISPLAYS = [
    ("0 9 * * *", "Daily at 9:00 AM"),
    ("0 9 * * 1-5", "Weekdays at 9:00 AM"),
    ("0 9 * * 1", "Weekly, Mondays at 9:00 AM"),
    ("0 9 * * 7", "Weekly, Sundays at 9:00 AM"),
    ("0 10 * * 0,6", "Saturdays and Sundays at 10:00 AM"),
    ("0 9 * * 1,3", "Mondays and Wednesdays at 9:00 AM"),
    ("30 8 * * 1,3,5", "Mondays, Wednesdays and Fridays at 8:30 AM"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0,15,30,45 * * * *", "Every 15 minutes"),
    ("*/20 * * * 1-5", "Every 20 minutes on weekdays"),
    ("* * * * *", "Every minute"),
    ("0 */6 * * *", "Every 6 hours"),
    ("0 */2 * * *", "Every 2 hours"),
    ("5 */3 * * *", "Every 3 hours at :05"),
    ("0 * * * *", "Every hour"),
    ("15 * * * *", "Every hour at :15"),
    ("30 8 1 * *", "First of every month at 8:30 AM"),
    ("0 9 2 * *", "2nd of every month at 9:00 AM"),
    ("0 9 23 * *", "23rd of every month at 9:00 AM"),
    ("0 9 11 * *", "11th of every month at 9:00 AM"),
    ("0 9 31 * *", "31st of every month at 9:00 AM (skipped in shorter months)"),
    ("0 0 * * 0", "Weekly, Sundays at midnight"),
    ("0 0 * * *", "Daily at midnight"),
    ("0 12 * * *", "Daily at noon"),
    ("0,30 9 * * *", "Daily at 9:00 AM and 9:30 AM"),
    ("0 9,17 * * 1-5", "Weekdays at 9:00 AM and 5:00 PM"),
    ("0 0 25 12 *", "Yearly on December 25 at midnight"),
    # no exact short name → the expression itself
    ("*/7 * * * *", "*/7 * * * *"),
    ("0 9 1 * 1", "0 9 1 * 1"),
    ("0 9 * 1-6 *", "0 9 * 1-6 *"),
    ("0 9-17 * * *", "0 9-17 * * *"),
    ("0 9 1,15 * *", "0 9 1,15 * *"),
    ("*/5 9 * * *", "*/5 9 * * *"),
    ("*/15 * 1 * *", "*/15 * 1 * *"),
]


@pytest.mark.parametrize(("expression", "display"), DISPLAYS)
def test_cron_displays(expression: str, display: str) -> None:
    assert describe_schedule(expression) == display
    assert parse_schedule(expression).display == display


def test_zoned_displays() -> None:
    assert parse_schedule("0 9 * * *", timezone="Europe/Paris").display == ("Daily at 9:00 AM (Europe/Paris)")
    once = parse_schedule("2026-03-15T09:00", timezone="Europe/Paris", now=NOW)
    assert once.display == "Once at 2026-03-15 09:00 CET (Europe/Paris)"
    assert once.expression == "2026-03-15T08:00:00Z"
    assert parse_schedule("in 2h", timezone="America/New_York", now=NOW).display == (
        "Once at 2026-03-01 09:00 EST (America/New_York)"
    )
    # an interval does not depend on the zone, so its display does not name it
    assert parse_schedule("every 2h", timezone="Europe/Paris").display == "Every 2 hours"


@given(st.text(max_size=300))
def test_describe_never_raises(text: str) -> None:
    assert isinstance(describe_schedule(text), str)


@given(st.from_regex(r"[0-9*/,\- a-zA-Z@#?]{0,40}", fullmatch=True))
def test_describe_never_raises_on_cronish_text(text: str) -> None:
    assert isinstance(describe_schedule(text), str)


def test_describe_falls_back_to_the_text() -> None:
    assert describe_schedule("not a schedule") == "not a schedule"
    assert describe_schedule("0 0 31 2 *") == "0 0 31 2 *"
    assert describe_schedule(None) == "None"  # type: ignore[arg-type]
    assert describe_schedule("2020-01-01T00:00Z") == "Once at 2020-01-01 00:00 UTC"


# --- refusals --------------------------------------------------------------------------------

REFUSALS = [
    ("", "empty"),
    ("   ", "empty"),
    ("x" * 201, "limit is 200"),
    ("sometime soon", "could not understand 'sometime'"),
    ("please run it", "could not understand"),
    ("13pm", "'13pm' is not a time"),
    ("0am", "'0am' is not a time"),
    ("25:00", "'25:00' is not a time"),
    ("9:60", "'9:60' is not a time"),
    ("every 0m", "between 1 minute and 10 years"),
    ("in 0m", "between 1 minute and 10 years"),
    ("every 99999999999d", "between 1 minute and 10 years"),
    ("every 4000d", "between 1 minute and 10 years"),
    ("every 30s", "shorter than a minute"),
    ("every 30 seconds", "shorter than a minute"),
    ("every 1.5h", "whole number"),
    ("every -5m", "whole number"),
    ("every 5 months", "months and years vary in length"),
    ("every 1y", "months and years vary in length"),
    ("every 2 hours on weekdays", "mixes an interval with days or times"),
    ("every 2 hours at 9am", "mixes an interval with days or times"),
    ("every 1d at 09:00", "mixes an interval with days or times"),
    ("30m", "write 'in 30m' to run once or 'every 30m' to repeat"),
    ("2h", "ambiguous"),
    ("30 minutes", "'in 30 minutes'"),
    ("in 30", "not a delay"),
    ("in a while", "not a delay"),
    ("every other wednesday", "every other"),
    ("twice daily", "does not say when"),
    ("3 times a day", "does not say when"),
    ("first monday at 9am", "not supported"),
    ("last friday at 5pm", "not supported"),
    ("tomorrow at 9am", "relative dates"),
    ("next monday at 9am", "relative dates"),
    ("weekdays except friday at 9am", "exceptions are not supported"),
    ("every monday on the 1st at 9am", "both a day of the month and days of the week"),
    ("every monday", "does not say at what time"),
    ("daily", "does not say at what time"),
    ("weekdays", "does not say at what time"),
    ("weekly at 9am", "does not say which day"),
    ("monthly at 9am", "does not say which day"),
    ("9am and 5pm", "more than one time"),
    ("every hour at 9am", "contradictory"),
    ("every minute at :30", "contradictory"),
    ("daily at :30", "':MM' goes with 'every hour'"),
    ("every monday 9", "'9' in 'every monday 9' is ambiguous"),
    ("monday to", "could not understand 'to'"),
    # cron
    ("not a cron", "could not understand"),
    ("60 * * * *", "minute 60 is out of range 0-59"),
    ("0 24 * * *", "hour 24 is out of range 0-23"),
    ("0 0 0 * *", "day of month 0 is out of range 1-31"),
    ("0 0 * 13 *", "month 13 is out of range 1-12"),
    ("0 0 * * 8", "day of week 8 is out of range 0-7"),
    ("*/0 * * * *", "step of 0"),
    ("5-1 * * * *", "runs backwards"),
    ("1,,2 * * * *", "is not valid"),
    ("* * * *", "exactly 5 fields"),
    ("0 0 9 * * *", "seconds and years are not supported"),
    ("0 0 9 * * * 2026", "seconds and years are not supported"),
    ("0 9 L * *", "cron extension"),
    ("0 9 15W * *", "cron extension"),
    ("0 9 * * 5L", "cron extension"),
    ("0 9 * * 1#2", "cron extension"),
    ("0 9 ? * *", "cron extension"),
    ("H 9 * * *", "cron extension"),
    ("H(0-29) 9 * * *", "cron extension"),
    ("0 9 * * mon-fru", "'fru', which is not a number or a name (SUN-SAT)"),
    ("0 9 * foo *", "not a number or a name (JAN-DEC)"),
    ("@reboot", "unknown cron alias"),
    ("0 0 31 2 *", "can never fire"),
    ("0 0 30 2 *", "can never fire: no day 30 exists in Feb"),
    ("0 0 31 4,6,9,11 *", "no day 31 exists in Apr, Jun, Sep, Nov"),
    ("0-59/1," * 40 + "0 * * * *", "limit is 200"),
    # one-shots
    ("2020-01-01T00:00Z", "is in the past"),
    ("2026-03-01T11:59:59Z", "is in the past"),
    ("2026-03-01T12:00:00Z", "is in the past"),
    ("2026-03-15", "not an ISO-8601 date and time"),
    ("2026-03-15T9:00", "not an ISO-8601 date and time"),
    ("2026-02-30T09:00", "not a valid date and time"),
    ("2026-03-15T09:00+25:00", "not a valid date and time"),
]


@pytest.mark.parametrize(("text", "fragment"), REFUSALS)
def test_refusals(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_schedule(text, now=NOW)
    error = caught.value
    assert error.code == "validation_error"
    assert isinstance(error, ValueError)
    assert fragment in error.message
    assert error.problems[0].path == "$.schedule"


@pytest.mark.parametrize(
    ("zone", "fragment"),
    [
        ("Fake/Zone", "IANA name"),
        ("UTC+5", "'Etc/GMT-5' for UTC+5"),
        ("GMT-3", "fixed offsets are not zone names"),
        ("../../etc/passwd", "unknown time zone"),
        ("", "unknown time zone"),
        ("localtime", "unknown time zone"),
    ],
)
def test_unknown_time_zones_are_refused(zone: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_schedule("0 9 * * *", timezone=zone)
    assert caught.value.problems[0].path == "$.timezone"
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("given_name", "canonical"),
    [("utc", "UTC"), ("europe/paris", "Europe/Paris"), ("US/Pacific", "US/Pacific")],
)
def test_time_zone_names_are_canonical(given_name: str, canonical: str) -> None:
    assert parse_schedule("0 9 * * *", timezone=given_name).timezone == canonical


def test_naive_now_and_after_are_refused() -> None:
    with pytest.raises(ValidationError, match="must be timezone-aware"):
        parse_schedule("in 5m", now=datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="must be timezone-aware"):
        next_fire(parse_schedule("0 9 * * *"), datetime(2026, 1, 1))


def test_schedule_invariants() -> None:
    with pytest.raises(ValidationError):
        Schedule(kind="interval", expression="every 0m", display="", every=timedelta(0))
    with pytest.raises(ValidationError):
        Schedule(kind="once", expression="x", display="", at=datetime(2026, 1, 1))


# --- one-shot times in zones -----------------------------------------------------------------


def test_naive_iso_times_use_the_timezone_and_the_dst_policy() -> None:
    ny = "America/New_York"
    assert parse_schedule("2026-07-01T09:00", timezone=ny, now=NOW).at == utc(2026, 7, 1, 13)
    # an explicit offset or Z wins over the zone argument
    assert parse_schedule("2026-07-01T09:00Z", timezone=ny, now=NOW).at == utc(2026, 7, 1, 9)
    # 02:30 does not exist on 2026-03-08 in New York: the first valid instant is 03:00 EDT
    assert parse_schedule("2026-03-08T02:30", timezone=ny, now=NOW).at == utc(2026, 3, 8, 7)
    # 01:30 happens twice on 2026-11-01: the first (EDT) is meant
    assert parse_schedule("2026-11-01T01:30", timezone=ny, now=NOW).at == utc(2026, 11, 1, 5, 30)


# --- next fire -------------------------------------------------------------------------------


def test_once_fires_once() -> None:
    schedule = parse_schedule("2026-03-15T09:00Z", now=NOW)
    assert next_fire(schedule, NOW) == utc(2026, 3, 15, 9)
    assert next_fire(schedule, utc(2026, 3, 15, 9)) is None
    assert next_fires(schedule, NOW, 5) == [utc(2026, 3, 15, 9)]


def test_interval_counts_from_the_anchor_without_drift() -> None:
    schedule = parse_schedule("every 30m")
    anchor = utc(2026, 3, 1, 9, 0)
    assert next_fire(schedule, utc(2026, 3, 1, 9, 0)) == utc(2026, 3, 1, 9, 30)
    # the run that was due at 9:30 finished late, at 9:47: the next is still 10:00
    assert next_fire(schedule, utc(2026, 3, 1, 9, 47), anchor=anchor) == utc(2026, 3, 1, 10)
    assert next_fire(schedule, utc(2026, 3, 1, 10), anchor=anchor) == utc(2026, 3, 1, 10, 30)
    assert next_fire(schedule, utc(2026, 3, 1, 8), anchor=anchor) == anchor
    fires = next_fires(schedule, utc(2026, 3, 1, 9, 47), 3, anchor=anchor)
    assert fires == [utc(2026, 3, 1, 10), utc(2026, 3, 1, 10, 30), utc(2026, 3, 1, 11)]


def test_cron_in_utc() -> None:
    schedule = parse_schedule("0 9 * * 1-5")
    assert next_fire(schedule, utc(2026, 3, 6, 9)) == utc(2026, 3, 9, 9)  # Friday → Monday
    assert next_fire(schedule, utc(2026, 3, 6, 8, 59, 59, 999999)) == utc(2026, 3, 6, 9)
    aware_elsewhere = datetime(2026, 3, 6, 10, tzinfo=ZoneInfo("Europe/Paris"))
    assert next_fire(schedule, aware_elsewhere) == utc(2026, 3, 9, 9)
    assert next_fire(schedule, aware_elsewhere).tzinfo is UTC  # type: ignore[union-attr]


def test_leap_day_schedule() -> None:
    schedule = parse_schedule("0 0 29 2 *")
    assert next_fires(schedule, NOW, 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]
    assert next_fire(schedule, utc(2096, 3, 1)) == utc(2104, 2, 29)


def test_next_fires_bounds() -> None:
    schedule = parse_schedule("* * * * *")
    assert next_fires(schedule, NOW, 0) == []
    assert len(next_fires(schedule, NOW, schedules.MAX_FIRES)) == schedules.MAX_FIRES
    with pytest.raises(ValidationError):
        next_fires(schedule, NOW, schedules.MAX_FIRES + 1)
    with pytest.raises(ValidationError):
        next_fires(schedule, NOW, -1)


def test_loop_guard_stops_a_stuck_iterator(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = compile_cron("0 9 * * *")
    stuck = datetime(2026, 1, 1, 9)  # croniter keeps answering an instant not after `after`
    calls = 0

    def counting(self: CronSpec, after: datetime) -> datetime:
        nonlocal calls
        calls += 1
        return stuck

    monkeypatch.setattr(CronSpec, "next_local", counting)
    for zone in (None, ZoneInfo("Europe/Paris")):
        with pytest.raises(ValidationError, match="candidate times"):
            next_cron_fire(spec, utc(2026, 6, 1), zone)
    assert calls == 2 * MAX_CANDIDATES


def test_compiled_expressions_are_cached() -> None:
    assert compile_cron("0 9 * * 1-5") is compile_cron("0 9 * * 1-5")
    before = cronspec.compile_cron.cache_info().hits
    schedule = parse_schedule("0 9 * * 1-5")
    next_fire(schedule, NOW)
    assert cronspec.compile_cron.cache_info().hits > before


# --- properties: cron agrees with croniter in UTC -------------------------------------------


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        st.integers(2, max(2, high - low)).map(lambda step: f"*/{step}"),
        value.map(str),
        st.tuples(value, value).map(lambda pair: f"{min(pair)}-{max(pair)}"),
        st.lists(value, min_size=1, max_size=4).map(lambda items: ",".join(map(str, items))),
    )


CRONS = st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 6)).map(" ".join)
INSTANTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))


def _parse_or_skip(expression: str, zone: str = "UTC") -> Schedule:
    try:
        return parse_schedule(expression, timezone=zone)
    except ValidationError as error:
        assert "can never fire" in error.message
        assume(False)
        raise


@settings(max_examples=200, deadline=None)
@given(CRONS, INSTANTS)
def test_next_fire_agrees_with_croniter_in_utc(expression: str, after: datetime) -> None:
    schedule = _parse_or_skip(expression)
    expected = croniter(expression, after).get_next(datetime)
    assert next_fire(schedule, after) == expected


@settings(max_examples=100, deadline=None)
@given(
    CRONS,
    INSTANTS,
    st.sampled_from(
        [
            "UTC",
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "America/Santiago",
            "Asia/Kathmandu",
            "Pacific/Apia",
        ]
    ),
)
def test_fires_strictly_increase(expression: str, after: datetime, zone: str) -> None:
    schedule = _parse_or_skip(expression, zone)
    previous = after
    for _ in range(50):
        fire = next_fire(schedule, previous)
        assert fire is not None and fire > previous and fire.tzinfo is UTC
        previous = fire


# --- DST fixtures ----------------------------------------------------------------------------


def _local(fires: list[datetime], zone: str) -> list[str]:
    return [f"{fire.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M %Z}" for fire in fires]


DST_FIXTURES = [
    # spring forward: 02:30 does not exist on 2026-03-08 → 03:00 EDT, once
    (
        "30 2 * * *",
        "America/New_York",
        utc(2026, 3, 6, 12),
        ["2026-03-07 02:30 EST", "2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT"],
    ),
    (
        "0 1 * * *",
        "America/New_York",
        utc(2026, 3, 6, 12),
        ["2026-03-07 01:00 EST", "2026-03-08 01:00 EST", "2026-03-09 01:00 EDT"],
    ),
    # fall back: 01:00-02:00 happens twice on 2026-11-01 → the first occurrence only
    (
        "0 1 * * *",
        "America/New_York",
        utc(2026, 10, 30, 12),
        ["2026-10-31 01:00 EDT", "2026-11-01 01:00 EDT", "2026-11-02 01:00 EST"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        utc(2026, 10, 30, 12),
        ["2026-10-31 01:30 EDT", "2026-11-01 01:30 EDT", "2026-11-02 01:30 EST"],
    ),
    (
        "30 2 * * *",
        "America/New_York",
        utc(2026, 10, 30, 12),
        ["2026-10-31 02:30 EDT", "2026-11-01 02:30 EST", "2026-11-02 02:30 EST"],
    ),
    # hourly and finer follow the real clock: the skipped hour is skipped, the repeated one repeats
    (
        "0 * * * *",
        "America/New_York",
        utc(2026, 3, 8, 5),
        ["2026-03-08 01:00 EST", "2026-03-08 03:00 EDT", "2026-03-08 04:00 EDT"],
    ),
    (
        "0 * * * *",
        "America/New_York",
        utc(2026, 11, 1, 3),
        [
            "2026-11-01 00:00 EDT",
            "2026-11-01 01:00 EDT",
            "2026-11-01 01:00 EST",
            "2026-11-01 02:00 EST",
        ],
    ),
    (
        "*/30 * * * *",
        "America/New_York",
        utc(2026, 11, 1, 5, 10),
        [
            "2026-11-01 01:30 EDT",
            "2026-11-01 01:00 EST",
            "2026-11-01 01:30 EST",
            "2026-11-01 02:00 EST",
        ],
    ),
    (
        "*/30 * * * *",
        "America/New_York",
        utc(2026, 3, 8, 6, 10),
        ["2026-03-08 01:30 EST", "2026-03-08 03:00 EDT", "2026-03-08 03:30 EDT"],
    ),
    # Europe/London: 01:00 → 02:00 on 2026-03-29, 02:00 → 01:00 on 2026-10-25
    (
        "30 1 * * *",
        "Europe/London",
        utc(2026, 3, 27, 12),
        ["2026-03-28 01:30 GMT", "2026-03-29 02:00 BST", "2026-03-30 01:30 BST"],
    ),
    (
        "30 1 * * *",
        "Europe/London",
        utc(2026, 10, 23, 12),
        ["2026-10-24 01:30 BST", "2026-10-25 01:30 BST", "2026-10-26 01:30 GMT"],
    ),
    # Australia/Lord_Howe moves by 30 minutes: 02:00 → 02:30 on 2026-10-04, 02:00 → 01:30 on 04-05
    (
        "15 2 * * *",
        "Australia/Lord_Howe",
        utc(2026, 10, 2, 12),
        ["2026-10-03 02:15 +1030", "2026-10-04 02:30 +11", "2026-10-05 02:15 +11"],
    ),
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        utc(2026, 4, 3, 12),
        ["2026-04-04 01:45 +11", "2026-04-05 01:45 +11", "2026-04-06 01:45 +1030"],
    ),
    # DST at midnight: Santiago skips 00:00 on 2026-09-06 and repeats 23:00 on 2026-04-04
    (
        "0 0 * * *",
        "America/Santiago",
        utc(2026, 9, 4, 12),
        ["2026-09-05 00:00 -04", "2026-09-06 01:00 -03", "2026-09-07 00:00 -03"],
    ),
    (
        "0 0 * * 0",
        "America/Santiago",
        utc(2026, 8, 30, 12),
        ["2026-09-06 01:00 -03", "2026-09-13 00:00 -03"],
    ),
    (
        "0 23 * * *",
        "America/Santiago",
        utc(2026, 4, 3, 12),
        ["2026-04-03 23:00 -03", "2026-04-04 23:00 -03", "2026-04-05 23:00 -04"],
    ),
    # Havana: 00:00 → 01:00 on 2026-03-08, 01:00 → 00:00 on 2026-11-01
    (
        "0 0 * * *",
        "America/Havana",
        utc(2026, 3, 6, 12),
        ["2026-03-07 00:00 CST", "2026-03-08 01:00 CDT", "2026-03-09 00:00 CDT"],
    ),
    (
        "0 0 * * *",
        "America/Havana",
        utc(2026, 10, 30, 12),
        ["2026-10-31 00:00 CDT", "2026-11-01 00:00 CDT", "2026-11-02 00:00 CST"],
    ),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), DST_FIXTURES)
def test_dst_fixtures(expression: str, zone: str, after: datetime, expected: list[str]) -> None:
    schedule = parse_schedule(expression, timezone=zone)
    assert _local(next_fires(schedule, after, len(expected)), zone) == expected


@pytest.mark.parametrize("expression", ["30 2 * * *", "0 1 * * *", "30 1 * * *", "0 0 * * *"])
@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "America/Havana"])
def test_daily_schedules_fire_exactly_once_per_local_day(expression: str, zone: str) -> None:
    schedule = parse_schedule(expression, timezone=zone)
    fires = next_fires(schedule, utc(2026, 1, 1), 365)
    days = [fire.astimezone(ZoneInfo(zone)).date() for fire in fires]
    assert len(set(days)) == len(days) == 365
    assert days[-1] - days[0] == timedelta(days=364)


# --- property: zoned next fire matches a minute-by-minute oracle around real transitions -----


def _matches(spec: CronSpec, wall: datetime) -> bool:
    weekday = (wall.weekday() + 1) % 7
    in_days = spec.days is None or wall.day in spec.days
    in_weekdays = spec.weekdays is None or weekday in spec.weekdays
    both = spec.days is not None and spec.weekdays is not None  # then cron ORs the two day fields
    day_ok = (in_days or in_weekdays) if both else (in_days and in_weekdays)
    return wall.minute in spec.minutes and wall.hour in spec.hours and wall.month in spec.months and day_ok


def _oracle(spec: CronSpec, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The documented policy, by brute force over every minute of real time."""
    fires: set[datetime] = set()
    minute = timedelta(minutes=1)
    previous_wall: datetime | None = None
    instant = start + minute
    while instant <= end:
        local = instant.astimezone(zone)
        wall = local.replace(tzinfo=None)
        if _matches(spec, wall) and (spec.hourly_or_finer or local.fold == 0):
            fires.add(instant)
        if previous_wall is not None and not spec.hourly_or_finer:
            skipped = previous_wall + minute
            while skipped < wall:  # wall times jumped over by a spring-forward gap
                if _matches(spec, skipped):
                    fires.add(instant)
                    break
                skipped += minute
        previous_wall = wall
        instant += minute
    return sorted(fires)


def _transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    found, instant = [], datetime(year, 1, 1, tzinfo=UTC)
    while instant.year == year:
        later = instant + timedelta(hours=1)
        if instant.astimezone(zone).utcoffset() != later.astimezone(zone).utcoffset():
            found.append(instant)
        instant = later
    return found


TRANSITIONS = [
    (zone, moment)
    for zone in [
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
        "America/Santiago",
        "America/Havana",
        "Europe/Dublin",
    ]
    for moment in _transitions(ZoneInfo(zone), 2026)
]
DST_HOURS = st.sampled_from(["*", "0", "1", "2", "23", "0-3", "1,2", "*/2", "22-23", "0,12"])
DST_CRONS = st.tuples(
    st.sampled_from(["0", "30", "15", "*/15", "0,45", "*/20", "5", "59"]),
    DST_HOURS,
    st.sampled_from(["*", "*", "*", "1-10", "28-31"]),
    st.just("*"),
    st.sampled_from(["*", "*", "0", "6", "1-5", "0,6"]),
).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DST_CRONS, st.sampled_from(TRANSITIONS), st.integers(-30, 6))
def test_zoned_next_fire_matches_the_policy_oracle(
    expression: str, transition: tuple[str, datetime], offset_hours: int
) -> None:
    zone_name, moment = transition
    zone = ZoneInfo(zone_name)
    schedule = _parse_or_skip(expression, zone_name)
    spec = compile_cron(schedule.expression)
    start = moment + timedelta(hours=offset_hours, minutes=17)
    end = moment + timedelta(hours=30)
    expected = _oracle(spec, zone, start, end)
    fires, previous = [], start
    while True:
        fire = next_fire(schedule, previous)
        assert fire is not None
        if fire > end:
            break
        fires.append(fire)
        previous = fire
    assert fires == expected
