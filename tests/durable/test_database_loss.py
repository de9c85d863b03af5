"""The database goes away while a run executes: work pauses, and resumes when it returns.

A TCP proxy stands in front of the real PostgreSQL server; stopping it is the server going away.
"""

from __future__ import annotations

from typing import Any

import anyio
import psycopg
import pytest

import graphflow
from graphflow import Engine
from graphflow.exceptions import StoreUnavailableError
from graphflow.records import AutomationRun
from graphflow.stores.postgres import PostgresStore
from tests.conftest import eventually
from tests.pg import fresh_schema
from tests.stores.test_postgres import Proxy, with_params

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

APP = "app_loss"
GATE = anyio.Event()
CALLS: list[str] = []


@graphflow.node("LossStep")
async def loss_step(input: Any, ctx: graphflow.NodeContext, *, gated: bool = False) -> Any:
    if gated:
        await GATE.wait()
    CALLS.append(f"{ctx.run_id}:{ctx.node_id}")
    return input


class WatchedStore(PostgresStore):
    """The real store, counting the run writes it refused because the server was away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused_writes = 0

    async def update_run(self, run: AutomationRun, *, fence: int | None = None) -> None:
        try:
            await super().update_run(run, fence=fence)
        except StoreUnavailableError:
            self.refused_writes += 1
            raise

    async def save_step(self, run_id: str, fence: int, key: str, data: Any) -> None:
        try:
            await super().save_step(run_id, fence, key, data)
        except StoreUnavailableError:
            self.refused_writes += 1
            raise


GRAPH = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "loss",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "a"},
        {"kind": "LossStep", "id": "a", "gated": True, "on_success": "b"},
        {"kind": "LossStep", "id": "b"},
    ],
}


async def test_a_run_pauses_while_the_database_is_away_and_finishes_when_it_returns() -> None:
    global GATE
    GATE = anyio.Event()
    CALLS.clear()
    async with fresh_schema() as (dsn, schema):
        params = psycopg.conninfo.conninfo_to_dict(dsn)
        host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
        if host.startswith("/"):
            pytest.skip("the test DSN uses a Unix socket; this test forwards TCP")
        async with anyio.create_task_group() as tg:
            proxy = Proxy(host, port)
            await proxy.start(tg)
            store = WatchedStore(with_params(dsn, host="127.0.0.1", port=proxy.port), schema=schema, connect_timeout=1)
            async with Engine(store, poll_interval=0.1) as engine:
                config = await engine.configs.create(APP, GRAPH)
                automation = await engine.automations.create(
                    APP, name="loss", type="invoked", config_id=config.id, enabled=True
                )
                run_id = await engine.automations.trigger(APP, automation.id, {})

                async def waiting_at_a() -> bool:
                    return bool(engine.running)

                await eventually(waiting_at_a, "the run reaches node a")
                proxy.stop()

                async def proxy_gone() -> bool:  # it closes its connections, then its listener
                    try:
                        probe = await anyio.connect_tcp("127.0.0.1", proxy.port)
                    except OSError:
                        return True
                    await probe.aclose()
                    return False

                await eventually(proxy_gone, "the proxy closes")
                GATE.set()  # a finishes while the database is away: its checkpoint must wait

                async def checkpoint_retried() -> bool:
                    return store.refused_writes >= 2  # a's checkpoint (the run's first write), twice

                await eventually(checkpoint_retried, "the engine tries a's checkpoint again")
                # b follows a's checkpoint, which the store refused twice: b has not run.
                assert [f"{run_id}:a"] == CALLS
                assert engine.running  # paused, not failed
                await proxy.start(tg)
                done = await engine.wait_for_run(APP, run_id, timeout=30)
            proxy.stop()
    assert done.status == "completed", done.result
    assert [f"{run_id}:a", f"{run_id}:b"] == CALLS  # nothing ran twice
