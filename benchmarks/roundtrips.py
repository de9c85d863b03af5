"""Round trips and CPU per run of the PostgreSQL event pipeline: ``python -m benchmarks.roundtrips``.

The workload of ``events_postgres_2_workers`` (``benchmarks/cases/durable_engine.py``): a
publishing engine that executes nothing and ``--workers`` ``graphflow worker`` processes; events
published from 8 tasks, each matching one trigger automation of 3 nodes. Every process counts
the statements it sends (``psycopg.AsyncCursor.execute`` wrapped, before graphflow loads) by
kind, and at the end the table shows, per completed run, the statements of each process and
the CPU time of each process and of the server backends serving them (``/proc``: the processes
share this machine). Unlike runs/s, these numbers hardly move when other work shares the cores.

The wait for the runs to complete is one ``count(*)`` per 5 ms on a connection of its own, not
counted. ``LISTEN`` connections are not counted either (their notifications are not requests).

    python -m benchmarks.roundtrips --runs 4000 --workers 2
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

#: Statement kinds, by a substring of the statement (the first that matches); else its first words.
KINDS = (
    ("offer", "graphflow_event_waits"),
    ("accept", "INSERT INTO events"),
    ("claim", "FOR UPDATE SKIP LOCKED"),
    ("finish", "DELETE FROM steps WHERE run_id IN (SELECT id FROM written)"),
    ("renew leases", "UPDATE runs SET lease_expires_at"),
    ("changed automations", "WHERE updated_at >="),
    ("leftover offers", "FROM offers"),
)
_COUNTS: Counter[str] = Counter()
PIPELINED = " (pipelined)"
PIPELINES = "pipelines (a round trip each)"


def kind(query: Any) -> str:
    text = query if isinstance(query, str) else str(getattr(query, "_obj", query))
    for name, marker in KINDS:
        if marker in text:
            return name
    return " ".join(re.sub(r"\s+", " ", text).strip().split(" ")[:4])


def install(path: str | None = None) -> Counter[str]:
    """Count every statement this process sends; with ``path``, write the counts there at exit."""
    import psycopg

    execute = psycopg.AsyncCursor.execute
    executemany = psycopg.AsyncCursor.executemany

    async def counted(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        _COUNTS[kind(query) + (PIPELINED if self.connection._pipeline else "")] += 1
        return await execute(self, query, params, **kwargs)

    async def counted_many(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        params_seq = list(params_seq)
        if self.connection._pipeline:  # its statements share the pipeline's round trip
            _COUNTS[kind(query) + PIPELINED] += len(params_seq)
        else:
            _COUNTS[kind(query) + " (executemany: one round trip)"] += 1
        return await executemany(self, query, params_seq, **kwargs)

    pipeline = psycopg.AsyncConnection.pipeline

    def counted_pipeline(self: Any) -> Any:
        _COUNTS[PIPELINES] += 1
        return pipeline(self)

    psycopg.AsyncConnection.pipeline = counted_pipeline  # type: ignore[method-assign]
    psycopg.AsyncCursor.execute = counted  # type: ignore[method-assign]
    psycopg.AsyncCursor.executemany = counted_many  # type: ignore[method-assign]
    if path is not None:
        atexit.register(lambda: Path(path).write_text(json.dumps(dict(_COUNTS))))
    return _COUNTS


def _statements(counts: Counter[str]) -> int:
    return sum(n for what, n in counts.items() if what != PIPELINES)


def _round_trips(counts: Counter[str]) -> int:
    return sum(n for what, n in counts.items() if not what.endswith(PIPELINED))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_worker(url: str, counts_path: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "benchmarks.roundtrips", "--worker", url, counts_path]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _counts(path: str) -> Counter[str]:
    return Counter(json.loads(Path(path).read_text()))


def _worker_main(url: str, counts_path: str) -> int:
    install(counts_path)
    signal.signal(signal.SIGUSR1, lambda *_: _COUNTS.clear())  # the measured window starts
    from graphflow.cli import main

    argv = ["worker", "--database-url", url, "--status-every", "0"]
    profile = os.environ.get("GRAPHFLOW_RT_PROFILE")  # a directory: cProfile each worker there
    if profile:
        import cProfile

        profiler = cProfile.Profile()

        def start(*_: Any) -> None:
            _COUNTS.clear()
            profiler.enable()

        signal.signal(signal.SIGUSR1, start)
        try:
            return main(argv)
        finally:
            profiler.disable()
            profiler.dump_stats(f"{profile}/worker-{os.getpid()}.prof")
    return main(argv)


async def _measure(args: argparse.Namespace) -> None:
    import anyio
    import psycopg

    from benchmarks.cases.durable_engine import APP, POSTGRES_DSN, PUBLISHERS, THREE_NODES
    from graphflow.engine.engine import Engine

    tag = f"gf_rt_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {tag}")
    separator = "&" if "?" in POSTGRES_DSN else "?"
    url = f"{POSTGRES_DSN}{separator}options=-csearch_path%3D{tag}&application_name={tag}"
    temp = tempfile.TemporaryDirectory(prefix="graphflow-rt-")
    workers: list[subprocess.Popen[bytes]] = []
    counts_paths = [f"{temp.name}/worker{i}.json" for i in range(args.workers)]
    try:
        async with Engine(url, max_concurrent_runs=0 if args.workers else 64) as engine:
            config = await engine.configs.create(APP, THREE_NODES)
            await engine.automations.create(
                APP, name="three", type="trigger", trigger="thread.created", config_id=config.id, enabled=True
            )
            workers.extend(_start_worker(url, path) for path in counts_paths)
            watcher = psycopg.connect(POSTGRES_DSN, autocommit=True, options=f"-csearch_path={tag}")

            def finished() -> int:
                row = watcher.execute(
                    "SELECT count(*) FROM runs WHERE status IN ('completed', 'failed', 'cancelled')"
                ).fetchone()
                return int(row[0]) if row else 0

            async def batch(size: int, base: int) -> None:
                async def publisher(first: int) -> None:
                    for index in range(first, size, PUBLISHERS):
                        await engine.publish(APP, "thread.created", {"thread_id": f"thr_{base + index}"})

                began = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for first in range(PUBLISHERS):
                        tg.start_soon(publisher, first)
                publishing[0] += time.perf_counter() - began
                while finished() < base + size:  # noqa: ASYNC110 - polling the database: no event to wait on
                    await anyio.sleep(0.005)

            publishing = [0.0]
            await anyio.sleep(2.0)  # the workers start and LISTEN
            await batch(200, 0)  # warm-up: connections opened, graphs compiled
            publishing[0] = 0.0
            _COUNTS.clear()
            for process in workers:
                process.send_signal(signal.SIGUSR1)
            backends = [
                row[0]
                for row in watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [tag]
                ).fetchall()
            ]
            processes = {"publisher": os.getpid(), **{f"worker {i}": p.pid for i, p in enumerate(workers)}}
            before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            server_before = {pid: cpu_seconds(pid) for pid in backends}
            started = time.perf_counter()
            done = 200
            while done < 200 + args.runs:
                size = min(200, 200 + args.runs - done)
                await batch(size, done)
                done += size
            elapsed = time.perf_counter() - started
            after = {name: cpu_seconds(pid) for name, pid in processes.items()}
            later: dict[int, str] = dict(
                watcher.execute(
                    "SELECT pid, left(query, 40) FROM pg_stat_activity WHERE application_name = %s", [tag]
                ).fetchall()
            )
            by_role: dict[str, float] = {"statements": 0.0, "LISTEN": 0.0}
            for pid, query in later.items():
                if _alive(pid):
                    role = "LISTEN" if query.startswith("LISTEN") else "statements"
                    by_role[role] += cpu_seconds(pid) - server_before.get(pid, 0.0)
            server = sum(by_role.values())
            publisher_counts = Counter(_COUNTS)
            for process in workers:
                process.send_signal(signal.SIGTERM)
            for process in workers:
                process.wait(timeout=30)
            watcher.close()
        runs = args.runs
        print(f"{runs} runs in {elapsed:.2f} s: {runs / elapsed:,.0f} runs/s ({1e6 * elapsed / runs:,.0f} µs/run)")
        print(f"publishing took {publishing[0]:.2f} s of it ({1e6 * publishing[0] / runs:,.0f} µs/event)")
        print("\nCPU µs per run")
        for name in processes:
            print(f"  {name:<12} {1e6 * (after[name] - before[name]) / runs:8.0f}")
        print(f"  {'server':<12} {1e6 * server / runs:8.0f}   ({len(later)} backends)")
        for role, seconds in by_role.items():
            print(f"    {role:<10} {1e6 * seconds / runs:8.0f}")
        total = sum(after[n] - before[n] for n in processes) + server
        print(f"  {'total':<12} {1e6 * total / runs:8.0f}")
        print("\nper run: statements, round trips")
        tables = [("publisher", publisher_counts)]
        for i, path in enumerate(counts_paths):
            tables.append((f"worker {i}", _counts(path)))
        total_statements, total_trips = 0.0, 0.0
        merged: Counter[str] = Counter()
        for name, counts in tables:
            statements, trips = _statements(counts) / runs, _round_trips(counts) / runs
            total_statements, total_trips = total_statements + statements, total_trips + trips
            print(f"  {name:<12} {statements:6.3f} {trips:6.3f}")
            if name == "publisher":
                for what, n in counts.most_common():
                    print(f"      {what:<44} {n / runs:.3f}")
            else:
                merged.update(counts)
        print("  workers together, by kind (their counts include shutdown):")
        for what, n in merged.most_common():
            print(f"      {what:<44} {n / runs:.3f}")
        print(f"  {'all':<12} {total_statements:6.3f} {total_trips:6.3f}")
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {tag} CASCADE")
        temp.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.roundtrips", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4000, help="runs measured, in batches of 200 (default 4000)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes (default 2; 0: the publishing engine executes)"
    )
    parser.add_argument("--worker", nargs=2, metavar=("URL", "COUNTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker_main(*args.worker)
    install()
    import anyio

    anyio.run(_measure, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
