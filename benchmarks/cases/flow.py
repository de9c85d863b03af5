"""Event flow control: what a decision costs a publish, and throughput under a concurrency limit.

* **decision cost** (memory and SQLite): one trigger automation on ``thread.created``, whose
  graph parks its runs on a one-hour delay (so executing them costs nothing while publishing is
  timed); ``{n}`` events over 100 threads, each ``await engine.publish(...)`` timed alone.
  Reported: the median µs per publish for each policy, and the difference with the same
  automation without one (``plain``): ``filtered`` (the filter holds for nothing), ``debounce``
  (a holder per thread, then each event merged into it), ``throttle drop`` (a limit of 1 per
  hour: after the first per thread, every event dropped), ``throttle delay`` (each run stored as
  a timer), ``concurrency`` (a limit of 1 per thread: after the first, every run queued).
* **concurrency throughput** (PostgreSQL): a publisher (8 concurrent publishing tasks) and two worker processes
  (``max_concurrent_runs=16`` each); ``{n}`` events → completed 3-node runs (two scripts), all
  under one concurrency key with a limit of 10, against the same without the limit. Runs/s from
  the first publish to the last completed run.

``python -m benchmarks.cases.flow`` prints the rows (``--quick`` for small workloads).
PostgreSQL is ``GRAPHFLOW_BENCH_POSTGRES_DSN`` or ``GRAPHFLOW_TEST_POSTGRES_DSN`` (default: the
local ``test`` database), in a schema of its own, dropped at exit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from benchmarks.workloads import drop_postgres_schema, new_postgres_schema, three_node_graph

APP = "app_bench_flow"
EVENT = "thread.created"
ROOT = Path(__file__).resolve().parents[2]
PUBLISHERS = 8  # concurrent publishing tasks (request handlers of a host), as in durable_engine
PARK = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "park",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": EVENT, "on_success": "d"},
        {"kind": "WorkflowDelay", "id": "d", "duration": "1h"},
    ],
}
THREE = three_node_graph(EVENT)
POLICIES: dict[str, dict[str, Any]] = {
    "plain": {},
    "filtered": {"filter": "$.thread_id == 'thr_none'"},
    "debounce": {"debounce": {"period": "1h", "key": "$.thread_id"}},
    "throttle drop": {"throttle": {"limit": 1, "period": "1h", "key": "$.thread_id"}},
    "throttle delay": {"throttle": {"limit": 1, "period": "1h", "key": "$.thread_id", "overflow": "delay"}},
    "concurrency": {"concurrency": {"limit": 1, "key": "$.thread_id"}},
}


async def decision_cost(url: str, policy: dict[str, Any], n: int) -> float:
    """Median seconds per publish with ``policy`` on the store at ``url``."""
    from graphflow import Engine

    async with Engine(url, timer_threshold=3600.0, poll_interval=5.0) as engine:
        config = await engine.configs.create(APP, PARK)
        await engine.automations.create(APP, name="f", trigger=EVENT, config_id=config.id, enabled=True, **policy)
        samples: list[float] = []
        for i in range(n):
            body = {"thread_id": f"thr_{i % 100}"}
            start = time.perf_counter()
            await engine.publish(APP, EVENT, body)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples[n // 10 :])  # the first per thread are not the steady state


WORKER = """
import sys, anyio
from graphflow import Engine
async def main(url):
    async with Engine(url, max_concurrent_runs=16, poll_interval=0.05):
        print("ready", flush=True)
        await anyio.sleep_forever()
anyio.run(main, sys.argv[1])
"""


async def throughput(url: str, policy: dict[str, Any], n: int) -> float:
    """Runs/s: events → completed 3-node runs, a publisher here and two worker processes."""
    from graphflow import Engine

    async with Engine(url, max_concurrent_runs=0) as publisher:
        config = await publisher.configs.create(APP, THREE)
        automation = await publisher.automations.create(
            APP, name="f", trigger=EVENT, config_id=config.id, enabled=True, **policy
        )
        workers = _workers(url)
        try:
            for worker in workers:
                assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
            start = time.perf_counter()

            async def publish(first: int) -> None:
                for i in range(first, n, PUBLISHERS):
                    await publisher.publish(APP, EVENT, {"thread_id": f"thr_{i}"})

            async with anyio.create_task_group() as tg:
                for first in range(PUBLISHERS):
                    tg.start_soon(publish, first)
            while True:
                page = await publisher.automations.runs(APP, automation.id, status="completed", limit=1)
                done = await publisher.store.pending_runs(1)
                if page.data and not done and not await _running(publisher, automation.id):
                    break
                await anyio.sleep(0.01)
            return n / (time.perf_counter() - start)
        finally:
            for worker in workers:
                worker.kill()
                worker.wait()


def _workers(url: str) -> list[subprocess.Popen[str]]:
    """Two worker processes on ``url`` (each prints ``ready`` once started)."""
    command = [sys.executable, "-c", WORKER, url]
    return [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]


async def _running(engine: Any, automation_id: str) -> bool:
    return bool((await engine.automations.runs(APP, automation_id, status="running", limit=1)).data)


async def rows(quick: bool) -> list[dict[str, Any]]:
    n = 500 if quick else 3000
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for store in ("memory", "sqlite"):
            plain = 0.0
            for name, policy in POLICIES.items():
                url = "memory://" if store == "memory" else f"sqlite:///{tmp}/{name.replace(' ', '_')}.db"
                cost = await decision_cost(url, policy, n)
                plain = cost if name == "plain" else plain
                out.append(
                    {
                        "case": f"flow {name}, {store}",
                        "us_per_publish": round(cost * 1e6, 1),
                        "us_over_plain": round((cost - plain) * 1e6, 1),
                    }
                )
    runs = 1000 if quick else 5000
    for name, policy in (("no limit", {}), ("concurrency 10", {"concurrency": {"limit": 10}})):
        try:
            url, schema = new_postgres_schema("gf_bench_flow")
        except Exception:  # no reachable server: the rows are left out
            break
        try:
            out.append(
                {"case": f"PostgreSQL 2 workers, {name}", "runs_per_s": round(await throughput(url, policy, runs))}
            )
        finally:
            drop_postgres_schema(schema)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cases.flow")
    parser.add_argument("--quick", action="store_true", help="small workloads (a smoke run)")
    args = parser.parse_args(argv)
    for row in anyio.run(rows, args.quick):
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


CASES: list[Any] = []  # printed by its own main (the rows are not peers' contests)

if __name__ == "__main__":
    raise SystemExit(main())
