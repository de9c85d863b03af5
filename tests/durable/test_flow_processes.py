"""Flow-control limits hold across worker processes: two processes publish and execute at once.

Each process publishes its share of the events for the same keys while the other does, and
executes runs; no decision depends on a process-local count (SQLite serialises on its write lock,
PostgreSQL on a per-key advisory lock).
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphflow.engine.engine import Engine
from graphflow.records import QUEUED_AT, AutomationRun
from tests.pg import postgres_url

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

APP = "app_flow2"
ROOT = Path(__file__).resolve().parents[2]
BUSY = {  # a run that stays active a moment (an in-process delay), so that runs of a key overlap if allowed
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "busy",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "d"},
        {"kind": "WorkflowDelay", "id": "d", "duration": "20ms", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "$.thread_id"},
    ],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with postgres_url() as pg:
            yield pg
    else:
        yield f"sqlite:///{tmp_path / 'flow.db'}"


async def create(url: str, **policy: Any) -> str:
    async with Engine(url, max_concurrent_runs=0) as engine:
        config = await engine.configs.create(APP, BUSY)
        automation = await engine.automations.create(
            APP, name="flow", trigger="thread.created", config_id=config.id, enabled=True, **policy
        )
        return automation.id


def two_processes(url: str, events: int, keys: int, mode: str) -> None:
    """Two processes, each publishing ``events`` (and executing runs until none is left, in ``run`` mode)."""
    command = [sys.executable, "-m", "tests.durable.flow_app", url, APP, str(events), str(keys), mode]
    processes = [subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err


async def all_runs(url: str, automation_id: str) -> list[AutomationRun]:
    async with Engine(url, max_concurrent_runs=0) as engine:
        runs: list[AutomationRun] = []
        cursor = None
        while True:
            page = await engine.automations.runs(APP, automation_id, cursor=cursor, limit=100)
            runs.extend(page.data)
            if (cursor := page.next_cursor) is None:
                return runs


def most_at_once(runs: list[AutomationRun]) -> dict[str, int]:
    """Per key, the most runs that were executing at one instant (from their start and end times)."""
    moments: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for run in runs:
        assert run.started_at is not None and run.finished_at is not None
        moments[run.flow_key or ""] += [(run.started_at, 1), (run.finished_at, -1)]
    most: dict[str, int] = {}
    for key, points in moments.items():
        level = peak = 0
        for _at, step in sorted(points, key=lambda p: (p[0], p[1])):  # an end before a start at one instant
            level += step
            peak = max(peak, level)
        most[key] = peak
    return most


async def test_a_concurrency_limit_holds_across_processes(url: str) -> None:
    automation_id = await create(url, concurrency={"limit": 2, "key": "$.thread_id"})
    two_processes(url, events=30, keys=3, mode="run")
    runs = await all_runs(url, automation_id)
    assert len(runs) == 60 and {r.status for r in runs} == {"completed"}  # queued, never dropped
    peaks = most_at_once(runs)
    assert set(peaks) == {"thr_0", "thr_1", "thr_2"}
    assert max(peaks.values()) <= 2


async def test_a_throttle_admits_exactly_its_limit_across_processes(url: str) -> None:
    automation_id = await create(url, throttle={"limit": 5, "period": "1h", "key": "$.thread_id"})
    two_processes(url, events=40, keys=2, mode="publish")
    runs = await all_runs(url, automation_id)
    per_key = defaultdict(int)
    for run in runs:
        per_key[run.flow_key] += 1
    assert dict(per_key) == {"thr_0": 5, "thr_1": 5}


async def test_a_debounce_keeps_one_holder_per_key_across_processes(url: str) -> None:
    automation_id = await create(url, debounce={"period": "1h", "key": "$.thread_id"})
    two_processes(url, events=40, keys=2, mode="publish")
    runs = await all_runs(url, automation_id)
    assert sorted((r.flow_key, r.status) for r in runs) == [("thr_0", "pending"), ("thr_1", "pending")]


async def test_decisions_follow_the_stored_policy_not_a_stale_copy(url: str) -> None:
    """Engine C has not seen B's changes (a long sync interval): the store decides by what is stored."""
    async with Engine(url, max_concurrent_runs=0, sync_interval=3600) as b:  # nothing executes: states stay
        config = await b.configs.create(APP, BUSY)
        limited = await b.automations.create(
            APP, name="limited", trigger="thread.created", config_id=config.id, enabled=True,
            concurrency={"limit": 5},
        )  # fmt: skip
        throttled = await b.automations.create(
            APP, name="throttled", trigger="thread.created", config_id=config.id, enabled=True,
            throttle={"limit": 5, "period": "1h"},
        )  # fmt: skip
        plain = await b.automations.create(APP, name="plain", trigger="thread.created", config_id=config.id)
        await b.automations.activate(APP, plain.id)
        async with Engine(url, max_concurrent_runs=0, sync_interval=3600) as c:  # loads the policies now
            await b.automations.update(APP, limited.id, concurrency={"limit": 1})
            await b.automations.delete(APP, throttled.id)
            for i in range(3):
                published = await c.publish(APP, "thread.created", {"thread_id": f"thr_{i}"})
                assert len(published.run_ids) == 2  # limited's and plain's: the deleted one starts nothing
        runs = await all_runs(url, limited.id)
        assert sorted(r.wake_at == QUEUED_AT for r in runs) == [False, True, True]  # one active, two queued
        assert len(await all_runs(url, plain.id)) == 3
