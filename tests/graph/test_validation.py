from __future__ import annotations

from typing import Any

import pytest

import graphflow
from graphflow.exceptions import ValidationError
from tests.conftest import graph_dict


def problems(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        graphflow.load_graph(doc)
    assert info.value.code == "validation_error"
    return [(p.path, p.message) for p in info.value.problems]


def test_every_problem_is_reported_at_once() -> None:
    doc = graph_dict(
        {"kind": "WorkflowScript", "id": "a", "source": "1 +", "on_success": "nowhere"},
        {"kind": "WorkflowScript", "id": "a", "script": "missing-data"},
        {"kind": "WorkflowSript", "id": "c"},
        {"kind": "WorkflowEnd", "id": "orphan"},
        {"kind": "WorkflowDelay", "id": "d", "duration": "soon", "colour": 1},
    )
    found = problems(doc)
    paths = [p for p, _ in found]
    text = " | ".join(m for _, m in found)
    assert "$.nodes[1].on_success" in paths and "unknown node 'nowhere'" in text
    assert "$.nodes[2].id" in paths and "duplicate node id 'a'" in text
    assert "$.nodes[3].kind" in paths and "unknown node kind 'WorkflowSript'" in text
    assert "$.nodes[5].duration" in paths
    assert "$.nodes[5].colour" in paths and "unknown field 'colour'" in text


def test_kind_typo_gets_a_did_you_mean() -> None:
    doc = graph_dict({"kind": "WorkflowSript", "id": "c"})
    with pytest.raises(ValidationError) as info:
        graphflow.load_graph(doc)
    assert "did you mean 'WorkflowScript'" in info.value.problems[0].hint


def test_script_errors_name_the_node() -> None:
    doc = graph_dict({"kind": "WorkflowScript", "id": "calc", "source": "$.a +"})
    with pytest.raises(ValidationError) as info:
        graphflow.load_graph(doc)
    (problem,) = info.value.problems
    assert problem.node_id == "calc"
    assert problem.path == "$.nodes[1].source"
    assert "does not compile" in problem.message


def test_unresolved_data_reference() -> None:
    doc = graph_dict(
        {"kind": "WorkflowScript", "id": "s", "script": "nope"},
        data=[{"kind": "Script", "id": "yes", "script": "true"}],
    )
    ((path, message),) = problems(doc)
    assert path == "$.nodes[1].script" and "no data resource with id 'nope'" in message


def test_start_node_must_exist_and_be_a_trigger() -> None:
    doc = graph_dict({"kind": "WorkflowEnd", "id": "e"})
    doc["start_node"] = "e"
    assert ("$.start_node", "start node 'e' is a WorkflowEnd, not a trigger") in problems(doc)
    doc["start_node"] = "zzz"
    assert any(p == "$.start_node" and "not a node" in m for p, m in problems(doc))


def test_cycles_are_refused_with_the_loop_named() -> None:
    doc = graph_dict(
        {"kind": "WorkflowScript", "id": "a", "source": "1", "on_success": "b"},
        {"kind": "WorkflowScript", "id": "b", "source": "2", "on_success": "a"},
    )
    messages = [m for _, m in problems(doc)]
    assert any(m.startswith("cycle: a -> b -> a") for m in messages)


def test_unreachable_nodes_are_reported() -> None:
    doc = graph_dict({"kind": "WorkflowEnd", "id": "e"}, {"kind": "WorkflowEnd", "id": "lonely"})
    assert ("$.nodes[2]", "node 'lonely' is unreachable") in problems(doc)


def test_branches_must_not_run_into_the_main_flow() -> None:
    doc = graph_dict(
        {"kind": "WorkflowParallel", "id": "p", "branches": ["a"], "on_success": "after"},
        {"kind": "WorkflowScript", "id": "a", "source": "1", "on_success": "after"},
        {"kind": "WorkflowEnd", "id": "after"},
    )
    assert any("reached from both" in m for _, m in problems(doc))


def test_edges_into_triggers_are_refused() -> None:
    doc = graph_dict({"kind": "WorkflowScript", "id": "a", "source": "1", "on_success": "t"})
    messages = [m for _, m in problems(doc)]
    assert "edge to trigger node 't'" in messages


def test_header_problems() -> None:
    found = problems({"kind": "Graph", "version": 1, "nodes": [], "nmae": "x"})
    paths = {p for p, _ in found}
    assert {"$.kind", "$.name", "$.start_node", "$.nodes", "$.nmae"} <= paths


def test_require_trigger_lists_the_trigger_nodes(examples_dir: Any) -> None:
    graph = graphflow.load_graph(examples_dir / "archastro-sample.json")
    graphflow.require_trigger(graph, "workflow.scheduled")
    with pytest.raises(ValidationError) as info:
        graphflow.require_trigger(graph, "thread.member_joined")
    assert "trigger_1 (workflow.scheduled)" in info.value.problems[0].hint


def test_several_trigger_nodes_each_start_their_event() -> None:
    doc = graph_dict({"kind": "WorkflowEnd", "id": "e1", "payload": "one"})
    doc["nodes"] += [
        {"kind": "WorkflowTrigger", "id": "t2", "trigger": "other.event", "on_success": "e2"},
        {"kind": "WorkflowEnd", "id": "e2", "payload": "two"},
    ]
    graph = graphflow.load_graph(doc)
    assert graph.trigger_for("test.run").id == "t"
    assert graph.trigger_for("other.event").id == "t2"
