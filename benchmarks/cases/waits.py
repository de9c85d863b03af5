"""Parked runs: what a run waiting for a person or an event costs, and how fast it resumes.

* **parked memory**: an engine (SQLite or PostgreSQL) executes ``{n}`` invocations of an
  automation whose graph is ``trigger → WorkflowApproval → script``; every run raises a steering
  request and parks. Reported: the engine process's resident set size (``VmRSS``) before the
  runs and once all of them are parked (after ``gc.collect()``), per parked run, with the
  Python heap blocks still allocated (``sys.getallocatedblocks``) per run and the number of
  asyncio tasks before and after (a parked run holds none). Runs are created and executed in the
  measured process, so the figure also holds whatever they left behind (the allocator's free
  lists, SQLite's page cache) — an upper bound of what a parked run keeps.
* **resume**: with runs parked, one iteration answers a request
  (``engine.steering.respond``) and waits for its run to complete (``wait_for_run``): the
  conditional write, the claim by id (the engine claims a woken run at once), the approval node
  finding its answer, the script, the final write. Median and p99 in ms.
* **event wake**: one run waits (``WorkflowWaitForEvent``, a condition on the thread id); one
  iteration publishes the matching event and waits until the run completed. The ``+1,000`` row
  has 1,000 other runs waiting on the same event name (other threads): the event is offered to
  each, and each condition is evaluated, inside the publish.
* **invoke**: ``engine.automations.invoke(..., wait=True)`` of an invoked automation whose
  graph is its trigger node, returning the completed run: µs per call, on the memory store,
  SQLite and PostgreSQL; the ``keyed`` row passes an idempotency key of its own to each call.

``python -m benchmarks.cases.waits`` prints one JSON row per case (``--quick`` for small
workloads, ``--store sqlite`` and ``--case resume`` to pick); the rows are also ``CASES`` for
the harness.
PostgreSQL is ``GRAPHFLOW_BENCH_POSTGRES_DSN`` or ``GRAPHFLOW_TEST_POSTGRES_DSN`` (default: the
local ``test`` database), a schema of its own per engine, dropped at exit; without a reachable
server its rows are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import gc
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

from benchmarks.harness import Case, Settings

APP = "app_bench_waits"
DSN = (
    os.environ.get("GRAPHFLOW_BENCH_POSTGRES_DSN")
    or os.environ.get("GRAPHFLOW_TEST_POSTGRES_DSN")
    or "postgresql://postgres@127.0.0.1:5432/test"
)
#: Concurrent tasks invoking the automation while runs are being parked.
INVOKERS = 8
_keep: list[Any] = []  # temp dirs, released at exit


def _graph(*middle: dict[str, Any]) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked"}]
    for node in middle:
        nodes[-1]["on_success"] = node["id"]
        nodes.append(dict(node))
    return {"kind": "WorkflowGraph", "version": 1, "name": "waits", "start_node": "t", "nodes": nodes}


DONE = {"kind": "WorkflowScript", "id": "done", "source": "true"}
GATED = _graph({"kind": "WorkflowApproval", "id": "gate", "message": "Go on with {{ $.n }}?"}, DONE)
REPLY = _graph(
    {
        "kind": "WorkflowWaitForEvent",
        "id": "reply",
        "event": "thread.message_added",
        "condition": "payload.thread_id == $.thread_id",
    },
    DONE,
)
ONE_NODE = _graph()


# -- engines on each store ----------------------------------------------------------------------


def _sqlite_url() -> str:
    directory = tempfile.TemporaryDirectory(prefix="graphflow-bench-waits-")
    _keep.append(directory)
    return f"sqlite:///{directory.name}/waits.db"


def _postgres_unusable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(DSN, connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _postgres_url() -> str:
    """A fresh schema on the benchmark server, dropped at exit; ImportError when unreachable."""
    reason = _postgres_unusable()
    if reason is not None:
        raise ImportError(f"PostgreSQL is not usable: {reason}")
    import psycopg
    from psycopg import sql

    schema = f"gf_bench_{secrets.token_hex(4)}"

    def drop() -> None:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    atexit.register(drop)
    separator = "&" if "?" in DSN else "?"
    return f"{DSN}{separator}schema={schema}"


URLS: dict[str, Callable[[], str]] = {
    "memory": lambda: "memory://",
    "sqlite": _sqlite_url,
    "postgres": _postgres_url,
}


@asynccontextmanager
async def _engine(store: str) -> AsyncIterator[Any]:
    from graphflow import Engine

    async with Engine(URLS[store](), poll_interval=0.05, max_concurrent_runs=64) as engine:
        yield engine


async def _automation(engine: Any, graph: dict[str, Any]) -> str:
    config = await engine.configs.create(APP, graph)
    automation = await engine.automations.create(
        APP, name=graph["name"], type="invoked", config_id=config.id, enabled=True, overlap="allow"
    )
    return str(automation.id)


async def _until(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    with anyio.move_on_after(timeout):
        while not check():  # noqa: ASYNC110 - polling the engine's own counters
            await anyio.sleep(0.005)
        return
    raise RuntimeError(f"{what}: not within {timeout}s")


class Parker:
    """Starts runs that park on a steering request and knows their requests once raised."""

    def __init__(self, engine: Any, automation_id: str) -> None:
        from graphflow.events import SteeringRequested

        self.engine = engine
        self.automation_id = automation_id
        #: (request id, run id) of every request raised, in order.
        self.requests: list[tuple[str, str]] = []
        self._subscription = engine.subscribe(
            lambda e: self.requests.append((e.request_id, e.run_id)), (SteeringRequested,)
        )

    async def park(self, count: int, first: int = 0) -> None:
        """Start ``count`` runs and wait until every one has parked (raised and handed back)."""
        engine, target = self.engine, len(self.requests) + count

        async def invoker(start: int) -> None:  # as a host's request handlers would, many at once
            for n in range(first + start, first + count, INVOKERS):
                await engine.automations.trigger(APP, self.automation_id, {"n": n})

        async with anyio.create_task_group() as tg:
            for start in range(INVOKERS):
                tg.start_soon(invoker, start)
        await _until(lambda: len(self.requests) >= target and not engine.inflight, f"{count} runs to park")


def _rss() -> dict[str, int]:
    """The process's resident set (``VmRSS``) and its parts (anonymous, file-backed, shared), in bytes."""
    sizes: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                sizes[key] = int(value.split()[0]) * 1024
    if "VmRSS" not in sizes:
        raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")
    return sizes


def _tasks() -> int:
    return len(asyncio.all_tasks())


# -- measurements (each returns a JSON-able dict) ----------------------------------------------


async def _pending_requests(engine: Any) -> int:
    count, cursor = 0, None
    while True:
        page = await engine.steering.list(APP, status="pending", cursor=cursor, limit=100)
        count += len(page.data)
        cursor = page.next_cursor
        if cursor is None:
            return count


async def parked_memory(store: str, n: int) -> dict[str, Any]:
    """RSS, heap blocks and tasks of one engine process before ``n`` runs park, halfway, and after."""
    async with _engine(store) as engine:
        parker = Parker(engine, await _automation(engine, GATED))
        await parker.park(min(200, n))  # warm: connections, the compiled graph, caches
        warm = len(parker.requests)
        parker.requests.clear()
        figures = []
        started = time.perf_counter()
        for half in range(3):
            if half:
                await parker.park(n // 2, first=half * n)
                parker.requests.clear()
            gc.collect()
            figures.append((_rss(), sys.getallocatedblocks(), _tasks()))
        seconds = time.perf_counter() - started
        pending = await _pending_requests(engine)
        assert pending == warm + n // 2 * 2, pending
    (rss, blocks, tasks), (rss_half, _, _), (rss_after, blocks_after, tasks_after) = figures
    parked = n // 2 * 2
    return {
        "case": f"parked_memory_{store}",
        "parked_runs": parked,
        "rss_before_bytes": rss["VmRSS"],
        "rss_after_bytes": rss_after["VmRSS"],
        "rss_bytes_per_parked_run": round((rss_after["VmRSS"] - rss["VmRSS"]) / parked, 1),
        # The second half alone: fixed costs that grow to a bound (SQLite's page cache, the
        # allocator's arenas) are mostly paid by the first half.
        "rss_bytes_per_parked_run_second_half": round((rss_after["VmRSS"] - rss_half["VmRSS"]) / (parked // 2), 1),
        **{
            f"{key.removeprefix('Rss').lower()}_bytes_per_parked_run": round((rss_after[key] - rss[key]) / parked, 1)
            for key in ("RssAnon", "RssFile", "RssShmem")
            if key in rss and key in rss_after
        },
        "heap_blocks_per_parked_run": round((blocks_after - blocks) / parked, 2),
        "asyncio_tasks_before": tasks,
        "asyncio_tasks_after": tasks_after,
        "seconds_to_park": round(seconds, 2),
        "parked_runs_per_second": round(parked / seconds),
    }


def _summary(name: str, unit: str, samples: list[float], **extra: Any) -> dict[str, Any]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    scale = {"ms": 1e3, "µs": 1e6}[unit]
    return {
        "case": name,
        "unit": unit,
        "n": len(samples),
        "median": round(statistics.median(ordered) * scale, 3),
        "p99": round(p99 * scale, 3),
        "mean": round(statistics.fmean(ordered) * scale, 3),
        **extra,
    }


async def _timed(k: int, iteration: Callable[[int], Awaitable[float]], warmup: int = 20) -> list[float]:
    """Call ``iteration(i)`` ``warmup`` times, then ``k`` times; the seconds each of the ``k`` measured itself."""
    for index in range(warmup):
        await iteration(index)
    samples = []
    for index in range(warmup, warmup + k):
        gc.collect(0)
        samples.append(await iteration(index))
    return samples


async def resume_latency(store: str, k: int) -> list[float]:
    """Seconds from answering a parked run's request to the run completed, ``k`` times."""
    async with _engine(store) as engine:
        parker = Parker(engine, await _automation(engine, GATED))
        await parker.park(k + 20)

        async def iteration(index: int) -> float:
            request_id, run_id = parker.requests[index]
            began = time.perf_counter()
            await engine.steering.respond(APP, request_id, "approve")
            run = await engine.wait_for_run(APP, run_id, timeout=30)
            elapsed = time.perf_counter() - began
            assert run.status == "completed", run.result
            return elapsed

        return await _timed(k, iteration)


async def event_wake_latency(store: str, k: int, others: int = 0) -> list[float]:
    """Seconds from publishing the event a run waits for to the run completed, ``k`` times.

    ``others`` runs wait on the same event name for threads nobody publishes to.
    """
    from graphflow.events import RunStarted

    async with _engine(store) as engine:
        automation_id = await _automation(engine, REPLY)
        started: set[str] = set()
        engine.subscribe(lambda e: started.add(e.run_id), (RunStarted,))

        async def waiting(thread: str) -> str:
            run_id: str = await engine.automations.trigger(APP, automation_id, {"thread_id": thread})
            await _until(lambda: run_id in started and not engine.inflight, "the run to park")
            return run_id

        for index in range(others):
            await engine.automations.trigger(APP, automation_id, {"thread_id": f"thr_other_{index}"})
        await _until(lambda: len(started) >= others and not engine.inflight, "the other runs to park")

        async def iteration(index: int) -> float:
            thread = f"thr_{index}"
            run_id = await waiting(thread)  # not timed: the run parks before the clock starts
            began = time.perf_counter()
            published = await engine.publish(APP, "thread.message_added", {"thread_id": thread, "message_id": "m"})
            run = await engine.wait_for_run(APP, run_id, timeout=30)
            elapsed = time.perf_counter() - began
            assert published.woken_run_ids == (run_id,), published
            assert run.status == "completed", run.result
            return elapsed

        return await _timed(k, iteration)


async def invoke_latency(store: str, k: int, *, keyed: bool = False) -> list[float]:
    """Seconds of ``engine.automations.invoke(..., wait=True)`` returning a completed 1-node run, ``k`` times.

    ``keyed``: each call carries an idempotency key of its own (the run is created by the
    event id's uniqueness).
    """
    async with _engine(store) as engine:
        automation_id = await _automation(engine, ONE_NODE)
        invoke = engine.automations.invoke

        async def iteration(index: int) -> float:
            key = f"key-{index}" if keyed else None
            began = time.perf_counter()
            run = await invoke(APP, automation_id, {"n": index}, idempotency_key=key, wait=True, timeout=30)
            elapsed = time.perf_counter() - began
            assert run.status == "completed", run.result
            return elapsed

        return await _timed(k, iteration, warmup=50)


async def keyed_invoke_latency(store: str, k: int) -> list[float]:
    """:func:`invoke_latency` with an idempotency key per call."""
    return await invoke_latency(store, k, keyed=True)


# -- the sizes, the rows, the harness's cases --------------------------------------------------

FULL_SIZES = {"parked": 10_000, "resume": 300, "event": 300, "event_others": 1000, "invoke": 2000}
QUICK_SIZES = {"parked": 1000, "resume": 50, "event": 50, "event_others": 100, "invoke": 200}


KINDS = ("parked", "resume", "event", "event_others", "invoke")


async def rows(stores: list[str], quick: bool, kinds: tuple[str, ...] = KINDS) -> AsyncIterator[dict[str, Any]]:
    """One JSON row per case (of ``kinds``) and store; parked runs only on the durable stores."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    for store in stores:
        durable = store != "memory"
        if "parked" in kinds and durable:
            yield await parked_memory(store, sizes["parked"])
        if "resume" in kinds and durable:
            samples = await resume_latency(store, sizes["resume"])
            yield _summary(f"resume_{store}", "ms", samples, what="respond → run completed")
        if "event" in kinds and durable:
            samples = await event_wake_latency(store, sizes["event"])
            yield _summary(f"event_wake_{store}", "ms", samples, what="publish → waiting run completed")
        if "event_others" in kinds and durable:
            others = sizes["event_others"]
            samples = await event_wake_latency(store, sizes["event"], others=others)
            yield _summary(
                f"event_wake_{store}_{others}_others",
                "ms",
                samples,
                what=f"publish → waiting run completed, {others} other runs waiting on the event name",
            )
        if "invoke" in kinds:
            samples = await invoke_latency(store, sizes["invoke"])
            yield _summary(f"invoke_{store}", "µs", samples, what="invoke(wait=True) → completed 1-node run")
            samples = await keyed_invoke_latency(store, sizes["invoke"])
            yield _summary(
                f"invoke_keyed_{store}",
                "µs",
                samples,
                what="invoke(idempotency_key=, wait=True) → completed 1-node run",
            )


def _measured(
    fn: Callable[[str, int], Awaitable[list[float]]], store: str, scale: float
) -> Callable[[int, Settings], Awaitable[list[float]]]:
    """A measured contender: ``fn(store, n)`` seconds, in the case's unit."""

    async def measure(n: int, settings: Settings) -> list[float]:
        return [x * scale for x in await fn(store, n)]

    return measure


def _memory(store: str) -> Callable[[int, Settings], Awaitable[list[float]]]:
    async def measure(n: int, settings: Settings) -> list[float]:
        return [(await parked_memory(store, n))["rss_bytes_per_parked_run"] / 1024]

    return measure


def _cases() -> list[Case]:
    stores = ["sqlite"] + (["postgres"] if _postgres_unusable() is None else [])
    cases: list[Case] = []
    for store in stores:
        title = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[store]

        cases += [
            Case(
                name=f"parked-memory-{store}",
                title=f"engine RSS per run parked on a steering request, {{n}} runs, {title}",
                unit="KiB/run",
                divisor=1,
                contenders={"graphflow": _memory(store)},
                measured=True,
                size=(FULL_SIZES["parked"], QUICK_SIZES["parked"]),
                note="VmRSS after - before all parked (gc'd), runs executed in the process; no task per parked run",
            ),
            Case(
                name=f"resume-{store}",
                title=f"steering answer → parked run completed, {title}",
                unit="ms",
                divisor=1,
                contenders={"graphflow": _measured(resume_latency, store, 1e3)},
                measured=True,
                size=(FULL_SIZES["resume"], QUICK_SIZES["resume"]),
                note="median of {n} answers; p99: python -m benchmarks.cases.waits",
            ),
            Case(
                name=f"event-wake-{store}",
                title=f"matching event → waiting run completed, {title}",
                unit="ms",
                divisor=1,
                contenders={"graphflow": _measured(event_wake_latency, store, 1e3)},
                measured=True,
                size=(FULL_SIZES["event"], QUICK_SIZES["event"]),
                note="median of {n} publishes, one run waiting; p99: python -m benchmarks.cases.waits",
            ),
        ]
    for store in ["memory", *stores]:
        title = {"memory": "memory", "sqlite": "SQLite", "postgres": "PostgreSQL"}[store]
        cases.append(
            Case(
                name=f"invoke-{store}",
                title=f"invoke → completed 1-node run, {title}",
                unit="µs/run",
                divisor=1,
                contenders={"graphflow": _measured(invoke_latency, store, 1e6)},
                measured=True,
                size=(FULL_SIZES["invoke"], QUICK_SIZES["invoke"]),
                note="median of {n} sequential invoke(wait=True) calls",
            )
        )
        cases.append(
            Case(
                name=f"invoke-keyed-{store}",
                title=f"invoke with an idempotency key → completed 1-node run, {title}",
                unit="µs/run",
                divisor=1,
                contenders={"graphflow": _measured(keyed_invoke_latency, store, 1e6)},
                measured=True,
                size=(FULL_SIZES["invoke"], QUICK_SIZES["invoke"]),
                note="median of {n} sequential invoke(idempotency_key=<new>, wait=True) calls",
            )
        )
    return cases


CASES = _cases()


def main(argv: list[str] | None = None) -> int:
    """Print one JSON row per case."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cases.waits")
    parser.add_argument("--quick", action="store_true", help="small workloads (a smoke run)")
    parser.add_argument("--store", action="append", choices=["memory", "sqlite", "postgres"])
    parser.add_argument("--case", action="append", choices=KINDS, help="only these cases (default: all)")
    args = parser.parse_args(argv)
    stores = args.store or ["memory", "sqlite", "postgres"]
    reason = _postgres_unusable()
    if "postgres" in stores and reason is not None:
        print(f"PostgreSQL rows left out: {reason}", file=sys.stderr)
        stores.remove("postgres")

    async def run() -> None:
        async for row in rows(stores, args.quick, tuple(args.case or KINDS)):
            print(json.dumps(row, ensure_ascii=False), flush=True)

    anyio.run(run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
