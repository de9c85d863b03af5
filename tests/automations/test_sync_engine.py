from __future__ import annotations

from pathlib import Path

import pytest

import graphflow
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
