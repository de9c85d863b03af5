"""Events emitted by runs carry their causation; a chain deeper than ``max_event_depth`` stops.

The attack: a ``thread.created`` automation whose graph emits ``thread.created`` twice started
~10,000 runs a second, for ever. Now each emitted event's runs record ``{depth, run_id,
origin_run_id}`` and the emit at depth ``max_event_depth + 1`` fails its node.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graphflow.engine.engine import Engine
from graphflow.events import CascadeStopped, EngineEvent
from graphflow.records import AutomationRun
from tests.conftest import eventually, graph_dict

pytestmark = pytest.mark.anyio

THREAD = {"thread_id": "thr_1"}
MEMBER = {"thread_id": "thr_1", "user_id": "usr_1"}
PAYLOADS = {"thread.created": THREAD, "thread.member_joined": MEMBER}


def emitter(trigger: str, *events: str) -> dict[str, Any]:
    nodes = [
        {
            "kind": "WorkflowEmitEvent",
            "id": f"e{i}",
            "event": event,
            "payload": THREAD if event == "thread.created" else MEMBER,
        }
        for i, event in enumerate(events)
    ]
    for node, following in itertools.pairwise(nodes):
        node["on_success"] = following["id"]
    return graph_dict(*nodes, trigger=trigger)


@pytest.fixture(params=["memory", "sqlite"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'cascade.db'}"
    async with Engine(url, max_event_depth=3) as started:
        yield started


async def automation(engine: Engine, trigger: str, graph: dict[str, Any]) -> str:
    cfg = await engine.configs.create("app_a", graph)
    created = await engine.automations.create("app_a", name=trigger, trigger=trigger, config_id=cfg.id, enabled=True)
    return created.id


async def all_runs(engine: Engine, automation_id: str) -> list[AutomationRun]:
    return (await engine.automations.runs("app_a", automation_id, limit=100)).data


async def test_an_automation_that_triggers_itself_stops_at_the_depth_limit(engine: Engine) -> None:
    stopped: list[EngineEvent] = []
    engine.subscribe(stopped.append, (CascadeStopped,))
    loop = await automation(engine, "thread.created", emitter("thread.created", "thread.created", "thread.created"))
    first = (await engine.publish("app_a", "thread.created", THREAD)).run_ids[0]
    # 1 + 2 + 4 + 8 runs (depths 0-3); the 8 runs at depth 3 fail their first emit.
    expected = 1 + 2 + 4 + 8

    async def settled() -> bool:
        runs = await all_runs(engine, loop)
        return len(runs) == expected and all(r.status in ("completed", "failed") for r in runs)

    await eventually(settled, "the cascade to settle", timeout=20)
    runs = await all_runs(engine, loop)
    by_depth: dict[int, list[AutomationRun]] = {}
    for run in runs:
        by_depth.setdefault(run.causation["depth"] if run.causation else 0, []).append(run)
    assert {depth: len(group) for depth, group in by_depth.items()} == {0: 1, 1: 2, 2: 4, 3: 8}
    assert all(r.status == "completed" for d in (0, 1, 2) for r in by_depth[d])
    assert all(r.status == "failed" and "max_event_depth" in str(r.result) for r in by_depth[3])
    assert {r.causation["origin_run_id"] for r in runs if r.causation} == {first}
    assert len(stopped) == 8 and all(isinstance(e, CascadeStopped) and e.depth == 4 for e in stopped)
    # Nothing keeps running: the number of runs does not grow once every run has ended.
    assert len(await all_runs(engine, loop)) == expected


async def test_a_cycle_across_event_types_stops_the_same_way(engine: Engine) -> None:
    ping = await automation(engine, "thread.created", emitter("thread.created", "thread.member_joined"))
    pong = await automation(engine, "thread.member_joined", emitter("thread.member_joined", "thread.created"))
    await engine.publish("app_a", "thread.created", THREAD)

    async def settled() -> bool:
        runs = [*await all_runs(engine, ping), *await all_runs(engine, pong)]
        return len(runs) == 4 and all(r.status in ("completed", "failed") for r in runs)

    await eventually(settled, "the ping-pong to stop", timeout=20)
    runs = [*await all_runs(engine, ping), *await all_runs(engine, pong)]
    assert sorted((r.causation or {}).get("depth", 0) for r in runs) == [0, 1, 2, 3]
    assert [r.status for r in runs if (r.causation or {}).get("depth") == 3] == ["failed"]


async def test_explain_cascade_shows_the_chain_and_the_loop(engine: Engine) -> None:
    ping = await automation(engine, "thread.created", emitter("thread.created", "thread.member_joined"))
    pong = await automation(engine, "thread.member_joined", emitter("thread.member_joined", "thread.created"))
    [step] = await engine.explain_cascade("app_a", "thread.created")
    assert (step.automation_id, step.depth, step.emits) == (ping, 0, ("thread.member_joined",))
    [second] = step.then
    assert (second.automation_id, second.event, second.depth) == (pong, "thread.member_joined", 1)
    [third] = second.then
    assert (third.automation_id, third.stopped, third.then) == (ping, "cycle", ())
    assert await engine.explain_cascade("app_a", "thread.deleted") == []


FAN_OUT = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "fan-out",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "each"},
        {"kind": "WorkflowMap", "id": "each", "items": "{{[1, 2, 3, 4, 5]}}", "body": "again", "concurrency": 1},
        {"kind": "WorkflowEmitEvent", "id": "again", "event": "thread.created", "payload": THREAD},
    ],
}


async def test_an_emit_inside_a_map_cannot_start_more_runs_than_the_cascade_budget(tmp_path: Path) -> None:
    """The fan-out bomb: each run emits 5 events that each start it again (5^depth runs without a budget)."""
    stopped: list[EngineEvent] = []
    async with Engine(f"sqlite:///{tmp_path / 'fan.db'}", max_cascade_runs=40) as engine:
        engine.subscribe(stopped.append, (CascadeStopped,))
        bomb = await automation(engine, "thread.created", FAN_OUT)
        head = (await engine.publish("app_a", "thread.created", THREAD)).run_ids[0]

        async def settled() -> bool:
            runs = await all_runs(engine, bomb)
            return bool(stopped) and all(r.status in ("completed", "failed") for r in runs)

        await eventually(settled, "the fan-out to stop", timeout=30)
        runs = await all_runs(engine, bomb)
        assert 1 < len(runs) <= 1 + 40  # the head plus at most its budget
        assert {r.causation["origin_run_id"] for r in runs if r.causation} == {head}
        assert any(r.status == "failed" and "max_cascade_runs" in str(r.result) for r in runs)
        assert len(await all_runs(engine, bomb)) == len(runs)  # nothing more starts
