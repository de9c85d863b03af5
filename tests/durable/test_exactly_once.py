"""Several engine processes on one database fire each scheduled occurrence exactly once."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from graphflow.stores import store_from_url
from tests.durable.app import APP
from tests.durable.test_crash import start, wait_ready
from tests.pg import postgres_url

pytestmark = [pytest.mark.slow]


async def all_runs(url: str, automation_ids: list[str]) -> dict[str, list[object]]:
    store = store_from_url(url)
    await store.start()
    try:
        found: dict[str, list[object]] = {}
        for automation_id in automation_ids:
            page = await store.list_runs(APP, automation_id, status=None, cursor=None, limit=100)
            found[automation_id] = list(page.data)
        return found
    finally:
        await store.close()


def idle(process: subprocess.Popen[str]) -> bool:
    """Whether a serving process's scheduler tracks nothing and is not firing (it asks over SIGUSR1)."""
    assert process.stdout is not None
    process.send_signal(signal.SIGUSR1)
    return process.stdout.readline().strip() == "idle"


def fire_with_workers(url: str, tmp_path: Path, *, workers: int, occurrences: int) -> None:
    log = tmp_path / "steps.log"
    log.touch()
    before = start("schedule", url, log, str(occurrences // 2), "6")
    out, err = before.communicate(timeout=60)
    assert before.returncode == 0, err
    processes = [start("serve", url, log) for _ in range(workers)]
    try:
        for process in processes:
            wait_ready(process)
        # Half the automations are created while the workers run: they learn of them by syncing.
        after = start("schedule", url, log, str(occurrences - occurrences // 2), "5")
        more, err = after.communicate(timeout=60)
        assert after.returncode == 0, err
        ids = out.split() + more.split()
        assert len(ids) == occurrences
        deadline = time.monotonic() + 60
        while True:
            runs = anyio.run(all_runs, url, ids)
            done = [r for rs in runs.values() for r in rs if getattr(r, "status", None) == "completed"]
            if len(done) >= occurrences:
                break
            assert time.monotonic() < deadline, f"{len(done)} of {occurrences} occurrences ran"
            time.sleep(0.3)
        # A late duplicate can come only from a worker still tracking an automation (or firing
        # one): wait until none is, so the counts below are final, whatever the machine's load.
        while not all([idle(process) for process in processes]):
            assert time.monotonic() < deadline, "a worker still tracks a one-shot automation that has fired"
            time.sleep(0.3)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    assert [process.returncode for process in processes] == [0] * workers
    runs = anyio.run(all_runs, url, ids)
    assert {automation_id: len(found) for automation_id, found in runs.items()} == dict.fromkeys(ids, 1)
    lines = log.read_text().splitlines()
    assert len(lines) == occurrences, "a scheduled run's node ran twice"
    # Which process wins each race is up to timing (one may win them all: graphflow promises each
    # occurrence once, not an even share), so the test does not count winners. That the processes
    # did race is by construction: the first half of the automations existed before any worker
    # started, so every worker loaded them at start-up and competed for each of their occurrences.


def test_two_processes_on_one_sqlite_file_fire_each_occurrence_once(tmp_path: Path) -> None:
    fire_with_workers(f"sqlite:///{tmp_path / 'shared.db'}", tmp_path, workers=2, occurrences=40)


@pytest.mark.postgres
def test_three_processes_on_postgres_fire_each_occurrence_once(tmp_path: Path) -> None:
    with postgres_url() as url:
        fire_with_workers(url, tmp_path, workers=3, occurrences=60)
