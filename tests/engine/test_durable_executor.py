"""Checkpoints, resume and durable timers at the executor level (the engine wires them to a store)."""

from __future__ import annotations

import time
from typing import Any

import pytest

import graphflow
from graphflow.exceptions import NodeExecutionError
from tests.conftest import graph_dict, run

pytestmark = pytest.mark.anyio

EXECUTED: list[str] = []


@graphflow.node("TestCount")
async def count(input: Any, ctx: graphflow.NodeContext, *, fail: bool = False) -> Any:
    EXECUTED.append(ctx.step_key)
    ctx.output.append(f"ran {ctx.step_key}")
    if fail:
        raise NodeExecutionError("crash stand-in", code="crash")
    return {"n": (input.get("n", 0) if isinstance(input, dict) else 0) + 1}


def chain(*, fail_at: str | None = None) -> dict[str, Any]:
    return graph_dict(
        {"kind": "TestCount", "id": "a", "on_success": "b"},
        {"kind": "TestCount", "id": "b", "on_success": "check"},
        {"kind": "WorkflowCondition", "id": "check", "condition": "$.n > 1", "on_true": "c", "on_false": "d"},
        {"kind": "TestCount", "id": "c", "fail": fail_at == "c"},
        {"kind": "WorkflowEnd", "id": "d"},
    )


class Recorder:
    def __init__(self) -> None:
        self.steps: dict[str, Any] = {}

    async def __call__(self, key: str, data: Any) -> None:
        self.steps[key] = data


async def test_each_completed_node_is_checkpointed_with_its_route() -> None:
    EXECUTED.clear()
    recorder = Recorder()
    result = await run(chain(), {"n": 0}, checkpoint=recorder)
    assert result.status == "completed"
    # Pure kinds (trigger, script, condition, end) are recomputed after a crash, not checkpointed.
    assert list(recorder.steps) == ["a", "b", "c"]
    assert recorder.steps["b"] == {
        "value": {"n": 2},
        "next": "check",
        "failed": False,
        "journal": [list(e[1:]) for e in result.journal if e.node_id == "b"],
        "output": ["ran b"],
    }


async def test_a_resumed_run_skips_completed_nodes_and_replays_their_journal() -> None:
    EXECUTED.clear()
    first = Recorder()
    crashed = await run(chain(fail_at="c"), {"n": 0}, checkpoint=first)
    assert crashed.status == "failed" and EXECUTED == ["a", "b", "c"]
    EXECUTED.clear()
    second = Recorder()
    resumed = await run(chain(), {"n": 0}, steps=first.steps, checkpoint=second)
    assert EXECUTED == ["c"]  # a and b came from their checkpoints; the condition was recomputed
    assert resumed.status == "completed" and resumed.payload == {"n": 3}
    assert resumed.output == ["ran a", "ran b", "ran c"]
    assert [(e.type, e.node_id) for e in resumed.journal] == [
        (t, n) for n in ("t", "a", "b", "check", "c") for t in ("node_started", "node_completed")
    ]
    assert list(second.steps) == ["c"]


async def test_parallel_branches_and_map_items_resume_per_scope() -> None:
    doc = graph_dict(
        {"kind": "WorkflowParallel", "id": "fan", "branches": ["x", "y"], "on_success": "loop"},
        {"kind": "TestCount", "id": "x"},
        {"kind": "TestCount", "id": "y"},
        {"kind": "WorkflowMap", "id": "loop", "items": "{{[1, 2, 3]}}", "body": "item"},
        {"kind": "TestCount", "id": "item"},
    )
    EXECUTED.clear()
    recorder = Recorder()
    result = await run(doc, {}, checkpoint=recorder)
    assert result.status == "completed", result.error
    assert {"fan/x/x", "fan/y/y", "loop[0]/item", "loop[2]/item", "fan", "loop"} <= set(recorder.steps)
    partial = {k: v for k, v in recorder.steps.items() if k not in ("loop", "loop[1]/item")}
    EXECUTED.clear()
    again = await run(doc, {}, steps=partial, checkpoint=Recorder())
    assert again.status == "completed" and again.payload == result.payload
    assert EXECUTED == ["loop[1]/item"]


async def test_a_long_delay_becomes_a_durable_timer_and_resumes_after_it() -> None:
    doc = graph_dict(
        {"kind": "TestCount", "id": "a", "on_success": "wait"},
        {"kind": "WorkflowDelay", "id": "wait", "duration": "2h", "on_success": "b"},
        {"kind": "TestCount", "id": "b"},
    )
    EXECUTED.clear()
    recorder = Recorder()
    before = time.time()
    parked = await run(doc, {}, checkpoint=recorder, timer_threshold=1.0)
    assert parked.status == "suspended"
    assert parked.wake_at is not None and before + 7200 <= parked.wake_at <= time.time() + 7200
    assert recorder.steps["wait#timer"] == parked.wake_at
    assert EXECUTED == ["a"]
    # Woken early (say, by a restart): the stored timer wins and the run parks again.
    again = await run(doc, {}, steps=dict(recorder.steps), checkpoint=recorder, timer_threshold=1.0)
    assert again.status == "suspended" and again.wake_at == parked.wake_at and EXECUTED == ["a"]
    # Once due, the delay completes and the rest runs.
    steps = {**recorder.steps, "wait#timer": time.time() - 1}
    done = await run(doc, {}, steps=steps, checkpoint=Recorder(), timer_threshold=1.0)
    assert done.status == "completed" and EXECUTED == ["a", "b"]


async def test_short_delays_and_non_durable_runs_sleep_in_process() -> None:
    doc = graph_dict({"kind": "WorkflowDelay", "id": "wait", "duration": 0.01})
    assert (await run(doc, {}, checkpoint=Recorder(), timer_threshold=1.0)).status == "completed"
    long_doc = graph_dict({"kind": "WorkflowDelay", "id": "wait", "duration": 0.02})
    assert (await run(long_doc, {}, timer_threshold=0.001)).status == "completed"  # no checkpointer


async def test_a_failed_node_with_an_on_failure_edge_is_checkpointed_as_routed() -> None:
    doc = graph_dict(
        {"kind": "TestCount", "id": "a", "fail": True, "on_failure": "rescue"},
        {"kind": "TestCount", "id": "rescue"},
    )
    EXECUTED.clear()
    recorder = Recorder()
    assert (await run(doc, {}, checkpoint=recorder)).status == "completed"
    assert recorder.steps["a"]["failed"] is True and recorder.steps["a"]["next"] == "rescue"
    EXECUTED.clear()
    resumed = await run(doc, {}, steps={"a": recorder.steps["a"]}, checkpoint=Recorder())
    assert resumed.status == "completed" and EXECUTED == ["rescue"]
    assert "a" not in resumed.journal[-1].node_id
