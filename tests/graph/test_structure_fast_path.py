"""The hand-written structure checks agree with networkx (see graphflow/graph/validation.py).

``reference_check_structure`` is the all-networkx version that validation used before the fast
path (kept verbatim as the oracle): on generated graphs, valid or broken, both must report the
same problems in the same order.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence, Set
from typing import Any

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphflow.exceptions import Problem
from graphflow.graph import validation
from graphflow.graph.model import Node, WorkflowGraph
from graphflow.graph.validation import check_structure
from graphflow.nodes.registry import default_registry
from tests.graph.test_generated import MUTATIONS, valid_graphs


def reference_check_structure(
    graph: WorkflowGraph, positions: Sequence[int], *, unbuilt: Set[str] = frozenset()
) -> list[Problem]:
    problems: list[Problem] = []
    ids: dict[str, int] = {}
    for index, node in zip(positions, graph.nodes, strict=True):
        if node.id in ids:
            problems.append(
                Problem(
                    f"$.nodes[{index}].id",
                    f"duplicate node id {node.id!r}",
                    f"node ids must be unique; $.nodes[{ids[node.id]}] has it too",
                    node.id,
                )
            )
        else:
            ids[node.id] = index

    def path(index: int, field: str) -> str:
        return f"$.nodes[{index}].{field}"

    start = graph.node_map.get(graph.start_node)
    if start is None and graph.start_node in unbuilt:
        pass
    elif start is None:
        problems.append(
            Problem(
                "$.start_node",
                f"start_node {graph.start_node!r} is not a node",
                f"node ids are: {', '.join(ids) or 'none'}",
            )
        )
    elif not start.is_trigger:
        problems.append(
            Problem(
                "$.start_node",
                f"start node {start.id!r} is a {start.kind}, not a trigger",
                "point start_node at a WorkflowTrigger node",
            )
        )

    digraph = nx.DiGraph()
    digraph.add_nodes_from(ids)
    region_entries: list[tuple[str, str]] = []
    for index, node in zip(positions, graph.nodes, strict=True):
        for field, target in node.edges():
            if target in unbuilt:
                continue
            if target not in ids:
                problems.append(validation._dangling(path(index, field), target, ids, node.id))
            else:
                digraph.add_edge(node.id, target)
                if graph.node_map[target].is_trigger:
                    problems.append(
                        Problem(
                            path(index, field),
                            f"edge to trigger node {target!r}",
                            "trigger nodes are entry points; nothing may lead to them",
                            node.id,
                        )
                    )
        for field, entry in node.children():
            if entry in unbuilt:
                continue
            if entry not in ids:
                problems.append(validation._dangling(path(index, field), entry, ids, node.id))
            else:
                region_entries.append((f"{field} of {node.id!r}", entry))
                if graph.node_map[entry].is_trigger:
                    problems.append(
                        Problem(
                            path(index, field),
                            f"{entry!r} is a trigger node",
                            "a branch or body starts at an ordinary node",
                            node.id,
                        )
                    )
        if node.is_terminal and node.on_success is not None:
            problems.append(
                Problem(path(index, "on_success"), f"{node.kind} ends its chain", "remove on_success", node.id)
            )

    for cycle in validation._cycles(nx, digraph):
        first = cycle[0]
        problems.append(
            Problem(
                path(ids[first], "on_success"),
                f"cycle: {' -> '.join([*cycle, first])}",
                "graphs are acyclic; repeat work with a WorkflowMap node instead of a loop of edges",
                first,
            )
        )

    owner: dict[str, str] = {}
    triggers = [n.id for n in graph.nodes if n.is_trigger]
    regions: list[tuple[str, list[str]]] = [("the main flow", triggers)]
    regions += [(label, [entry]) for label, entry in region_entries]
    for label, roots in regions:
        members: set[str] = set()
        for root in roots:
            members.add(root)
            members.update(nx.descendants(digraph, root))
        for member in sorted(members, key=lambda m: ids[m]):
            if member in owner and owner[member] != label:
                problems.append(
                    Problem(
                        f"$.nodes[{ids[member]}]",
                        f"node {member!r} is reached from both {owner[member]} and {label}",
                        "a branch or map body must end (a node without on_success) before the flow "
                        "continues; the parallel/map node's on_success continues after the join",
                        member,
                    )
                )
            else:
                owner.setdefault(member, label)
    for node_id, index in ids.items():
        if node_id not in owner and not unbuilt:
            problems.append(
                Problem(
                    f"$.nodes[{index}]",
                    f"node {node_id!r} is unreachable",
                    "connect it with on_success/on_failure (or a branch), or remove it",
                    node_id,
                )
            )
    return problems


def structure_input(doc: dict[str, Any]) -> tuple[WorkflowGraph, list[int], set[str]]:
    """What the loader hands check_structure: built nodes, their positions, ids of unbuilt nodes."""
    nodes: list[Node] = []
    positions: list[int] = []
    unbuilt: set[str] = set()
    for index, raw in enumerate(doc["nodes"]):
        cls = default_registry.get(raw.get("kind", ""))
        try:
            assert cls is not None
            node = cls.model_validate(raw)
        except Exception:
            if isinstance(raw.get("id"), str):
                unbuilt.add(raw["id"])
            continue
        nodes.append(node)
        positions.append(index)
    unbuilt -= {node.id for node in nodes}
    graph = WorkflowGraph.model_construct(name="g", start_node=doc["start_node"], nodes=tuple(nodes))
    return graph, positions, unbuilt


def assert_same_problems(doc: dict[str, Any], extra_unbuilt: Set[str] = frozenset()) -> None:
    graph, positions, unbuilt = structure_input(doc)
    unbuilt |= extra_unbuilt
    assert check_structure(graph, positions, unbuilt=unbuilt) == reference_check_structure(
        graph, positions, unbuilt=unbuilt
    )


IDS = ["t", "u", "a", "b", "c", "d", "e", "f"]
TARGETS = st.sampled_from([*IDS, "ghost"])


@st.composite
def arbitrary_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Any wiring of a few nodes: cycles, dangling edges, duplicates, shared branches, orphans."""
    nodes: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from(["trigger", "script", "condition", "parallel", "map", "end", "bad"]))
        node: dict[str, Any] = {"id": draw(st.sampled_from(IDS))}
        if kind == "trigger":
            node |= {"kind": "WorkflowTrigger", "trigger": "gen.run"}
        elif kind == "script":
            node |= {"kind": "WorkflowScript", "source": "$"}
        elif kind == "condition":
            node |= {"kind": "WorkflowCondition", "condition": "true"}
            for edge in ("on_true", "on_false"):
                if draw(st.booleans()):
                    node[edge] = draw(TARGETS)
        elif kind == "parallel":
            node |= {"kind": "WorkflowParallel", "branches": draw(st.lists(TARGETS, min_size=1, max_size=3))}
        elif kind == "map":
            node |= {"kind": "WorkflowMap", "items": "{{[1]}}", "body": draw(TARGETS)}
        elif kind == "end":
            node |= {"kind": "WorkflowEnd"}
        else:
            node |= {"kind": "WorkflowScript"}  # no source: fails its own checks (unbuilt)
        if kind != "condition" and draw(st.booleans()):
            node["on_success"] = draw(TARGETS)
        if draw(st.integers(0, 3)) == 0:
            node["on_failure"] = draw(TARGETS)
        nodes.append(node)
    start = draw(st.sampled_from([*IDS, "ghost"]))
    return {"kind": "WorkflowGraph", "version": 1, "name": "g", "start_node": start, "nodes": nodes}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arbitrary_graphs(), st.sets(st.sampled_from(IDS), max_size=2) | st.just(set()))
def test_fast_path_reports_what_networkx_reports(doc: dict[str, Any], extra: set[str]) -> None:
    assert_same_problems(doc)
    assert_same_problems(doc, extra)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_graphs(), st.sampled_from([("none", lambda d: None), *MUTATIONS]))
def test_fast_path_agrees_on_generated_and_mutated_graphs(doc: dict[str, Any], mutation: Any) -> None:
    broken = copy.deepcopy(doc)
    mutation[1](broken)
    if (
        isinstance(broken.get("nodes"), list)
        and isinstance(broken.get("start_node"), str)
        and all(isinstance(raw, dict) for raw in broken["nodes"])
    ):
        assert_same_problems(broken)


EDGES = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20)


@settings(max_examples=500, deadline=None)
@given(EDGES)
def test_kahn_and_search_agree_with_networkx(edges: list[tuple[int, int]]) -> None:
    nodes = [str(i) for i in range(8)]
    successors: dict[str, dict[str, None]] = {n: {} for n in nodes}
    digraph = nx.DiGraph()
    digraph.add_nodes_from(nodes)
    for u, v in edges:
        successors[str(u)][str(v)] = None
        digraph.add_edge(str(u), str(v))
    assert validation._acyclic(successors) == nx.is_directed_acyclic_graph(digraph)
    for root in nodes:
        assert validation._reachable(successors, root) == {root} | nx.descendants(digraph, root)
