from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow
from graphflow.clock import FakeClock

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
    with anyio.move_on_after(timeout):
        while not await check():  # noqa: ASYNC110 - polling: no event to wait on
            await anyio.sleep(0.005)
        return
    raise AssertionError(f"{what}: not within {timeout}s")


async def parked(clock: FakeClock, count: int = 1, timeout: float = 10.0) -> None:
    """Wait until ``count`` tasks wait on ``clock`` again, so what its last jump woke has been handled.

    An engine's scheduler waits on its clock only once nothing is due: after ``await clock.set(t)``
    and ``await parked(clock)``, every fire due by ``t`` is stored and a test may assert that
    nothing more fired.
    """
    with anyio.move_on_after(timeout):
        await clock.wait_until_parked(count)
        return
    raise AssertionError(f"{count} task(s) waiting on the clock: not within {timeout}s ({clock.parked} now)")


async def quiescent(timeout: float = 10.0) -> None:
    """Wait until every other task is blocked: nothing more can happen until something wakes one.

    What a test asserts did *not* happen is checked after this, not after a sleep: if it were
    going to happen, the task doing it would not be blocked yet. Only for in-process engines
    (memory store): a task waiting on a database thread looks blocked while that work goes on,
    and psycopg's waits wake every 0.1 s, in step with anyio's own check, so they never settle.
    """
    with anyio.move_on_after(timeout):
        await anyio.wait_all_tasks_blocked()
        return
    raise AssertionError(f"the tasks did not all block within {timeout}s")
