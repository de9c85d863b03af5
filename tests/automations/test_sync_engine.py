from __future__ import annotations

import threading
from pathlib import Path

import pytest

import graphflow
from graphflow.events import SteeringRequested
from graphflow.exceptions import ConflictError, EngineNotStartedError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_sync_engine_mirrors_the_async_api() -> None:
    with graphflow.SyncEngine("memory://") as engine:
        cfg = engine.configs.create("app_1", DOCS / "welcome.yaml")
        aut = engine.automations.create(
            "app_1", name="W", type="trigger", trigger="thread.member_joined", config_id=cfg.id, enabled=True
        )
        assert aut.status == "running" and aut.enabled
        published = engine.publish("app_1", "thread.member_joined", {"thread_id": "thr_1"})
        run = engine.wait_for_run("app_1", published.run_ids[0], timeout=10)
        assert run.status == "completed"
        assert run.result["payload"]["thread_id"] == "thr_1"
        assert [a.id for a in engine.explain("app_1", "thread.member_joined")] == [aut.id]
        with pytest.raises(graphflow.NotFoundError):
            engine.automations.get("app_2", aut.id)


def test_sync_engine_must_be_started() -> None:
    engine = graphflow.SyncEngine("memory://")
    with pytest.raises(EngineNotStartedError, match="not started") as caught:
        engine.publish("a", "thread.created", {})
    assert caught.value.code == "engine_not_started"
    engine.start()
    try:
        with pytest.raises(ConflictError, match="already started") as twice:
            engine.start()
        assert twice.value.code == "conflict"
    finally:
        engine.stop()
        engine.stop()


def test_sync_engine_steers_and_invokes(tmp_path: Path) -> None:
    gated = {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": "gated",
        "start_node": "t",
        "nodes": [
            {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "gate"},
            {"kind": "WorkflowApproval", "id": "gate", "message": "ok?", "on_success": "s"},
            {"kind": "WorkflowScript", "id": "s", "source": "$.input.n * 2"},
        ],
    }
    with graphflow.SyncEngine(f"sqlite:///{tmp_path / 'sync.db'}", poll_interval=0.05) as engine:
        cfg = engine.configs.create("app_1", gated)
        aut = engine.automations.create("app_1", name="g", type="invoked", config_id=cfg.id, enabled=True)
        raised: list[str] = []
        asked = threading.Event()

        def on_request(event: SteeringRequested) -> None:
            raised.append(event.request_id)
            asked.set()

        engine.subscribe(on_request, (SteeringRequested,))
        run = engine.automations.invoke("app_1", aut.id, {"n": 21}, idempotency_key="once")
        assert engine.automations.invoke("app_1", aut.id, {"n": 1}, idempotency_key="once").id == run.id
        assert asked.wait(10), "no steering request"
        assert [r.id for r in engine.steering.list("app_1", run_id=run.id).data] == raised
        engine.steering.respond("app_1", raised[0], "approve")
        assert engine.wait_for_run("app_1", run.id, timeout=10).result["payload"] == 42
