"""The graphflow graphs the cases run, and the ``BenchNoop`` node kind they are made of."""

from __future__ import annotations

import functools
from typing import Any

import graphflow

__all__ = ["ENVELOPE", "TRIGGER", "bench_noop", "chain_graph", "fanout_graph", "run_once"]

TRIGGER = "bench.run"
ENVELOPE: dict[str, Any] = {"trigger": TRIGGER, "payload": {"a": 1}}


@functools.cache
def bench_noop() -> str:
    """Register the ``BenchNoop`` kind (once per process) and return its name."""

    @graphflow.node("BenchNoop", description="Returns its input: the cheapest possible node.")
    async def noop(input: Any, ctx: Any) -> Any:
        return input

    return "BenchNoop"


def chain_graph(length: int) -> dict[str, Any]:
    """A WorkflowTrigger followed by ``length`` BenchNoop nodes in a line."""
    kind = bench_noop()
    nodes: list[dict[str, Any]] = [{"kind": "WorkflowTrigger", "id": "t", "trigger": TRIGGER, "on_success": "n0"}]
    for i in range(length):
        node: dict[str, Any] = {"kind": kind, "id": f"n{i}"}
        if i + 1 < length:
            node["on_success"] = f"n{i + 1}"
        nodes.append(node)
    return {"kind": "WorkflowGraph", "version": 1, "name": f"chain{length}", "start_node": "t", "nodes": nodes}


def fanout_graph(width: int) -> dict[str, Any]:
    """WorkflowTrigger → WorkflowParallel with ``width`` branches of one BenchNoop each."""
    kind = bench_noop()
    branches = [f"b{i}" for i in range(width)]
    nodes: list[dict[str, Any]] = [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": TRIGGER, "on_success": "p"},
        {"kind": "WorkflowParallel", "id": "p", "branches": branches},
        *({"kind": kind, "id": branch} for branch in branches),
    ]
    return {"kind": "WorkflowGraph", "version": 1, "name": f"fanout{width}", "start_node": "t", "nodes": nodes}


def run_once(config: dict[str, Any]) -> Any:
    """Load ``config`` and return a zero-argument coroutine function that runs it once.

    One :class:`graphflow.Executor` is reused; a run that does not complete raises.
    """
    graph = graphflow.load_graph(config)
    executor = graphflow.Executor()
    run = executor.run

    async def iteration() -> None:
        result = await run(graph, ENVELOPE)
        if result.status != "completed":
            raise RuntimeError(f"graphflow run {result.status}: {result.error}")

    return iteration
