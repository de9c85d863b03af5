"""A publishing engine (``Engine(url, max_concurrent_runs=0)``, a web process) loses no work.

Replayed with real processes on SQLite and PostgreSQL: a publisher started and stopped several
times while runs wait must leave them untouched for the workers (it used to claim them all at
start and never hand them back, so each restart counted as a worker death and a never-executed
run ended ``failed``); and a publisher must start the automations another process created after
it started (it never loaded them, so an accepted event started nothing and its id was spent).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphflow.engine.engine import Engine
from graphflow.stores import store_from_url
from tests.conftest import eventually
from tests.pg import postgres_url

pytestmark = pytest.mark.anyio

APP = "app_pub"
GRAPH = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "echo",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "$.thread_id"},
    ],
}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with postgres_url() as pg:
            yield pg
    else:
        yield f"sqlite:///{tmp_path / 'publisher.db'}"


def in_a_process(url: str, body: str) -> str:
    """Run ``body`` (async code with ``engine`` and ``APP``) in a fresh interpreter; return what it printed."""
    script = textwrap.dedent(
        """
        import json, sys, anyio
        from graphflow import Engine
        APP, GRAPH = sys.argv[2], json.loads(sys.argv[3])
        async def main(url):
        {body}
        anyio.run(main, sys.argv[1])
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    import json

    done = subprocess.run(
        [sys.executable, "-c", script, url, APP, json.dumps(GRAPH)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


CREATE = """
async with Engine(url, max_concurrent_runs=0) as engine:
    cfg = await engine.configs.create(APP, GRAPH)
    aut = await engine.automations.create(APP, name="a", trigger="thread.created", config_id=cfg.id, enabled=True)
    print(aut.id)
"""


async def test_restarting_a_publisher_never_takes_runs_from_the_workers(url: str) -> None:
    automation_id = in_a_process(url, CREATE)
    publish = """
    async with Engine(url, max_concurrent_runs=0) as engine:
        for n in range(3):
            await engine.publish(APP, "thread.created", {"thread_id": f"thr_{n}"})
    """
    in_a_process(url, publish)
    for _ in range(4):  # more restarts than max_recoveries (3)
        in_a_process(url, "async with Engine(url, max_concurrent_runs=0):\n    pass")
    store = store_from_url(url)
    await store.start()
    try:
        page = await store.list_runs(APP, automation_id, status=None, cursor=None, limit=10)
        assert len(page.data) == 3
        for run in page.data:
            assert (run.status, run.lease_owner, run.fence, run.recoveries) == ("pending", None, 0, 0)
    finally:
        await store.close()
    async with Engine(url, poll_interval=0.05) as worker:
        for run in page.data:
            done = await worker.wait_for_run(APP, run.id, timeout=30)
            assert (done.status, done.recoveries) == ("completed", 0)


async def test_a_publisher_starts_automations_other_processes_created_after_it_started(url: str) -> None:
    async with Engine(url, max_concurrent_runs=0, sync_interval=0.05) as publisher:
        automation_id = in_a_process(url, CREATE)

        async def known() -> bool:
            return any(a.id == automation_id for a in await publisher.explain(APP, "thread.created"))

        await eventually(known, "the publisher to load the automation another process created", timeout=10)
        published = await publisher.publish(APP, "thread.created", {"thread_id": "thr_1"})
        assert len(published.run_ids) == 1
        run = await publisher.automations.run(APP, published.run_ids[0])
        assert (run.status, run.lease_owner) == ("pending", None)
        pause = "async with Engine(url, max_concurrent_runs=0) as e:\n    await e.automations.pause(APP, {!r})"
        in_a_process(url, pause.format(automation_id))

        async def forgotten() -> bool:
            return await publisher.explain(APP, "thread.created") == []

        await eventually(forgotten, "the publisher to drop the automation another process paused", timeout=10)
