"""PostgresStore beyond the contract suite: migrations, failures, real concurrency, LISTEN/NOTIFY.

The contract itself is tested in ``tests/contract`` (the ``postgres`` parameter). Here: what only
a server shared by several processes shows — migrations racing, claims and scheduler fires
racing from three real processes, wake-ups across connections, connections killed under the
store and a server that goes away and comes back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream

from graphflow.exceptions import SchemaVersionError, StoreError, StoreUnavailableError
from graphflow.ids import new_id
from graphflow.records import Automation, AutomationRun
from tests.conftest import eventually as until
from tests.pg import fresh_schema, in_ci, postgres_store

if not in_ci():  # in CI a missing driver must fail, not skip
    pytest.importorskip("psycopg")
import psycopg

from graphflow.stores import store_from_url
from graphflow.stores.postgres import PostgresStore
from graphflow.stores.postgres_schema import AUTOMATION_COLUMNS, CONFIG_COLUMNS, RUN_COLUMNS, SCHEMA_VERSION

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def sql(dsn: str, query: str, params: Any = None, *, schema: str | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on a connection of its own (outside any store) and return its rows."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if schema is not None:
            conn.execute(f'SET search_path TO "{schema}"')
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def automation(**fields: Any) -> Automation:
    values: dict[str, Any] = {
        "id": new_id("aut_"),
        "app_id": "app_a",
        "name": "A",
        "type": "trigger",
        "status": "running",
        "config_id": "cfg_x",
        "trigger": "thread.created",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Automation(**values)


def run(automation_id: str, **fields: Any) -> AutomationRun:
    values: dict[str, Any] = {
        "id": new_id("atr_"),
        "automation_id": automation_id,
        "app_id": "app_a",
        "trigger": "thread.created",
        "payload": {"n": 1},
        "status": "pending",
        "config_id": "cfg_x",
        "config_version": None,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return AutomationRun(**values)


@asynccontextmanager
async def started(url: str, **options: Any) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(url, **options)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


# --- migrations -----------------------------------------------------------------------------


async def test_a_fresh_schema_is_created_and_migrated_to_the_current_version() -> None:
    async with fresh_schema() as (dsn, schema), started(dsn, schema=schema):
        assert sql(dsn, "SELECT max(version) FROM schema_version", schema=schema) == [(SCHEMA_VERSION,)]


async def test_the_tables_match_the_records() -> None:
    async with fresh_schema() as (dsn, schema), started(dsn, schema=schema):
        for table, columns in (("runs", RUN_COLUMNS), ("automations", AUTOMATION_COLUMNS), ("configs", CONFIG_COLUMNS)):
            rows = sql(
                dsn,
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s ORDER BY ordinal_position",
                [schema, table],
            )
            assert tuple(name for (name,) in rows) == columns, table


async def test_reopening_keeps_the_data_and_migrates_nothing() -> None:
    async with fresh_schema() as (dsn, schema):
        record = automation(lookup_key="kept")
        async with started(dsn, schema=schema) as store:
            await store.insert_automation(record)
        async with started(dsn, schema=schema) as store:
            assert await store.get_automation("app_a", record.id) == record
        assert sql(dsn, "SELECT max(version) FROM schema_version", schema=schema) == [(SCHEMA_VERSION,)]


async def test_stores_starting_together_migrate_once() -> None:
    async with fresh_schema() as (dsn, schema):
        stores = [PostgresStore(dsn, schema=schema, max_size=2) for _ in range(3)]
        try:
            async with anyio.create_task_group() as tg:
                for store in stores:
                    tg.start_soon(store.start)
            for store in stores:
                await store.insert_runs([run("aut_1")])
        finally:
            for store in stores:
                await store.close()
        assert sql(dsn, "SELECT max(version) FROM schema_version", schema=schema) == [(SCHEMA_VERSION,)]
        assert sql(dsn, "SELECT count(*) FROM runs", schema=schema) == [(3,)]


async def test_a_schema_from_a_newer_graphflow_is_refused() -> None:
    async with fresh_schema() as (dsn, schema):
        async with started(dsn, schema=schema):
            pass
        sql(dsn, "INSERT INTO schema_version (version) VALUES (%s)", [SCHEMA_VERSION + 1], schema=schema)
        with pytest.raises(SchemaVersionError, match=r"newer graphflow.*upgrade graphflow") as caught:
            await PostgresStore(dsn, schema=schema).start()
        assert f"version {SCHEMA_VERSION + 1}" in str(caught.value)


async def test_an_applications_table_in_the_way_is_explained() -> None:
    async with fresh_schema() as (dsn, schema):
        sql(dsn, f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".runs (id int)')
        with pytest.raises(StoreError, match="schema of its own"):
            await PostgresStore(dsn, schema=schema).start()
        assert sql(dsn, "SELECT to_regclass(%s)", [f"{schema}.schema_version"]) == [(None,)]


async def test_the_schema_can_come_from_the_url() -> None:
    async with fresh_schema() as (dsn, schema):
        url = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"
        store = store_from_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
        assert isinstance(store, PostgresStore) and store.schema == schema
        await store.start()
        try:
            await store.insert_runs([run("aut_1")])
        finally:
            await store.close()
        assert sql(dsn, "SELECT count(*) FROM runs", schema=schema) == [(1,)]


# --- failures -------------------------------------------------------------------------------


async def test_an_unreachable_server_is_named_with_its_password_hidden() -> None:
    url = "postgresql://alice:s3cret@127.0.0.1:1/graphflow"  # nothing listens on port 1
    store = PostgresStore(url, connect_timeout=2)
    with anyio.fail_after(30):  # a clear error soon, never a hang
        with pytest.raises(StoreUnavailableError) as caught:
            await store.start()
    message = str(caught.value)
    assert "alice:***@127.0.0.1:1/graphflow" in message and "s3cret" not in message
    assert "s3cret" not in repr(store)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    await store.close()


async def test_an_unusable_value_is_refused_before_the_driver_sees_it() -> None:
    async with postgres_store() as store:
        with pytest.raises(StoreError, match="NUL character") as caught:  # jsonb cannot hold NUL characters
            await store.insert_runs([run("aut_1", payload={"text": "a\u0000b"})])
        assert not isinstance(caught.value.__cause__, psycopg.Error)
        assert await store.pending_runs(10) == []


async def test_a_malformed_url_is_refused_with_its_password_hidden() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL") as caught:
        PostgresStore("postgresql://alice:s3cret@db/app?no_such_option=1")
    assert "s3cret" not in str(caught.value)


async def test_operations_before_start_explain_themselves() -> None:
    with pytest.raises(StoreError, match="not started"):
        await PostgresStore("postgresql://localhost/x").get_run("app_a", "atr_1")


async def test_the_same_event_published_concurrently_creates_one_run() -> None:
    async with postgres_store() as store:
        record = automation()
        await store.insert_automation(record)
        results: list[Any] = []

        async def publish() -> None:
            results.append(
                await store.accept_event("app_a", "evt_1", "thread.created", {}, [run(record.id, event_id="evt_1")])
            )

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(publish)
        assert sum(result is not None for result in results) == 1
        assert len(await store.pending_runs(100)) == 1


async def test_thousands_of_runs_go_in_one_statement() -> None:
    async with postgres_store() as store:
        record = automation()
        await store.insert_automation(record)
        many = [run(record.id, event_id="evt_1") for _ in range(4000)]  # 88,000 values: over the protocol's
        stored = await store.accept_event("app_a", "evt_1", "thread.created", {}, many)  # 65,535 parameters
        assert stored is not None and len(stored) == 4000
        scheduled = [run(record.id, scheduled_at=T0 + k) for k in range(3000)]
        again = [run(record.id, scheduled_at=T0 + k) for k in range(10)]  # fired twice: skipped
        assert await store.insert_runs(scheduled + again) == scheduled
        assert len(await store.pending_runs(10_000)) == 7000


# --- connections killed and servers lost ------------------------------------------------------


def terminate(dsn: str, application_name: str) -> int:
    """Kill every backend of ``application_name`` (waiting until they are gone); return how many."""
    rows = sql(
        dsn,
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = %s",
        [application_name],
    )
    return len(rows)


def with_params(dsn: str, **params: Any) -> str:
    return psycopg.conninfo.make_conninfo(dsn, **params)


async def test_the_pool_recovers_after_its_connections_are_killed() -> None:
    async with fresh_schema() as (dsn, schema):
        async with started(with_params(dsn, application_name=schema), schema=schema, min_size=2, max_size=2) as store:
            record = automation()
            await store.insert_automation(record)
            first = run(record.id, event_id="evt_1")
            assert await store.accept_event("app_a", "evt_1", "thread.created", {}, [first]) == [first]

            assert terminate(dsn, schema) >= 2  # the pool's connections and the LISTEN one
            # A write that is not idempotent: retried because the server says it never ran it.
            second = run(record.id, event_id="evt_2")
            assert await store.accept_event("app_a", "evt_2", "thread.created", {}, [second]) == [second]

            assert terminate(dsn, schema) >= 1
            assert (await store.get_run("app_a", first.id)) is not None  # a read

            assert terminate(dsn, schema) >= 1
            claimed = await store.claim_runs("w1", lease=30, limit=10)
            assert sorted(r.id for r in claimed) == sorted([first.id, second.id])
        assert sql(dsn, "SELECT count(*) FROM runs", schema=schema) == [(2,)]


class Proxy:
    """A TCP forwarder in front of the server: stopping it is the server going away."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = 0
        self._scope: anyio.CancelScope | None = None

    async def start(self, tg: Any) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        scope = anyio.CancelScope()
        self._scope = scope

        async def serve() -> None:
            with scope:
                async with listener, anyio.create_task_group() as conns:
                    await listener.serve(self._forward, task_group=conns)

        tg.start_soon(serve)

    def stop(self) -> None:
        assert self._scope is not None
        self._scope.cancel()  # closes the listener and every forwarded connection

    async def _forward(self, client: SocketStream) -> None:
        async with client, await anyio.connect_tcp(*self.upstream) as server:

            async def pump(source: SocketStream, sink: SocketStream) -> None:
                try:
                    async for chunk in source:
                        await sink.send(chunk)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
                await sink.aclose()

            async with anyio.create_task_group() as tg:
                tg.start_soon(pump, client, server)
                tg.start_soon(pump, server, client)


async def eventually(action: Callable[[], Any], seconds: float) -> Any:
    """Call ``action`` until it stops raising StoreUnavailableError (the engine's retry, in short)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await action()
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.2)


async def waiting(store: PostgresStore, count: int) -> None:
    """Return once ``count`` ``wait_for_work`` calls of ``store`` are waiting.

    One reads the LISTEN connection, the others share its wake-up; the connection listens from the
    store's start, so a notification sent from now on ends these waits.
    """
    listener = store._wakeups
    assert listener is not None

    async def parked() -> bool:
        return listener._reading.locked() and listener._woken.statistics().tasks_waiting == count - 1

    await until(parked, f"{count} waits for work")


async def test_a_lost_server_makes_operations_unavailable_until_it_returns() -> None:
    async with fresh_schema() as (dsn, schema):
        params = psycopg.conninfo.conninfo_to_dict(dsn)
        host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
        if host.startswith("/"):
            pytest.skip("the test DSN uses a Unix socket; this test forwards TCP")
        async with anyio.create_task_group() as tg:
            proxy = Proxy(host, port)
            await proxy.start(tg)
            url = with_params(dsn, host="127.0.0.1", port=proxy.port)
            async with started(url, schema=schema, connect_timeout=2, max_size=1) as store:
                record = automation()
                await store.insert_automation(record)
                kept = run(record.id, event_id="evt_1")
                await store.accept_event("app_a", "evt_1", "thread.created", {}, [kept])

                proxy.stop()
                with pytest.raises(StoreUnavailableError, match=f"127.0.0.1.*{proxy.port}"):
                    await store.get_run("app_a", kept.id)
                with pytest.raises(StoreUnavailableError):
                    await store.accept_event("app_a", "evt_2", "thread.created", {}, [run(record.id)])
                with anyio.fail_after(10):
                    await store.wait_for_work(0.2)  # a hint: no error, it just sleeps
                outage = time.monotonic() + 8  # longer than the pool's background reconnection lasts
                while time.monotonic() < outage:
                    with pytest.raises(StoreUnavailableError):
                        await store.pending_runs(10)
                    await anyio.sleep(0.5)

                await proxy.start(tg)
                # The pool reconnects on demand as soon as the server is back.
                again = await eventually(lambda: store.get_run("app_a", kept.id), 5)
                assert again is not None and again.id == kept.id
                later = run(record.id, event_id="evt_3")
                assert await store.accept_event("app_a", "evt_3", "thread.created", {}, [later]) == [later]
            proxy.stop()
        assert sql(dsn, "SELECT count(*) FROM runs", schema=schema) == [(2,)]


# --- LISTEN/NOTIFY --------------------------------------------------------------------------


async def test_wait_for_work_returns_when_another_connection_accepts_an_event() -> None:
    async with postgres_store() as waiter, started(waiter.url, schema=waiter.schema, max_size=2) as publisher:
        record = automation()
        await publisher.insert_automation(record)

        async def publish() -> None:
            await waiting(waiter, 1)
            await publisher.accept_event("app_a", "evt_1", "thread.created", {}, [run(record.id)])

        async with anyio.create_task_group() as tg:
            tg.start_soon(publish)
            with anyio.fail_after(30):  # far below the wait's own timeout: it returned on the notification
                await waiter.wait_for_work(600)
        assert [r.status for r in await waiter.claim_runs("w1", lease=30, limit=10)] == ["running"]


async def test_work_published_before_the_wait_ends_it_at_once() -> None:
    async with postgres_store() as waiter, started(waiter.url, schema=waiter.schema, max_size=2) as publisher:
        await publisher.insert_runs([run("aut_1")])
        with anyio.fail_after(30):
            await waiter.wait_for_work(600)


async def test_wait_for_work_ignores_other_schemas_and_times_out() -> None:
    async with postgres_store() as store:
        sql(store.url, "SELECT pg_notify('graphflow_work', 'some_other_schema')")
        started_at = time.monotonic()
        await store.wait_for_work(0.5)
        assert time.monotonic() - started_at >= 0.45


async def test_wait_for_work_survives_a_broken_listen_connection() -> None:
    async with fresh_schema() as (dsn, schema):
        url = with_params(dsn, application_name=schema)
        async with started(url, schema=schema) as waiter, started(dsn, schema=schema, max_size=2) as publisher:
            listener = waiter._wakeups
            assert listener is not None
            listener.backoff = 0.0  # no back-off to wait out: the next wait reconnects
            terminate(dsn, schema)
            with anyio.fail_after(30):
                await waiter.wait_for_work(0.5)  # the broken connection is noticed, not raised
            assert listener._conn is None

            async def listening() -> bool:
                return listener._conn is not None and not listener._conn.closed

            async def publish() -> None:
                await until(listening, "the wait reopening its LISTEN connection")
                await publisher.insert_runs([run("aut_1")])

            async with anyio.create_task_group() as tg:
                tg.start_soon(publish)
                with anyio.fail_after(30):
                    await waiter.wait_for_work(600)


async def test_concurrent_waiters_share_a_wake_up() -> None:
    async with postgres_store() as store, started(store.url, schema=store.schema, max_size=2) as publisher:
        woken: list[int] = []

        async def wait(n: int) -> None:
            await store.wait_for_work(600)
            woken.append(n)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(3):
                    tg.start_soon(wait, n)
                await waiting(store, 3)
                await publisher.insert_runs([run("aut_1")])
        assert sorted(woken) == [0, 1, 2]


# --- three processes on one schema --------------------------------------------------------------

WORKER = r"""
import json, os, sys, time
import anyio
from graphflow.records import AutomationRun
from graphflow.exceptions import ConflictError
from graphflow.ids import new_id
from graphflow.stores.postgres import PostgresStore

dsn, schema, mode, go, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
T0 = 1_767_225_600.0

def occurrence(at):
    return AutomationRun(new_id("atr_"), "aut_cron", "app_a", "workflow.scheduled", {}, "pending", "cfg_x", None,
                         time.time(), time.time(), scheduled_at=at)

async def main():
    store = PostgresStore(dsn, schema=schema, max_size=2)
    await store.start()
    out = []
    print("ready", flush=True)
    while not os.path.exists(go):  # everyone starts together, once all are connected
        await anyio.sleep(0.001)
    if mode == "claim":
        idle = 0
        while idle < 5:
            claimed = await store.claim_runs(f"worker-{os.getpid()}", lease=300, limit=3)
            out += [r.id for r in claimed]
            idle = 0 if claimed else idle + 1
    elif mode == "insert":
        for k in range(count):
            out += [r.id for r in await store.insert_runs([occurrence(T0 + 60 * k)])]
    elif mode == "fire":  # the scheduler's loop: read, fire the next occurrence, retry on conflict
        for k in range(count):
            at = T0 + 60 * k
            while True:
                current = await store.get_automation("app_a", "aut_cron")
                if current.next_run_at > at:
                    break  # another process fired it
                revision = current.revision
                current.next_run_at, current.revision, current.updated_at = at + 60, revision + 1, time.time()
                try:
                    out += [r.id for r in await store.record_fire(current, expected_revision=revision,
                                                                  runs=[occurrence(at)])]
                    break
                except ConflictError:
                    continue
    await store.close()
    print(json.dumps(out))

anyio.run(main)
"""


def race(dsn: str, schema: str, mode: str, count: int = 0, processes: int = 3) -> list[list[str]]:
    """Run ``processes`` workers in ``mode``, released together once all are connected; return what each did."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as scratch:
        go = Path(scratch) / "go"
        children = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, dsn, schema, mode, str(go), str(count)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        try:
            for child in children:
                assert child.stdout is not None
                line = child.stdout.readline()
                assert line == "ready\n", child.stderr.read()[-3000:] if child.stderr else line
            go.touch()
            results = []
            for child in children:
                out, err = child.communicate(timeout=120)
                assert child.returncode == 0, err[-3000:]
                results.append(json.loads(out.strip().splitlines()[-1]))
            return results
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()


@pytest.mark.slow
async def test_three_processes_claim_every_run_exactly_once() -> None:
    async with postgres_store() as store:
        runs = [run("aut_1") for _ in range(600)]
        await store.insert_runs(runs)
        claims = await anyio.to_thread.run_sync(race, store.url, store.schema, "claim")
        claimed = [run_id for claim in claims for run_id in claim]
        assert len(claimed) == len(set(claimed)), "a run was claimed twice"
        assert sorted(claimed) == sorted(r.id for r in runs), "a run was never claimed"
        assert sum(1 for claim in claims if claim) >= 2, "the processes did not overlap"
        assert await store.pending_runs(10) == []


@pytest.mark.slow
async def test_three_processes_firing_the_same_schedule_store_each_occurrence_once() -> None:
    async with postgres_store() as store:
        await store.insert_automation(
            automation(id="aut_cron", type="scheduled", trigger=None, schedule="* * * * *", next_run_at=T0)
        )
        occurrences = 40
        fired = await anyio.to_thread.run_sync(race, store.url, store.schema, "fire", occurrences)
        stored = [run_id for ids in fired for run_id in ids]
        assert len(stored) == occurrences
        rows = sql(store.url, "SELECT id, scheduled_at FROM runs", schema=store.schema)
        assert sorted(run_id for run_id, _ in rows) == sorted(stored)
        assert sorted(at for _, at in rows) == [T0 + 60 * k for k in range(occurrences)]
        final = await store.get_automation("app_a", "aut_cron")
        assert final is not None and final.next_run_at == T0 + 60 * occurrences


@pytest.mark.slow
async def test_three_processes_inserting_the_same_occurrences_store_each_once() -> None:
    async with postgres_store() as store:
        occurrences = 60
        inserted = await anyio.to_thread.run_sync(race, store.url, store.schema, "insert", occurrences)
        stored = [run_id for ids in inserted for run_id in ids]
        rows = sql(store.url, "SELECT id, scheduled_at FROM runs", schema=store.schema)
        assert sorted(run_id for run_id, _ in rows) == sorted(stored)
        assert sorted(at for _, at in rows) == [T0 + 60 * k for k in range(occurrences)]


async def test_a_version_2_schema_migrates_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphflow.stores import postgres_schema

    async with fresh_schema() as (dsn, schema):
        with monkeypatch.context() as patched:
            patched.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:2])
            patched.setattr(postgres_schema, "SCHEMA_VERSION", 2)
            async with started(dsn, schema=schema):
                pass
        assert sql(dsn, "SELECT max(version) FROM schema_version", schema=schema) == [(2,)]
        # Rows as graphflow 2 wrote them (this graphflow's statements need version 3).
        sql(
            dsn,
            "INSERT INTO automations (id, app_id, name, type, status, config_id, created_at, updated_at, "
            "timezone, metadata, overlap, catchup, misfire_grace, max_catchup_runs, jitter, revision, "
            "repeat_completed, trigger) VALUES ('aut_1', 'app_a', 'A', 'trigger', 'running', 'cfg_x', %s, %s, "
            "'UTC', '{}', 'skip', 'latest', 60, 10, 0, 1, 0, 'thread.created')",
            [T0, T0],
            schema=schema,
        )
        sql(
            dsn,
            "INSERT INTO runs (id, automation_id, app_id, trigger, payload, status, created_at, updated_at, "
            "journal, fence, recoveries) VALUES ('atr_1', 'aut_1', 'app_a', 'thread.created', '{}', 'pending', "
            "%s, %s, '[]', 0, 0)",
            [T0, T0],
            schema=schema,
        )
        async with started(dsn, schema=schema) as store:
            assert sql(dsn, "SELECT max(version) FROM schema_version", schema=schema) == [(SCHEMA_VERSION,)]
            before = await store.get_automation("app_a", "aut_1")
            assert before is not None and before.last_error is None
            assert await store.read_events("app_a", after=0, limit=10) == []  # the log starts with version 3
            (claimed,) = await store.claim_runs("w1", lease=30, limit=1, run_ids=["atr_1"])
            assert claimed.started_at is not None
            claimed.status, claimed.finished_at, claimed.result = "failed", T0 + 1, {"error": "boom"}
            await store.update_run(claimed, fence=claimed.fence)
            after = await store.get_automation("app_a", "aut_1")
            assert after is not None and (after.last_run_status, after.last_error) == ("failed", "boom")
            events = await store.read_events("app_a", after=0, limit=10)
            assert [(e.type, e.run_id) for e in events] == [("run.started", "atr_1"), ("run.failed", "atr_1")]


async def test_a_reader_is_woken_by_events_another_store_appends() -> None:
    async with postgres_store() as reader, started(reader.url, schema=reader.schema, max_size=2) as writer:
        await reader.wait_for_events(0)  # the first wait starts listening
        record = automation()
        await writer.insert_automation(record)  # another process's write: a NOTIFY on commit
        with anyio.fail_after(30):  # far below the wait's own timeout: the notification ended it
            await reader.wait_for_events(600)
        events = await reader.read_events("app_a", after=0, limit=10)
        assert [(e.type, e.automation_id) for e in events] == [("automation.created", record.id)]


# --- the event log: no lock, and no event skipped ---------------------------------------------


@asynccontextmanager
async def writer(dsn: str, schema: str) -> AsyncIterator[psycopg.Connection[Any]]:
    """A connection of its own, as another process's store has: ``lock_timeout`` makes a wait fail.

    Writes through it must never wait for another writer's transaction (the event log takes no
    lock), so a wait of more than a few seconds is a failure, not a slow test.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO \"{schema}\"; SET lock_timeout = '5s'")
        yield conn


def store_config(conn: psycopg.Connection[Any], config_id: str) -> None:
    """Store version 1 of a config with the store's own columns: its trigger logs ``config.created``."""
    conn.execute(
        "INSERT INTO configs (id, app_id, version, name, document, created_at, updated_at) "
        "VALUES (%s, 'app_a', 1, 'g', '{}', %s, %s)",
        [config_id, T0, T0],
    )


async def logged(store: PostgresStore, after: int = 0) -> list[tuple[str | None, int]]:
    return [(e.config_id, e.seq) for e in await store.read_events("app_a", after=after, limit=100)]


async def test_an_open_transactions_event_holds_back_later_ones_until_it_commits() -> None:
    async with (
        postgres_store() as store,
        writer(store.url, store.schema) as old,
        writer(store.url, store.schema) as new,
    ):
        with old.transaction():
            store_config(old, "cfg_old")
            store_config(new, "cfg_new")  # commits at once: no lock held by the open transaction
            assert await logged(store) == []  # held back behind the open transaction
            assert await store.last_event_seq("app_a") == 0
        events = await logged(store)
        assert [config_id for config_id, _ in events] == ["cfg_old", "cfg_new"]  # in seq order
        assert await store.last_event_seq("app_a") == events[-1][1]


async def test_an_event_that_took_its_seq_late_is_never_skipped() -> None:
    # The older transaction logs its event last and commits first: with seq from a plain sequence
    # its event would sit above the younger one's, which commits later, and a reader between the
    # two commits would resume past the younger event and never see it.
    async with (
        postgres_store() as store,
        writer(store.url, store.schema) as older,
        writer(store.url, store.schema) as younger,
    ):
        older.execute("BEGIN")
        older.execute("SELECT pg_current_xact_id()")  # its transaction id is assigned first
        younger.execute("BEGIN")
        store_config(younger, "cfg_younger")
        store_config(older, "cfg_older")
        older.execute("COMMIT")
        seen = await logged(store)
        assert [config_id for config_id, _ in seen] == ["cfg_older"]
        younger.execute("COMMIT")
        rest = await logged(store, after=seen[-1][1])
        assert [config_id for config_id, _ in rest] == ["cfg_younger"]
        assert await logged(store) == seen + rest


class Abandoned(Exception):
    """Raised in a transaction to roll it back."""


async def test_a_rolled_back_event_never_appears_and_stops_holding_back() -> None:
    async with (
        postgres_store() as store,
        writer(store.url, store.schema) as doomed,
        writer(store.url, store.schema) as other,
    ):
        with pytest.raises(Abandoned), doomed.transaction():
            store_config(doomed, "cfg_doomed")
            store_config(other, "cfg_kept")
            assert await logged(store) == []
            raise Abandoned  # the transaction rolls back
        assert [config_id for config_id, _ in await logged(store)] == ["cfg_kept"]


async def test_a_version_3_log_migrates_to_version_4_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphflow.stores import postgres_schema

    async with fresh_schema() as (dsn, schema):
        with monkeypatch.context() as patched:
            patched.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:3])
            patched.setattr(postgres_schema, "SCHEMA_VERSION", 3)
            async with started(dsn, schema=schema):
                pass
        # An automation row as version 3 wrote it (without the columns of versions 5 and later), logged by its triggers.
        later = set(postgres_schema.AUTOMATION_COLUMNS[postgres_schema.AUTOMATION_COLUMNS.index("input_schema") :])
        columns = [c for c in postgres_schema.AUTOMATION_COLUMNS if c not in later]
        params = dict(
            zip(
                postgres_schema.AUTOMATION_COLUMNS,
                postgres_schema.automation_params(automation(id="aut_v3")),
                strict=True,
            )
        )
        sql(
            dsn,
            f"INSERT INTO automations ({', '.join(columns)}) VALUES {postgres_schema.placeholders(columns)}",
            [params[c] for c in columns],
            schema=schema,
        )
        assert sql(dsn, "SELECT max(version) FROM schema_version", schema=schema) == [(3,)]
        async with started(dsn, schema=schema) as store:
            assert sql(dsn, "SELECT max(version) FROM schema_version", schema=schema) == [(SCHEMA_VERSION,)]
            (old,) = await store.read_events("app_a", after=0, limit=10)
            assert (old.type, old.automation_id) == ("automation.created", "aut_v3")
            assert await store.last_event_seq("app_a") == old.seq
            await store.insert_automation(automation(id="aut_v4"))
            new = await store.read_events("app_a", after=old.seq, limit=10)  # seq never goes back
            assert [(e.type, e.automation_id) for e in new] == [("automation.created", "aut_v4")]
            assert sql(dsn, "SELECT count(*) FROM stream_events WHERE xid = '0'::xid8", schema=schema) == [(1,)]
