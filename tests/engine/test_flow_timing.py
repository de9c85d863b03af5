"""Flow control over time, with the kit's stepping clock: when debounced, delayed and queued runs start."""

from __future__ import annotations

from typing import Any

import pytest

from graphflow.records import Automation, AutomationRun
from graphflow.testing.harness import EngineHarness
from tests.conftest import graph_dict

pytestmark = pytest.mark.anyio

EVENT = "thread.created"
ECHO = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.thread_id"}, trigger=EVENT)
#: A run that parks on an approval (its message: the thread id) until a person answers.
GATED = graph_dict(
    {"kind": "WorkflowApproval", "id": "gate", "message": "{{ $.thread_id }}", "on_success": "s"},
    {"kind": "WorkflowScript", "id": "s", "source": "'done'"},
    trigger=EVENT,
)


async def publish(harness: EngineHarness, thread: str) -> None:
    await harness.engine.publish(harness.app_id, EVENT, {"thread_id": thread})
    await harness.settle()


async def finished(harness: EngineHarness, automation: Automation) -> list[AutomationRun]:
    runs = await harness.runs(automation)
    return sorted((r for r in runs if r.status == "completed"), key=lambda r: r.finished_at or 0.0)


async def flow(harness: EngineHarness, graph: dict[str, Any] = ECHO, **fields: Any) -> Automation:
    return await harness.add_automation(graph, name="flow", trigger=EVENT, **fields)


async def test_the_last_event_of_a_burst_runs_once_after_the_quiet_period(graphflow_harness: EngineHarness) -> None:
    automation = await flow(graphflow_harness, debounce={"period": "60s"})
    for thread in ("thr_1", "thr_2", "thr_3"):
        await publish(graphflow_harness, thread)
        await graphflow_harness.advance(30)
    assert await finished(graphflow_harness, automation) == []
    await graphflow_harness.advance(29)  # 59 s after the last event
    assert await finished(graphflow_harness, automation) == []
    await graphflow_harness.advance(1)
    (run,) = await finished(graphflow_harness, automation)
    assert run.payload == {"thread_id": "thr_3"} and run.result is not None and run.result["payload"] == "thr_3"
    await publish(graphflow_harness, "thr_4")  # a new burst
    await graphflow_harness.advance(60)
    assert [r.payload["thread_id"] for r in await finished(graphflow_harness, automation)] == ["thr_3", "thr_4"]


async def test_max_wait_starts_a_run_during_an_endless_burst(graphflow_harness: EngineHarness) -> None:
    automation = await flow(graphflow_harness, debounce={"period": "60s", "max_wait": "5m"})
    start = graphflow_harness.clock.now()
    for i in range(8):  # an event every 50 s: the quiet period never comes
        await publish(graphflow_harness, f"thr_{i}")
        await graphflow_harness.advance(50)
    runs = await finished(graphflow_harness, automation)
    assert [r.payload["thread_id"] for r in runs] == ["thr_5"]  # the last one before first + 5 min
    assert runs[0].started_at == start + 300


async def test_throttle_delay_spreads_runs_over_windows(graphflow_harness: EngineHarness) -> None:
    automation = await flow(graphflow_harness, throttle={"limit": 2, "period": "1m", "overflow": "delay"})
    start = graphflow_harness.clock.now()
    for i in range(5):
        await publish(graphflow_harness, f"thr_{i}")
    assert len(await finished(graphflow_harness, automation)) == 2
    await graphflow_harness.advance(60)
    assert len(await finished(graphflow_harness, automation)) == 4
    await graphflow_harness.advance(60)
    runs = await finished(graphflow_harness, automation)
    assert [r.started_at - start for r in runs] == [0, 0, 60, 60, 120]


async def test_concurrency_runs_a_key_one_at_a_time_in_arrival_order(graphflow_harness: EngineHarness) -> None:
    automation = await flow(graphflow_harness, GATED, concurrency={"limit": 1, "key": "$.thread_id.substring(0, 5)"})
    arrivals = ["thr_a1", "thr_a2", "thr_b1", "thr_a3"]
    for thread in arrivals:
        await publish(graphflow_harness, thread)
    order: list[str] = []
    while requests := await graphflow_harness.steering_requests():
        parked = sorted(r.message or "" for r in requests)  # one per key at a time
        assert len(parked) == len({thread[:5] for thread in parked})
        oldest = min(requests, key=lambda r: arrivals.index(r.message or ""))
        order.append(oldest.message or "")
        await graphflow_harness.respond(oldest, "approve")
    assert order == ["thr_a1", "thr_a2", "thr_b1", "thr_a3"]  # thr_a2 waited for thr_a1, thr_a3 for thr_a2
    assert sorted(r.payload["thread_id"] for r in await finished(graphflow_harness, automation)) == sorted(arrivals)
