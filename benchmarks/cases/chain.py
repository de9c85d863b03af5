"""A chain of 100 no-op nodes: the engine's cost per sequential node.

graphflow runs a WorkflowTrigger + 100 ``BenchNoop`` nodes through one reused Executor; langgraph
a ``StateGraph`` of 100 sequential async nodes (``ainvoke``); pydantic-graph a ``GraphBuilder``
graph of 100 async steps (``Graph.run``, default instrumentation); the floor is 100 awaited
no-op coroutines passing a dict along.
"""

from __future__ import annotations

import itertools
from typing import Any

from benchmarks.harness import Case, deferred_async
from benchmarks.workloads import chain_graph, run_once

LENGTH = 100
PAYLOAD = {"a": 1}


def _graphflow() -> Any:
    return run_once(chain_graph(LENGTH))


def _langgraph() -> Any:
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        a: int

    async def noop(state: State) -> dict[str, Any]:
        return {"a": state["a"]}

    builder = StateGraph(State)
    previous = START
    for i in range(LENGTH):
        builder.add_node(f"n{i}", noop)
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    builder.add_edge(previous, END)
    graph = builder.compile()

    async def iteration() -> None:
        await graph.ainvoke({"a": 1})

    return iteration


def _pydantic_graph() -> Any:
    from pydantic_graph import GraphBuilder

    builder = GraphBuilder(input_type=dict, output_type=dict)

    async def noop(ctx: Any) -> dict:  # hints resolve in this module: keep them global
        return ctx.inputs

    steps = [builder.step(noop, node_id=f"s{i}") for i in range(LENGTH)]
    builder.add_edge(builder.start_node, steps[0])
    for before, after in itertools.pairwise(steps):
        builder.add_edge(before, after)
    builder.add_edge(steps[-1], builder.end_node)
    graph = builder.build()

    async def iteration() -> None:
        await graph.run(inputs=PAYLOAD)

    return iteration


async def _noop(value: Any) -> Any:
    return value


async def floor() -> None:
    value: Any = PAYLOAD
    for _ in range(LENGTH):
        value = await _noop(value)


CASES = [
    Case(
        name="chain",
        title=f"chain of {LENGTH} no-op nodes",
        unit="µs/node",
        divisor=LENGTH,
        contenders={
            "graphflow": deferred_async(_graphflow),
            "langgraph": deferred_async(_langgraph),
            "pydantic-graph": deferred_async(_pydantic_graph),
            "floor": floor,
        },
        floor=f"bare await chain ({LENGTH} no-op coroutines)",
        note="one run of the whole chain per iteration, divided by its 100 nodes",
    ),
]
