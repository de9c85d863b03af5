"""Fan-out 1 → N → join: the cost of a parallel branch.

graphflow runs WorkflowTrigger → WorkflowParallel whose branches are one ``BenchNoop`` each (the
join is the parallel node itself); langgraph a source node with an edge to each branch node and
one edge from all of them to a join node (a list reducer collects the branches' writes);
pydantic-graph a source step broadcast to N steps joined by ``reduce_list_append``; the floor is
an ``asyncio.TaskGroup`` of N no-op tasks.

Two rows: the cost per branch of the 50-wide run, and the *marginal* cost of one more branch,
``(t50 - t1) / 49``, which removes each engine's fixed cost per run.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

from benchmarks.harness import Case, Iteration, deferred_async
from benchmarks.workloads import fanout_graph, run_once

WIDE = 50
PAYLOAD = {"a": 1}


def _graphflow(width: int) -> Any:
    return run_once(fanout_graph(width))


def _langgraph(width: int) -> Any:
    from langgraph.graph import END, START, StateGraph

    # langgraph resolves these annotations in this module's globals.
    class State(TypedDict):
        a: int
        hits: Annotated[list[int], operator.add]

    async def source(state: State) -> dict[str, Any]:
        return {}

    async def branch(state: State) -> dict[str, Any]:
        return {"hits": [state["a"]]}

    async def join(state: State) -> dict[str, Any]:
        return {}

    builder = StateGraph(State)
    builder.add_node("source", source)
    builder.add_edge(START, "source")
    names = [f"b{i}" for i in range(width)]
    for name in names:
        builder.add_node(name, branch)
        builder.add_edge("source", name)
    builder.add_node("join", join)
    builder.add_edge(names, "join")
    builder.add_edge("join", END)
    graph = builder.compile()

    async def iteration() -> None:
        await graph.ainvoke({"a": 1, "hits": []})

    return iteration


def _pydantic_graph(width: int) -> Any:
    from pydantic_graph import GraphBuilder, reduce_list_append

    builder = GraphBuilder(input_type=dict, output_type=list)

    async def noop(ctx: Any) -> dict:  # hints resolve in this module: keep them global
        return ctx.inputs

    source = builder.step(noop, node_id="source")
    branches = [builder.step(noop, node_id=f"b{i}") for i in range(width)]
    join = builder.join(reduce_list_append, initial_factory=list, node_id="join")
    builder.add_edge(builder.start_node, source)
    builder.add(builder.edge_from(source).to(*branches))
    for branch in branches:
        builder.add_edge(branch, join)
    builder.add_edge(join, builder.end_node)
    graph = builder.build()

    async def iteration() -> None:
        await graph.run(inputs=PAYLOAD)

    return iteration


async def _noop(value: Any) -> Any:
    return value


def _floor(width: int) -> Iteration:
    async def iteration() -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(width):
                group.create_task(_noop(PAYLOAD))

    return iteration


def _contenders(width: int) -> dict[str, Iteration]:
    return {
        "graphflow": deferred_async(lambda: _graphflow(width)),
        "langgraph": deferred_async(lambda: _langgraph(width)),
        "pydantic-graph": deferred_async(lambda: _pydantic_graph(width)),
        "floor": _floor(width),
    }


_WIDE = _contenders(WIDE)
_ONE = _contenders(1)
_FLOOR = f"asyncio.TaskGroup of {WIDE} no-op tasks"

CASES = [
    Case(
        name="fanout",
        title=f"fan-out 1→{WIDE}→join",
        unit="µs/branch",
        divisor=WIDE,
        contenders=_WIDE,
        floor=_FLOOR,
        note=f"one whole run per iteration, divided by its {WIDE} branches",
    ),
    Case(
        name="fanout-marginal",
        title="fan-out: one more branch",
        unit="µs/branch",
        divisor=WIDE - 1,
        contenders=_WIDE,
        baseline=_ONE,
        floor=f"{_FLOOR} minus 1 task",
        note=f"(t{WIDE} - t1) / {WIDE - 1}: the marginal branch, without the per-run cost",
    ),
]
