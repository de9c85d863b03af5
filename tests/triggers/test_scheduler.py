"""The scheduler on a FakeClock: fire times, misfire and catch-up, overlap, repeat, zones, jitter.

Nothing sleeps for real: after a clock jump a test waits until the engine's scheduler waits on the
clock again (it does only once nothing is due), so "nothing more fired" is checked after the fact.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Iterable
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

import graphflow
from graphflow.clock import FakeClock
from graphflow.engine.engine import Engine
from graphflow.events import RunSkipped
from graphflow.ids import new_id
from graphflow.records import Automation, AutomationRun, iso
from graphflow.stores.memory import MemoryStore
from graphflow.triggers.scheduler import Scheduler
from tests.conftest import eventually as _eventually
from tests.conftest import graph_dict, parked
from tests.gates import ACTIVE, GATES, reset_gates

pytestmark = pytest.mark.anyio

#: Polls until a state shows, failing after 5 s.
eventually = functools.partial(_eventually, timeout=5.0)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z (a Thursday)
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
NINE = T0 + 9 * HOUR  # the first "0 9 * * *" fire

ECHO = graph_dict({"kind": "WorkflowScript", "id": "echo", "source": "$"}, trigger="workflow.scheduled")
SLOW = graph_dict({"kind": "TestGate", "id": "wait"}, trigger="workflow.scheduled")


@pytest.fixture(autouse=True)
def _fresh_gates() -> None:
    reset_gates()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def engine(clock: FakeClock) -> AsyncIterator[Engine]:
    async with Engine("memory://", clock=clock) as started:
        yield started


@pytest.fixture
def skipped(engine: Engine) -> list[RunSkipped]:
    seen: list[RunSkipped] = []
    engine.subscribe(lambda event: seen.append(event), (RunSkipped,))  # type: ignore[arg-type]
    return seen


async def scheduled(engine: Engine, schedule: str, *, graph: Any = ECHO, **fields: Any) -> Automation:
    cfg = await engine.configs.create("app_a", graph)
    return await engine.automations.create(
        "app_a", name="S", type="scheduled", schedule=schedule, config_id=cfg.id, enabled=True, **fields
    )


async def current(engine: Engine, automation: Automation) -> Automation:
    return (await engine.automations.get("app_a", automation.id)).automation


async def handled(engine: Engine) -> None:
    """Return once the engine's scheduler waits on the clock again: every fire due by now is stored."""
    assert isinstance(engine.clock, FakeClock)
    await parked(engine.clock)


async def tick(engine: Engine, instant: float) -> None:
    """Jump the engine's clock to ``instant`` and return once its scheduler has handled it."""
    assert isinstance(engine.clock, FakeClock)
    await engine.clock.set(instant)
    await handled(engine)


async def fired(engine: Engine, automation: Automation, expected: int) -> list[AutomationRun]:
    """Wait until ``expected`` runs exist and the scheduler is idle, check no more fired, return them in order.

    Runs a worker stores later (a buffered run released when the busy one ends) are waited for;
    an extra fire would already be stored once the scheduler waits on the clock again.
    """

    async def found() -> list[AutomationRun]:
        page = await engine.store.list_runs("app_a", automation.id, status=None, cursor=None, limit=100)
        return sorted(page.data, key=lambda r: (r.scheduled_at or 0, r.id))

    await eventually(lambda: _at_least(found(), expected))
    await handled(engine)
    runs = await found()
    assert len(runs) == expected, [iso(r.scheduled_at) for r in runs]
    return runs


async def _at_least(runs: Awaitable[list[AutomationRun]], expected: int) -> bool:
    return len(await runs) >= expected


async def _active(at_least: int = 1) -> bool:
    return ACTIVE["now"] >= at_least


async def _status(engine: Engine, run: AutomationRun, status: str) -> bool:
    return (await engine.automations.run("app_a", run.id)).status == status


def at(runs: Iterable[AutomationRun]) -> list[float | None]:
    return [r.scheduled_at for r in runs]


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def settle_run(engine: Engine, run: AutomationRun) -> AutomationRun:
    return await engine.wait_for_run("app_a", run.id, timeout=5)


# --- firing -----------------------------------------------------------------------------------


async def test_fires_at_the_instant_with_the_scheduled_payload(engine: Engine, clock: FakeClock) -> None:
    automation = await scheduled(engine, "0 9 * * *")
    assert automation.next_run_at == NINE
    await clock.set(NINE - 1)
    await fired(engine, automation, 0)
    await clock.set(NINE)
    [run] = await fired(engine, automation, 1)
    assert (run.trigger, run.payload, run.scheduled_at, run.event_id) == (
        "workflow.scheduled",
        {"scheduled_at": "2026-01-01T09:00:00Z"},
        NINE,
        None,
    )
    done = await settle_run(engine, run)
    assert done.result == {"payload": {"scheduled_at": "2026-01-01T09:00:00Z"}, "output": []}
    after = await current(engine, automation)
    assert after.next_run_at == NINE + DAY == engine.scheduler.due_at(automation.id)
    assert (after.last_run_at, after.last_run_status, after.repeat.completed) == (NINE, "completed", 1)


class RecordingStore(MemoryStore):
    """A memory store that logs the writes the scheduler makes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, Any]] = []

    async def update_automation(self, automation: Automation, *, expected_revision: int) -> None:
        self.log.append(("update_automation", automation.next_run_at))
        await super().update_automation(automation, expected_revision=expected_revision)

    async def insert_runs(self, runs: Iterable[AutomationRun]) -> list[AutomationRun]:
        runs = list(runs)
        self.log.append(("insert_runs", [r.scheduled_at for r in runs]))
        return await super().insert_runs(runs)


async def test_the_next_fire_is_recorded_before_the_run_is_stored(clock: FakeClock) -> None:
    store = RecordingStore()
    async with Engine(store, clock=clock) as engine:
        automation = await scheduled(engine, "0 9 * * *", graph=SLOW)
        store.log.clear()
        await clock.set(NINE)
        [run] = await fired(engine, automation, 1)
        assert store.log[:2] == [("update_automation", NINE + DAY), ("insert_runs", [NINE])]
        await eventually(lambda: _status(engine, run, "running"))
        during = await current(engine, automation)
        assert (during.next_run_at, during.repeat.completed) == (NINE + DAY, 1)
        GATES["main"].set()
        await settle_run(engine, run)


async def test_many_automations_fire_in_time_order(engine: Engine, clock: FakeClock) -> None:
    first, second, third = [await scheduled(engine, f"in {n}m") for n in (3, 1, 2)]
    await clock.set(T0 + 150)
    assert len(await fired(engine, second, 1)) == 1
    assert len(await fired(engine, third, 1)) == 1
    assert await fired(engine, first, 0) == []
    assert engine.scheduler.due_at(first.id) == T0 + 180
    await clock.set(T0 + 180)
    assert at(await fired(engine, first, 1)) == [T0 + 180]


# --- misfire and catch-up -----------------------------------------------------------------------


async def test_a_late_fire_within_the_grace_runs_once_late(
    engine: Engine, clock: FakeClock, skipped: list[RunSkipped]
) -> None:
    automation = await scheduled(engine, "0 9 * * *", misfire_grace=60)
    await clock.set(NINE + 45)
    [run] = await fired(engine, automation, 1)
    assert (run.scheduled_at, run.payload) == (NINE, {"scheduled_at": "2026-01-01T09:00:00Z"})
    assert run.created_at == NINE + 45
    assert (await current(engine, automation)).next_run_at == NINE + DAY
    assert skipped == []


async def test_catchup_none_fires_nothing_and_announces_the_miss(
    engine: Engine, clock: FakeClock, skipped: list[RunSkipped]
) -> None:
    automation = await scheduled(engine, "0 9 * * *", catchup="none")
    await clock.set(NINE + 3 * DAY + HOUR)
    await fired(engine, automation, 0)
    assert [(e.reason, e.automation_id, e.scheduled_at) for e in skipped] == [("missed", automation.id, NINE)]
    after = await current(engine, automation)
    assert (after.next_run_at, after.status, after.repeat.completed) == (NINE + 4 * DAY, "running", 0)


async def test_catchup_latest_fires_once_for_the_backlog(
    engine: Engine, clock: FakeClock, skipped: list[RunSkipped]
) -> None:
    automation = await scheduled(engine, "0 9 * * *")
    await clock.set(NINE + 3 * DAY + HOUR)
    assert at(await fired(engine, automation, 1)) == [NINE + 3 * DAY]
    assert [e.reason for e in skipped] == ["missed"]
    assert (await current(engine, automation)).next_run_at == NINE + 4 * DAY


@pytest.mark.parametrize(("cap", "expected_days"), [(10, [0, 1, 2, 3]), (2, [2, 3])])
async def test_catchup_all_fires_each_missed_instant_up_to_the_cap(
    engine: Engine, clock: FakeClock, skipped: list[RunSkipped], cap: int, expected_days: list[int]
) -> None:
    automation = await scheduled(engine, "0 9 * * *", catchup="all", max_catchup_runs=cap)
    await clock.set(NINE + 3 * DAY + HOUR)
    runs = await fired(engine, automation, len(expected_days))
    assert at(runs) == [NINE + d * DAY for d in expected_days]
    assert {r.payload["scheduled_at"][:10] for r in runs} == {f"2026-01-0{d + 1}" for d in expected_days}
    assert [e.reason for e in skipped] == (["missed"] if cap < 4 else [])
    assert (await current(engine, automation)).repeat.completed == len(expected_days)


async def test_a_restarted_engine_catches_up_what_it_missed(clock: FakeClock) -> None:
    store = MemoryStore()
    async with Engine(store, clock=clock) as engine:
        automation = await scheduled(engine, "0 9 * * *")
    await clock.set(NINE + 2 * DAY + 30 * MINUTE)  # the host was down for two days
    async with Engine(store, clock=clock) as engine:
        assert at(await fired(engine, automation, 1)) == [NINE + 2 * DAY]
        assert (await current(engine, automation)).next_run_at == NINE + 3 * DAY


# --- overlap ------------------------------------------------------------------------------------


async def test_overlap_skip_drops_fires_while_a_run_is_busy(
    engine: Engine, clock: FakeClock, skipped: list[RunSkipped]
) -> None:
    automation = await scheduled(engine, "* * * * *", graph=SLOW)
    await clock.set(T0 + MINUTE)
    [busy] = await fired(engine, automation, 1)
    await clock.set(T0 + 2 * MINUTE)
    await fired(engine, automation, 1)
    assert [(e.reason, e.scheduled_at) for e in skipped] == [("overlap", T0 + 2 * MINUTE)]
    assert (await current(engine, automation)).next_run_at == T0 + 3 * MINUTE
    GATES["main"].set()
    await settle_run(engine, busy)  # ended, and no longer counted as busy
    await clock.set(T0 + 3 * MINUTE)
    assert at(await fired(engine, automation, 2)) == [T0 + MINUTE, T0 + 3 * MINUTE]


async def test_overlap_buffer_one_queues_exactly_one_run(
    engine: Engine, clock: FakeClock, skipped: list[RunSkipped]
) -> None:
    automation = await scheduled(engine, "* * * * *", graph=SLOW, overlap="buffer_one")
    for minute in (1, 2, 3, 4):
        await tick(engine, T0 + minute * MINUTE)
    # The buffered run is kept by the engine, not stored, until the running one ends: on a shared
    # database no other worker may start it early.
    [first] = await fired(engine, automation, 1)
    assert first.scheduled_at == T0 + MINUTE and first.status == "running"
    assert engine.buffered[automation.id].scheduled_at == T0 + 2 * MINUTE
    assert [(e.reason, e.scheduled_at) for e in skipped] == [("overlap", T0 + 3 * MINUTE), ("overlap", T0 + 4 * MINUTE)]
    GATES["main"].set()
    runs = await fired(engine, automation, 2)
    assert at(runs) == [T0 + MINUTE, T0 + 2 * MINUTE]
    assert [(await settle_run(engine, r)).status for r in runs] == ["completed", "completed"]
    assert ACTIVE["max"] == 1


async def test_overlap_allow_runs_concurrently(engine: Engine, clock: FakeClock, skipped: list[RunSkipped]) -> None:
    automation = await scheduled(engine, "* * * * *", graph=SLOW, overlap="allow")
    for minute in (1, 2, 3):
        await tick(engine, T0 + minute * MINUTE)
    runs = await fired(engine, automation, 3)
    await eventually(lambda: _active(3))
    assert skipped == []
    GATES["main"].set()
    assert [(await settle_run(engine, r)).status for r in runs] == ["completed"] * 3


# --- repeat and one-shots -----------------------------------------------------------------------


async def test_repeat_times_reached_pauses_as_completed(engine: Engine, clock: FakeClock) -> None:
    automation = await scheduled(engine, "* * * * *", repeat={"times": 2})
    await clock.set(T0 + MINUTE)
    await fired(engine, automation, 1)
    assert (await current(engine, automation)).status == "running"
    await clock.set(T0 + 2 * MINUTE)
    await fired(engine, automation, 2)
    after = await current(engine, automation)
    assert (after.status, after.enabled, after.paused_reason, after.next_run_at) == ("paused", False, "completed", None)
    assert after.to_dict()["repeat"] == {"times": 2, "completed": 2}
    assert engine.scheduler.due_at(automation.id) is None
    await clock.set(T0 + 10 * MINUTE)
    await fired(engine, automation, 2)


async def test_a_one_shot_fires_once_then_pauses_as_completed(engine: Engine, clock: FakeClock) -> None:
    automation = await scheduled(engine, "in 30m")
    assert (automation.schedule_kind, automation.next_run_at) == ("once", T0 + 30 * MINUTE)
    await clock.set(T0 + 30 * MINUTE)
    assert at(await fired(engine, automation, 1)) == [T0 + 30 * MINUTE]
    after = await current(engine, automation)
    assert (after.status, after.paused_reason, after.next_run_at) == ("paused", "completed", None)
    await clock.set(T0 + DAY)
    await fired(engine, automation, 1)
    renamed = await engine.automations.update("app_a", automation.id, name="Done", metadata={"ok": True})
    assert (renamed.name, renamed.schedule, renamed.status) == ("Done", automation.schedule, "paused")


async def test_a_one_shot_whose_time_has_passed_cannot_be_activated(engine: Engine, clock: FakeClock) -> None:
    cfg = await engine.configs.create("app_a", ECHO)
    draft = await engine.automations.create("app_a", name="S", type="scheduled", schedule="in 30m", config_id=cfg.id)
    await clock.set(T0 + 2 * HOUR)
    with pytest.raises(graphflow.ValidationError) as exc:
        await engine.automations.activate("app_a", draft.id)
    assert [p.path for p in exc.value.problems] == ["$.schedule"]
    with pytest.raises(graphflow.ValidationError):
        await engine.automations.update("app_a", draft.id, enabled=True, name="x")
    stored = await current(engine, draft)
    assert (stored.status, stored.name, stored.revision) == ("draft", "S", draft.revision)
    moved = await engine.automations.update("app_a", draft.id, schedule="in 5m", enabled=True)
    assert (moved.status, moved.next_run_at) == ("running", T0 + 2 * HOUR + 5 * MINUTE)


async def test_reset_clears_the_repeat_count(engine: Engine, clock: FakeClock) -> None:
    automation = await scheduled(engine, "* * * * *", repeat={"times": 1})
    await clock.set(T0 + MINUTE)
    await fired(engine, automation, 1)
    reset = await engine.automations.reset("app_a", automation.id)
    assert (reset.status, reset.repeat.completed, reset.paused_reason) == ("draft", 0, None)
    await engine.automations.activate("app_a", automation.id)
    await clock.set(T0 + 2 * MINUTE)
    assert at(await fired(engine, automation, 2)) == [T0 + MINUTE, T0 + 2 * MINUTE]


# --- intervals and zones ------------------------------------------------------------------------


async def test_an_interval_keeps_its_grid_when_a_fire_is_late(engine: Engine, clock: FakeClock) -> None:
    automation = await scheduled(engine, "every 30m")
    assert automation.next_run_at == T0 + 30 * MINUTE
    await clock.set(T0 + 30 * MINUTE + 40)  # late, within the grace
    await fired(engine, automation, 1)
    assert (await current(engine, automation)).next_run_at == T0 + 60 * MINUTE
    await clock.set(T0 + 60 * MINUTE)
    await fired(engine, automation, 2)
    await clock.set(T0 + 200 * MINUTE)  # beyond the grace: the latest grid instant
    runs = await fired(engine, automation, 3)
    assert at(runs) == [T0 + 30 * MINUTE, T0 + 60 * MINUTE, T0 + 180 * MINUTE]
    assert (await current(engine, automation)).next_run_at == T0 + 210 * MINUTE


@pytest.mark.parametrize(
    ("start", "fire"),
    [
        ("2026-01-01T00:00:00", "2026-01-01T14:00:00"),  # EST, UTC-5
        ("2026-07-01T00:00:00", "2026-07-01T13:00:00"),  # EDT, UTC-4
    ],
)
async def test_a_zoned_cron_fires_at_local_time(start: str, fire: str) -> None:
    clock = FakeClock(utc(start))
    async with Engine("memory://", clock=clock) as engine:
        automation = await scheduled(engine, "0 9 * * *", timezone="America/New_York")
        assert automation.next_run_at == utc(fire)
        await clock.set(utc(fire) - 1)
        await fired(engine, automation, 0)
        await clock.set(utc(fire))
        [run] = await fired(engine, automation, 1)
        assert run.payload == {"scheduled_at": fire + "Z"}
        assert (await current(engine, automation)).next_run_at == utc(fire) + DAY


@pytest.mark.parametrize(
    ("expression", "start", "fires"),
    [
        # spring forward: 02:30 does not exist on 8 March, so that day runs once at 03:00 EDT
        ("30 2 * * *", "2026-03-06T12:00:00", ["2026-03-07T07:30:00", "2026-03-08T07:00:00", "2026-03-09T06:30:00"]),
        # fall back: 01:30 happens twice on 1 November and runs once, at the first
        ("30 1 * * *", "2026-10-30T12:00:00", ["2026-10-31T05:30:00", "2026-11-01T05:30:00", "2026-11-02T06:30:00"]),
    ],
)
async def test_a_zoned_cron_across_dst_changes_fires_once_a_day(expression: str, start: str, fires: list[str]) -> None:
    clock = FakeClock(utc(start))
    async with Engine("memory://", clock=clock) as engine:
        automation = await scheduled(engine, expression, timezone="America/New_York")
        for count, fire in enumerate(fires, start=1):
            assert (await current(engine, automation)).next_run_at == utc(fire)
            await clock.set(utc(fire))
            await fired(engine, automation, count)
            await clock.set(utc(fire) + 61 * MINUTE)  # past a repeated hour: still no second fire
            await fired(engine, automation, count)
        runs = await fired(engine, automation, len(fires))
        assert [r.payload["scheduled_at"] for r in runs] == [f + "Z" for f in fires]


# --- pause and activate -------------------------------------------------------------------------


async def test_pausing_removes_future_fires(engine: Engine, clock: FakeClock) -> None:
    automation = await scheduled(engine, "0 9 * * *")
    paused = await engine.automations.pause("app_a", automation.id)
    assert (paused.next_run_at, engine.scheduler.due_at(automation.id)) == (None, None)
    await clock.set(NINE + 2 * DAY)
    await fired(engine, automation, 0)


async def test_reactivating_fires_from_now_without_replaying_the_backlog(
    engine: Engine, clock: FakeClock, skipped: list[RunSkipped]
) -> None:
    automation = await scheduled(engine, "0 9 * * *", catchup="all")
    await engine.automations.pause("app_a", automation.id)
    await clock.set(NINE + 3 * DAY + HOUR)
    again = await engine.automations.activate("app_a", automation.id)
    assert again.next_run_at == NINE + 4 * DAY
    await fired(engine, automation, 0)
    assert skipped == []
    await clock.set(NINE + 4 * DAY)
    assert at(await fired(engine, automation, 1)) == [NINE + 4 * DAY]


# --- jitter and uniqueness ----------------------------------------------------------------------


@pytest.mark.parametrize(("jitter", "grace", "catchup"), [(20.0, 60.0, "latest"), (600.0, 60.0, "none")])
async def test_jitter_delays_the_fire_but_not_scheduled_at(
    clock: FakeClock, jitter: float, grace: float, catchup: str
) -> None:
    engine = Engine("memory://", clock=clock)
    engine.scheduler = Scheduler(fire=engine.fire_scheduled, clock=clock, announce=engine.announce, rand=lambda: 0.5)
    async with engine:
        automation = await scheduled(engine, "0 9 * * *", jitter=jitter, misfire_grace=grace, catchup=catchup)
        await clock.set(NINE + jitter / 2 - 1)
        await fired(engine, automation, 0)
        await clock.set(NINE + jitter / 2)
        [run] = await fired(engine, automation, 1)
        assert (run.scheduled_at, run.payload) == (NINE, {"scheduled_at": "2026-01-01T09:00:00Z"})
        assert run.created_at == NINE + jitter / 2


async def test_jitter_stays_within_its_bounds(clock: FakeClock) -> None:
    async with Engine("memory://", clock=clock) as engine:
        automations = [await scheduled(engine, "0 9 * * *", jitter=30) for _ in range(8)]
        for second in range(-2, 32):
            await tick(engine, NINE + second)
        created = []
        for automation in automations:
            [run] = await fired(engine, automation, 1)
            assert run.scheduled_at == NINE
            created.append(run.created_at)
        assert all(NINE <= c <= NINE + 30 for c in created)
        assert len(set(created)) > 1  # 8 draws from 30 seconds agreeing would be a broken jitter


async def test_an_occurrence_already_stored_does_not_fire_twice(engine: Engine, clock: FakeClock) -> None:
    automation = await scheduled(engine, "0 9 * * *")
    earlier = AutomationRun(
        id=new_id("atr_"),
        automation_id=automation.id,
        app_id="app_a",
        trigger="workflow.scheduled",
        payload={"scheduled_at": "2026-01-01T09:00:00Z"},
        status="completed",
        config_id=automation.config_id,
        config_version=1,
        created_at=NINE,
        updated_at=NINE,
        scheduled_at=NINE,
    )
    await engine.store.insert_runs([earlier])
    await clock.set(NINE)
    [only] = await fired(engine, automation, 1)
    assert only.id == earlier.id
    assert (await current(engine, automation)).next_run_at == NINE + DAY
    await clock.set(NINE + DAY)
    assert at(await fired(engine, automation, 2)) == [NINE, NINE + DAY]


# --- the scheduler on its own: a fire callback, no engine -----------------------------------------


async def test_the_scheduler_fires_through_its_callback_without_an_engine(clock: FakeClock) -> None:
    fires: list[tuple[str, list[float], float | None]] = []
    fired_once = anyio.Event()

    async def fire(entry: Any, instants: list[float], following: float | None) -> None:
        fires.append((entry.id, instants, following))
        fired_once.set()

    scheduler = Scheduler(fire=fire, clock=clock, announce=lambda event: None)
    automation = Automation(
        id=new_id("aut_"),
        app_id="app_a",
        name="daily",
        type="scheduled",
        status="running",
        config_id=None,
        created_at=T0,
        updated_at=T0,
        schedule="0 9 * * *",
        schedule_kind="cron",
    )
    automation.next_run_at = scheduler.first_fire(automation)
    scheduler.put(automation)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        await clock.set(NINE)
        await fired_once.wait()
        tg.cancel_scope.cancel()
    assert fires == [(automation.id, [NINE], NINE + DAY)]
