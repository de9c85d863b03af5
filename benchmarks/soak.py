"""Soak: many processes on PostgreSQL for minutes, with workers killed and a server restarted.

``python -m benchmarks.soak`` (10 minutes by default; ``--minutes``, ``--workers``, ``--crons``,
``--rate``, ``--kill-every``) runs on a schema of its own (``GRAPHFLOW_BENCH_POSTGRES_DSN`` or the
test DSN, dropped at the end):

* ``--workers`` ``graphflow worker`` processes (3), each killed with ``SIGKILL`` in turn every
  ``--kill-every`` seconds (60) and started again at once;
* ``--crons`` scheduled automations firing every minute (2,000), registered with ``create_many``;
* a trigger automation (3 nodes) and a steady load of ``--rate`` events/s (20), each with an id of
  its own, published by this process (a publishing engine, ``max_concurrent_runs=0``);
* a ``graphflow serve`` process (executing nothing), restarted once halfway; its ``/v1/health``
  is polled, and ``/metrics`` read at the end when the server has it.

At the end (once every run has ended) it reports as JSON: each process's resident set size over
time (sampled every 10 s from ``/proc``), runs lost (events accepted without a completed run: 0),
duplicated scheduled fires (two runs of one automation for one minute: 0), the p50/p99 fire
lateness (a fire's run created after its scheduled time) and start lateness (its run started),
and the counts of runs by status. ``tests/durable/test_soak.py`` runs a short version of it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from benchmarks.workloads import POSTGRES_DSN, drop_postgres_schema, new_postgres_schema, three_node_graph

APP = "app_soak"
ROOT = Path(__file__).resolve().parents[1]
TICK = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "tick",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.scheduled", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "$.scheduled_at"},
    ],
}
THREE = three_node_graph()


@dataclass
class Soak:
    """What one soak run does and what it saw."""

    url: str
    minutes: float = 10.0
    workers: int = 3
    crons: int = 2000
    rate: float = 20.0
    kill_every: float = 60.0
    restart_server: bool = True
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    rss: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    kills: int = 0
    published: list[str] = field(default_factory=list)
    port: int = 0

    # -- processes -------------------------------------------------------------------------

    def start(self, name: str) -> None:
        if name.startswith("worker"):
            command = ["worker", "--database-url", self.url, "--concurrency", "32", "--status-every", "0"]
        else:
            command = ["serve", "--database-url", self.url, "--port", str(self.port), "--workers-in-process", "0",
                       "--metrics-public"]  # fmt: skip
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "graphflow", *command],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.kills += 1

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def sample_rss(self, at: float) -> None:
        for name, process in self.processes.items():
            rss = _rss(process.pid)
            if rss is not None:
                self.rss.setdefault(name, []).append((round(at, 1), rss))
        own = _rss(os.getpid())
        if own is not None:
            self.rss.setdefault("publisher", []).append((round(at, 1), own))

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        from graphflow import Engine

        self.port = _free_port()
        async with Engine(self.url, max_concurrent_runs=0, sync_interval=1.0) as engine:
            config = await engine.configs.create(APP, TICK)
            items = [
                {"name": f"cron {i}", "schedule": "* * * * *", "config_id": config.id, "enabled": True}
                for i in range(self.crons)
            ]
            for start in range(0, len(items), 1000):
                await engine.automations.create_many(APP, items[start : start + 1000])
            three = await engine.configs.create(APP, THREE)
            trigger = await engine.automations.create(
                APP, name="events", trigger="thread.created", config_id=three.id, enabled=True
            )
            for i in range(self.workers):
                self.start(f"worker{i}")
            self.start("server")
            began = time.monotonic()
            end = began + self.minutes * 60
            next_kill, next_sample, victim, restarted = began + self.kill_every, began, 0, False
            sequence = 0
            while (now := time.monotonic()) < end:
                if now >= next_sample:
                    self.sample_rss(now - began)
                    next_sample += 10.0
                if now >= next_kill:
                    name = f"worker{victim % self.workers}"
                    self.kill(name)
                    self.start(name)
                    victim, next_kill = victim + 1, next_kill + self.kill_every
                if self.restart_server and not restarted and now >= began + self.minutes * 30:
                    self.kill("server")
                    self.start("server")
                    restarted = True
                event_id = f"soak-{sequence}"
                await engine.publish(APP, "thread.created", {"thread_id": f"thr_{sequence}"}, id=event_id)
                self.published.append(event_id)
                sequence += 1
                await anyio.sleep(max(0.0, began + sequence / self.rate - time.monotonic()))
            stopped_at = time.time()
            # Stop the schedules, then let the workers finish what is left.
            for automation in await _all_automations(engine):
                if automation.type == "scheduled" and automation.status == "running":
                    await engine.automations.pause(APP, automation.id)
            await _drained(engine)
            self.sample_rss(time.monotonic() - began)
            metrics = _read_metrics(self.port)
            report = await self.report(engine, trigger.id, stopped_at)
            store = await self.gauges()
            report["metrics_endpoint"] = {
                "health": metrics.get("health"),
                "metrics_status": metrics.get("metrics_status"),
                "gauges": {name: [metrics.get(name), store[name]] for name in GAUGES},  # [/metrics, store]
            }
            report["metrics_agree"] = all(metrics.get(name) == store[name] for name in GAUGES)
            return report

    async def database(self) -> Any:
        """A connection to the soak's schema (an async context manager)."""
        import psycopg

        conn = await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True)
        await conn.execute(f'SET search_path TO "{self.url.rsplit("schema=", 1)[1]}"')
        return conn

    async def gauges(self) -> dict[str, float]:
        """The store's own counts of what the server's gauges report."""
        async with await self.database() as conn:
            counts = {}
            for name, query in GAUGES.items():
                row = await (await conn.execute(query)).fetchone()
                counts[name] = float(row[0]) if row else 0.0
            return counts

    async def report(self, engine: Any, trigger_id: str, stopped_at: float) -> dict[str, Any]:
        async with await self.database() as conn:

            async def rows(query: str, *params: Any) -> list[tuple[Any, ...]]:
                return await (await conn.execute(query, params)).fetchall()

            statuses = dict(await rows("SELECT status, count(*) FROM runs GROUP BY status"))
            completed = {
                row[0]
                for row in await rows(
                    "SELECT event_id FROM runs WHERE automation_id = %s AND status = 'completed'", trigger_id
                )
            }
            fires = await rows(
                "SELECT created_at - scheduled_at, started_at - scheduled_at FROM runs "
                "WHERE scheduled_at IS NOT NULL AND scheduled_at < %s",
                stopped_at,
            )
            duplicates = await rows(
                "SELECT automation_id, floor(scheduled_at / 60) AS minute, count(*) FROM runs "
                "WHERE scheduled_at IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1"
            )
        created = sorted(max(0.0, f[0]) for f in fires)
        started = sorted(max(0.0, f[1]) for f in fires if f[1] is not None)
        return {
            "minutes": self.minutes,
            "workers": self.workers,
            "crons": self.crons,
            "rate": self.rate,
            "kills": self.kills,
            "events_published": len(self.published),
            "runs_lost": len(set(self.published) - completed),
            "duplicated_fires": len(duplicates),
            "scheduled_fires": len(fires),
            "fire_lateness_s": _percentiles(created),
            "start_lateness_s": _percentiles(started),
            "runs_by_status": statuses,
            "rss_kib": {name: [(at, kib) for at, kib in series] for name, series in self.rss.items()},
        }


async def _all_automations(engine: Any) -> list[Any]:
    found, cursor = [], None
    while True:
        page = await engine.automations.list(APP, cursor=cursor, limit=100)
        found.extend(page.data)
        if (cursor := page.next_cursor) is None:
            return found


async def _drained(engine: Any, timeout: float = 300.0) -> None:
    """Until no run is pending or running (checked on the database)."""
    with anyio.fail_after(timeout):
        while True:
            if not await engine.store.pending_runs(1) and not await _running(engine):
                return
            await anyio.sleep(0.5)


async def _running(engine: Any) -> bool:
    rows = await engine.automations.status(APP)
    return bool(rows)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(statistics.median(values), 4),
        "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 4),
        "max": round(values[-1], 4),
    }


def _rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The server's gauges read from the store, and how the store itself counts the same runs.
GAUGES = {
    "graphflow_queue_depth": "SELECT count(*) FROM runs WHERE status = 'pending' "
    "AND (wake_at IS NULL OR wake_at <= extract(epoch FROM clock_timestamp()))",
    "graphflow_runs_running": "SELECT count(*) FROM runs WHERE status = 'running'",
    "graphflow_runs_parked": "SELECT count(*) FROM runs WHERE status = 'pending' "
    "AND wake_at > extract(epoch FROM clock_timestamp())",
}


def _read_metrics(port: int) -> dict[str, Any]:
    """``/v1/health`` status and the gauges of :data:`GAUGES` from the server's ``/metrics``."""
    import httpx

    out: dict[str, Any] = {}
    try:
        out["health"] = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).status_code
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    except httpx.HTTPError as exc:
        out["error"] = f"unreachable: {exc}"
        return out
    out["metrics_status"] = response.status_code
    for line in response.text.splitlines():
        name, _, value = line.partition(" ")
        if name in GAUGES:
            out[name] = float(value)
    return out


def soak(**options: Any) -> dict[str, Any]:
    """Run a soak (options: the :class:`Soak` fields) on a schema of its own; return its report."""
    url, schema = new_postgres_schema("gf_soak")
    run = Soak(url, **options)
    try:
        return anyio.run(run.run)
    finally:
        run.stop_all()
        drop_postgres_schema(schema)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--crons", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds between kill -9 of a worker")
    args = parser.parse_args(argv)
    report = soak(
        minutes=args.minutes, workers=args.workers, crons=args.crons, rate=args.rate, kill_every=args.kill_every
    )
    print(json.dumps(report, indent=2))
    return 0 if report["runs_lost"] == 0 and report["duplicated_fires"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
