from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import graphflow
from graphflow.exceptions import NodeExecutionError, ValidationError
from tests.conftest import graph_dict, run

pytestmark = pytest.mark.anyio

CALLS: dict[str, int] = {}


@graphflow.node("TestFlaky")
async def flaky(input: Any, ctx: graphflow.NodeContext, *, fail_times: int = 1, code: str = "boom") -> Any:
    key = f"{ctx.run_id}:{ctx.node_id}"
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] <= fail_times:
        raise NodeExecutionError(f"attempt {ctx.attempt} failed", code=code)
    return {"attempts": ctx.attempt, "key": ctx.idempotency_key}


@graphflow.node("TestSleep")
async def sleeper(input: Any, ctx: graphflow.NodeContext, *, seconds: float = 10.0) -> Any:
    await anyio.sleep(seconds)
    return input


@graphflow.node("TestContext")
async def context_probe(input: Any, ctx: graphflow.NodeContext) -> Any:
    return {
        "run_id": ctx.run_id,
        "app_id": ctx.app_id,
        "automation_id": ctx.automation_id,
        "env": dict(ctx.env),
        "seen": sorted(ctx.outputs),
    }


async def test_sample_runs_and_journals(examples_dir: Any) -> None:
    result = await run(
        examples_dir / "archastro-sample.json", {"scheduled_at": "2026-02-28T09:00:00Z"}, trigger="workflow.scheduled"
    )
    assert result.status == "completed"
    assert result.result == {"payload": True, "output": []}
    assert [(e.type, e.node_id, e.attempt) for e in result.journal] == [
        ("node_started", "trigger_1", 1),
        ("node_completed", "trigger_1", 1),
        ("node_started", "script_1", 1),
        ("node_completed", "script_1", 1),
    ]
    assert all(result.started_at <= e.at <= result.finished_at for e in result.journal)
    assert result.run_id.startswith("atr_")
    assert result.to_dict()["journal"][0]["at"].endswith("Z")


async def test_trigger_unwraps_the_envelope() -> None:
    doc = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.bug"})
    result = await run(doc, {"bug": "upload fails"})
    assert result.payload == "upload fails"


async def test_unknown_trigger_runs_nothing(examples_dir: Any) -> None:
    with pytest.raises(ValidationError, match=r"no trigger node for event 'thread\.created'"):
        await run(examples_dir / "archastro-sample.json", trigger="thread.created")
    graph = graphflow.load_graph(examples_dir / "archastro-sample.json")
    with pytest.raises(ValidationError, match="trigger"):
        await graphflow.Executor().run(graph, {"payload": {}})


async def test_failure_result_and_journal() -> None:
    doc = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.missing"})
    result = await run(doc)
    assert result.status == "failed"
    assert result.result == {"error": "node 's' failed: no such key: 'missing'"}
    assert result.failed_node == "s"
    last = result.journal[-1]
    assert (last.type, last.node_id, last.code, last.will_retry) == ("node_failed", "s", "script_error", False)


async def test_on_failure_edge_receives_the_error() -> None:
    doc = graph_dict(
        {"kind": "WorkflowScript", "id": "s", "source": "$.missing", "on_failure": "handle"},
        {
            "kind": "WorkflowScript",
            "id": "handle",
            "source": "{'handled': $.error, 'code': $.code, 'from': $.node_id, 'input': $.input}",
        },
    )
    result = await run(doc, {"x": 1})
    assert result.status == "completed"
    assert result.payload == {
        "handled": "node 's' failed: no such key: 'missing'",
        "code": "script_error",
        "from": "s",
        "input": {"x": 1},
    }


async def test_retry_with_backoff_then_success() -> None:
    doc = graph_dict(
        {
            "kind": "TestFlaky",
            "id": "f",
            "fail_times": 2,
            "retry": {"max_attempts": 3, "initial_interval": "10ms", "jitter": 0},
        }
    )
    result = await run(doc)
    assert result.status == "completed"
    assert result.payload["attempts"] == 3
    assert result.payload["key"] == f"{result.run_id}:f"
    types = [(e.type, e.attempt, e.will_retry) for e in result.journal if e.node_id == "f"]
    assert types == [
        ("node_started", 1, False),
        ("node_failed", 1, True),
        ("node_started", 2, False),
        ("node_failed", 2, True),
        ("node_started", 3, False),
        ("node_completed", 3, False),
    ]


async def test_retries_are_bounded() -> None:
    doc = graph_dict(
        {
            "kind": "TestFlaky",
            "id": "f",
            "fail_times": 10,
            "retry": {"max_attempts": 2, "initial_interval": 0, "jitter": 0},
        }
    )
    result = await run(doc)
    assert result.status == "failed"
    assert [e.attempt for e in result.journal if e.type == "node_failed"] == [1, 2]


async def test_non_retryable_codes_fail_at_once() -> None:
    doc = graph_dict(
        {
            "kind": "TestFlaky",
            "id": "f",
            "fail_times": 10,
            "code": "bad_input",
            "retry": {"max_attempts": 5, "initial_interval": 0, "non_retryable": ["bad_input"]},
        }
    )
    result = await run(doc)
    assert [e.attempt for e in result.journal if e.type == "node_failed"] == [1]


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = graphflow.RetryPolicy(initial_interval=1, backoff=2, max_interval=5, jitter=0.5)
    assert [policy.delay(n, 0.5) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert policy.delay(1, 0.0) == 0.5 and policy.delay(1, 0.999999) == pytest.approx(1.5, abs=1e-5)


async def test_node_timeout_fails_the_attempt() -> None:
    doc = graph_dict({"kind": "TestSleep", "id": "z", "timeout": "50ms"})
    result = await run(doc)
    assert result.status == "failed"
    assert "timed out after 0.05s" in result.error
    assert result.journal[-1].code == "timeout"


async def test_run_timeout() -> None:
    doc = graph_dict({"kind": "TestSleep", "id": "z"})
    started = time.monotonic()
    result = await run(doc, timeout=0.05)
    assert result.status == "failed" and result.error == "run timed out after 0.05s"
    assert time.monotonic() - started < 5


async def test_cancel_by_run_id() -> None:
    executor = graphflow.Executor()
    graph = graphflow.load_graph(graph_dict({"kind": "TestSleep", "id": "z"}))
    results: list[graphflow.RunResult] = []

    async def go() -> None:
        results.append(await executor.run(graph, {"trigger": "test.run", "payload": {}}, run_id="atr_x"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(go)
        while "atr_x" not in executor.active_runs:
            await anyio.lowlevel.checkpoint()
        assert executor.cancel("atr_x")
    assert results[0].status == "cancelled"
    assert not executor.cancel("atr_x")


async def test_caller_cancellation_propagates() -> None:
    executor = graphflow.Executor()
    graph = graphflow.load_graph(graph_dict({"kind": "TestSleep", "id": "z"}))
    events: list[Any] = []
    executor.subscribe(events.append, (graphflow.RunCancelled,))
    with anyio.move_on_after(0.05) as scope:
        await executor.run(graph, {"trigger": "test.run", "payload": {}})
    assert scope.cancelled_caught
    assert [type(e).__name__ for e in events] == ["RunCancelled"]
    assert executor.active_runs == []


async def test_events_are_frozen_and_ordered() -> None:
    executor = graphflow.Executor()
    seen: list[graphflow.EngineEvent] = []
    sub = executor.subscribe(seen.append)
    await run(graph_dict({"kind": "WorkflowScript", "id": "s", "source": "1"}), executor=executor)
    assert [type(e).__name__ for e in seen] == [
        "RunStarted",
        "NodeStarted",
        "NodeCompleted",
        "NodeStarted",
        "NodeCompleted",
        "RunCompleted",
    ]
    with pytest.raises(Exception):  # noqa: B017 - dataclasses raise FrozenInstanceError
        seen[0].run_id = "x"  # type: ignore[misc]
    sub.close()
    await run(graph_dict({"kind": "WorkflowScript", "id": "s", "source": "1"}), executor=executor)
    assert len(seen) == 6


async def test_run_only_listeners_get_no_node_events() -> None:
    executor = graphflow.Executor()
    seen: list[Any] = []
    executor.subscribe(seen.append, (graphflow.RunCompleted, graphflow.RunFailed))
    assert not executor.notifier.wants_node_events
    await run(graph_dict({"kind": "WorkflowScript", "id": "s", "source": "1"}), executor=executor)
    assert [type(e).__name__ for e in seen] == ["RunCompleted"]


async def test_a_failing_listener_does_not_fail_the_run() -> None:
    executor = graphflow.Executor()

    def bad(event: Any) -> None:
        raise RuntimeError("listener bug")

    executor.subscribe(bad)
    result = await run(graph_dict({"kind": "WorkflowScript", "id": "s", "source": "1"}), executor=executor)
    assert result.status == "completed"
    assert executor.notifier.errors


async def test_context_is_scoped_to_the_run() -> None:
    executor = graphflow.Executor(env={"A": "1"})
    doc = graph_dict(
        {"kind": "WorkflowScript", "id": "s", "source": "1", "on_success": "c"}, {"kind": "TestContext", "id": "c"}
    )
    graph = graphflow.load_graph(doc)
    one = await executor.run(
        graph, {"trigger": "test.run", "payload": {}}, app_id="app_1", automation_id="aut_1", env={"B": "2"}
    )
    two = await executor.run(graph, {"trigger": "test.run", "payload": {}})
    assert one.payload == {
        "run_id": one.run_id,
        "app_id": "app_1",
        "automation_id": "aut_1",
        "env": {"A": "1", "B": "2"},
        "seen": ["s", "t"],
    }
    assert two.payload["env"] == {"A": "1"} and two.payload["run_id"] != one.run_id


def test_sync_helper(examples_dir: Any) -> None:
    result = graphflow.run_graph_sync(
        str(examples_dir / "archastro-sample.yaml"), {"trigger": "workflow.scheduled", "payload": {}}
    )
    assert result.status == "completed"
