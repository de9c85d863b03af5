"""The Engine: publish → validate → match → runs → execute, with its queue, limits and recovery."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow
from graphflow.clock import FakeClock
from graphflow.engine.engine import Engine
from graphflow.events import AutomationActivated, AutomationPaused, EngineEvent, EventAccepted, RunCompleted
from graphflow.exceptions import LimitExceededError, NotFoundError, ValidationError
from graphflow.ids import new_id
from graphflow.records import AutomationRun
from graphflow.stores.memory import MemoryStore
from tests.conftest import eventually as _eventually
from tests.conftest import graph_dict, quiescent
from tests.gates import ACTIVE, GATES, reset_gates

pytestmark = pytest.mark.anyio

#: Polls until a state shows, failing after 5 s.
eventually = functools.partial(_eventually, timeout=5.0)

WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}


@pytest.fixture(autouse=True)
def _fresh_gates() -> None:
    reset_gates()


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with Engine("memory://", clock=FakeClock()) as started:
        yield started


def echo(trigger: str) -> dict[str, Any]:
    """A graph whose result is the trigger node's output (the unwrapped payload)."""
    return graph_dict({"kind": "WorkflowScript", "id": "echo", "source": "$"}, trigger=trigger)


def gated(trigger: str, gate: str = "main") -> dict[str, Any]:
    return graph_dict({"kind": "TestGate", "id": "wait", "gate": gate}, trigger=trigger)


async def automation(
    engine: Engine,
    app_id: str = "app_a",
    trigger: str = "thread.member_joined",
    graph: Any = None,
    *,
    enabled: bool = True,
    **fields: Any,
) -> graphflow.Automation:
    cfg = await engine.configs.create(app_id, graph if graph is not None else echo(trigger))
    return await engine.automations.create(
        app_id, name=f"on {trigger}", type="trigger", trigger=trigger, config_id=cfg.id, enabled=enabled, **fields
    )


async def statuses(engine: Engine, app_id: str, run_ids: Any) -> list[str]:
    return [(await engine.automations.run(app_id, run_id)).status for run_id in run_ids]


async def runs_of(engine: Engine, app_id: str, automation_id: str) -> list[AutomationRun]:
    return (await engine.automations.runs(app_id, automation_id, limit=100)).data


# --- publish: validation ----------------------------------------------------------------------


async def test_publish_validates_the_payload_and_records_nothing(engine: Engine) -> None:
    listener = await automation(engine)
    with pytest.raises(ValidationError) as exc:
        await engine.publish("app_a", "thread.member_joined", {"thread_id": 5, "user_id": "bob"}, id="evt_1")
    assert exc.value.code == "validation_error"
    assert {p.path for p in exc.value.problems} == {"$.payload.thread_id", "$.payload.user_id"}
    assert await runs_of(engine, "app_a", listener.id) == []
    again = await engine.publish("app_a", "thread.member_joined", JOINED, id="evt_1")
    assert not again.duplicate and len(again.run_ids) == 1


async def test_publish_refuses_unknown_events(engine: Engine) -> None:
    with pytest.raises(ValidationError, match=r"did you mean 'thread\.member_joined'"):
        await engine.publish("app_a", "thread.membr_joined", JOINED)


@pytest.mark.parametrize("name", ["workflow.scheduled", "workflow.invoked"])
async def test_publish_refuses_events_graphflow_fires_itself(engine: Engine, name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        await engine.publish("app_a", name, {"scheduled_at": "2026-01-01T00:00:00Z"})
    assert [p.path for p in exc.value.problems] == ["$.name"]


@pytest.mark.parametrize("app_id", ["", None, "x" * 101])
async def test_publish_needs_an_app(engine: Engine, app_id: Any) -> None:
    with pytest.raises(ValidationError, match=r"\$\.app_id"):
        await engine.publish(app_id, "thread.created", {"thread_id": "thr_1"})


async def test_publish_refuses_oversized_payloads(engine: Engine) -> None:
    with pytest.raises(LimitExceededError):
        await engine.publish("app_a", "thread.member_joined", {"thread_id": "thr_1", "blob": "x" * 300_000})


# --- publish: matching ------------------------------------------------------------------------


async def test_duplicate_event_ids_create_no_second_run(engine: Engine) -> None:
    listener = await automation(engine)
    first = await engine.publish("app_a", "thread.member_joined", JOINED, id="evt_dup")
    second = await engine.publish("app_a", "thread.member_joined", JOINED, id="evt_dup")
    assert (first.event_id, first.duplicate, len(first.run_ids)) == ("evt_dup", False, 1)
    assert (second.event_id, second.duplicate, second.run_ids) == ("evt_dup", True, ())
    await engine.wait_for_run("app_a", first.run_ids[0], timeout=5)
    assert [r.id for r in await runs_of(engine, "app_a", listener.id)] == list(first.run_ids)
    other_app = await automation(engine, "app_b")
    elsewhere = await engine.publish("app_b", "thread.member_joined", JOINED, id="evt_dup")
    assert not elsewhere.duplicate
    assert [r.automation_id for r in [await engine.automations.run("app_b", elsewhere.run_ids[0])]] == [other_app.id]


async def test_generated_event_ids_are_distinct(engine: Engine) -> None:
    first = await engine.publish("app_a", "thread.member_joined", JOINED)
    second = await engine.publish("app_a", "thread.member_joined", JOINED)
    assert first.event_id.startswith("evt_") and first.event_id != second.event_id


async def test_only_running_trigger_automations_of_that_app_and_event_run(engine: Engine) -> None:
    running = await automation(engine)
    also_running = await automation(engine, run_as_user_id="usr_bot")
    paused = await automation(engine)
    await engine.automations.pause("app_a", paused.id)
    draft = await automation(engine, enabled=False)
    other_app = await automation(engine, "app_b")
    other_event = await automation(engine, trigger="thread.member_left")
    published = await engine.publish("app_a", "thread.member_joined", JOINED, id="evt_1")
    started = {(await engine.automations.run("app_a", r)).automation_id for r in published.run_ids}
    assert started == {running.id, also_running.id}
    for quiet in (paused, draft, other_event):
        assert await runs_of(engine, "app_a", quiet.id) == []
    assert await runs_of(engine, "app_b", other_app.id) == []
    for run_id in published.run_ids:
        run = await engine.wait_for_run("app_a", run_id, timeout=5)
        assert (run.event_id, run.status) == ("evt_1", "completed")
        assert run.run_as_user_id == ("usr_bot" if run.automation_id == also_running.id else None)


async def test_run_input_is_the_envelope_and_the_trigger_node_unwraps_it(engine: Engine) -> None:
    await automation(engine)
    payload = {"thread_id": "thr_1", "user_id": "usr_9", "extra": {"deep": [1, 2]}}
    published = await engine.publish("app_a", "thread.member_joined", payload)
    run = await engine.wait_for_run("app_a", published.run_ids[0], timeout=5)
    assert (run.trigger, run.payload) == ("thread.member_joined", payload)
    assert run.envelope == {"trigger": "thread.member_joined", "payload": payload}
    assert run.result == {"payload": payload, "output": []}
    assert (run.config_version, run.scheduled_at) == (1, None)
    assert [e["node_id"] for e in run.journal if e["type"] == "node_completed"] == ["t", "echo"]
    assert run.started_at is not None and run.finished_at is not None


async def test_a_failing_run_records_the_error(engine: Engine) -> None:
    broken = graph_dict({"kind": "WorkflowScript", "id": "boom", "source": "1 / 0"}, trigger="thread.member_joined")
    listener = await automation(engine, graph=broken)
    published = await engine.publish("app_a", "thread.member_joined", JOINED)
    run = await engine.wait_for_run("app_a", published.run_ids[0], timeout=5)
    assert run.status == "failed" and set(run.result or {}) == {"error"}
    assert (await engine.automations.get("app_a", listener.id)).last_run_status == "failed"


async def test_pausing_cancels_the_pending_runs() -> None:
    async with Engine("memory://", clock=FakeClock(), max_concurrent_runs=1) as engine:
        listener = await automation(engine, graph=gated("thread.member_joined"))
        run_ids = [(await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids[0] for _ in range(3)]
        await eventually(lambda: _equal(statuses(engine, "app_a", run_ids), ["running", "pending", "pending"]))
        await engine.automations.pause("app_a", listener.id, reason="maintenance")
        assert await statuses(engine, "app_a", run_ids) == ["running", "cancelled", "cancelled"]
        ignored = await engine.publish("app_a", "thread.member_joined", JOINED)
        assert ignored.run_ids == ()
        GATES["main"].set()
        assert (await engine.wait_for_run("app_a", run_ids[0], timeout=5)).status == "completed"
        assert await statuses(engine, "app_a", run_ids) == ["completed", "cancelled", "cancelled"]
        paused = await engine.automations.get("app_a", listener.id)
        assert (paused.status, paused.paused_reason) == ("paused", "maintenance")


async def _equal(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


async def test_at_most_max_concurrent_runs_execute_at_once() -> None:
    async with Engine("memory://", clock=FakeClock(), max_concurrent_runs=2) as engine:
        await automation(engine, graph=gated("thread.member_joined"))
        run_ids = [(await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids[0] for _ in range(10)]
        await eventually(lambda: _equal(_active(), 2))
        await quiescent()  # a third worker that (wrongly) took a run would be at the gate by now
        found = await statuses(engine, "app_a", run_ids)
        assert (found.count("running"), found.count("pending")) == (2, 8)
        GATES["main"].set()
        for run_id in run_ids:
            assert (await engine.wait_for_run("app_a", run_id, timeout=5)).status == "completed"
        assert ACTIVE["max"] == 2


async def _active() -> int:
    return ACTIVE["now"]


async def test_emitted_events_start_automations_of_the_same_app(engine: Engine) -> None:
    emitter_graph = graph_dict(
        {
            "kind": "WorkflowEmitEvent",
            "id": "emit",
            "event": "thread.member_joined",
            "payload": {"thread_id": "{{$.thread_id}}", "user_id": "usr_new"},
        },
        trigger="thread.created",
    )
    emitter = await automation(engine, trigger="thread.created", graph=emitter_graph)
    listener = await automation(engine)
    bystander = await automation(engine, "app_b")
    published = await engine.publish("app_a", "thread.created", {"thread_id": "thr_7"})
    assert (await engine.wait_for_run("app_a", published.run_ids[0], timeout=5)).status == "completed"
    assert (await runs_of(engine, "app_a", emitter.id))[0].id == published.run_ids[0]

    async def listener_ran() -> bool:
        return len(await runs_of(engine, "app_a", listener.id)) == 1

    await eventually(listener_ran)
    [chained] = await runs_of(engine, "app_a", listener.id)
    chained = await engine.wait_for_run("app_a", chained.id, timeout=5)
    assert chained.payload == {"thread_id": "thr_7", "user_id": "usr_new"}
    assert chained.status == "completed" and chained.event_id is not None
    assert await runs_of(engine, "app_b", bystander.id) == []


async def test_explain_lists_matches_without_starting_anything(engine: Engine) -> None:
    first = await automation(engine)
    second = await automation(engine)
    await automation(engine, enabled=False)
    await automation(engine, "app_b")
    explained = await engine.explain("app_a", "thread.member_joined", JOINED)
    assert [a.id for a in explained] == sorted([first.id, second.id])
    assert [a.id for a in await engine.explain("app_a", "thread.member_joined")] == sorted([first.id, second.id])
    assert await engine.explain("app_a", "thread.created") == []
    for listener in (first, second):
        assert await runs_of(engine, "app_a", listener.id) == []
    with pytest.raises(ValidationError, match=r"\$\.payload\.thread_id"):
        await engine.explain("app_a", "thread.member_joined", {"thread_id": 1})
    with pytest.raises(ValidationError, match="unknown event"):
        await engine.explain("app_a", "thread.nope")


# --- waiting, events, recovery ----------------------------------------------------------------


async def test_wait_for_run_times_out_and_knows_missing_runs(engine: Engine) -> None:
    await automation(engine, graph=gated("thread.member_joined"))
    run_id = (await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids[0]
    with pytest.raises(TimeoutError):
        await engine.wait_for_run("app_a", run_id, timeout=0.05)
    with pytest.raises(NotFoundError):
        await engine.wait_for_run("app_a", "atr_missing", timeout=1)
    GATES["main"].set()
    assert (await engine.wait_for_run("app_a", run_id, timeout=5)).status == "completed"


async def test_waiting_for_a_cancelled_pending_run_returns_at_once() -> None:
    async with Engine("memory://", clock=FakeClock(), max_concurrent_runs=1) as engine:
        listener = await automation(engine, graph=gated("thread.member_joined"))
        first, second = [(await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids[0] for _ in "ab"]
        await eventually(lambda: _equal(statuses(engine, "app_a", [first]), ["running"]))
        seen: list[str] = []
        woken = anyio.Event()

        async def wait() -> None:
            seen.append((await engine.wait_for_run("app_a", second, timeout=5)).status)
            woken.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await quiescent()  # the waiter is parked on its wake-up
            await engine.automations.pause("app_a", listener.id)
            await quiescent()  # without a wake-up the waiter would still be parked (it polls once a second)
            assert woken.is_set()
            GATES["main"].set()
        assert seen == ["cancelled"]


async def test_engine_events_reach_subscribers(engine: Engine) -> None:
    seen: list[EngineEvent] = []
    with engine.subscribe(seen.append):
        listener = await automation(engine)
        published = await engine.publish("app_a", "thread.member_joined", JOINED)
        await engine.wait_for_run("app_a", published.run_ids[0], timeout=5)
        await engine.automations.pause("app_a", listener.id, reason="why not")
    await engine.automations.activate("app_a", listener.id)
    accepted = [e for e in seen if isinstance(e, EventAccepted)]
    assert [(e.app_id, e.run_ids) for e in accepted] == [("app_a", published.run_ids)]
    assert any(isinstance(e, RunCompleted) and e.run_id == published.run_ids[0] for e in seen)
    assert [e.reason for e in seen if isinstance(e, AutomationPaused)] == ["why not"]
    assert sum(isinstance(e, AutomationActivated) for e in seen) == 1  # not the one after closing


async def test_a_new_engine_recovers_pending_runs_from_the_store() -> None:
    store = MemoryStore()
    async with Engine(store, clock=FakeClock(), max_concurrent_runs=1) as first:
        listener = await automation(first, graph=gated("thread.member_joined"))
        blocked, waiting = [(await first.publish("app_a", "thread.member_joined", JOINED)).run_ids[0] for _ in "ab"]
        await eventually(lambda: _equal(statuses(first, "app_a", [blocked, waiting]), ["running", "pending"]))
    inserted = AutomationRun(
        id=new_id("atr_"),
        automation_id=listener.id,
        app_id="app_a",
        trigger="thread.member_joined",
        payload=JOINED,
        status="pending",
        config_id=listener.config_id,
        config_version=None,
        created_at=0.0,
        updated_at=0.0,
    )
    await store.insert_runs([inserted])
    GATES["main"].set()
    async with Engine(store, clock=FakeClock()) as second:
        for run_id in (waiting, inserted.id):
            assert (await second.wait_for_run("app_a", run_id, timeout=5)).status == "completed"
        assert [a.id for a in await second.explain("app_a", "thread.member_joined")] == [listener.id]
        again = await second.publish("app_a", "thread.member_joined", JOINED)
        assert (await second.wait_for_run("app_a", again.run_ids[0], timeout=5)).status == "completed"


async def test_publish_needs_a_started_engine_and_records_nothing() -> None:
    store = MemoryStore()
    engine = Engine(store, clock=FakeClock())
    listener = await automation(engine)
    with pytest.raises(RuntimeError, match="not started"):
        await engine.publish("app_a", "thread.member_joined", JOINED, id="evt_early")
    async with engine:
        assert await runs_of(engine, "app_a", listener.id) == []
        published = await engine.publish("app_a", "thread.member_joined", JOINED, id="evt_early")
        assert not published.duplicate
        assert (await engine.wait_for_run("app_a", published.run_ids[0], timeout=5)).status == "completed"
    with pytest.raises(RuntimeError, match="not started"):
        await engine.publish("app_a", "thread.member_joined", JOINED)


async def test_a_config_that_lost_its_trigger_node_fails_the_run_not_the_engine(engine: Engine) -> None:
    listener = await automation(engine)
    await engine.configs.update("app_a", listener.config_id or "", echo("thread.created"))
    published = await engine.publish("app_a", "thread.member_joined", JOINED)
    run = await engine.wait_for_run("app_a", published.run_ids[0], timeout=5)
    assert run.status == "failed" and "no trigger node" in run.result["error"]  # type: ignore[index]
    assert (run.config_version, (await engine.automations.get("app_a", listener.id)).last_run_status) == (2, "failed")
    other = await automation(engine, trigger="thread.created")
    again = await engine.publish("app_a", "thread.created", {"thread_id": "thr_2"})
    assert (await engine.wait_for_run("app_a", again.run_ids[0], timeout=5)).automation_id == other.id
