"""Registering cron automations: time per automation and memory per automation, against APScheduler.

The jobs: 100,000 (2,000 in quick runs) running scheduled automations over 1,000 apps (one
config each, a trigger node for ``workflow.scheduled``), with the 1,440 daily cron expressions
``M H * * *`` (every minute of the day) in UTC, each created ``enabled``: validated, its schedule
parsed and displayed, its config and first fire checked, stored, and put on the scheduler heap.
Every repeat starts from a fresh engine and **cold schedule caches** (parsed schedules, compiled
crons, cached next fires), so each pays for its 1,440 distinct expressions as a fresh process
would.

- ``create``: ``await engine.automations.create(app_id, ...)`` once per automation.
- ``create_many``: ``await engine.automations.create_many(app_id, items)`` once per app (100 items).
- APScheduler 3: an ``AsyncIOScheduler`` (started, memory job store) adding the same jobs with
  ``add_job(func, CronTrigger.from_crontab(expr, timezone="UTC"))``; one repeat (it takes ~20 s).
- floor: what any heap scheduler must do per job: a dict entry and a ``heappush`` of
  ``(next fire, seq, id)``, with the next fires precomputed.

Memory is measured with ``tracemalloc`` (Python allocations still alive afterwards, after
``gc.collect()``), divided by the number of automations:

- *beyond the record*: what the engine keeps per tracked automation besides the stored record —
  ``Engine.track`` of every running automation into a fresh engine's scheduler heap, entry table
  and revision map (the records and their strings already exist). Floor: a ``(due, seq, id)`` heap
  tuple and a dict entry.
- *all in*: everything a ``create_many`` of the automations leaves alive in the engine (the stored
  records, the scheduler), against everything APScheduler's ``add_job`` leaves alive (its jobs,
  triggers and job store); the returned records are dropped first.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import logging
import time
import tracemalloc
from typing import Any

from benchmarks.fleet import apps, clear_schedule_caches, cron, graph, memory_engine
from benchmarks.harness import Case, Settings

APPS = 1000


def _items(n: int, config_ids: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    per_app: dict[str, list[dict[str, Any]]] = {app_id: [] for app_id in config_ids}
    app_ids = list(config_ids)
    for i in range(n):
        app_id = app_ids[i % len(app_ids)]
        per_app[app_id].append(
            {
                "name": f"digest {i}",
                "type": "scheduled",
                "schedule": cron(i),
                "config_id": config_ids[app_id],
                "enabled": True,
            }
        )
    return per_app


async def _configs(engine: Any, count: int) -> dict[str, str]:
    config = graph(["workflow.scheduled"])
    return {app_id: (await engine.configs.create(app_id, config)).id for app_id in apps(count)}


def _repeats(settings: Settings) -> int:
    return 1 if settings.quick else 3


async def _register(n: int, bulk: bool) -> float:
    """One repeat: a fresh engine, cold caches, then the timed registration of ``n`` automations."""
    async with memory_engine() as engine:
        per_app = _items(n, await _configs(engine, min(APPS, n)))
        create, create_many = engine.automations.create, engine.automations.create_many
        clear_schedule_caches()
        gc.collect()
        start = time.perf_counter()
        if bulk:
            for app_id, items in per_app.items():
                await create_many(app_id, items)
        else:
            for app_id, items in per_app.items():
                for item in items:
                    await create(app_id, item)
        elapsed = time.perf_counter() - start
        assert len(engine.scheduler) == n
    return elapsed / n * 1e6


async def graphflow_create(n: int, settings: Settings) -> list[float]:
    return [await _register(n, bulk=False) for _ in range(_repeats(settings))]


async def graphflow_create_many(n: int, settings: Settings) -> list[float]:
    return [await _register(n, bulk=True) for _ in range(_repeats(settings))]


def _noop() -> None:
    pass


async def apscheduler_add(n: int, settings: Settings) -> list[float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    expressions = [cron(i) for i in range(n)]
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    try:
        gc.collect()
        start = time.perf_counter()
        for expression in expressions:
            scheduler.add_job(_noop, CronTrigger.from_crontab(expression, timezone="UTC"))
        elapsed = time.perf_counter() - start
    finally:
        scheduler.shutdown(wait=False)  # before the loop runs again: nothing fires
    return [elapsed / n * 1e6]


async def floor_register(n: int, settings: Settings) -> list[float]:
    ids = [f"aut_{i:026d}" for i in range(n)]
    dues = [1.7e9 + (i % 1440) * 60.0 for i in range(n)]
    samples = []
    for _ in range(_repeats(settings)):
        heap: list[tuple[float, int, str]] = []
        entries: dict[str, float] = {}
        seq = itertools.count()
        gc.collect()
        start = time.perf_counter()
        for automation_id, due in zip(ids, dues, strict=True):
            entries[automation_id] = due
            heapq.heappush(heap, (due, next(seq), automation_id))
        samples.append((time.perf_counter() - start) / n * 1e6)
    return samples


def _traced(build: Any) -> float:
    """Bytes that ``build()`` leaves allocated (after a collection), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keep = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del keep
    return float(after - before)


async def graphflow_beyond_record(n: int, settings: Settings) -> list[float]:
    async with memory_engine() as engine:
        for app_id, items in _items(n, await _configs(engine, min(APPS, n))).items():
            await engine.automations.create_many(app_id, items)
        running = await engine.store.running_automations()
        fresh = memory_engine()  # not started: only its in-memory views are filled

        def track() -> Any:
            for automation in running:
                fresh.track(automation)
            return fresh

        used = _traced(track)
        assert len(fresh.scheduler) == n
    return [used / n / 1024]


async def floor_beyond_record(n: int, settings: Settings) -> list[float]:
    ids = [f"aut_{i:026d}" for i in range(n)]
    dues = [1.7e9 + (i % 1440) * 60.0 for i in range(n)]

    def build() -> Any:
        heap: list[tuple[float, int, str]] = []
        entries: dict[str, float] = {}
        for seq, (automation_id, due) in enumerate(zip(ids, dues, strict=True)):
            entries[automation_id] = due
            heapq.heappush(heap, (due, seq, automation_id))
        return heap, entries

    return [_traced(build) / n / 1024]


async def graphflow_all_in(n: int, settings: Settings) -> list[float]:
    async with memory_engine() as engine:
        per_app = _items(n, await _configs(engine, min(APPS, n)))
        # Warm the schedule caches (shared by every automation of an expression: 1,440 compiled
        # crons hold ~5 MiB) with automations of another app, created before tracing starts.
        warm = await _configs(engine, 1)
        await engine.automations.create_many(next(iter(warm)), _items(1440, warm)[next(iter(warm))])
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for app_id, items in per_app.items():
                await engine.automations.create_many(app_id, items)  # the returned records are dropped
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(engine.scheduler) == n + 1440
    return [(after - before) / n / 1024]


async def apscheduler_all_in(n: int, settings: Settings) -> list[float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    expressions = [cron(i) for i in range(n)]
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    try:

        def build() -> Any:
            for expression in expressions:
                scheduler.add_job(_noop, CronTrigger.from_crontab(expression, timezone="UTC"))
            return None

        used = _traced(build)
    finally:
        scheduler.shutdown(wait=False)
    await asyncio.sleep(0)
    return [used / n / 1024]


_REGISTER_NOTE = (
    "{n} automations over 1,000 apps, 1,440 distinct daily crons in UTC, created enabled; "
    "fresh engine and cold schedule caches per repeat; APScheduler: one repeat"
)

CASES = [
    Case(
        name="register-create",
        title="register {n} cron automations: automations.create",
        unit="µs/automation",
        divisor=1,
        contenders={"graphflow": graphflow_create, "apscheduler": apscheduler_add, "floor": floor_register},
        measured=True,
        size=(100_000, 2_000),
        floor="dict entry + heappush of (next fire, seq, id), next fires precomputed",
        note=_REGISTER_NOTE,
    ),
    Case(
        name="register-bulk",
        title="register {n} cron automations: automations.create_many",
        unit="µs/automation",
        divisor=1,
        contenders={"graphflow": graphflow_create_many, "apscheduler": apscheduler_add, "floor": floor_register},
        measured=True,
        size=(100_000, 2_000),
        floor="dict entry + heappush of (next fire, seq, id), next fires precomputed",
        note=_REGISTER_NOTE.replace("created enabled", "created enabled, 100 per create_many call"),
    ),
    Case(
        name="memory-scheduler",
        title="scheduler memory beyond the record, {n} cron automations",
        unit="KiB/automation",
        divisor=1,
        contenders={"graphflow": graphflow_beyond_record, "floor": floor_beyond_record},
        measured=True,
        size=(100_000, 2_000),
        floor="a (due, seq, id) heap tuple + a dict entry",
        note="tracemalloc of Engine.track (heap, entry table, revision map) for every running automation",
    ),
    Case(
        name="memory-all-in",
        title="memory per automation, all in, {n} cron automations",
        unit="KiB/automation",
        divisor=1,
        contenders={"graphflow": graphflow_all_in, "apscheduler": apscheduler_all_in},
        measured=True,
        size=(10_000, 500),
        floor="",
        note="tracemalloc of what create_many (record + scheduler; schedule caches warm) / add_job (job, "
        "trigger, job store) leave alive",
    ),
]
