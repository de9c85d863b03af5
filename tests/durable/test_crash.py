"""Crash tests with real processes: ``kill -9`` engines mid-run, restart, and check the guarantees.

No run is lost, every run ends ``completed``, each node appears once in its run's journal, and a
node's work is done twice only when the process doing it the first time was killed (at-least-once
for the node in flight, never for a completed one). Durable timers (a 1.5 s delay in the graph)
survive the kills.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from graphflow.stores import store_from_url
from tests.durable.app import APP, STEPS
from tests.pg import postgres_url

pytestmark = [pytest.mark.slow]

APP_SCRIPT = Path(__file__).with_name("app.py")
ROOT = APP_SCRIPT.parents[2]
RUNS = 12


def start(mode: str, url: str, log: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CRASH_LOG": str(log), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(APP_SCRIPT), mode, url, *extra],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", f"worker did not start: {line!r} {process.stderr.read() if process.stderr else ''}"


async def runs_of(url: str, automation_id: str) -> list[Any]:
    store = store_from_url(url)
    await store.start()
    try:
        page = await store.list_runs(APP, automation_id, status=None, cursor=None, limit=100)
        return list(page.data)
    finally:
        await store.close()


def crash_and_recover(url: str, tmp_path: Path, *, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    log = tmp_path / "steps.log"
    log.touch()
    seeding = start("seed", url, log, str(RUNS))
    out, err = seeding.communicate(timeout=60)
    assert seeding.returncode == 0, err
    automation_id = out.split()[-1]

    killed: set[int] = set()
    for _ in range(kills):
        worker = start("serve", url, log)
        wait_ready(worker)
        time.sleep(rng.uniform(0.3, 1.5))  # somewhere inside nodes, timers or checkpoints
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        killed.add(worker.pid)

    final = start("serve", url, log)
    wait_ready(final)
    deadline = time.monotonic() + 90
    try:
        while True:
            runs = anyio.run(runs_of, url, automation_id)
            if len(runs) == RUNS and all(r.status in ("completed", "failed", "cancelled") for r in runs):
                break
            assert time.monotonic() < deadline, [(r.id, r.status) for r in runs]
            time.sleep(0.3)
    finally:
        final.send_signal(signal.SIGTERM)
        final.wait(timeout=30)
    assert final.returncode == 0, final.stderr.read() if final.stderr else ""

    assert len(runs) == RUNS, "a run was lost"
    assert [r.status for r in runs] == ["completed"] * RUNS, [(r.id, r.status, r.result) for r in runs]
    for run in runs:
        completed = collections.Counter((e["node_id"]) for e in run.journal if e["type"] == "node_completed")
        lines = [(e["type"], e.get("scope", ""), e["node_id"]) for e in run.journal]
        assert sorted(completed) == sorted(STEPS) and set(completed.values()) == {1}, "\n".join(map(str, lines))

    done: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for line in log.read_text().splitlines():
        pid, run_id, key = line.split()
        done[(run_id, key)].append(int(pid))
    assert {run_id for run_id, _ in done} == {r.id for r in runs}
    for (run_id, key), pids in done.items():
        # Every execution but the last must have been cut off by a kill. Nothing else executes:
        # the seeder is a publishing engine, and the final worker is stopped once every run is
        # finished (a clean stop may cut off a node that has written its line before its
        # checkpoint is committed, and that node runs again, so a stop with work in flight would
        # show here too).
        assert all(pid in killed for pid in pids[:-1]), (run_id, key, pids, killed)
    # A kill can cut off only the nodes in flight: one in the chain, or the two parallel branches.
    # Anything more re-ran a node whose completion had been checkpointed.
    for pid in killed:
        redone: dict[str, set[str]] = collections.defaultdict(set)
        for (run_id, key), pids in done.items():
            if pid in pids[:-1]:
                redone[run_id].add(key)
        for run_id, keys in redone.items():
            assert len(keys) == 1 or keys == {"fan/b1/b1", "fan/b2/b2"}, (run_id, keys)


def test_sqlite_engine_killed_mid_run_loses_and_repeats_nothing(tmp_path: Path) -> None:
    crash_and_recover(f"sqlite:///{tmp_path / 'crash.db'}", tmp_path, kills=3, seed=1)


@pytest.mark.postgres
def test_postgres_engine_killed_mid_run_loses_and_repeats_nothing(tmp_path: Path) -> None:
    with postgres_url() as url:
        crash_and_recover(url, tmp_path, kills=3, seed=2)
