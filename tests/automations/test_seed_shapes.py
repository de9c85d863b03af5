"""Seed shapes through the Python API: Herm's create shape, and Hermes' running-jobs status view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graphflow.engine.engine import Engine
from graphflow.exceptions import NotFoundError, ValidationError
from tests.conftest import eventually, graph_dict
from tests.gates import ACTIVE, GATES, reset_gates

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    reset_gates()
    async with Engine(f"sqlite:///{tmp_path / 'seed.db'}") as started:
        yield started


async def test_a_name_and_a_schedule_make_a_scheduled_automation(engine: Engine) -> None:
    automation = await engine.automations.create("app_a", {"name": "Weekly video variations", "schedule": "0 9 * * 1"})
    assert (automation.type, automation.schedule_display) == ("scheduled", "Weekly, Mondays at 9:00 AM")
    by_event = await engine.automations.create("app_a", name="On join", trigger="thread.member_joined")
    assert by_event.type == "trigger"
    with pytest.raises(ValidationError) as caught:
        await engine.automations.create("app_a", name="Both", schedule="0 9 * * 1", trigger="thread.created")
    assert "$.schedule" in [p.path for p in caught.value.problems]
    with pytest.raises(ValidationError, match="needs 'trigger'"):
        await engine.automations.create("app_a", name="Neither")


async def test_status_lists_the_running_runs_with_their_elapsed_time(engine: Engine) -> None:
    graph = graph_dict({"kind": "TestGate", "id": "wait", "gate": "status"}, trigger="workflow.invoked")
    cfg = await engine.configs.create("app_a", graph)
    busy = await engine.automations.create("app_a", name="busy", type="invoked", config_id=cfg.id, enabled=True)
    idle = await engine.automations.create("app_a", name="idle", type="invoked", config_id=cfg.id, enabled=True)
    assert await engine.automations.status("app_a") == []
    run_id = await engine.automations.trigger("app_a", busy.id)

    async def started() -> bool:
        return ACTIVE["now"] == 1

    await eventually(started, "the run to start")
    [entry] = await engine.automations.status("app_a")
    assert (entry["run_id"], entry["automation_id"]) == (run_id, busy.id)
    assert entry["elapsed"] >= 0 and entry["started_at"].endswith("Z")
    [only] = await engine.automations.status("app_a", busy.id)
    assert only["run_id"] == run_id and only["elapsed"] >= entry["elapsed"]
    assert await engine.automations.status("app_a", idle.id) == []
    assert await engine.automations.status("app_b") == []
    with pytest.raises(NotFoundError):
        await engine.automations.status("app_b", busy.id)
    GATES["status"].set()
    run = await engine.wait_for_run("app_a", run_id, timeout=10)
    assert run.status == "completed"
    assert await engine.automations.status("app_a") == []
