"""One-call helpers: run a graph without managing an :class:`Executor`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from graphflow.engine.executor import Executor, RunResult
from graphflow.graph.loader import load_graph
from graphflow.graph.model import WorkflowGraph

__all__ = ["run_graph", "run_graph_sync"]


async def run_graph(
    graph: WorkflowGraph | Mapping[str, Any] | str,
    envelope: Mapping[str, Any],
    *,
    env: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Load ``graph`` if needed and run it once for ``envelope``.

    Raises:
        ValidationError: the graph or the envelope is invalid; nothing ran.
    """
    loaded = load_graph(graph)
    return await (executor or Executor()).run(loaded, envelope, env=env, timeout=timeout)


def run_graph_sync(
    graph: WorkflowGraph | Mapping[str, Any] | str,
    envelope: Mapping[str, Any],
    *,
    env: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> RunResult:
    """Blocking twin of :func:`run_graph`, for code without an event loop."""
    return anyio.run(lambda: run_graph(graph, envelope, env=env, timeout=timeout))
