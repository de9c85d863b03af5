"""The engine on durable stores, in one process: hand-back, reclaim, recovery bound, fencing, timers,
sync between engines, retention and the default store. Real databases only (no mocks)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow
from graphflow import Engine
from graphflow.abc import Store
from graphflow.events import RunSuspended
from graphflow.exceptions import LeaseLostError, StoreError
from graphflow.stores import store_from_url
from tests.conftest import eventually
from tests.pg import postgres_url

pytestmark = pytest.mark.anyio

APP = "app_d"
GATES: dict[str, anyio.Event] = {}
CALLS: list[str] = []


@graphflow.node("NotJson")
async def not_json(input: Any, ctx: graphflow.NodeContext) -> Any:
    return {"when": {1, 2}}  # a set: no JSON for it


@graphflow.node("DurableStep")
async def durable_step(input: Any, ctx: graphflow.NodeContext, *, gate: str = "") -> Any:
    if gate:
        await GATES.setdefault(gate, anyio.Event()).wait()
    who = ctx.services.get("who")  # the engine that executed it, when a test names its engines
    CALLS.append(f"{ctx.run_id}:{ctx.step_key}" + (f"@{who}" if who else ""))
    return {"n": (input.get("n", 0) if isinstance(input, dict) else 0) + 1}


def graph(*middle: dict[str, Any]) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked"}]
    for node in middle:
        nodes[-1]["on_success"] = node["id"]
        nodes.append(dict(node))
    return {"kind": "WorkflowGraph", "version": 1, "name": "durable", "start_node": "t", "nodes": nodes}


GATED = graph(
    {"kind": "DurableStep", "id": "a"},
    {"kind": "DurableStep", "id": "b", "gate": "b"},
    {"kind": "DurableStep", "id": "c"},
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    GATES.clear()
    CALLS.clear()
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'durable.db'}"
        return
    with postgres_url() as url:
        yield url


def engine(url: str, **options: Any) -> Engine:
    options = {"lease": 0.5, "poll_interval": 0.05, "sync_interval": 0.1, **options}
    return Engine(url, **options)


async def invoked(started: Engine, document: dict[str, Any]) -> str:
    config = await started.configs.create(APP, document)
    automation = await started.automations.create(
        APP, name="d", type="invoked", config_id=config.id, enabled=True, overlap="allow"
    )
    return automation.id


async def opened(url: str) -> AsyncIterator[Store]:
    store = store_from_url(url)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


async def test_a_stopped_engine_hands_runs_back_and_the_next_resumes_them(url: str) -> None:
    async with engine(url) as first:
        automation_id = await invoked(first, GATED)
        run_id = await first.automations.trigger(APP, automation_id, {})
        # Node b waits at its gate, so a's checkpoint is committed (a node that has returned but
        # whose checkpoint is cut off by the stop runs again: at least once).
        await eventually(lambda: _true(_called_now(f"{run_id}:a") and "b" in GATES), "the run waits at node b")
    stored = await _get(url, run_id)
    assert stored.status == "pending" and stored.lease_owner is None and stored.recoveries == 0
    GATES["b"] = anyio.Event()
    GATES["b"].set()
    async with engine(url) as second:
        done = await second.wait_for_run(APP, run_id, timeout=10)
    assert done.status == "completed" and done.result == {"payload": {"n": 3}, "output": []}
    assert [f"{run_id}:a", f"{run_id}:b", f"{run_id}:c"] == CALLS  # a was not run again
    assert [(e["type"], e["node_id"]) for e in done.journal if e["type"] == "node_completed"] == [
        ("node_completed", n) for n in ("t", "a", "b", "c")
    ]


async def test_a_dead_workers_run_is_reclaimed_when_its_lease_expires(url: str) -> None:
    async with engine(url) as host:
        automation_id = await invoked(host, graph({"kind": "DurableStep", "id": "a"}))
    async for store in opened(url):
        run_id = await _pending_run(store, automation_id)
        [ghost] = await store.claim_runs("ghost", lease=0.2, limit=1, run_ids=[run_id])
        assert ghost.fence == 1
    async with engine(url) as rescuer:
        done = await rescuer.wait_for_run(APP, run_id, timeout=10)
    assert done.status == "completed"
    assert (await _get(url, run_id)).recoveries == 1


async def test_a_run_whose_workers_keep_dying_fails_after_max_recoveries(url: str) -> None:
    async with engine(url) as host:
        automation_id = await invoked(host, graph({"kind": "DurableStep", "id": "a"}))
    async for store in opened(url):
        run_id = await _pending_run(store, automation_id)
        for ghost in ("ghost0", "ghost1", "ghost2"):  # each claims it once its last lease expired
            await eventually(functools.partial(_claimed, store, ghost), f"{ghost} claims the run")
    async with engine(url, max_recoveries=1) as rescuer:
        done = await rescuer.wait_for_run(APP, run_id, timeout=10)
    assert done.status == "failed"
    assert "stopped 3 times" in done.result["error"] and "max_recoveries" in done.result["error"]
    assert CALLS == []


async def test_cancel_fences_off_a_run_executing_elsewhere(url: str) -> None:
    async with engine(url) as setup:
        automation_id = await invoked(setup, graph({"kind": "DurableStep", "id": "a"}))
    async for store in opened(url):
        run_id = await _pending_run(store, automation_id)
        [held] = await store.claim_runs("elsewhere", lease=30, limit=1, run_ids=[run_id])
        async with engine(url) as host:  # its poller leaves a run whose lease is current alone
            cancelled = await host.automations.cancel_run(APP, run_id)
        assert cancelled.status == "cancelled"
        with pytest.raises(LeaseLostError):
            await store.save_step(run_id, held.fence, "a", {"value": 1})
        assert (await _get(url, run_id)).status == "cancelled"


async def test_a_long_delay_is_a_durable_timer_that_survives_a_restart(url: str) -> None:
    document = graph(
        {"kind": "DurableStep", "id": "a"},
        {"kind": "WorkflowDelay", "id": "wait", "duration": 1.2},
        {"kind": "DurableStep", "id": "b"},
    )
    parked: list[RunSuspended] = []
    async with engine(url) as first:
        first.subscribe(parked.append, (RunSuspended,))
        automation_id = await invoked(first, document)
        run_id = await first.automations.trigger(APP, automation_id, {})
        await eventually(lambda: _true(bool(parked)), "the run parks")
        await eventually(lambda: _true(first.running == {}), "no task waits for the timer")
    stored = await _get(url, run_id)
    assert stored.status == "pending" and stored.wake_at == pytest.approx(parked[0].wake_at)
    async with engine(url) as second:
        done = await second.wait_for_run(APP, run_id, timeout=10)
    assert done.status == "completed" and [f"{run_id}:a", f"{run_id}:b"] == CALLS
    assert done.finished_at is not None and done.finished_at >= parked[0].wake_at


async def test_engines_sharing_a_database_see_each_others_automations(url: str) -> None:
    async with engine(url) as first, engine(url) as second:
        config = await first.configs.create(
            APP,
            graph({"kind": "DurableStep", "id": "a"})
            | {
                "nodes": [
                    {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "a"},
                    {"kind": "DurableStep", "id": "a"},
                ]
            },
        )
        automation = await first.automations.create(
            APP, name="shared", type="trigger", trigger="thread.created", config_id=config.id, enabled=True
        )

        async def second_matches() -> bool:
            return [a.id for a in await second.explain(APP, "thread.created")] == [automation.id]

        await eventually(second_matches, "the second engine learns of the automation")
        published = await second.publish(APP, "thread.created", {"thread_id": "thr_1"})
        assert len(published.run_ids) == 1
        assert (await second.wait_for_run(APP, published.run_ids[0], timeout=10)).status == "completed"
        await first.automations.pause(APP, automation.id)
        # The second engine's index may still list it: the store refuses the run either way.
        late = await second.publish(APP, "thread.created", {"thread_id": "thr_2"})
        assert late.run_ids == ()


async def test_a_publishing_engine_executes_nothing_and_workers_run_its_runs(url: str) -> None:
    async with engine(url, max_concurrent_runs=0, services={"who": "web"}) as web:
        automation_id = await invoked(web, graph({"kind": "DurableStep", "id": "a"}))
        run_id = await web.automations.trigger(APP, automation_id, {})
        assert (await _get(url, run_id)).status == "pending"
        async with engine(url, services={"who": "worker"}) as worker:
            assert (await worker.wait_for_run(APP, run_id, timeout=10)).status == "completed"
    # Claimed once, by the worker, while the publisher ran the whole time: it took nothing.
    assert [f"{run_id}:a@worker"] == CALLS
    assert (await _get(url, run_id)).fence == 1
    with pytest.raises(ValueError, match="durable"):
        Engine("memory://", max_concurrent_runs=0)


@pytest.mark.parametrize("last", [True, False], ids=["as-the-result", "as-a-checkpoint"])
async def test_a_node_output_that_is_not_json_fails_the_run_clearly(url: str, last: bool) -> None:
    nodes = [{"kind": "NotJson", "id": "odd"}] + ([] if last else [{"kind": "DurableStep", "id": "after"}])
    async with engine(url) as host:
        automation_id = await invoked(host, graph(*nodes))
        run_id = await host.automations.trigger(APP, automation_id, {})
        done = await host.wait_for_run(APP, run_id, timeout=10)
    assert done.status == "failed"
    assert "could not be stored" in done.result["error"]


async def test_prune_removes_old_finished_runs_only(url: str) -> None:
    async with engine(url) as host:
        automation_id = await invoked(host, graph({"kind": "DurableStep", "id": "a"}))
        done = await host.automations.trigger(APP, automation_id, {})
        await host.wait_for_run(APP, done, timeout=10)
        assert await host.prune(3600) == 0
        assert await host.prune(0) == 1
        assert await host.store.get_run(APP, done) is None
        with pytest.raises(ValueError):
            await host.prune(-1)


async def test_publish_returns_after_the_event_and_its_runs_are_committed(url: str) -> None:
    async with engine(url) as host:
        config = await host.configs.create(
            APP,
            {
                "kind": "WorkflowGraph",
                "version": 1,
                "name": "e",
                "start_node": "t",
                "nodes": [
                    {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "a"},
                    {"kind": "DurableStep", "id": "a", "gate": "never"},
                ],
            },
        )
        automation = await host.automations.create(
            APP, name="e", type="trigger", trigger="thread.created", config_id=config.id, enabled=True
        )
        result = await host.publish(APP, "thread.created", {"thread_id": "thr_1"}, id="evt_1")
        async for other in opened(url):  # another connection, as another process would see it
            runs = await other.list_runs(APP, automation.id, status=None, cursor=None, limit=10)
            assert [r.id for r in runs.data] == list(result.run_ids)
        assert (await host.publish(APP, "thread.created", {"thread_id": "thr_1"}, id="evt_1")).duplicate


async def test_engine_defaults_to_a_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRAPHFLOW_DATABASE_URL", raising=False)
    async with Engine() as default:
        await default.configs.create(APP, graph())
    assert (tmp_path / "graphflow.db").is_file()
    monkeypatch.setenv("GRAPHFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    async with Engine():
        pass
    assert (tmp_path / "other.db").is_file()


async def test_an_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        async with Engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}"):
            pass
    assert caught.value.code == "store_unavailable" and "missing" in str(caught.value)
    assert not (tmp_path / "missing").exists()


# -- helpers -----------------------------------------------------------------------------------


async def _true(value: bool) -> bool:
    return value


def _called_now(entry: str) -> bool:
    return entry in CALLS


async def _get(url: str, run_id: str) -> Any:
    async for store in opened(url):
        run = await store.get_run(APP, run_id)
        assert run is not None
        return run
    raise AssertionError("unreachable")


async def _claimed(store: Store, worker: str) -> bool:
    """Whether ``worker`` claimed a run (with a short lease)."""
    return bool(await store.claim_runs(worker, lease=0.05, limit=1))


async def _pending_run(store: Store, automation_id: str) -> str:
    """Insert a pending run of the automation (as a crashed engine would have left it)."""
    from graphflow.ids import new_id
    from graphflow.records import AutomationRun

    automation = await store.get_automation(APP, automation_id)
    assert automation is not None
    run = AutomationRun(
        id=new_id("atr_"),
        automation_id=automation_id,
        app_id=APP,
        trigger="workflow.invoked",
        payload={},
        status="pending",
        config_id=automation.config_id,
        config_version=None,
        created_at=0.0,
        updated_at=0.0,
    )
    await store.insert_runs([run])
    return run.id
