"""Event flow control — debounce, throttle, concurrency, cancel_on — decided by the store, on every store.

The decisions are checked on what the store holds (the runs, their timers and queues), with
periods long enough that nothing becomes due while a test publishes; what happens when time
passes is in ``test_flow_timing.py`` (the fake clock) and ``tests/durable`` (two processes).
"""

from __future__ import annotations

from typing import Any

import pytest

from graphflow.engine.engine import Engine
from graphflow.exceptions import ValidationError
from graphflow.records import QUEUED_AT, AutomationRun
from tests.conftest import eventually, graph_dict

pytestmark = pytest.mark.anyio

APP = "app_flow"
EVENT = "thread.created"
ECHO = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.thread_id"}, trigger=EVENT)
#: A run that stays active (parked on a long timer) once started.
PARK = graph_dict({"kind": "WorkflowDelay", "id": "d", "duration": "1h"}, trigger=EVENT)
#: A run that parks on an approval without expiry.
GATED = graph_dict({"kind": "WorkflowApproval", "id": "gate", "message": "go?"}, trigger=EVENT)
#: A run that parks on an approval, then fails.
FAILS = graph_dict(
    {"kind": "WorkflowApproval", "id": "gate", "message": "go?", "on_success": "s"},
    {"kind": "WorkflowScript", "id": "s", "source": "$.missing.field"},
    trigger=EVENT,
)


@pytest.fixture
def engine_options() -> dict[str, Any]:
    """A short sync interval: the sweep that promotes what a raised limit frees runs often."""
    return {"poll_interval": 0.05, "sync_interval": 0.05}


async def automation(engine: Engine, graph: dict[str, Any] = ECHO, **fields: Any) -> str:
    config = await engine.configs.create(APP, graph)
    created = await engine.automations.create(
        APP, name="flow", trigger=EVENT, config_id=config.id, enabled=True, **fields
    )
    return created.id


async def runs_of(engine: Engine, automation_id: str) -> list[AutomationRun]:
    """Oldest first: by creation time (ids made in one millisecond sort randomly)."""
    runs = (await engine.automations.runs(APP, automation_id, limit=100)).data
    return sorted(runs, key=lambda r: (r.created_at, r.id))


async def test_a_burst_of_events_leaves_one_holder_per_key_with_the_last_payload(engine: Engine) -> None:
    aid = await automation(engine, debounce={"period": "1h", "max_wait": "2h", "key": "$.thread_id.split('-')[0]"})
    published = [await engine.publish(APP, EVENT, {"thread_id": f"thr_a-{i}"}) for i in range(4)]
    published.append(await engine.publish(APP, EVENT, {"thread_id": "thr_b-1"}))
    runs = await runs_of(engine, aid)
    assert [(r.status, r.flow_key, r.payload["thread_id"]) for r in runs] == [
        ("pending", "thr_a", "thr_a-3"),
        ("pending", "thr_b", "thr_b-1"),
    ]
    holder = runs[0]
    assert {p.run_ids for p in published[:4]} == {(holder.id,)}  # every event of the burst names the holder
    assert holder.event_id == published[3].event_id
    assert holder.waiting_for is not None and holder.waiting_for["kind"] == "debounce"
    first = holder.waiting_for["first_at"]
    assert holder.wake_at is not None and first + 3600 <= holder.wake_at <= first + 7200
    assert engine.flow_counts[(aid, "debounced")] == 5


async def test_max_wait_caps_how_far_a_burst_pushes_the_run(engine: Engine) -> None:
    aid = await automation(engine, debounce={"period": "1h", "max_wait": "1h"})
    for i in range(3):
        await engine.publish(APP, EVENT, {"thread_id": f"thr_t{i}"})
    (holder,) = await runs_of(engine, aid)
    assert holder.waiting_for is not None
    assert holder.wake_at == holder.waiting_for["first_at"] + 3600


async def test_throttle_drops_what_is_over_the_limit_per_key(engine: Engine) -> None:
    aid = await automation(engine, throttle={"limit": 2, "period": "1h", "key": "$.thread_id"})
    results = [
        await engine.publish(APP, EVENT, {"thread_id": t}) for t in ("thr_x", "thr_x", "thr_x", "thr_y", "thr_x")
    ]
    assert [len(r.run_ids) for r in results] == [1, 1, 0, 1, 0]
    assert engine.flow_counts[(aid, "throttled")] == 2
    assert sorted(r.flow_key or "" for r in await runs_of(engine, aid)) == ["thr_x", "thr_x", "thr_y"]


async def test_throttle_with_delay_starts_the_rest_when_the_window_allows(engine: Engine) -> None:
    aid = await automation(engine, graph=PARK, throttle={"limit": 2, "period": "1h", "overflow": "delay"})
    for i in range(5):
        await engine.publish(APP, EVENT, {"thread_id": f"thr_t{i}"})
    runs = await runs_of(engine, aid)
    assert len(runs) == 5
    delayed = [r for r in runs if r.waiting_for is not None and r.waiting_for["kind"] == "throttle"]
    assert len(delayed) == 3
    starts = sorted(r.wake_at or 0.0 for r in delayed)
    first = min(r.created_at for r in runs)
    # 2 now, 2 an hour after the first two, 1 an hour after those: never more than 2 in an hour.
    assert starts[0] >= first + 3600 and starts[2] >= starts[0] + 3600
    assert engine.flow_counts[(aid, "throttled")] == 3


async def test_concurrency_queues_runs_over_the_limit_in_order(engine: Engine) -> None:
    aid = await automation(engine, graph=PARK, concurrency={"limit": 2, "key": "$.thread_id"})
    for _ in range(5):
        await engine.publish(APP, EVENT, {"thread_id": "thr_k"})
    await engine.publish(APP, EVENT, {"thread_id": "thr_other"})
    runs = await runs_of(engine, aid)
    queued = [r for r in runs if r.wake_at == QUEUED_AT]
    assert [r.flow_key for r in queued] == ["thr_k", "thr_k", "thr_k"]
    assert all(r.waiting_for == {"kind": "concurrency", "key": "thr_k"} for r in queued)
    assert engine.flow_counts[(aid, "queued")] == 3
    # Cancelling an active run promotes the oldest queued one of its key, which starts.
    active = [r for r in runs if r.flow_key == "thr_k" and r.wake_at != QUEUED_AT]
    await engine.cancel_run(APP, active[0].id)
    after = {r.id: r for r in await runs_of(engine, aid)}
    assert after[queued[0].id].wake_at != QUEUED_AT
    assert [after[r.id].wake_at for r in queued[1:]] == [QUEUED_AT, QUEUED_AT]


async def test_cancel_on_cancels_the_active_runs_of_the_key(engine: Engine) -> None:
    aid = await automation(
        engine,
        graph=PARK,
        concurrency={"limit": 1, "key": "$.thread_id"},
        cancel_on=[{"event": "thread.deleted", "key": "$.thread_id"}],
    )
    for thread in ("thr_a", "thr_a", "thr_b"):
        await engine.publish(APP, EVENT, {"thread_id": thread})
    await engine.publish(APP, "thread.deleted", {"thread_id": "thr_a"})
    runs = await runs_of(engine, aid)
    assert sorted((r.flow_key or "", r.status == "cancelled") for r in runs) == [
        ("thr_a", True),
        ("thr_a", True),
        ("thr_b", False),  # pending or running (parking on its delay)
    ]
    assert engine.flow_counts[(aid, "cancelled")] == 2


async def test_a_duplicate_event_decides_nothing(engine: Engine) -> None:
    aid = await automation(engine, throttle={"limit": 1, "period": "1h"})
    first = await engine.publish(APP, EVENT, {"thread_id": "thr_a"}, id="evt_same")
    again = await engine.publish(APP, EVENT, {"thread_id": "thr_a"}, id="evt_same")
    assert again.duplicate and again.run_ids == ()
    assert len(first.run_ids) == 1
    assert engine.flow_counts.get((aid, "throttled"), 0) == 0


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"debounce": {"period": 0}}, r"\$\.debounce\.period"),
        ({"concurrency": {}}, r"\$\.concurrency\.limit"),
        ({"debounce": {}}, r"\$\.debounce\.period"),
        ({"debounce": {"period": "-5s"}}, r"\$\.debounce\.period"),
        ({"debounce": {"period": "10s", "max_wait": "5s"}}, r"\$\.debounce\.max_wait"),
        ({"debounce": {"period": "30d"}}, r"\$\.debounce\.period"),
        ({"throttle": {"limit": 0, "period": "1m"}}, r"\$\.throttle\.limit"),
        ({"throttle": {"limit": 5, "period": "1m", "overflow": "queue"}}, r"\$\.throttle\.overflow"),
        ({"throttle": {"limit": True, "period": "1m"}}, r"\$\.throttle\.limit"),
        ({"concurrency": {"limit": -1}}, r"\$\.concurrency\.limit"),
        ({"concurrency": {"limit": 2, "key": "$.a =="}}, r"\$\.concurrency\.key"),
        ({"concurrency": {"limit": 2, "keys": "$.a"}}, r"\$\.concurrency\.keys"),
        ({"concurrency": {"limit": 2}, "throttle": {"limit": 1, "period": "1s"}}, r"at most one of"),
        ({"cancel_on": [{"event": "thread.deleted", "key": "$.id"}]}, r"\$\.cancel_on\[0\]\.key"),
        ({"cancel_on": [{"event": "no.such_event"}]}, r"\$\.cancel_on\[0\]\.event"),
        ({"cancel_on": [{"event": "thread.deleted", "filter": "$.x +"}]}, r"\$\.cancel_on\[0\]\.filter"),
    ],
)
async def test_bad_policies_are_refused_with_a_path_and_change_nothing(
    engine: Engine, fields: dict[str, Any], path: str
) -> None:
    config = await engine.configs.create(APP, ECHO)
    with pytest.raises(ValidationError, match=path) as caught:
        await engine.automations.create(APP, name="f", trigger=EVENT, config_id=config.id, **fields)
    assert caught.value.code == "validation_error"
    assert (await engine.automations.list(APP)).data == []


async def test_policies_belong_to_trigger_automations(engine: Engine) -> None:
    config = await engine.configs.create(APP, ECHO)
    with pytest.raises(ValidationError, match="has no 'concurrency'"):
        await engine.automations.create(
            APP, name="s", type="scheduled", schedule="every 1h", config_id=config.id, concurrency={"limit": 1}
        )


async def test_an_update_that_breaks_a_policy_changes_nothing(engine: Engine) -> None:
    aid = await automation(engine, concurrency={"limit": 2})
    with pytest.raises(ValidationError, match=r"\$\.concurrency\.limit"):
        await engine.automations.update(APP, aid, concurrency={"limit": 0})
    stored = (await engine.automations.get(APP, aid)).automation
    assert stored.concurrency == {"limit": 2, "key": None}


async def test_cancel_on_racing_runs_that_finish_leaves_each_run_one_outcome(engine: Engine) -> None:
    aid = await automation(engine, cancel_on=[{"event": "thread.deleted", "filter": "$.thread_id != 'thr_keep'"}])
    threads = [f"thr_{i}" for i in range(15)]
    for thread in threads:
        await engine.publish(APP, EVENT, {"thread_id": thread})
        await engine.publish(APP, "thread.deleted", {"thread_id": thread})  # races the run it follows
    runs = [await engine.wait_for_run(APP, r.id, timeout=30) for r in await runs_of(engine, aid)]
    assert len(runs) == len(threads)
    for run in runs:
        if run.status == "completed":
            assert run.result is not None and run.result["payload"] == run.payload["thread_id"]
        else:
            assert (run.status, run.result) == ("cancelled", {"error": "run cancelled"})
    cancelled = sum(r.status == "cancelled" for r in runs)
    assert engine.flow_counts.get((aid, "cancelled"), 0) == cancelled
    # A run that finished stays finished; an event the filter refuses cancels nothing.
    done = await engine.wait_for_run(APP, (await engine.publish(APP, EVENT, {"thread_id": "thr_x"})).run_ids[0])
    await engine.publish(APP, "thread.deleted", {"thread_id": "thr_x"})
    parked = await automation(engine, graph=PARK, cancel_on=[{"event": "thread.deleted", "filter": "false"}])
    await engine.publish(APP, EVENT, {"thread_id": "thr_keep"})
    await engine.publish(APP, "thread.deleted", {"thread_id": "thr_keep"})
    assert (await engine.store.get_run(APP, done.id)).status == "completed"  # type: ignore[union-attr]
    (kept,) = await runs_of(engine, parked)
    assert kept.status in ("pending", "running")


@pytest.mark.parametrize(
    "payload",
    [
        {"thread": {"id": "thr_1"}},
        {"thread": {"id": 7}},
        {"thread": {"id": None}},
        {"thread": {"id": [1, "a"]}},
        {"thread": {"id": {"b": 1, "a": 2}}},
        {"thread": {"id": "x" * 500}},
        {"thread": {"id": 10**20}},
        {"thread": {"id": -(2**63) - 1}},
        {"thread": {"id": [1, 2**70]}},
        {"thread": {}},
        {"thread": "flat"},
        {},
    ],
)
def test_a_path_key_is_read_in_python_exactly_as_the_script_reads_it(payload: dict[str, Any]) -> None:
    from graphflow.engine.flow import compile_key

    fast = compile_key("$.thread.id")
    script = compile_key("($.thread.id)")  # not the plain path shape: evaluated by the script engine
    assert fast is not None and script is not None
    assert fast(payload) == script(payload)
    assert len(fast(payload)) <= 200


async def test_raising_or_removing_a_limit_starts_what_it_held_queued(engine: Engine) -> None:
    aid = await automation(engine, graph=PARK, concurrency={"limit": 1})
    for i in range(5):
        await engine.publish(APP, EVENT, {"thread_id": f"thr_{i}"})

    async def queued(count: int) -> bool:
        return sum(r.wake_at == QUEUED_AT for r in await runs_of(engine, aid)) == count

    assert await queued(4)
    await engine.automations.update(APP, aid, concurrency={"limit": 3})
    await eventually(lambda: queued(2), "two queued runs promoted after the limit went from 1 to 3")
    await engine.automations.update(APP, aid, concurrency=None)
    await eventually(lambda: queued(0), "every queued run promoted once the limit was removed")


async def test_runs_parked_on_approvals_hold_their_slot_and_are_never_promoted(engine: Engine) -> None:
    aid = await automation(engine, graph=GATED, concurrency={"limit": 1})
    for i in range(3):
        await engine.publish(APP, EVENT, {"thread_id": f"thr_{i}"})

    async def parked() -> bool:
        return bool((await engine.steering.list(APP, status="pending", limit=10)).data)

    await eventually(parked, "the first run parked on its approval")
    first, *rest = await runs_of(engine, aid)
    for _ in range(3):
        await engine.sweep_queues()
    again = {r.id: r for r in await runs_of(engine, aid)}
    assert again[first.id].fence == (await engine.store.get_run(APP, first.id)).fence  # type: ignore[union-attr]
    assert [again[r.id].wake_at for r in rest] == [QUEUED_AT, QUEUED_AT]
    assert len((await engine.steering.list(APP, status="pending", limit=10)).data) == 1
    fence = again[first.id].fence
    await engine.sweep_queues()
    assert (await engine.store.get_run(APP, first.id)).fence == fence  # type: ignore[union-attr]


async def test_cancel_on_its_own_trigger_event_keeps_the_newest_run_per_key(engine: Engine) -> None:
    aid = await automation(
        engine,
        graph=PARK,
        concurrency={"limit": 5, "key": "$.thread_id"},
        cancel_on=[{"event": EVENT, "key": "$.thread_id"}],
    )
    for _ in range(3):
        await engine.publish(APP, EVENT, {"thread_id": "thr_a"})
    runs = await runs_of(engine, aid)
    assert [r.status for r in runs[:2]] == ["cancelled", "cancelled"]
    assert runs[2].status in ("pending", "running")


async def test_a_delayed_run_cancelled_before_it_starts_gives_its_slot_back(engine: Engine) -> None:
    aid = await automation(engine, graph=PARK, throttle={"limit": 1, "period": "1h", "overflow": "delay"})
    for i in range(3):
        await engine.publish(APP, EVENT, {"thread_id": f"thr_{i}"})
    runs = await runs_of(engine, aid)
    for delayed in runs[1:]:
        await engine.cancel_run(APP, delayed.id)
    (late,) = (await engine.publish(APP, EVENT, {"thread_id": "thr_late"})).run_ids
    stored = await engine.store.get_run(APP, late)
    assert stored is not None and stored.wake_at is not None
    assert stored.wake_at <= runs[0].created_at + 3600 + 1  # the next window, not three windows out
    cancelled = await engine.store.get_run(APP, runs[1].id)
    assert cancelled is not None and (cancelled.wake_at, cancelled.waiting_for) == (None, None)


async def test_a_delay_of_more_than_a_week_drops_the_run(engine: Engine) -> None:
    aid = await automation(engine, throttle={"limit": 1, "period": "7d", "overflow": "delay"})
    started = [len((await engine.publish(APP, EVENT, {"thread_id": f"thr_{i}"})).run_ids) for i in range(3)]
    assert started == [1, 1, 0]
    assert engine.flow_counts[(aid, "throttled")] == 2


async def test_a_failure_streak_pause_cancels_the_queued_runs(engine: Engine) -> None:
    aid = await automation(engine, graph=FAILS, concurrency={"limit": 1}, max_consecutive_failures=1)
    for i in range(4):
        await engine.publish(APP, EVENT, {"thread_id": f"thr_{i}"})

    async def asked() -> list[Any]:
        return list((await engine.steering.list(APP, status="pending", limit=10)).data)

    await eventually(asked, "the first run parked on its approval")
    (request,) = await asked()
    await engine.steering.respond(APP, request.id, "approve")  # it goes on, and fails

    async def settled() -> bool:
        return all(r.status in ("failed", "cancelled") for r in await runs_of(engine, aid))

    await eventually(settled, "the first run failed and the queued ones were cancelled")
    stored = (await engine.automations.get(APP, aid)).automation
    assert (stored.status, stored.paused_reason) == ("paused", "failures")
    assert sorted(r.status for r in await runs_of(engine, aid)) == ["cancelled"] * 3 + ["failed"]


async def test_the_memory_store_forgets_keys_whose_runs_ended() -> None:
    async with Engine("memory://") as engine:
        aid = await automation(engine, concurrency={"limit": 1, "key": "$.thread_id"})
        ids = [(await engine.publish(APP, EVENT, {"thread_id": f"thr_{i}"})).run_ids[0] for i in range(300)]
        for run_id in ids:
            await engine.wait_for_run(APP, run_id, timeout=30)
        store: Any = engine.store
        assert (store._flow_active, store._flow_queue) == ({}, {})
        assert aid


async def test_cancel_on_cancels_every_active_run_of_the_key_beyond_a_page() -> None:
    async with Engine("memory://") as engine:
        aid = await automation(engine, graph=PARK, concurrency={"limit": 1}, cancel_on=[{"event": "thread.deleted"}])
        for i in range(1100):
            await engine.publish(APP, EVENT, {"thread_id": f"thr_{i}"})
        await engine.publish(APP, "thread.deleted", {"thread_id": "thr_0"})
        left = (await engine.automations.runs(APP, aid, status="pending", limit=100)).data
        running = (await engine.automations.runs(APP, aid, status="running", limit=100)).data
        assert (left, running) == ([], [])
        assert engine.flow_counts[(aid, "cancelled")] == 1100
