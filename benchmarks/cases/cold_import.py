"""Cold import and first use, each in a fresh interpreter (``sys.executable -c CODE``).

Each iteration starts one interpreter (a repeat holds as many as fit in ~0.3 s, at least one;
the contenders take turns); the floor is ``python -c pass``, and the *net* figure is the raw
time minus that floor: what the import itself costs. "First use" also builds something:
graphflow loads a small graph (the ArchAstro sample: a trigger and a script node), langgraph
compiles a one-node ``StateGraph``, pydantic-graph builds a one-step graph, APScheduler adds a
cron job to an ``AsyncIOScheduler`` that is not started.

Child interpreters keep their bytecode caches under a ``PYTHONPYCACHEPREFIX`` in the temp dir
(and ignore ``PYTHONDONTWRITEBYTECODE``): every package, graphflow's editable sources included,
then loads from ``.pyc`` as an installed package would, once the warm-up run has filled it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

from benchmarks.harness import Case, Iteration

SAMPLE = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "My Workflow",
    "start_node": "trigger_1",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "trigger_1", "trigger": "workflow.scheduled", "on_success": "script_1"},
        {"kind": "WorkflowScript", "id": "script_1", "script": "default-script"},
    ],
    "data": [{"kind": "Script", "id": "default-script", "script": "true"}],
}

_LANGGRAPH_BUILD = """\
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
class State(TypedDict):
    a: int
builder = StateGraph(State)
builder.add_node("n", lambda state: state)
builder.add_edge(START, "n")
builder.add_edge("n", END)
builder.compile()
"""

_PYDANTIC_GRAPH_BUILD = """\
from pydantic_graph import GraphBuilder
builder = GraphBuilder(input_type=dict, output_type=dict)
async def noop(ctx):
    return ctx.inputs
step = builder.step(noop, node_id="s")
builder.add_edge(builder.start_node, step)
builder.add_edge(step, builder.end_node)
builder.build()
"""

_APSCHEDULER_BUILD = """\
from apscheduler.schedulers.asyncio import AsyncIOScheduler
AsyncIOScheduler().add_job(print, "cron", minute="*/5")
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "graphflow-bench-pycache")
    return env


def interpreter(code: str, needs: str | None = None) -> Iteration:
    """An iteration that runs ``code`` in a fresh ``sys.executable`` (not a pyenv shim).

    Raises ModuleNotFoundError (an "n/a" cell) when the top-level package ``needs`` is absent.
    """

    env = _child_env()

    def iteration() -> None:
        if needs is not None and importlib.util.find_spec(needs) is None:
            raise ModuleNotFoundError(f"No module named {needs!r}")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise RuntimeError(f"exit {done.returncode}: {tail[0]}")

    return iteration


_PASS = interpreter("pass")

CASES = [
    Case(
        name="import",
        title="cold import",
        unit="ms",
        divisor=1,
        contenders={
            "graphflow": interpreter("import graphflow"),
            "langgraph": interpreter("import langgraph.graph", "langgraph"),
            "pydantic-graph": interpreter("import pydantic_graph", "pydantic_graph"),
            "apscheduler": interpreter("import apscheduler.schedulers.asyncio", "apscheduler"),
            "floor": _PASS,
        },
        floor="python -c pass",
        interleave=True,
        net_of_floor=True,
        note="a fresh interpreter per iteration; cells show raw (net = raw - `python -c pass`)",
    ),
    Case(
        name="first-use",
        title="cold import + first graph",
        unit="ms",
        divisor=1,
        contenders={
            "graphflow": interpreter(f"import graphflow\ngraphflow.load_graph({json.dumps(SAMPLE)})"),
            "langgraph": interpreter(_LANGGRAPH_BUILD, "langgraph"),
            "pydantic-graph": interpreter(_PYDANTIC_GRAPH_BUILD, "pydantic_graph"),
            "apscheduler": interpreter(_APSCHEDULER_BUILD, "apscheduler"),
            "floor": _PASS,
        },
        floor="python -c pass",
        interleave=True,
        net_of_floor=True,
        note="import + load_graph(sample) / compile a 1-node graph / add one cron job",
    ),
]
