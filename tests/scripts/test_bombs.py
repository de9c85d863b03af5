"""Hostile scripts: each is refused or stopped within its budget, and the host survives.

Every bomb runs in a child process capped at 1 GiB of address space and 120 s, so a regression
fails this test instead of taking the test runner down (a SIGSEGV, an endless loop, 2 GiB).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

_PRELUDE = """
import json
from graphflow.exceptions import GraphflowError
from graphflow.scripts import ScriptLimits, compile_script

def outcome(source, payload, limits=ScriptLimits()):
    try:
        value = compile_script(source, limits=limits).evaluate(payload, output=[])
    except GraphflowError as exc:
        return exc.code
    return "value"
"""


def _run_capped(body: str) -> object:
    """Run ``body`` (which prints one JSON line last) in a capped child; return that value."""

    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    done = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,  # the child runs no threads before exec
        check=False,
    )
    assert done.returncode == 0, f"the host process died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_nested_lets_that_overflowed_the_native_stack_are_refused() -> None:
    body = """
    lines = ["let v0 = 1"] + [f"let v{i} = " + "[" * 30 + f"v{i - 1}" + "]" * 30 for i in range(1, 180)]
    deep = 1
    for _ in range(8000):
        deep = [deep]
    print(json.dumps([outcome("\\n".join(lines + ["size(v179)"]), {}), outcome("size($)", deep)]))
    """
    assert _run_capped(body) == ["script_limit", "script_limit"]


@pytest.mark.parametrize(
    ("source", "payload"),
    [
        # Ranges built at run time, and over the keys of a payload object.
        ("$.s.split('').map(a, $.s.split('').map(b, a + b)).size()", "{'s': 'x' * 3000}"),
        ("$.o.map(k, $.o.map(j, k + j)).size()", "{'o': {str(i): i for i in range(3000)}}"),
        # Chained comprehensions the early estimate under-counts.
        ("$.xs.map(a, $.xs).flatten().map(b, b + 1).size()", "{'xs': list(range(1000))}"),
        # Memory: println in a comprehension, replace('') and a huge join separator.
        ("$.xs.map(x, println($.big)).size()", "{'xs': list(range(200)), 'big': 'x' * (1 << 20)}"),
        ("$.s.replace('', $.s).size()", "{'s': 'x' * 50_000}"),
        ("$.xs.join($.sep).size()", "{'xs': ['a'] * 50_000, 'sep': 'y' * 50_000}"),
        ("let a = $.s + $.s\nlet b = a + a\nlet c = b + b\nsize(c + c)", "{'s': 'x' * 200_000}"),
    ],
)
def test_runaway_work_is_refused_or_stopped(source: str, payload: str) -> None:
    assert _run_capped(f"print(json.dumps(outcome({source!r}, {payload})))") == "script_limit"


def test_an_evaluation_past_its_budget_is_stopped_and_the_next_one_runs() -> None:
    body = """
    from graphflow.scripts.isolation import pool_for
    limits = ScriptLimits(max_cost=10**15, timeout=0.2)
    bomb = "$.xs.map(a, $.xs.map(b, a * b)).size()"
    first = outcome(bomb, {"xs": list(range(3000))}, limits)
    stopped = pool_for(limits).stopped
    after = compile_script("$.xs.map(a, a + 1)", limits=limits).evaluate({"xs": list(range(500))})[-1]
    print(json.dumps([first, stopped, after]))
    """
    assert _run_capped(body) == ["script_limit", 1, 500]


def test_memory_past_the_cap_stops_the_worker_not_the_host() -> None:
    body = """
    limits = ScriptLimits(max_cost=10**15, timeout=60, max_memory=32 << 20, max_value_chars=1 << 30)
    print(json.dumps(outcome("$.xs.map(a, $.xs.map(b, [a, b, a, b])).size()", {"xs": list(range(2500))}, limits)))
    """
    assert _run_capped(body) == "script_limit"


def test_the_engine_serves_other_runs_while_a_hostile_script_is_stopped() -> None:
    body = """
    import anyio
    import graphflow
    from graphflow.engine.executor import Executor
    from graphflow.scripts.isolation import pool_for

    def graph(source):
        return graphflow.load_graph({
            "kind": "WorkflowGraph", "version": 1, "name": "g", "start_node": "t",
            "nodes": [
                {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "s"},
                {"kind": "WorkflowScript", "id": "s", "source": source},
            ],
        })

    # Hostile by time alone (400M steps, nothing kept): a script that also allocates would, on a slow
    # machine, reach its memory budget before the stop, and fail for that instead.
    HOSTILE = "$.xs.all(a, $.xs.all(b, a * b >= 0))"
    hostile, ordinary = graph(HOSTILE), graph("$.a + 1")
    # A long budget, so "the ordinary run finished first" does not depend on machine speed.
    limits = ScriptLimits(max_cost=10**15, timeout=30)
    hostile.node("s").keep(_compiled=compile_script(HOSTILE, limits=limits))
    pool = pool_for(limits)
    envelope = {"trigger": "thread.created", "payload": {"xs": list(range(20_000)), "a": 1}}
    log = []

    async def main():
        executor = Executor()
        async with anyio.create_task_group() as tg:
            async def hostile_run():
                result = await executor.run(hostile, envelope)
                log.append(("hostile", result.status, "was stopped" in result.error))
            tg.start_soon(hostile_run)
            while pool.busy == 0:  # the hostile script is now inside its worker
                await anyio.sleep(0.001)
            for _ in range(20):
                result = await executor.run(ordinary, envelope)
                log.append(("ordinary", result.status, result.result["payload"]))
            assert pool.busy == 1
            log.append(("hostile still running", pool.busy, None))
            pool.stop_all()  # the engine's shutdown path: kill what is in flight
    anyio.run(main)
    print(json.dumps(log))
    """
    log = _run_capped(body)
    assert log[:20] == [["ordinary", "completed", 2]] * 20
    assert log[20] == ["hostile still running", 1, None]
    assert log[21] == ["hostile", "failed", True]
