from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import graphflow

EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "examples"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    assert EXAMPLES.is_dir(), f"../shared/examples not found at {EXAMPLES}"
    return EXAMPLES


def graph_dict(
    *nodes: dict[str, Any], trigger: str = "test.run", data: list[Any] | None = None, name: str = "g"
) -> dict[str, Any]:
    """A graph whose trigger node 't' leads to the first of ``nodes``."""
    first = nodes[0]["id"] if nodes else None
    trig: dict[str, Any] = {"kind": "WorkflowTrigger", "id": "t", "trigger": trigger}
    if first:
        trig["on_success"] = first
    out: dict[str, Any] = {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": name,
        "start_node": "t",
        "nodes": [trig, *copy.deepcopy(list(nodes))],
    }
    if data is not None:
        out["data"] = data
    return out


async def run(graph: Any, payload: Any = None, *, trigger: str = "test.run", **kwargs: Any) -> graphflow.RunResult:
    loaded = graphflow.load_graph(graph)
    executor = kwargs.pop("executor", None) or graphflow.Executor(**kwargs.pop("executor_args", {}))
    return await executor.run(loaded, {"trigger": trigger, "payload": payload if payload is not None else {}}, **kwargs)


async def eventually(check: Any, what: str = "the condition", timeout: float = 10.0) -> None:
    """Await ``check()`` until it is true; fail after ``timeout`` seconds saying ``what`` never happened.

    Tests poll because the engine announces no event for every state a test waits for.
    """
    import anyio

    with anyio.move_on_after(timeout):
        while not await check():  # noqa: ASYNC110 - polling: no event to wait on
            await anyio.sleep(0.005)
        return
    raise AssertionError(f"{what}: not within {timeout}s")
