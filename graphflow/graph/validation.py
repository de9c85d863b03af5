"""Structural checks of a graph: ids, edges, start node, regions, cycles, reachability.

Every check reports all of its problems (with JSON paths) instead of stopping at the first.

Regions: the main flow is everything reachable from the trigger nodes through edges; every
parallel branch and map body is its own region (a chain that ends where a node has no
successor). A node may belong to one region only, so a branch cannot run on into the main
flow, and loops exist only through ``WorkflowMap``: edges must form no cycle.

Why part of this is hand-written: every ``load_graph`` runs these checks, and importing networkx
costs ~80 ms, more than the rest of a first load. What every graph needs is two linear walks over
its edges: a Kahn topological sort (is there any cycle?) and a search from each region's roots
(what do they reach? the same set as ``networkx.descendants`` plus the root). networkx is
imported only when the sort finds a cycle, to report one representative cycle per strongly
connected component as it always has. ``tests/graph/test_structure_fast_path.py`` checks, on
generated graphs, that the problems are exactly those of the all-networkx version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set

from graphflow.exceptions import Problem, ValidationError
from graphflow.graph.model import WorkflowGraph
from graphflow.graph.suggest import close_match

__all__ = ["check_structure", "has_trigger_for", "no_trigger_problem", "require_trigger"]


def check_structure(
    graph: WorkflowGraph, positions: Sequence[int], *, unbuilt: Set[str] = frozenset()
) -> list[Problem]:
    """Return every structural problem of ``graph``.

    Args:
        graph: the graph (possibly missing nodes that failed their own checks).
        positions: each node's index in the config's ``nodes`` list (``graph.nodes`` leaves out
            the nodes that failed their own checks), for problem paths.
        unbuilt: ids of nodes that failed their own checks: edges to them are not dangling,
            and reachability is not judged (their edges are unknown).
    """
    problems: list[Problem] = []
    ids: dict[str, int] = {}  # id → the config index of the first node with it
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

    # Successors as ordered sets, and every edge in the order networkx would have been given it.
    successors: dict[str, dict[str, None]] = {node_id: {} for node_id in ids}
    edges: list[tuple[str, str]] = []
    region_entries: list[tuple[str, str]] = []  # (label, entry id)
    for index, node in zip(positions, graph.nodes, strict=True):
        for field, target in node.edges():
            if target in unbuilt:
                continue
            if target not in ids:
                problems.append(_dangling(path(index, field), target, ids, node.id))
            else:
                edges.append((node.id, target))
                successors[node.id][target] = None
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
                problems.append(_dangling(path(index, field), entry, ids, node.id))
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

    if not _acyclic(successors):
        problems.extend(_cycle_problems(ids, edges, lambda node_id, field: path(ids[node_id], field)))

    owner: dict[str, str] = {}
    triggers = [n.id for n in graph.nodes if n.is_trigger]
    regions: list[tuple[str, list[str]]] = [("the main flow", triggers)]
    regions += [(label, [entry]) for label, entry in region_entries]
    for label, roots in regions:
        members: set[str] = set()
        for root in roots:
            members.update(_reachable(successors, root))
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


def has_trigger_for(graph: WorkflowGraph, event: str) -> bool:
    """Whether ``graph`` has a trigger node whose ``trigger`` equals ``event``."""
    return graph.trigger_for(event) is not None


def _dangling(where: str, target: str, ids: Mapping[str, int], node_id: str) -> Problem:
    close = close_match(target, ids)
    hint = f"did you mean {close!r}?" if close else f"node ids are: {', '.join(ids)}"
    return Problem(where, f"edge to unknown node {target!r}", hint, node_id)


def _acyclic(successors: Mapping[str, Iterable[str]]) -> bool:
    """Whether the graph has no cycle (self-loops included): Kahn's topological sort."""
    indegree = dict.fromkeys(successors, 0)
    for targets in successors.values():
        for target in targets:
            indegree[target] += 1
    ready = [node_id for node_id, degree in indegree.items() if degree == 0]
    sorted_count = 0
    while ready:
        sorted_count += 1
        for target in successors[ready.pop()]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    return sorted_count == len(indegree)


def _reachable(successors: Mapping[str, Iterable[str]], root: str) -> set[str]:
    """``root`` and every node a path of edges leads to from it."""
    seen = {root}
    stack = [root]
    while stack:
        for target in successors[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _cycle_problems(
    ids: Iterable[str], edges: Sequence[tuple[str, str]], path: Callable[[str, str], str]
) -> list[Problem]:
    """One problem per strongly connected component with a cycle, reported with networkx."""
    import networkx as nx

    digraph = nx.DiGraph()
    digraph.add_nodes_from(ids)
    digraph.add_edges_from(edges)
    problems = []
    for cycle in _cycles(nx, digraph):
        first = cycle[0]
        problems.append(
            Problem(
                path(first, "on_success"),
                f"cycle: {' -> '.join([*cycle, first])}",
                "graphs are acyclic; repeat work with a WorkflowMap node instead of a loop of edges",
                first,
            )
        )
    return problems


def _cycles(nx: object, digraph: object) -> list[list[str]]:
    """One representative cycle per strongly connected component that has one."""
    out: list[list[str]] = []
    for component in nx.strongly_connected_components(digraph):  # type: ignore[attr-defined]
        members = sorted(component)
        if len(members) == 1 and not digraph.has_edge(members[0], members[0]):  # type: ignore[attr-defined]
            continue
        sub = digraph.subgraph(component)  # type: ignore[attr-defined]
        edges = nx.find_cycle(sub, source=members[0])  # type: ignore[attr-defined]
        out.append([u for u, _ in edges])
    return out


def require_trigger(graph: WorkflowGraph, event: str) -> None:
    """Check that ``graph`` can start on ``event`` (what activation checks).

    Raises:
        ValidationError: the graph has no trigger node for ``event``; the message lists the
            trigger nodes it does have.
    """
    if graph.trigger_for(event) is None:
        raise ValidationError([no_trigger_problem(graph, event)], subject=f"graph {graph.name!r}")


def no_trigger_problem(graph: WorkflowGraph, event: str) -> Problem:
    """The problem reported when ``graph`` has no trigger node for ``event``."""
    triggers = [f"{n.id} ({getattr(n, 'trigger', '?')})" for n in graph.trigger_nodes()]
    return Problem(
        "$.trigger",
        f"graph {graph.name!r} has no trigger node for event {event!r}",
        f"its trigger nodes are: {', '.join(triggers) or 'none'}; add a WorkflowTrigger node with trigger: {event}",
    )
