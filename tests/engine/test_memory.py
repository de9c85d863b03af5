"""Memory across runs: ``memory`` and ``previous_runs`` in scripts, ``WorkflowRemember`` writing, on every store."""

from __future__ import annotations

from typing import Any

import pytest

from graphflow.engine.engine import Engine
from graphflow.exceptions import ScriptError
from graphflow.records import AutomationRun

pytestmark = pytest.mark.anyio

APP = "app_m"


def digest(*steps: dict[str, Any]) -> dict[str, Any]:
    """An invoked graph: skip what an earlier run already sent, remember what this one sends."""
    body = steps or (
        {"kind": "WorkflowScript", "id": "pick", "source": "$.topics.filter(t, !(t in unwrap(memory.sent, [])))",
         "on_success": "keep"},
        {"kind": "WorkflowRemember", "id": "keep", "value": "{'sent': unwrap(memory.sent, []) + $}",
         "on_success": "out"},
        {"kind": "WorkflowScript", "id": "out",
         "source": "{'sent': $, 'before': previous_runs.map(r, r.payload.sent)}"},
    )  # fmt: skip
    return {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": "digest",
        "start_node": "t",
        "nodes": [
            {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": body[0]["id"]},
            *body,
        ],
    }


@pytest.fixture
def engine_options() -> dict[str, Any]:
    return {"poll_interval": 0.05, "previous_runs": 2}


async def automation(engine: Engine, graph: dict[str, Any] | None = None) -> str:
    config = await engine.configs.create(APP, graph or digest())
    created = await engine.automations.create(APP, name="digest", type="invoked", config_id=config.id, enabled=True)
    return created.id


async def call(engine: Engine, aut: str, payload: Any) -> AutomationRun:
    return await engine.automations.invoke(APP, aut, payload, wait=True, timeout=10)


async def test_the_next_run_sees_what_the_last_remembered(engine: Engine) -> None:
    aut = await automation(engine)
    first = await call(engine, aut, {"topics": ["a", "b"]})
    assert first.result == {"payload": {"sent": ["a", "b"], "before": []}, "output": []}
    second = await call(engine, aut, {"topics": ["b", "c"]})
    assert second.result["payload"] == {"sent": ["c"], "before": [["a", "b"]]}  # type: ignore[index]
    third = await call(engine, aut, {"topics": ["a", "d"]})
    assert third.result["payload"] == {"sent": ["d"], "before": [["c"], ["a", "b"]]}  # type: ignore[index]
    fourth = await call(engine, aut, {"topics": []})
    assert fourth.result["payload"]["before"] == [["d"], ["c"]]  # type: ignore[index]  # the last 2, newest first
    assert await engine.store.get_memory(APP, aut) == {"sent": ["a", "b", "c", "d"]}


async def test_memory_is_per_automation_and_per_app(engine: Engine) -> None:
    one, two = await automation(engine), await automation(engine)
    await call(engine, one, {"topics": ["a"]})
    assert (await call(engine, two, {"topics": ["a"]})).result["payload"]["sent"] == ["a"]  # type: ignore[index]
    assert await engine.store.get_memory("app_other", one) is None


async def test_a_memory_over_the_limit_fails_the_node_and_keeps_the_old_one(engine: Engine) -> None:
    aut = await automation(engine, digest(
        {"kind": "WorkflowRemember", "id": "keep", "value": "{'blob': $.text}"},
    ))  # fmt: skip
    assert (await call(engine, aut, {"text": "small"})).status == "completed"
    big = await call(engine, aut, {"text": "x" * 70_000})
    assert big.status == "failed" and "the limit is 65,536" in big.result["error"]  # type: ignore[index]
    assert await engine.store.get_memory(APP, aut) == {"blob": "small"}


async def test_a_failed_run_after_remembering_keeps_what_the_node_committed(engine: Engine) -> None:
    aut = await automation(engine, digest(
        {"kind": "WorkflowRemember", "id": "keep", "value": "{'n': unwrap(memory.n, 0) + 1}", "on_success": "boom"},
        {"kind": "WorkflowScript", "id": "boom", "source": "$.missing.key"},
    ))  # fmt: skip
    assert (await call(engine, aut, {})).status == "failed"
    assert await engine.store.get_memory(APP, aut) == {"n": 1}  # the node completed: its write stands


async def test_graphs_that_do_not_read_memory_load_none(engine: Engine) -> None:
    reads: list[str] = []
    original = engine.store.get_memory

    async def counting(app_id: str, automation_id: str) -> Any:
        reads.append(automation_id)
        return await original(app_id, automation_id)

    engine.store.get_memory = counting  # type: ignore[method-assign]
    plain = await automation(engine, digest({"kind": "WorkflowScript", "id": "s", "source": "$.n + 1"}))
    assert (await call(engine, plain, {"n": 1})).result["payload"] == 2  # type: ignore[index]
    assert reads == []
    reading = await automation(engine)
    await call(engine, reading, {"topics": []})
    assert reads == [reading]


def test_memory_names_are_reserved_in_scripts() -> None:
    from graphflow.scripts import Script

    for source in ("let memory = 1; memory", "let previous_runs = []; 1", "[1].map(memory, memory)"):
        with pytest.raises(ScriptError, match="reserved"):
            Script.compile(source)
    assert Script.compile("unwrap(memory.sent, [])").evaluate(None) == []  # outside a run: null


async def test_remember_outside_an_automation_fails_clearly() -> None:
    import graphflow

    graph = graphflow.load_graph(digest())
    result = await graphflow.run_graph(graph, {"trigger": "workflow.invoked", "payload": {"topics": ["a"]}})
    assert result.status == "failed" and "belongs to an automation" in (result.error or "")
