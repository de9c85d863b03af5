"""A node kind that blocks until a test opens its gate, counting the runs held at once.

Shared by the engine and scheduler tests (imported, never collected: one registration per process).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import anyio

import graphflow

GATES: defaultdict[str, anyio.Event] = defaultdict(anyio.Event)
ACTIVE = {"now": 0, "max": 0}


@graphflow.node("TestGate")
async def test_gate(input: Any, ctx: graphflow.NodeContext, *, gate: str = "main") -> Any:
    """Block until the test opens the gate, counting how many runs wait here at once."""
    ACTIVE["now"] += 1
    ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])
    try:
        await GATES[gate].wait()
    finally:
        ACTIVE["now"] -= 1
    return input


def reset_gates() -> None:
    """Close every gate and zero the counters (call before each test)."""
    GATES.clear()
    ACTIVE.update(now=0, max=0)
