"""``max_consecutive_failures``: the automation pauses exactly at N failed runs in a row, on every store."""

from __future__ import annotations

from typing import Any

import pytest

from graphflow.engine.engine import Engine
from graphflow.events import AutomationPaused
from graphflow.exceptions import ValidationError
from tests.conftest import graph_dict

pytestmark = pytest.mark.anyio

APP = "app_f"
FLAKY = graph_dict(
    {"kind": "WorkflowScript", "id": "s", "source": "$.ok ? 'fine' : $.missing.key"}, trigger="workflow.invoked"
)


async def flaky(engine: Engine, **fields: Any) -> str:
    config = await engine.configs.create(APP, FLAKY)
    created = await engine.automations.create(
        APP, name="flaky", type="invoked", config_id=config.id, enabled=True, **fields
    )
    return created.id


async def outcome(engine: Engine, aut: str, ok: bool) -> str:
    return (await engine.automations.invoke(APP, aut, {"ok": ok}, wait=True, timeout=10)).status


async def test_the_automation_pauses_exactly_at_the_third_failure_in_a_row(engine: Engine) -> None:
    seen: list[AutomationPaused] = []
    engine.subscribe(seen.append, (AutomationPaused,))
    aut = await flaky(engine, max_consecutive_failures=3)
    assert [await outcome(engine, aut, ok) for ok in (False, False, True, False, False)] == [
        "failed", "failed", "completed", "failed", "failed",
    ]  # fmt: skip
    running = (await engine.automations.get(APP, aut)).automation
    assert (running.status, running.consecutive_failures) == ("running", 2)
    assert await outcome(engine, aut, False) == "failed"
    paused = (await engine.automations.get(APP, aut)).automation
    assert (paused.status, paused.paused_reason, paused.consecutive_failures) == ("paused", "failures", 3)
    assert [(e.automation_id, e.reason) for e in seen] == [(aut, "failures")]
    assert paused.to_dict()["enabled"] is False
    await engine.automations.activate(APP, aut)  # one more try: a success resets the count
    assert await outcome(engine, aut, True) == "completed"
    assert (await engine.automations.get(APP, aut)).automation.consecutive_failures == 0


async def test_a_trigger_automation_stops_starting_runs_once_paused(engine: Engine) -> None:
    config = await engine.configs.create(
        APP, graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.missing.key"}, trigger="thread.created")
    )
    aut = await engine.automations.create(
        APP, name="always fails", trigger="thread.created", config_id=config.id, enabled=True,
        max_consecutive_failures=2, overlap="allow",
    )  # fmt: skip
    for n in range(2):
        (run_id,) = (await engine.publish(APP, "thread.created", {"thread_id": f"thr_{n}"})).run_ids
        assert (await engine.wait_for_run(APP, run_id, timeout=10)).status == "failed"
    assert (await engine.automations.get(APP, aut.id)).automation.status == "paused"
    assert (await engine.publish(APP, "thread.created", {"thread_id": "thr_9"})).run_ids == ()


async def test_bad_limits_are_refused_with_a_path(engine: Engine) -> None:
    config = await engine.configs.create(APP, FLAKY)
    for bad in (0, -1, 1001, "3", 2.5, True):
        with pytest.raises(ValidationError, match=r"\$\.max_consecutive_failures"):
            await engine.automations.create(
                APP, name="x", type="invoked", config_id=config.id, max_consecutive_failures=bad
            )
    assert (await engine.automations.list(APP)).data == []
