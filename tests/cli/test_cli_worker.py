"""``graphflow worker`` and ``graphflow prune`` as users run them: real processes, a real database file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from graphflow import Engine, FakeClock
from graphflow.stores import store_from_url
from tests.cli.runner import Cli

APP = "app_cli"
GRAPH = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "w",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "$.n + 1"},
    ],
}


async def pending_run(url: str) -> str:
    """Store an invoked automation and a pending run of it, as a web process would, then stop."""
    async with Engine(url, max_concurrent_runs=1) as host:
        config = await host.configs.create(APP, GRAPH)
        automation = await host.automations.create(APP, name="w", type="invoked", config_id=config.id, enabled=True)
        from graphflow.ids import new_id
        from graphflow.records import AutomationRun

        run = AutomationRun(
            id=new_id("atr_"),
            automation_id=automation.id,
            app_id=APP,
            trigger="workflow.invoked",
            payload={"n": 41},
            status="pending",
            config_id=config.id,
            config_version=None,
            created_at=time.time(),
            updated_at=time.time(),
        )
        await host.store.insert_runs([run])
        return run.id


async def status_of(url: str, run_id: str) -> tuple[str, object]:
    store = store_from_url(url)  # a bare store: an engine here would claim the run itself
    await store.start()
    try:
        run = await store.get_run(APP, run_id)
        assert run is not None
        return run.status, run.result
    finally:
        await store.close()


@pytest.mark.slow
def test_worker_executes_pending_runs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    run_id = anyio.run(pending_run, url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "graphflow", "worker", "--database-url", url, "--status-every", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while anyio.run(status_of, url, run_id)[0] != "completed":
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "the worker did not run the pending run"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "SIGTERM" in err and "stopped cleanly" in err
    assert anyio.run(status_of, url, run_id) == ("completed", {"payload": 42, "output": []})


def test_worker_reports_an_unusable_database(cli: Cli, tmp_path: Path) -> None:
    result = cli("worker", "--database-url", f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}")
    assert result.exit_code == 2
    assert "store_unavailable" in result.err


def test_prune_deletes_finished_runs_older_than_the_age(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"

    async def finished_run() -> None:
        # The run finishes two hours ago (its engine's clock says so): ages on either side of that
        # are certain, whatever the machine's speed.
        async with Engine(url, clock=FakeClock(time.time() - 2 * 3600)) as host:
            config = await host.configs.create(APP, GRAPH)
            automation = await host.automations.create(APP, name="p", type="invoked", config_id=config.id, enabled=True)
            run_id = await host.automations.trigger(APP, automation.id, {"n": 1})
            await host.wait_for_run(APP, run_id, timeout=10)

    anyio.run(finished_run)
    kept = cli("prune", "--older-than", "3h", "--database-url", url)
    assert kept.exit_code == 0 and "pruned 0 runs" in kept.out
    gone = cli("prune", "--older-than", "1h", "--database-url", url)
    assert gone.exit_code == 0 and "pruned 1 runs" in gone.out
    bad = cli("prune", "--older-than", "soon", "--database-url", url)
    assert bad.exit_code == 2 and "invalid --older-than" in bad.err


def test_prune_refuses_a_database_file_that_does_not_exist(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    result = cli("prune", "--older-than", "1d", "--database-url", f"sqlite:///{missing}")
    assert result.exit_code == 2 and "no database at" in result.err and str(missing) in result.err
    assert not missing.exists()


@pytest.mark.slow
def test_worker_serves_metrics_that_agree_with_the_store(tmp_path: Path) -> None:
    import httpx

    from tests.observability.prometheus import parse

    url = f"sqlite:///{tmp_path / 'm.db'}"
    run_id = anyio.run(pending_run, url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "graphflow", "worker", "--database-url", url, "--status-every", "0",
         "--metrics-port", "0", "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert worker.stderr is not None
        line = ""
        while "metrics on " not in line:
            line = worker.stderr.readline()
            assert line, worker.communicate()
        endpoint = line.split("metrics on ", 1)[1].split()[0]
        deadline = time.monotonic() + 30
        while True:  # the metrics count a run once its outcome is stored: then the store must agree
            families = parse(httpx.get(endpoint, timeout=10).text)
            if families["graphflow_runs_finished"].total("_total", status="completed") == 1:
                break
            assert time.monotonic() < deadline, "the worker did not run the pending run"
            time.sleep(0.1)
        assert anyio.run(status_of, url, run_id)[0] == "completed"
        assert families["graphflow_runs_started"].total("_total") == 1 and families["graphflow_store_up"].value() == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
