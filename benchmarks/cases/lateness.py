"""Fire lateness on a real clock: 100,000 active scheduled automations, a steady 1,000 fires a second.

Five-field cron has minute resolution, so a steady 1,000 fires/s is made of one-shots: ISO-8601
instants one millisecond apart (``2026-03-01T09:30:00.001Z``, ``….002Z``…), 1,000 per second for a
few seconds, among enough daily crons (1,320 expressions, ``M H * * *``, hours chosen so that none
falls in the next hour) to make 100,000 active automations on the heap (5,000 in quick runs).
Everything is registered with ``create_many`` on ``Engine("memory://")`` with the real
``SystemClock``; then the engine runs:
the scheduler pops each one-shot when due, ``fire_scheduled`` records it and queues its run, and the
workers execute the runs (a trigger node and an end node) meanwhile, as they would.

Lateness of a fire = the run's ``created_at`` (the engine's clock when the fire is recorded) minus
its scheduled instant; the row reports the 99th percentile over all fires in milliseconds. The floor
is the event loop's own timer lateness: one ``loop.call_at`` callback per instant, nothing else.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from datetime import UTC, datetime

from benchmarks.fleet import cron, graph, memory_engine
from benchmarks.harness import Case, Settings

RATE = 1000  # fires per second
LEAD = 1.0  # seconds between the end of registration and the first fire


def _seconds(settings: Settings) -> int:
    return 1 if settings.quick else 5


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def graphflow_lateness(n: int, settings: Settings) -> list[float]:
    fires = RATE * _seconds(settings)
    async with memory_engine(max_concurrent_runs=16) as engine:
        hour = (datetime.now(UTC).hour + 2) % 24
        config = graph(["workflow.scheduled"])
        crons = await engine.configs.create("app_crons", config)
        await engine.automations.create_many(
            "app_crons",
            [
                {
                    "name": f"daily {i}",
                    "type": "scheduled",
                    "schedule": cron(i, hour_offset=hour),
                    "config_id": crons.id,
                    "enabled": True,
                }
                for i in range(n - fires)
            ],
        )
        shots = await engine.configs.create("app_shots", config)
        start = math.ceil((time.time() + LEAD) * 1000) / 1000
        created = await engine.automations.create_many(
            "app_shots",
            [
                {
                    "name": f"shot {k}",
                    "type": "scheduled",
                    "schedule": _iso(start + k / RATE),
                    "config_id": shots.id,
                    "enabled": True,
                }
                for k in range(fires)
            ],
        )
        assert len(engine.scheduler) == n
        gc.collect()
        await asyncio.sleep(max(0.0, start + fires / RATE + 0.5 - time.time()))
        late: list[float] = []
        for automation in created:
            page = await engine.automations.runs("app_shots", automation.id, limit=1)
            [run] = page.data
            assert run.scheduled_at is not None
            late.append((run.created_at - run.scheduled_at) * 1000)
    late.sort()
    print(
        f"    lateness over {fires} fires: p50 {late[len(late) // 2]:.2f} ms, p99 {_p99(late):.2f} ms, "
        f"max {late[-1]:.2f} ms",
        flush=True,
    )
    return [_p99(late)]


async def floor_lateness(n: int, settings: Settings) -> list[float]:
    fires = RATE * _seconds(settings)
    loop = asyncio.get_running_loop()
    late: list[float] = []
    done = asyncio.Event()
    start = math.ceil((time.time() + LEAD) * 1000) / 1000
    offset = loop.time() - time.time()  # wall clock → loop clock

    def fire(at: float) -> None:
        late.append((time.time() - at) * 1000)
        if len(late) == fires:
            done.set()

    for k in range(fires):
        at = start + k / RATE
        loop.call_at(at + offset, fire, at)
    await done.wait()
    return [_p99(late)]


CASES = [
    Case(
        name="lateness",
        title="fire lateness p99 at 1,000 fires/s, {n} active automations",
        unit="ms",
        divisor=1,
        contenders={"graphflow": graphflow_lateness, "floor": floor_lateness},
        measured=True,
        size=(100_000, 5_000),
        floor="asyncio loop.call_at lateness for the same instants",
        note="one-shots 1 ms apart for 5 s (1 s in quick runs) among daily crons; SystemClock; "
        "runs execute meanwhile; lateness = run created_at - scheduled instant",
    ),
]
