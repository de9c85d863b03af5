"""Schedule parse + display: what a new schedule text costs (``parse_schedule(text).display``).

Every iteration starts from cold caches (parsed schedules, compiled crons and phrases, cron
descriptions), so the rows show the full work for a text graphflow has not seen: validation,
compilation (croniter for cron), normalization and the English display. A text seen before costs
~0.3 µs (parses of recurring schedules are cached by text and zone). APScheduler 3 builds the same
trigger and prints it (``str(CronTrigger.from_crontab(...))``, ``str(IntervalTrigger(minutes=30))``);
it has no English phrases. The cron floor is croniter alone building an iterator for the expression.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from benchmarks.fleet import clear_schedule_caches
from benchmarks.harness import Case, deferred

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CRON = "30 9 * * 1-5"
PHRASE = "every monday at 9am"
INTERVAL = "every 30m"


def _graphflow(text: str, display: str) -> Any:
    from graphflow.triggers.schedules import parse_schedule

    assert parse_schedule(text, now=NOW).display == display

    def iteration() -> str:
        clear_schedule_caches()
        return parse_schedule(text, now=NOW).display

    return iteration


def _apscheduler_cron() -> Any:
    from apscheduler.triggers.cron import CronTrigger

    return lambda: str(CronTrigger.from_crontab(CRON, timezone="UTC"))


def _apscheduler_interval() -> Any:
    from apscheduler.triggers.interval import IntervalTrigger

    return lambda: str(IntervalTrigger(minutes=30, timezone="UTC"))


def _croniter() -> Any:
    from croniter import croniter

    start = datetime(2000, 1, 1)
    return lambda: croniter(CRON, start)


CASES = [
    Case(
        name="parse-cron",
        title=f'schedule parse + display: cron "{CRON}"',
        unit="µs/parse",
        divisor=1,
        contenders={
            "graphflow": deferred(lambda: _graphflow(CRON, "Weekdays at 9:30 AM")),
            "apscheduler": deferred(_apscheduler_cron),
            "floor": deferred(_croniter),
        },
        floor="croniter(expression) alone",
        note="cold caches every iteration (a text seen before: ~0.3 µs); APScheduler: str(CronTrigger.from_crontab())",
    ),
    Case(
        name="parse-phrase",
        title=f'schedule parse + display: "{PHRASE}"',
        unit="µs/parse",
        divisor=1,
        contenders={"graphflow": deferred(lambda: _graphflow(PHRASE, "Weekly, Mondays at 9:00 AM"))},
        note="compiled to cron (0 9 * * 1), cold caches every iteration; APScheduler has no phrases",
    ),
    Case(
        name="parse-interval",
        title=f'schedule parse + display: "{INTERVAL}"',
        unit="µs/parse",
        divisor=1,
        contenders={
            "graphflow": deferred(lambda: _graphflow(INTERVAL, "Every 30 minutes")),
            "apscheduler": deferred(_apscheduler_interval),
        },
        note="cold caches every iteration; APScheduler: str(IntervalTrigger(minutes=30))",
    ),
]
