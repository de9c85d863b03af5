"""A worker process that publishes a share of the events and executes runs (``test_flow_processes``).

``python -m tests.durable.flow_app URL APP EVENTS KEYS MODE`` publishes ``EVENTS``
``thread.created`` events spread over ``KEYS`` threads; with ``MODE`` ``run`` it then goes on
executing until no run of the app is pending or running, with ``publish`` it exits.
"""

from __future__ import annotations

import sys

import anyio

from graphflow import Engine


async def open_runs(engine: Engine, app: str) -> int:
    """The app's pending and running runs (queued ones too), at most one per automation and status."""
    count = 0
    for automation in (await engine.automations.list(app)).data:
        for status in ("pending", "running"):
            count += len((await engine.automations.runs(app, automation.id, status=status, limit=1)).data)
    return count


async def main(url: str, app: str, events: int, keys: int, mode: str) -> None:
    workers = 8 if mode == "run" else 0
    async with Engine(url, max_concurrent_runs=workers, poll_interval=0.05, sync_interval=0.2) as engine:
        for i in range(events):
            await engine.publish(app, "thread.created", {"thread_id": f"thr_{i % keys}"})
        while mode == "run":  # a worker's life: execute until the work is done
            if not await open_runs(engine, app):
                break
            await anyio.sleep(0.05)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
