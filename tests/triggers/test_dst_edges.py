"""Next fires across a skipped calendar day and 30-minute DST shifts (issue 9 item 7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from graphflow.triggers.schedules import next_fire, next_fires, parse_schedule


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(fires: list[datetime], zone: str) -> list[str]:
    return [f"{fire.astimezone(ZoneInfo(zone)):%m-%d %H:%M%z}" for fire in fires]


def gaps(fires: list[datetime]) -> list[int]:
    return [int((b - a).total_seconds() // 60) for a, b in pairwise(fires)]


def test_every_minute_crosses_the_day_apia_skipped() -> None:
    # Pacific/Apia went from 2011-12-29 23:59 (-10) to 2011-12-31 00:00 (+14).
    schedule = parse_schedule("* * * * *", timezone="Pacific/Apia")
    fires = next_fires(schedule, utc(2011, 12, 30, 9, 58), 3)
    assert local(fires, "Pacific/Apia") == ["12-29 23:59-1000", "12-31 00:00+1400", "12-31 00:01+1400"]
    assert gaps(fires) == [1, 1]


def test_fixed_hours_on_the_skipped_day_fire_at_its_end() -> None:
    schedule = parse_schedule("0 9 * * *", timezone="Pacific/Apia")
    fires = next_fires(schedule, utc(2011, 12, 29, 0), 3)
    assert local(fires, "Pacific/Apia") == ["12-29 09:00-1000", "12-31 00:00+1400", "12-31 09:00+1400"]


# What docs/schedules.md says of Australia/Lord_Howe (30-minute shifts) in 2026.
LORD_HOWE_BACK = utc(2026, 4, 4, 13)  # 5 April 02:00 (+11) → 01:30 (+10:30)
LORD_HOWE_FORWARD = utc(2026, 10, 3, 13)  # 4 October 02:00 (+10:30) → 02:30 (+11)


def lord_howe(expression: str, after: datetime, count: int) -> list[datetime]:
    return next_fires(parse_schedule(expression, timezone="Australia/Lord_Howe"), after, count)


def test_lord_howe_hourly_is_not_once_per_real_hour() -> None:
    back = lord_howe("0 * * * *", LORD_HOWE_BACK, 3)
    assert local(back, "Australia/Lord_Howe") == ["04-05 01:00+1100", "04-05 02:00+1030", "04-05 03:00+1030"]
    assert gaps(back) == [90, 60]
    forward = lord_howe("0 * * * *", LORD_HOWE_FORWARD, 3)
    assert local(forward, "Australia/Lord_Howe")[1:] == ["10-04 01:00+1030", "10-04 03:00+1100"]
    assert gaps(forward) == [60, 90]


def test_lord_howe_half_past_fires_twice_when_the_half_hour_repeats() -> None:
    back = lord_howe("30 * * * *", LORD_HOWE_BACK, 3)
    assert local(back, "Australia/Lord_Howe")[1:] == ["04-05 01:30+1100", "04-05 01:30+1030"]
    assert gaps(back) == [60, 30]
    assert gaps(lord_howe("30 * * * *", LORD_HOWE_FORWARD, 3)) == [60, 30]


def test_lord_howe_every_15_minutes_stays_regular_but_every_20_does_not() -> None:
    for after in (LORD_HOWE_BACK, LORD_HOWE_FORWARD):
        assert set(gaps(lord_howe("*/15 * * * *", after, 12))) == {15}
        assert sorted(set(gaps(lord_howe("*/20 * * * *", after, 12)))) == [20, 30]


#: Zones with skipped calendar days, 30-minute and 2-hour shifts, and midnight changes.
EDGES = [
    ("Pacific/Apia", utc(2011, 12, 30, 10)),
    ("Pacific/Kiritimati", utc(1995, 1, 1, 10)),
    ("Pacific/Kwajalein", utc(1993, 8, 21, 12)),
    ("Australia/Lord_Howe", LORD_HOWE_BACK),
    ("Australia/Lord_Howe", LORD_HOWE_FORWARD),
    ("Antarctica/Troll", utc(2026, 3, 29, 1)),
    ("America/Santiago", utc(2026, 9, 6, 4)),
    ("America/Havana", utc(2026, 3, 8, 5)),
    ("Asia/Kathmandu", utc(1986, 1, 1)),
]
MINUTES = st.sampled_from(["*", "0", "30", "*/15", "*/7", "59", "0,30", "1-5"])
HOURS = st.sampled_from(["*", "*", "0", "1", "2", "23", "*/2", "0-3"])
DAYS = st.sampled_from(["*", "*", "29", "30", "31", "1-10"])
WEEKDAYS = st.sampled_from(["*", "*", "5", "6", "0,6"])
CRONS = st.tuples(MINUTES, HOURS, DAYS, st.just("*"), WEEKDAYS).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CRONS, st.sampled_from(EDGES), st.integers(-48 * 60, 48 * 60))
@example("* * * * *", EDGES[0], -1)
@example("*/7 * * * *", EDGES[0], -1)
def test_a_schedule_that_fires_always_gets_its_next_fire(
    expression: str, edge: tuple[str, datetime], minutes: int
) -> None:
    zone, moment = edge
    schedule = parse_schedule(expression, timezone=zone)
    previous = moment + timedelta(minutes=minutes)
    for _ in range(20):
        fire = next_fire(schedule, previous)
        assert fire is not None and fire > previous
        if expression == "* * * * *":
            assert fire - previous <= timedelta(minutes=1)  # every real minute has a wall time
        previous = fire
