"""The engine harness, the stepping clock and the pytest plugin's fixtures."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from graphflow.engine.engine import Engine
from graphflow.testing import EngineHarness, SteppingClock, assert_path, run_path
from graphflow.testing.clock import instant

pytestmark = pytest.mark.anyio

T0 = "2027-03-01T00:00:00Z"


def chain(trigger: str, *nodes: dict[str, Any], name: str = "g") -> dict[str, Any]:
    ids = [n["id"] for n in nodes]
    linked = [{**n, "on_success": ids[i + 1]} if i + 1 < len(ids) else n for i, n in enumerate(nodes)]
    return {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": name,
        "start_node": "t",
        "nodes": [{"kind": "WorkflowTrigger", "id": "t", "trigger": trigger, "on_success": ids[0]}, *linked],
    }


TICK = chain("workflow.scheduled", {"kind": "WorkflowScript", "id": "s1", "source": "$.scheduled_at"})
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}


@pytest.fixture
def graphflow_start() -> str:
    return T0


def test_instant_reads_aware_times_only() -> None:
    assert instant("2027-01-01T00:00:00Z") == instant(datetime(2027, 1, 1, tzinfo=UTC)) == 1798761600.0
    with pytest.raises(ValueError, match="no time zone"):
        instant("2027-01-01T00:00:00")
    with pytest.raises(ValueError, match="no time zone"):
        instant(datetime(2027, 1, 1))


async def test_the_fixtures_share_one_clock(graphflow_harness: EngineHarness, graphflow_engine: Engine) -> None:
    assert graphflow_harness.engine is graphflow_engine
    assert graphflow_engine.clock is graphflow_harness.clock
    assert graphflow_harness.clock.now() == instant(T0)


async def test_the_plugin_is_registered_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("graphflow")
    assert plugin is not None and plugin.__name__ == "graphflow.testing.plugin"


async def test_advance_fires_every_due_instant_in_order(graphflow_harness: EngineHarness) -> None:
    automation = await graphflow_harness.add_automation(TICK, type="scheduled", schedule="every 90m")
    assert await graphflow_harness.advance(89 * 60) == []
    runs = await graphflow_harness.advance(24 * 3600)
    start = instant(T0)
    assert [r.scheduled_at for r in runs] == [start + 90 * 60 * k for k in range(1, 17)]
    assert [r.status for r in runs] == ["completed"] * 16
    assert [r.result["payload"] for r in runs][:1] == ["2027-03-01T01:30:00Z"]
    assert len(await graphflow_harness.runs(automation)) == 16
    assert graphflow_harness.clock.now() == start + 89 * 60 + 24 * 3600


async def test_time_moves_forward_only(graphflow_harness: EngineHarness) -> None:
    with pytest.raises(ValueError, match="forward"):
        await graphflow_harness.advance(-1)
    with pytest.raises(ValueError, match="forward"):
        await graphflow_harness.advance_to("2020-01-01T00:00:00Z")


async def test_publish_and_wait_returns_ended_runs_and_their_cascade(graphflow_harness: EngineHarness) -> None:
    engine = graphflow_harness.engine
    engine.catalogue.register("team.greeted", "A member was greeted")
    first = await graphflow_harness.add_automation(
        chain("thread.member_joined", {"kind": "WorkflowEmitEvent", "id": "tell", "event": "team.greeted"}),
        name="first",
    )
    second = await graphflow_harness.add_automation(
        chain("team.greeted", {"kind": "WorkflowScript", "id": "s", "source": "$.user_id"}), name="second"
    )
    runs = await graphflow_harness.publish_and_wait("thread.member_joined", JOINED)
    assert [r.automation_id for r in runs] == [first.id]
    assert_path(runs[0], ["t", "tell"])
    downstream = await graphflow_harness.runs(second)
    assert [(r.status, r.result["payload"]) for r in downstream] == [("completed", "usr_9")]


async def test_trigger_and_wait(graphflow_harness: EngineHarness) -> None:
    automation = await graphflow_harness.add_automation(TICK, type="scheduled", schedule="0 9 * * *")
    run = await graphflow_harness.trigger_and_wait(automation)
    assert run.status == "completed" and run.scheduled_at is None


async def test_assert_path_says_what_happened() -> None:
    run = {
        "status": "failed",
        "result": {"error": "boom"},
        "journal": [
            {"type": "node_started", "node_id": "t", "attempt": 1},
            {"type": "node_completed", "node_id": "t", "attempt": 1},
            {"type": "node_started", "node_id": "s1", "attempt": 1},
            {"type": "node_failed", "node_id": "s1", "attempt": 1},
            {"type": "node_started", "node_id": "s1", "attempt": 2},
            {"type": "node_started", "node_id": "b", "attempt": 1, "scope": "fan/b"},
        ],
    }
    assert run_path(run) == ["t", "s1"]
    assert run_path(run, "fan/b") == ["b"]
    assert_path(run, ["t", "s1"])
    with pytest.raises(AssertionError) as caught:
        assert_path(run, ["t", "s1", "end"])
    assert str(caught.value) == "the run took ['t', 's1'], expected ['t', 's1', 'end'] (status 'failed', error 'boom')"


async def test_a_harness_needs_the_engines_clock_and_the_memory_store(tmp_path: Any) -> None:
    clock = SteppingClock(T0)
    async with Engine("memory://", clock=SteppingClock(T0)) as engine:
        with pytest.raises(ValueError, match="built with this clock"):
            EngineHarness(engine, clock)
    async with Engine(f"sqlite:///{tmp_path}/h.db", clock=clock) as engine:
        with pytest.raises(ValueError, match="memory store"):
            EngineHarness(engine, clock)


async def test_next_deadline_is_the_schedulers_next_fire(graphflow_harness: EngineHarness) -> None:
    clock = graphflow_harness.clock
    assert clock.next_deadline() is None
    await graphflow_harness.add_automation(TICK, type="scheduled", schedule="0 9 * * *", timezone="Europe/Paris")
    assert clock.next_deadline() == instant("2027-03-01T08:00:00Z")


def test_loading_the_plugin_imports_nothing_heavy_and_needs_no_hypothesis() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import graphflow.testing.plugin, graphflow.testing\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('graphflow.engine', 'hypothesis.')))\n"
        "assert not heavy, heavy\n"
        "try:\n    import graphflow.testing.strategies\nexcept ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'graphflow[testing]'" in done.stdout


REVIEW = chain(
    "workflow.invoked",
    {
        "kind": "WorkflowApproval",
        "id": "review",
        "message": "Publish {{$.title}}?",
        "expires_after": "2h",
        "routes": {"reject": "dropped"},
        "on_timeout": "expired",
        "on_success": "publish",
    },
    name="review",
)
REVIEW["nodes"][1].pop("on_success", None)
REVIEW["nodes"][1]["on_success"] = "publish"
REVIEW["nodes"] += [
    {"kind": "WorkflowScript", "id": "publish", "source": "'published'"},
    {"kind": "WorkflowScript", "id": "dropped", "source": "'dropped'"},
    {"kind": "WorkflowScript", "id": "expired", "source": "'expired'"},
]


async def test_a_run_parked_on_a_steering_request_settles_and_goes_on_when_answered(
    graphflow_harness: EngineHarness,
) -> None:
    automation = await graphflow_harness.add_automation(REVIEW, type="invoked")
    parked = await graphflow_harness.trigger_and_wait(automation, {"title": "Q3 recap"})
    assert parked.status == "running"
    [request] = await graphflow_harness.steering_requests(run=parked)
    assert request.message == "Publish Q3 recap?"
    run = await graphflow_harness.respond(request, "approve", by="usr_editor")
    assert (run.status, run.result["payload"]) == ("completed", "published")
    assert_path(run, ["t", "review", "publish"])


async def test_advancing_past_a_requests_expiry_takes_on_timeout(graphflow_harness: EngineHarness) -> None:
    automation = await graphflow_harness.add_automation(REVIEW, type="invoked")
    parked = await graphflow_harness.trigger_and_wait(automation, {"title": "Q3 recap"})
    assert await graphflow_harness.advance(3600) == []
    assert (await graphflow_harness.runs(automation))[0].status == "running"
    await graphflow_harness.advance(3600)
    [run] = await graphflow_harness.runs(automation)
    assert run.id == parked.id
    assert (run.status, run.result["payload"]) == ("completed", "expired")
    assert await graphflow_harness.steering_requests() == []


async def test_fires_of_several_automations_come_in_time_order(graphflow_harness: EngineHarness) -> None:
    every_2h = await graphflow_harness.add_automation(TICK, type="scheduled", schedule="every 2h", name="a")
    every_3h = await graphflow_harness.add_automation(TICK, type="scheduled", schedule="every 3h", name="b")
    runs = await graphflow_harness.advance(12 * 3600)
    start = instant(T0)
    names = {every_2h.id: "a", every_3h.id: "b"}
    fired = [(round((r.scheduled_at or 0) - start) // 3600, names[r.automation_id]) for r in runs]
    # At 6h and 12h both are due: the order between them is not defined, the hours are.
    assert [hour for hour, _ in fired] == [2, 3, 4, 6, 6, 8, 9, 10, 12, 12]
    assert sorted(fired) == [
        (2, "a"),
        (3, "b"),
        (4, "a"),
        (6, "a"),
        (6, "b"),
        (8, "a"),
        (9, "b"),
        (10, "a"),
        (12, "a"),
        (12, "b"),
    ]
    assert [r.started_at for r in runs] == sorted(r.started_at for r in runs)


async def test_advance_refuses_seconds_that_are_not_a_time(graphflow_harness: Any) -> None:
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match=r"finite|forward"):
            await graphflow_harness.advance(bad)
    with pytest.raises(ValueError, match="finite"):
        await graphflow_harness.advance_to(float("inf"))
