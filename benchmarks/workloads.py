"""The graphflow graphs the cases run, and the ``BenchNoop`` node kind they are made of."""

from __future__ import annotations

import functools
import os
import secrets
from typing import Any

import graphflow

__all__ = [
    "ENVELOPE",
    "POSTGRES_DSN",
    "TRIGGER",
    "bench_noop",
    "chain_graph",
    "drop_postgres_schema",
    "fanout_graph",
    "new_postgres_schema",
    "run_once",
    "three_node_graph",
]

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


def three_node_graph(trigger: str = "thread.created") -> dict[str, Any]:
    """The "events → completed runs" graph: a trigger and two scripts (the thread id, then its length)."""
    return {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": "three",
        "start_node": "t",
        "nodes": [
            {"kind": "WorkflowTrigger", "id": "t", "trigger": trigger, "on_success": "a"},
            {"kind": "WorkflowScript", "id": "a", "source": "$.thread_id", "on_success": "b"},
            {"kind": "WorkflowScript", "id": "b", "source": "size($)"},
        ],
    }


#: The benchmark server: ``GRAPHFLOW_BENCH_POSTGRES_DSN``, else the tests' DSN, else the local ``test`` database.
POSTGRES_DSN = (
    os.environ.get("GRAPHFLOW_BENCH_POSTGRES_DSN")
    or os.environ.get("GRAPHFLOW_TEST_POSTGRES_DSN")
    or "postgresql://postgres@127.0.0.1:5432/test"
)


def new_postgres_schema(prefix: str) -> tuple[str, str]:
    """A fresh schema ``<prefix>_<random>`` on the benchmark server: (store URL, schema).

    Raises:
        psycopg.Error: the server cannot be reached.
    """
    import psycopg
    from psycopg import sql

    schema = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_DSN, connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{POSTGRES_DSN}{'&' if '?' in POSTGRES_DSN else '?'}schema={schema}", schema


def drop_postgres_schema(schema: str) -> None:
    """Drop a schema :func:`new_postgres_schema` made, with everything in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
