"""Event dispatch: ``engine.publish`` → schema check → (app, event) match → runs stored and queued.

The fleet: N running trigger automations (1,000 / 10,000 / 100,000; 500 / 1,000 / 2,000 in
quick runs), one per (app, event) pair over N/25 apps and 25 event types (the 22 built-in platform
events and 3 host-registered ones), each app with its own config; built through
``configs.create`` and ``automations.create_many`` on an ``Engine("memory://")``. Events go to
the (app, event) pairs in a fixed random order, each with a payload that fills every property of
its event's schema (ids, timestamps, enums), so each event is validated in full and **matches
exactly one automation**: the other N - 1 do not match, which is what the three rows vary.

What is timed: ``await engine.publish(app_id, name, payload)`` — payload limits and JSON Schema,
the index lookup, one ``AutomationRun`` per match, ``Store.accept_event`` (the event id and the run
recorded atomically) and the run put on the engine's dispatch queue — per event. Execution is
excluded, honestly: with the memory store ``publish`` never suspends, so the engine's workers do not
get the event loop during a timed repeat; the queued runs are never executed (the engine is closed
after the case; chain and fan-out rows measure execution). Runs accumulate in the store across
repeats, as they would. The floor is the least a dispatcher can do per event: a dict lookup of the
(app, event) bucket and one tuple per match appended to a deque.
"""

from __future__ import annotations

import collections
import gc
import itertools
import time
from typing import Any

from benchmarks.fleet import event_names, memory_engine, payload, register_host_events, shuffled, trigger_fleet
from benchmarks.harness import Case, Settings

#: Automations per row, in full and in quick runs.
SIZES = ((1_000, 500), (10_000, 1_000), (100_000, 2_000))


def _events(engine: Any, pairs: list[tuple[str, str]]) -> list[tuple[str, str, dict[str, Any]]]:
    bodies = {name: payload(engine, name) for name in {event for _, event in pairs}}
    order = shuffled(pairs)
    return [(app_id, name, bodies[name]) for app_id, name in itertools.islice(order, 50_000)]


def _count(settings: Settings, per_event: float) -> int:
    return max(1000, round(settings.target / per_event)) if per_event > 0 else 10_000


async def graphflow_publish(size: int, settings: Settings) -> list[float]:
    async with memory_engine() as engine:
        register_host_events(engine)
        pairs = await trigger_fleet(engine, size, event_names(engine))
        events = _events(engine, pairs)
        publish = engine.publish
        stream = itertools.cycle(events)
        for app_id, name, body in itertools.islice(stream, 2000):  # warm-up
            await publish(app_id, name, body)
        start = time.perf_counter()
        for app_id, name, body in itertools.islice(stream, 2000):
            await publish(app_id, name, body)
        count = _count(settings, (time.perf_counter() - start) / 2000)
        samples = []
        for _ in range(settings.repeats):
            gc.collect()
            start = time.perf_counter()
            for app_id, name, body in itertools.islice(stream, count):
                result = await publish(app_id, name, body)
            samples.append((time.perf_counter() - start) / count * 1e6)
            assert len(result.run_ids) == 1
    return samples


async def floor(size: int, settings: Settings) -> list[float]:
    names = [f"event.{i}" for i in range(25)]
    pairs = [(f"app_{k:05d}", name) for k in range(size // 25) for name in names]
    buckets = {pair: [f"aut_{i}"] for i, pair in enumerate(pairs)}
    events = [(app_id, name, {"id": 1}) for app_id, name in itertools.islice(shuffled(pairs), 50_000)]
    queue: collections.deque[tuple[str, str, Any]] = collections.deque()
    stream = itertools.cycle(events)

    async def publish(app_id: str, name: str, body: Any) -> None:
        for automation_id in buckets.get((app_id, name), ()):
            queue.append((automation_id, name, body))

    count = 200_000 if not settings.quick else 20_000
    samples = []
    for _ in range(settings.repeats):
        queue.clear()
        gc.collect()
        start = time.perf_counter()
        for app_id, name, body in itertools.islice(stream, count):
            await publish(app_id, name, body)
        samples.append((time.perf_counter() - start) / count * 1e6)
    return samples


CASES = [
    Case(
        name=f"dispatch-{full // 1000}k",
        title="publish: 1 match among {n} trigger automations",
        unit="µs/event",
        divisor=1,
        contenders={"graphflow": graphflow_publish, "floor": floor},
        measured=True,
        size=(full, quick),
        floor="dict lookup of the (app, event) bucket + one tuple per match on a deque",
        note="{n} automations, one per (app, event) pair of 25 event types; events in random pair order, "
        "full payloads validated; runs stored and queued, not executed",
    )
    for full, quick in SIZES
]
