"""Property tests: generated valid graphs run; generated mutations fail validation cleanly."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import anyio
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphflow
from graphflow.exceptions import ValidationError

SCHEMA = graphflow.graph_schema()


@st.composite
def valid_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """A chain of scripts/conditions/parallels/maps ending in an end node."""
    length = draw(st.integers(1, 8))
    nodes: list[dict[str, Any]] = [{"kind": "WorkflowTrigger", "id": "t", "trigger": "gen.run"}]
    prev = nodes[0]
    for i in range(length):
        kind = draw(st.sampled_from(["script", "condition", "parallel", "map", "end_payload"]))
        nid = f"n{i}"
        if kind == "script":
            node = {
                "kind": "WorkflowScript",
                "id": nid,
                "source": draw(st.sampled_from(["$", "{'v': 1}", "[1, 2]", "println('x')", "let a = 1\na + 1"])),
            }
        elif kind == "condition":
            condition = draw(st.sampled_from(["true", "false", "1 < 2"]))
            node = {"kind": "WorkflowCondition", "id": nid, "condition": condition}
        elif kind == "parallel":
            count = draw(st.integers(1, 4))
            branches = [f"{nid}b{j}" for j in range(count)]
            node = {"kind": "WorkflowParallel", "id": nid, "branches": branches}
            nodes.extend({"kind": "WorkflowScript", "id": b, "source": f"'{b}'"} for b in branches)
        elif kind == "map":
            node = {
                "kind": "WorkflowMap",
                "id": nid,
                "items": "{{[1, 2, 3]}}",
                "body": f"{nid}body",
                "concurrency": draw(st.integers(1, 4)),
            }
            nodes.append({"kind": "WorkflowScript", "id": f"{nid}body", "source": "$.item"})
        else:
            node = {"kind": "WorkflowScript", "id": nid, "source": "$"}
        edge = "on_true" if prev["kind"] == "WorkflowCondition" else "on_success"
        prev[edge] = nid
        if prev["kind"] == "WorkflowCondition":
            prev["on_false"] = nid
        nodes.append(node)
        prev = node
    if prev["kind"] == "WorkflowCondition":
        prev["on_true"] = prev["on_false"] = "end"
    else:
        prev["on_success"] = "end"
    nodes.append({"kind": "WorkflowEnd", "id": "end"})
    return {"kind": "WorkflowGraph", "version": 1, "name": "generated", "start_node": "t", "nodes": nodes}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_graphs(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
def test_generated_valid_graphs_validate_and_run(doc: dict[str, Any], payload: dict[str, int]) -> None:
    jsonschema.validate(doc, SCHEMA)
    graph = graphflow.load_graph(doc)
    result = anyio.run(graphflow.Executor().run, graph, {"trigger": "gen.run", "payload": payload})
    assert result.status == "completed", result.error
    completed = [e.node_id for e in result.journal if e.type == "node_completed"]
    assert completed[0] == "t" and completed[-1] == "end"


MUTATIONS = [
    ("drop start", lambda d: d.pop("start_node")),
    ("bad kind", lambda d: d["nodes"][-1].update(kind="Nope")),
    ("dangling", lambda d: d["nodes"][0].update(on_success="ghost")),
    ("dup id", lambda d: d["nodes"].append(copy.deepcopy(d["nodes"][-1]))),
    ("cycle", lambda d: d["nodes"][-1].update(kind="WorkflowScript", source="1", on_success=d["nodes"][1]["id"])),
    ("extra field", lambda d: d["nodes"][-1].update(bogus=1)),
    ("bad script", lambda d: d["nodes"].insert(1, {"kind": "WorkflowScript", "id": "zz", "source": "1 +"})),
    ("wrong type", lambda d: d["nodes"][0].update(trigger=5)),
    ("bad version", lambda d: d.update(version="one")),
    ("nodes not list", lambda d: d.update(nodes={"a": 1})),
    ("node not object", lambda d: d["nodes"].append("x")),
    ("orphan", lambda d: d["nodes"].append({"kind": "WorkflowEnd", "id": "lonely"})),
    ("start not trigger", lambda d: d.update(start_node="end")),
    ("bad data", lambda d: d.update(data=[{"kind": "Script"}])),
]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_graphs(), st.sampled_from(MUTATIONS))
def test_mutations_fail_validation_with_a_path(doc: dict[str, Any], mutation: Any) -> None:
    name, mutate = mutation
    broken = copy.deepcopy(doc)
    mutate(broken)
    with pytest.raises(ValidationError) as info:
        graphflow.load_graph(broken)
    assert info.value.problems, name
    assert all(p.path.startswith("$") for p in info.value.problems), name


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_documents_raise_only_validation_errors(doc: Any) -> None:
    with contextlib.suppress(ValidationError):
        graphflow.load_graph(doc if not isinstance(doc, str) else json.dumps(doc))


def test_schema_and_model_agree_on_the_examples(examples_dir: Any) -> None:
    for path in examples_dir.glob("*.json"):
        jsonschema.validate(json.loads(path.read_text()), SCHEMA)
        graphflow.load_graph(path)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_graphs(),
    st.sampled_from(
        [
            m
            for m in MUTATIONS
            if m[0]
            in (
                "bad kind",
                "extra field",
                "wrong type",
                "bad version",
                "drop start",
                "nodes not list",
                "node not object",
                "bad data",
            )
        ]
    ),
)
def test_schema_rejects_what_the_model_rejects(doc: dict[str, Any], mutation: Any) -> None:
    broken = copy.deepcopy(doc)
    mutation[1](broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
