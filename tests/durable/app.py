"""A host application for crash tests, run as a real process: ``python tests/durable/app.py MODE URL LOG``.

Modes:

* ``seed N`` — create the config and a trigger automation, publish ``N`` events, stop cleanly.
* ``schedule N SECONDS`` — create ``N`` running one-shot automations due within ``SECONDS``
  (spread over the last two of them), print their ids, stop cleanly.
* ``serve`` — run an engine (short lease, fast polling); print ``ready`` once it runs and its signal
  handlers are installed, so the test may signal it from then on. SIGTERM stops it cleanly;
  SIGUSR1 asks whether its scheduler can still fire anything: it prints ``idle`` or ``busy``.

``seed`` and ``schedule`` use publishing engines (``max_concurrent_runs=0``): they execute nothing,
so every node execution in ``LOG`` is a serving process's, and a clean stop of the seeder cannot cut
off a node that has already written its line.

Every ``CrashStep`` node sleeps a little, then appends ``pid run_id step_key`` to ``LOG`` (fsynced)
just before it returns: a line means the node's work was done, whether or not its checkpoint was
committed before the process died.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import anyio

import graphflow
from graphflow.clock import SystemClock

APP = "app_crash"
LOG = os.environ.get("CRASH_LOG", "")


@graphflow.node("CrashStep")
async def crash_step(input: Any, ctx: graphflow.NodeContext, *, ms: int = 80) -> Any:
    await anyio.sleep(ms / 1000)
    with open(LOG, "a") as log:  # noqa: ASYNC230 - a tiny fsynced append is the point
        log.write(f"{os.getpid()} {ctx.run_id} {ctx.step_key}\n")
        log.flush()
        os.fsync(log.fileno())
    return input


GRAPH: dict[str, Any] = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "crashy",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "s1"},
        {"kind": "CrashStep", "id": "s1", "on_success": "s2"},
        {"kind": "CrashStep", "id": "s2", "on_success": "fan"},
        {"kind": "WorkflowParallel", "id": "fan", "branches": ["b1", "b2"], "on_success": "wait"},
        {"kind": "CrashStep", "id": "b1"},
        {"kind": "CrashStep", "id": "b2"},
        {"kind": "WorkflowDelay", "id": "wait", "duration": 1.5, "on_success": "s3"},
        {"kind": "CrashStep", "id": "s3", "on_success": "s4"},
        {"kind": "CrashStep", "id": "s4"},
    ],
}
#: The node executions every run must have completed exactly once in its journal.
STEPS = ("t", "s1", "s2", "b1", "b2", "fan", "wait", "s3", "s4")


def engine(url: str, **options: Any) -> graphflow.Engine:
    return graphflow.Engine(url, lease=1.0, poll_interval=0.1, sync_interval=0.5, timer_threshold=1.0, **options)


async def seed(url: str, count: int) -> None:
    async with engine(url, max_concurrent_runs=0) as seeding:
        config = await seeding.configs.create(APP, GRAPH)
        automation = await seeding.automations.create(
            APP, name="crashy", type="trigger", trigger="thread.created", config_id=config.id, enabled=True
        )
        for index in range(count):
            await seeding.publish(APP, "thread.created", {"thread_id": f"thr_{index}"}, id=f"evt_{index}")
        print(automation.id, flush=True)


SCHEDULED_GRAPH: dict[str, Any] = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "scheduled",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.scheduled", "on_success": "s1"},
        {"kind": "CrashStep", "id": "s1", "ms": 10},
    ],
}


async def schedule(url: str, count: int, within: float) -> None:
    import time
    from datetime import UTC, datetime

    async with engine(url, max_concurrent_runs=0) as seeding:
        config = await seeding.configs.create(APP, SCHEDULED_GRAPH)
        base = time.time() + within - 2
        for index in range(count):
            at = datetime.fromtimestamp(int(base + 2 * index / count) + 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            automation = await seeding.automations.create(
                APP, name=f"once {index}", type="scheduled", schedule=at, config_id=config.id, enabled=True
            )
            print(automation.id, flush=True)


class WatchedClock(SystemClock):
    """The system clock, counting who waits on it: the engine's scheduler waits there between fires."""

    def __init__(self) -> None:
        self.waiting = 0

    async def wait(self, event: anyio.Event, until: float | None) -> None:
        self.waiting += 1
        try:
            await super().wait(event, until)
        finally:
            self.waiting -= 1


async def serve(url: str) -> None:
    clock = WatchedClock()
    # The receiver is installed before "ready" is printed: the test signals as soon as it reads it,
    # and a SIGTERM before the receiver would kill the process (exit -15) instead of stopping it.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGUSR1) as signals:
        async with engine(url, max_concurrent_runs=8, clock=clock) as serving:
            print("ready", flush=True)
            async for signum in signals:
                if signum == signal.SIGTERM:
                    return
                # Idle: the scheduler tracks no automation and waits (it fires only between two
                # waits, with the automation already untracked), so it cannot fire anything more.
                idle = clock.waiting > 0 and len(serving.scheduler) == 0
                print("idle" if idle else "busy", flush=True)


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "seed":
        anyio.run(seed, url, int(sys.argv[3]))
    elif mode == "schedule":
        anyio.run(schedule, url, int(sys.argv[3]), float(sys.argv[4]))
    else:
        anyio.run(serve, url)
