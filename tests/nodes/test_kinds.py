from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

import graphflow
from graphflow.exceptions import ValidationError
from graphflow.nodes.registry import NodeRegistry
from tests.conftest import graph_dict, run

pytestmark = pytest.mark.anyio

ACTIVE = {"now": 0, "peak": 0}


@graphflow.node("TestTrack")
async def track(input: Any, ctx: graphflow.NodeContext, *, pause: float = 0.01) -> Any:
    ACTIVE["now"] += 1
    ACTIVE["peak"] = max(ACTIVE["peak"], ACTIVE["now"])
    try:
        await anyio.sleep(pause)
    finally:
        ACTIVE["now"] -= 1
    return {"item": input["item"] * 10 if isinstance(input, dict) and "item" in input else input, "scope": ctx.scope}


@graphflow.node("TestGreet", description="Greets someone.")
async def greet(input: Any, ctx: graphflow.NodeContext, *, name: str, punctuation: str = "!") -> Any:
    return f"hello {name}{punctuation}"


async def test_script_from_data_and_inline_with_println() -> None:
    doc = graph_dict(
        {"kind": "WorkflowScript", "id": "a", "script": "double", "on_success": "b"},
        {"kind": "WorkflowScript", "id": "b", "source": "println('got', $)\n$ + nodes.a"},
        data=[{"kind": "Script", "id": "double", "script": "$.n * 2"}],
    )
    result = await run(doc, {"n": 21})
    assert result.result == {"payload": 84, "output": ["got 42"]}


def test_script_needs_exactly_one_source() -> None:
    for fields in ({}, {"script": "x", "source": "1"}):
        with pytest.raises(ValidationError, match="exactly one of 'script'"):
            graphflow.load_graph(graph_dict({"kind": "WorkflowScript", "id": "s", **fields}))


@pytest.mark.parametrize(("amount", "expected"), [(900, "manager"), (100, "auto")])
async def test_condition_branches(amount: int, expected: str) -> None:
    doc = graph_dict(
        {"kind": "WorkflowCondition", "id": "c", "condition": "$.amount > 500", "on_true": "m", "on_false": "a"},
        {"kind": "WorkflowEnd", "id": "m", "payload": "manager"},
        {"kind": "WorkflowEnd", "id": "a", "payload": "auto"},
    )
    assert (await run(doc, {"amount": amount})).payload == expected


async def test_condition_must_be_boolean_and_missing_branch_ends() -> None:
    doc = graph_dict(
        {"kind": "WorkflowCondition", "id": "c", "condition": "$.amount", "on_true": "m"},
        {"kind": "WorkflowEnd", "id": "m", "payload": "m"},
    )
    result = await run(doc, {"amount": 3})
    assert result.status == "failed" and "must be true or false" in result.error
    doc["nodes"][1]["condition"] = "$.amount > 5"
    assert (await run(doc, {"amount": 3})).payload == {"amount": 3}


def test_condition_refuses_on_success() -> None:
    with pytest.raises(ValidationError, match="on_true/on_false"):
        graphflow.load_graph(
            graph_dict({"kind": "WorkflowCondition", "id": "c", "condition": "true", "on_success": "t"})
        )


async def test_parallel_joins_branch_outputs_by_branch_id() -> None:
    doc = graph_dict(
        {"kind": "WorkflowParallel", "id": "fan", "branches": ["a", "b"], "on_success": "join"},
        {"kind": "WorkflowScript", "id": "a", "source": "$.x + 1", "on_success": "a2"},
        {"kind": "WorkflowScript", "id": "a2", "source": "$ * 10"},
        {"kind": "WorkflowScript", "id": "b", "source": "$.x - 1"},
        {"kind": "WorkflowScript", "id": "join", "source": "$.a + $.b"},
    )
    result = await run(doc, {"x": 1})
    assert result.payload == 20
    scopes = {e.scope for e in result.journal}
    assert {"", "fan/a", "fan/b"} <= scopes


async def test_parallel_branches_run_concurrently() -> None:
    ACTIVE["peak"] = 0
    doc = graph_dict(
        {"kind": "WorkflowParallel", "id": "fan", "branches": [f"b{i}" for i in range(5)]},
        *({"kind": "TestTrack", "id": f"b{i}", "pause": 0.05} for i in range(5)),
    )
    result = await run(doc, {})
    assert result.status == "completed"
    assert ACTIVE["peak"] == 5


async def test_parallel_failure_cancels_siblings_and_uses_on_failure() -> None:
    doc = graph_dict(
        {"kind": "WorkflowParallel", "id": "fan", "branches": ["slow", "bad"], "on_failure": "oops"},
        {"kind": "TestTrack", "id": "slow", "pause": 10},
        {"kind": "WorkflowScript", "id": "bad", "source": "$.nope"},
        {"kind": "WorkflowScript", "id": "oops", "source": "$.node_id + ': ' + $.error"},
    )
    started = time.monotonic()
    result = await run(doc, {})
    assert time.monotonic() - started < 5
    assert result.status == "completed"
    assert result.payload == "fan: node 'bad' failed: no such key: 'nope'"


async def test_map_keeps_order_and_limits_concurrency() -> None:
    ACTIVE["peak"] = 0
    doc = graph_dict(
        {"kind": "WorkflowMap", "id": "each", "items": "{{$.xs}}", "body": "work", "concurrency": 3},
        {"kind": "TestTrack", "id": "work", "pause": 0.01},
    )
    result = await run(doc, {"xs": list(range(10))})
    assert [r["item"] for r in result.payload] == [i * 10 for i in range(10)]
    assert result.payload[4]["scope"] == "each[4]"
    assert ACTIVE["peak"] == 3


async def test_map_sequential_and_errors() -> None:
    doc = graph_dict(
        {"kind": "WorkflowMap", "id": "each", "items": "{{$.xs}}", "body": "sq", "concurrency": 1, "max_items": 3},
        {"kind": "WorkflowScript", "id": "sq", "source": "$.item * $.item + $.index"},
    )
    assert (await run(doc, {"xs": [1, 2, 3]})).payload == [1, 5, 11]
    too_many = await run(doc, {"xs": [1, 2, 3, 4]})
    assert too_many.status == "failed" and "max_items" in too_many.error
    not_list = await run(doc, {"xs": "abc"})
    assert not_list.status == "failed" and "must evaluate to a list" in not_list.error
    assert (await run(doc, {"xs": []})).payload == []


async def test_delay_duration_and_until() -> None:
    doc = graph_dict(
        {"kind": "WorkflowDelay", "id": "d", "duration": "20ms", "on_success": "u"},
        {"kind": "WorkflowDelay", "id": "u", "until": "{{$.when}}"},
    )
    started = time.monotonic()
    result = await run(doc, {"when": "2000-01-01T00:00:00Z"})
    assert result.payload == {"when": "2000-01-01T00:00:00Z"}
    assert time.monotonic() - started >= 0.02
    bad = await run(doc, {"when": "tomorrow"})
    assert bad.status == "failed" and "ISO-8601" in bad.error


def test_delay_needs_one_of() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'duration' or 'until'"):
        graphflow.load_graph(graph_dict({"kind": "WorkflowDelay", "id": "d"}))


async def test_emit_event_through_the_engine_hook() -> None:
    sent: list[tuple[str, Any]] = []

    async def emit(app_id: str | None, name: str, payload: Any) -> None:
        sent.append((name, payload))

    doc = graph_dict(
        {"kind": "WorkflowEmitEvent", "id": "e", "event": "order.flagged", "payload": {"id": "{{$.id}}", "why": "big"}}
    )
    result = await run(doc, {"id": 7}, executor_args={"emit": emit})
    assert result.payload == {"id": 7}
    assert sent == [("order.flagged", {"id": 7, "why": "big"})]
    without = await run(doc, {"id": 7})
    assert without.status == "failed" and "no event bus" in without.error


async def test_end_sets_the_final_payload_and_stops() -> None:
    doc = graph_dict({"kind": "WorkflowEnd", "id": "e", "payload": {"user": "{{$.u}}", "ok": True}})
    assert (await run(doc, {"u": "usr_1"})).payload == {"user": "usr_1", "ok": True}
    with pytest.raises(ValidationError, match="no on_success"):
        graphflow.load_graph(graph_dict({"kind": "WorkflowEnd", "id": "e", "on_success": "t"}))


def child(script: str) -> dict[str, Any]:
    return {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": "child",
        "start_node": "ct",
        "nodes": [
            {"kind": "WorkflowTrigger", "id": "ct", "trigger": "workflow.invoked", "on_success": "cs"},
            {"kind": "WorkflowScript", "id": "cs", "source": script},
        ],
    }


async def test_subworkflow_runs_inline_graph() -> None:
    doc = graph_dict(
        {
            "kind": "WorkflowSubWorkflow",
            "id": "sub",
            "input": {"n": "{{$.n}}"},
            "workflow": child("println('child')\n$.n * 3"),
        }
    )
    result = await run(doc, {"n": 2})
    assert result.result == {"payload": 6, "output": ["child"]}
    failing = graph_dict({"kind": "WorkflowSubWorkflow", "id": "sub", "workflow": child("$.missing")})
    bad = await run(failing, {})
    assert bad.status == "failed" and "sub-workflow 'child' failed" in bad.error


def test_subworkflow_problems_carry_nested_paths_and_depth_is_capped() -> None:
    doc = graph_dict({"kind": "WorkflowSubWorkflow", "id": "sub", "workflow": child("1 +")})
    with pytest.raises(ValidationError) as info:
        graphflow.load_graph(doc)
    assert info.value.problems[0].path == "$.nodes[1].workflow.nodes[1].source"
    nested: dict[str, Any] = child("1")
    for _ in range(6):
        nested = {
            "kind": "WorkflowGraph",
            "version": 1,
            "name": "n",
            "start_node": "x",
            "nodes": [
                {"kind": "WorkflowTrigger", "id": "x", "trigger": "workflow.invoked", "on_success": "y"},
                {"kind": "WorkflowSubWorkflow", "id": "y", "workflow": nested},
            ],
        }
    with pytest.raises(ValidationError, match="nest deeper"):
        graphflow.load_graph(graph_dict({"kind": "WorkflowSubWorkflow", "id": "sub", "workflow": nested}))


async def test_custom_function_node_with_template_params() -> None:
    doc = graph_dict({"kind": "TestGreet", "id": "g", "name": "{{$.who}}"})
    assert (await run(doc, {"who": "ada"})).payload == "hello ada!"
    with pytest.raises(ValidationError, match="'name' is required"):
        graphflow.load_graph(graph_dict({"kind": "TestGreet", "id": "g"}))
    with pytest.raises(ValidationError, match="template does not compile"):
        graphflow.load_graph(graph_dict({"kind": "TestGreet", "id": "g", "name": "{{ 1 + }}"}))


def test_registry_contract() -> None:
    registry = NodeRegistry()
    assert "WorkflowScript" in registry.builtin_kinds()
    with pytest.raises(TypeError, match="async function"):
        graphflow.node("X")(lambda input, ctx: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already registered"):
        graphflow.node("TestGreet")(greet)  # same kind, another class
    cls = registry.get("WorkflowTrigger")
    assert cls is not None and registry.register(cls) is cls


def test_custom_node_subclass(tmp_path: Any) -> None:
    from typing import Literal

    @graphflow.register_node
    class Upper(graphflow.Node):
        kind: Literal["TestUpper"] = "TestUpper"

        async def run(self, input: Any, ctx: graphflow.NodeContext) -> Any:
            return str(input).upper()

    envelope = {"trigger": "test.run", "payload": "x"}
    result = graphflow.run_graph_sync(graph_dict({"kind": "TestUpper", "id": "u"}), envelope)
    assert result.payload == "X"


def test_builtin_kinds_are_named_by_their_classes_and_load_on_first_lookup() -> None:
    import subprocess
    import sys

    from graphflow.nodes import builtin
    from graphflow.nodes.registry import kind_of

    for kind in builtin.KINDS:
        assert kind_of(builtin.load_kind(kind)) == kind
    code = (
        "import sys, graphflow; graphflow.load_graph({'kind': 'WorkflowGraph', 'version': 1, "
        "'name': 'g', 'start_node': 't', 'nodes': [{'kind': 'WorkflowTrigger', 'id': 't', "
        "'trigger': 'x.y'}]}); print(sorted(m for m in sys.modules if m.startswith('graphflow.nodes.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['graphflow.nodes.builtin', 'graphflow.nodes.registry', 'graphflow.nodes.trigger']"
    registry = NodeRegistry()
    with pytest.raises(ValueError, match=r"already registered by graphflow\.nodes\.script\.ScriptNode"):
        registry.register(type("Shadow", (builtin.load_kind("WorkflowScript"),), {}))
