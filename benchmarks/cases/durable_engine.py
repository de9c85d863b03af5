"""Durable execution through the Engine: what a user pays end to end on each store.

* **durable chain**: one iteration invokes an automation whose graph is a trigger and 100
  ``BenchNoop`` nodes and waits for the run to complete: claim, config-version pin, a checkpoint
  committed after every node, the final write and the automation's ``last_run_*`` — divided by
  the 100 nodes.
* **events → completed runs**: one iteration publishes a batch of events from 8 concurrent tasks
  (as a web host's request handlers would), each event matching one
  running trigger automation whose graph has 3 nodes (trigger → script → script), and waits until
  every run has completed — divided by the batch. The PostgreSQL row is the many-process
  deployment: a publishing engine that executes nothing (``max_concurrent_runs=0``, a web process)
  and two ``graphflow worker`` processes claiming through ``FOR UPDATE SKIP LOCKED``, woken by
  ``LISTEN/NOTIFY``.

Engines run in the benchmark's event loop and are left open until the process ends; SQLite files
live in temp dirs, PostgreSQL in a schema of its own (``GRAPHFLOW_BENCH_POSTGRES_DSN`` or the test
DSN), dropped at exit.
"""

from __future__ import annotations

import atexit
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import anyio

from benchmarks.harness import Case, deferred_async
from benchmarks.workloads import bench_noop, chain_graph

APP = "app_bench"
BATCH = 200
PUBLISHERS = 8  # concurrent publishing tasks (request handlers of a host)
LENGTH = 100
POSTGRES_DSN = os.environ.get(
    "GRAPHFLOW_BENCH_POSTGRES_DSN",
    os.environ.get("GRAPHFLOW_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
)
THREE_NODES: dict[str, Any] = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "three",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "a"},
        {"kind": "WorkflowScript", "id": "a", "source": "true", "on_success": "b"},
        {"kind": "WorkflowScript", "id": "b", "source": "true"},
    ],
}
_keep: list[Any] = []  # temp dirs and worker processes, released at exit


def _sqlite_url() -> str:
    directory = tempfile.TemporaryDirectory(prefix="graphflow-bench-")
    _keep.append(directory)
    return f"sqlite:///{directory.name}/bench.db"


def _postgres_url() -> str:
    """A fresh schema on the benchmark server (dropped at exit); ImportError when unreachable."""
    import psycopg

    schema = f"gf_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        raise ImportError(f"PostgreSQL unreachable at {POSTGRES_DSN}: {exc}") from None

    def drop() -> None:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    atexit.register(drop)
    separator = "&" if "?" in POSTGRES_DSN else "?"
    return f"{POSTGRES_DSN}{separator}options=-csearch_path%3D{schema}"


async def _engine(url: str, concurrency: int = 64) -> Any:
    from graphflow import Engine

    engine = Engine(url, max_concurrent_runs=concurrency)
    await engine.__aenter__()  # left open: the benchmark process ends with it
    return engine


def _chain(url_factory: Callable[[], str]) -> Any:
    async def build() -> Callable[[], Any]:
        bench_noop()
        engine = await _engine(url_factory())
        document = chain_graph(LENGTH)
        document["nodes"][0]["trigger"] = "workflow.invoked"
        config = await engine.configs.create(APP, document)
        automation = await engine.automations.create(
            APP, name="chain", type="invoked", config_id=config.id, enabled=True
        )

        async def iteration() -> None:
            run_id = await engine.automations.trigger(APP, automation.id, {"a": 1})
            run = await engine.wait_for_run(APP, run_id, timeout=60)
            assert run.status == "completed", run.result

        return iteration

    return deferred_async(build)


def _events(url_factory: Callable[[], str], workers: int = 0) -> Any:
    async def build() -> Callable[[], Any]:
        from graphflow.events import RunCompleted

        url = url_factory()
        engine = await _engine(url, 0 if workers else 64)  # with workers: a web process publishing
        config = await engine.configs.create(APP, THREE_NODES)
        await engine.automations.create(
            APP, name="three", type="trigger", trigger="thread.created", config_id=config.id, enabled=True
        )
        for _ in range(workers):
            _start_worker(url)
        state: dict[str, Any] = {"count": 0, "all_done": anyio.Event()}

        def completed(_: Any) -> None:
            state["count"] += 1
            if state["count"] == BATCH:
                state["all_done"].set()

        engine.subscribe(completed, (RunCompleted,))

        async def iteration() -> None:
            state["count"], state["all_done"] = 0, anyio.Event()
            ids: list[str] = []

            async def publisher(first: int) -> None:  # a host publishes from many requests at once
                for index in range(first, BATCH, PUBLISHERS):
                    result = await engine.publish(APP, "thread.created", {"thread_id": f"thr_{index}"})
                    ids.extend(result.run_ids)

            async with anyio.create_task_group() as tg:
                for first in range(PUBLISHERS):
                    tg.start_soon(publisher, first)
            ids.sort()
            if workers:
                await _wait_stored(engine, ids)
            else:
                await state["all_done"].wait()

        return iteration

    return deferred_async(build)


async def _wait_stored(engine: Any, run_ids: list[str]) -> None:
    """Wait until every run completed, wherever it ran: one count of the batch every 2 ms.

    (``wait_for_run`` notices a run finished by another process within a second: too coarse to
    time a batch. Reading each run instead cost the publishing process ~200 statements a batch,
    on the cores the pipeline shares.)
    """
    query = (
        "SELECT count(*) FILTER (WHERE status = 'completed'), "
        "count(*) FILTER (WHERE status IN ('failed', 'cancelled')) FROM runs WHERE id = ANY(%s)"
    )
    while True:
        completed, ended = await engine.store._fetchone(query, [run_ids], idempotent=True)
        assert ended == 0, "a run did not complete"
        if completed == len(run_ids):
            return
        await anyio.sleep(0.002)


def _start_worker(url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "graphflow", "worker", "--database-url", url, "--status-every", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _keep.append(process)
    atexit.register(process.terminate)
    time.sleep(1.0)  # let it start and LISTEN


def _memory() -> str:
    return "memory://"


CASES = [
    Case(
        name="durable_chain_engine_sqlite",
        title="durable chain of 100 nodes via the engine, SQLite",
        unit="µs/node",
        divisor=LENGTH,
        per_repeat=5,
        contenders={"graphflow": _chain(_sqlite_url)},
        note="invoke + wait: claim, version pin, a committed checkpoint per node, final write",
    ),
    Case(
        name="durable_chain_engine_postgres",
        title="durable chain of 100 nodes via the engine, PostgreSQL",
        unit="µs/node",
        divisor=LENGTH,
        per_repeat=3,
        contenders={"graphflow": _chain(_postgres_url)},
        note="as above on PostgreSQL (local server)",
    ),
    Case(
        name="events_memory",
        title=f"events → completed 3-node runs, memory (batches of {BATCH})",
        unit="µs/run",
        divisor=BATCH,
        per_repeat=3,
        contenders={"graphflow": _events(_memory)},
        note="publish + match + execute + record; runs/s = 1e6 / value",
    ),
    Case(
        name="events_sqlite",
        title=f"events → completed 3-node runs, SQLite (batches of {BATCH})",
        unit="µs/run",
        divisor=BATCH,
        per_repeat=3,
        contenders={"graphflow": _events(_sqlite_url)},
        note="every event, run, checkpoint and outcome committed; runs/s = 1e6 / value",
    ),
    Case(
        name="events_postgres_2_workers",
        title=f"events → completed 3-node runs, PostgreSQL, publisher + 2 worker processes (batches of {BATCH})",
        unit="µs/run",
        divisor=BATCH,
        per_repeat=3,
        contenders={"graphflow": _events(_postgres_url, workers=2)},
        note="a publishing engine that executes nothing (a web process) and two `graphflow worker` processes",
    ),
]
