"""SQLiteStore specifics: URLs, pragmas, migrations, locks, rollbacks, and several real processes.

The Store contract itself is tested for every store in ``tests/contract``; these tests may look
inside the file (with a second ``sqlite3`` connection) because they test SQLite's own behaviour.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from graphflow.exceptions import SchemaVersionError, StoreError, StoreUnavailableError
from graphflow.ids import new_id
from graphflow.records import Automation, AutomationRun
from graphflow.stores import sqlite_schema, store_from_url
from graphflow.stores.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600.0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "graphflow.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SQLiteStore]:
    started = SQLiteStore(db)
    await started.start()
    try:
        yield started
    finally:
        await started.close()


def automation(automation_id: str = "aut_1", **fields: Any) -> Automation:
    values: dict[str, Any] = {
        "app_id": "app_a",
        "name": "A",
        "type": "trigger",
        "status": "running",
        "config_id": "cfg_1",
        "trigger": "thread.created",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Automation(id=automation_id, **values)


def run(automation_id: str = "aut_1", run_id: str | None = None, **fields: Any) -> AutomationRun:
    values: dict[str, Any] = {
        "app_id": "app_a",
        "trigger": "thread.created",
        "payload": {"n": 1},
        "status": "pending",
        "config_id": "cfg_1",
        "config_version": 1,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return AutomationRun(id=run_id or new_id("atr_"), automation_id=automation_id, **values)


def raw(db: Path) -> sqlite3.Connection:
    """A second connection to the file, as another process would hold it."""
    return sqlite3.connect(db, isolation_level=None, timeout=0)


# --- URLs and opening -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path", "synchronous"),
    [
        ("sqlite:///graphflow.db", "graphflow.db", "NORMAL"),
        ("sqlite:///data/run%20s.db", "data/run s.db", "NORMAL"),
        ("sqlite:////var/lib/graphflow.db", "/var/lib/graphflow.db", "NORMAL"),
        ("sqlite:////var/lib/graphflow.db?synchronous=full", "/var/lib/graphflow.db", "FULL"),
        ("sqlite:///:memory:", ":memory:", "NORMAL"),
        ("sqlite://", ":memory:", "NORMAL"),
        ("relative/plain.db", "relative/plain.db", "NORMAL"),
    ],
)
def test_urls_and_paths(url: str, path: str, synchronous: str) -> None:
    store = SQLiteStore(url)
    assert (store.path, store.synchronous) == (path, synchronous)


def test_a_path_object_and_the_synchronous_argument(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "x.db", synchronous="full")
    assert (store.path, store.synchronous) == (str(tmp_path / "x.db"), "FULL")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/x.db", "not a SQLite URL"),
        ("sqlite:x.db", "not a SQLite URL"),
        ("sqlite:///x.db?journal=off", "unknown SQLite URL option"),
        ("sqlite:///x.db?synchronous=sometimes", "not a SQLite mode"),
    ],
)
def test_bad_urls_are_refused_with_the_fix(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SQLiteStore(url)


def test_store_from_url_builds_a_sqlite_store(tmp_path: Path) -> None:
    store = store_from_url(f"sqlite:///{tmp_path}/x.db?synchronous=FULL")
    assert isinstance(store, SQLiteStore)
    assert (store.path, store.synchronous, store.durable) == (f"{tmp_path}/x.db", "FULL", True)


async def test_a_missing_directory_is_unavailable_and_named(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "graphflow.db"
    store = SQLiteStore(path)
    with pytest.raises(StoreUnavailableError, match=r"missing/graphflow\.db") as caught:
        await store.start()
    assert "directory" in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.Error)


async def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the pages you are looking for\n" * 200)
    with pytest.raises(StoreUnavailableError, match=r"notes\.txt.*not a SQLite database"):
        await SQLiteStore(path).start()


async def test_a_store_used_before_start_says_so(db: Path) -> None:
    with pytest.raises(StoreError, match=r"start\(\)"):
        await SQLiteStore(db).get_run("app_a", "atr_1")


async def test_wal_synchronous_and_foreign_keys_are_set(db: Path, store: SQLiteStore) -> None:
    assert raw(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    full = SQLiteStore(f"sqlite:///{db}?synchronous=FULL")
    await full.start()
    assert full._conn is not None and full._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    await full.close()


async def test_a_private_in_memory_database_works_and_is_not_durable() -> None:
    store = SQLiteStore("sqlite:///:memory:")
    assert store.durable is False
    await store.start()
    await store.insert_runs([run(run_id="atr_1")])
    assert await store.get_run("app_a", "atr_1") is not None
    await store.close()


# --- migrations -----------------------------------------------------------------------------


async def test_a_fresh_file_gets_the_whole_schema_and_reopening_keeps_the_data(db: Path) -> None:
    store = SQLiteStore(db)
    await store.start()
    await store.insert_runs([run(run_id="atr_1")])
    await store.close()
    versions = raw(db).execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(sqlite_schema.SCHEMA_VERSION,)]
    tables = {row[0] for row in raw(db).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_version", "configs", "automations", "runs", "steps", "events"} <= tables
    again = SQLiteStore(db)
    await again.start()
    assert await again.get_run("app_a", "atr_1") is not None
    await again.close()


async def test_missing_migrations_are_applied_on_start(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(db)
    await store.start()
    await store.insert_runs([run(run_id="atr_1")])
    await store.close()
    newer = (*sqlite_schema.MIGRATIONS, ("CREATE TABLE notes (run_id TEXT, note TEXT)",))
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", newer)
    upgraded = SQLiteStore(db)
    await upgraded.start()
    assert raw(db).execute("SELECT version FROM schema_version").fetchall() == [(len(newer),)]
    assert raw(db).execute("SELECT count(*) FROM notes").fetchone() == (0,)
    assert await upgraded.get_run("app_a", "atr_1") is not None
    await upgraded.close()


async def test_a_failing_migration_changes_nothing(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await SQLiteStore(db).start()
    broken = (*sqlite_schema.MIGRATIONS, ("CREATE TABLE notes (note TEXT)", "THIS IS NOT SQL"))
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", broken)
    with pytest.raises(StoreError, match="syntax error"):
        await SQLiteStore(db).start()
    assert raw(db).execute("SELECT version FROM schema_version").fetchall() == [(sqlite_schema.SCHEMA_VERSION,)]
    assert raw(db).execute("SELECT name FROM sqlite_master WHERE name = 'notes'").fetchall() == []


async def test_a_database_from_a_newer_graphflow_is_refused(db: Path) -> None:
    store = SQLiteStore(db)
    await store.start()
    await store.close()
    raw(db).execute("UPDATE schema_version SET version = 99")
    newer = SQLiteStore(db)
    with pytest.raises(SchemaVersionError) as caught:
        await newer.start()
    known = sqlite_schema.SCHEMA_VERSION
    assert str(caught.value) == (
        f"{db} was written by a newer graphflow (schema 99, this one knows {known}): upgrade graphflow"
    )
    assert raw(db).execute("SELECT version FROM schema_version").fetchall() == [(99,)]
    with pytest.raises(StoreError, match="not started"):
        await newer.get_run("app_a", "atr_1")


# --- locks ----------------------------------------------------------------------------------


async def test_a_write_waits_for_another_writer_without_blocking_the_loop(db: Path, store: SQLiteStore) -> None:
    holder = raw(db)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO events (app_id, event_id, created_at) VALUES ('app_a', 'evt_held', 0)")
    ticks = 0
    took = 0.0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.005)

    async def release_later() -> None:
        await anyio.sleep(0.2)
        holder.execute("COMMIT")

    async def write() -> None:
        nonlocal took
        started = time.perf_counter()
        await store.insert_runs([run(run_id="atr_1"), run(run_id="atr_2")])  # BEGIN IMMEDIATE
        await store.save_step("atr_1", 0, "n1", {"ok": True})  # one statement, autocommit
        took = time.perf_counter() - started

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        tg.start_soon(release_later)
        await write()
        tg.cancel_scope.cancel()
    assert took >= 0.15
    assert ticks >= 10, "the event loop was blocked while the write waited"
    assert await store.load_steps("atr_1") == {"n1": {"ok": True}}
    assert await store.accept_event("app_a", "evt_held", "x", {}, []) is None  # the other writer's commit


async def test_reads_do_not_wait_for_a_writer(db: Path, store: SQLiteStore) -> None:
    await store.insert_runs([run(run_id="atr_1")])
    holder = raw(db)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE runs SET status = 'failed'")
    started = time.perf_counter()
    found = await store.get_run("app_a", "atr_1")
    assert found is not None and found.status == "pending"  # the last committed state
    assert time.perf_counter() - started < 0.05
    holder.execute("ROLLBACK")


async def test_a_lock_held_too_long_raises_database_is_locked(db: Path) -> None:
    store = SQLiteStore(db, lock_timeout=0.1)
    await store.start()
    holder = raw(db)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailableError, match=r"database is locked.*more than 0\.1 s.*PostgreSQL"):
            await store.insert_runs([run(), run()])
    finally:
        holder.execute("ROLLBACK")
    assert len(await store.insert_runs([run(), run()])) == 2
    await store.close()


# --- failures roll back ---------------------------------------------------------------------


async def test_a_write_failing_half_way_leaves_nothing_behind(db: Path, store: SQLiteStore) -> None:
    await store.insert_automation(automation())
    raw(db).execute(
        "CREATE TRIGGER fail_second BEFORE INSERT ON runs WHEN NEW.id = 'atr_boom' "
        "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
    )
    first = run(run_id="atr_first", event_id="evt_1")
    with pytest.raises(StoreError, match="simulated failure"):
        await store.accept_event("app_a", "evt_1", "thread.created", {}, [first, run(run_id="atr_boom")])
    assert await store.get_run("app_a", "atr_first") is None
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, [first]) == [first]  # id not taken

    fired = automation(revision=2, next_run_at=T0 + 60)
    with pytest.raises(StoreError, match="simulated failure"):
        await store.record_fire(fired, expected_revision=1, runs=[run(scheduled_at=T0), run(run_id="atr_boom")])
    stored = await store.get_automation("app_a", "aut_1")
    assert stored is not None and (stored.revision, stored.next_run_at) == (1, None)
    assert [r.id for r in (await store.list_runs("app_a", "aut_1", status=None, cursor=None, limit=10)).data] == [
        "atr_first"
    ]
    assert store._conn is not None and not store._conn.in_transaction


async def test_a_full_disk_surfaces_and_leaves_no_half_written_run(store: SQLiteStore) -> None:
    await store.insert_automation(automation())
    conn = store._conn
    assert conn is not None
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from here on
    runs = [run(event_id="evt_1", payload={"text": "x" * 100}), run(event_id="evt_1", payload={"text": "x" * 200_000})]
    with pytest.raises(StoreError, match="full") as caught:
        await store.accept_event("app_a", "evt_1", "thread.created", {}, runs)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert not conn.in_transaction
    for record in runs:
        assert await store.get_run("app_a", record.id) is None
    conn.execute("PRAGMA max_page_count = 1073741823")  # space again: the event was never accepted
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, runs) == runs


async def test_a_value_that_is_not_json_is_refused_before_anything_is_written(store: SQLiteStore) -> None:
    await store.insert_automation(automation())
    bad = run(event_id="evt_1", payload={"when": object()})
    with pytest.raises(StoreError, match="is not JSON data"):
        await store.accept_event("app_a", "evt_1", "thread.created", {}, [run(event_id="evt_1"), bad])
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, []) == []


# --- several processes on one file -------------------------------------------------------------

CHILD = """
import dataclasses, json, os, sys, time
import anyio
from graphflow.records import AutomationRun
from graphflow.exceptions import ConflictError
from graphflow.ids import new_id
from graphflow.stores.sqlite import SQLiteStore

async def main(mode, path, go, worker):
    store = SQLiteStore(path)
    await store.start()
    automation = await store.get_automation("app_a", "aut_1")
    print("ready", flush=True)
    while not os.path.exists(go):
        await anyio.sleep(0.001)
    out = {"claimed": [], "fired": 0, "conflicts": 0}
    if mode == "claim":
        while batch := await store.claim_runs(worker, lease=60, limit=2):
            out["claimed"] += [r.id for r in batch]
            await anyio.sleep(0.0005)
    else:
        while automation.next_run_at < 1_000 * 60:
            occurrence = automation.next_run_at
            fired = dataclasses.replace(automation, next_run_at=occurrence + 60, revision=automation.revision + 1)
            occurrence_run = AutomationRun(
                id=new_id("atr_"), automation_id="aut_1", app_id="app_a", trigger="workflow.scheduled",
                payload={}, status="pending", config_id="cfg_1", config_version=1, created_at=time.time(),
                updated_at=time.time(), scheduled_at=occurrence)
            try:
                out["fired"] += len(await store.record_fire(
                    fired, expected_revision=automation.revision, runs=[occurrence_run]))
            except ConflictError:
                out["conflicts"] += 1
            if mode == "fire-once":
                break
            automation = await store.get_automation("app_a", "aut_1")
    await store.close()
    print(json.dumps(out), flush=True)

anyio.run(main, *sys.argv[1:])
"""


def race(tmp_path: Path, db: Path, mode: str, processes: int) -> list[dict[str, Any]]:
    """Start ``processes`` children in ``mode``, release them together, return what each did."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, str(script), mode, str(db), str(go), f"w{n}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line == "ready\n", child.stderr.read() if child.stderr else line
        go.touch()
        results = []
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            results.append(json.loads(out))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()


async def test_processes_claiming_from_one_file_claim_each_run_exactly_once(tmp_path: Path, db: Path) -> None:
    store = SQLiteStore(db)
    await store.start()
    ids = sorted(new_id("atr_") for _ in range(300))
    await store.insert_runs([run(run_id=run_id) for run_id in ids])
    await store.close()
    results = race(tmp_path, db, "claim", 3)
    claimed = [run_id for result in results for run_id in result["claimed"]]
    assert sorted(claimed) == ids, "a run was claimed twice or never"
    assert all(result["claimed"] for result in results), "the processes did not run concurrently"
    rows = raw(db).execute("SELECT lease_owner, fence, count(*) FROM runs GROUP BY lease_owner, fence").fetchall()
    assert {(owner, fence) for owner, fence, _ in rows} == {("w0", 1), ("w1", 1), ("w2", 1)}


async def test_processes_firing_one_schedule_fire_each_occurrence_once(tmp_path: Path, db: Path) -> None:
    store = SQLiteStore(db)
    await store.start()
    await store.insert_automation(automation(type="scheduled", trigger=None, schedule="every minute", next_run_at=0.0))
    await store.close()
    results = race(tmp_path, db, "fire-loop", 3)
    assert sum(result["fired"] for result in results) == 1000
    occurrences = raw(db).execute("SELECT scheduled_at FROM runs ORDER BY scheduled_at").fetchall()
    assert [row[0] for row in occurrences] == [60.0 * n for n in range(1000)]


async def test_two_processes_firing_the_same_occurrence_one_wins(tmp_path: Path, db: Path) -> None:
    store = SQLiteStore(db)
    await store.start()
    await store.insert_automation(automation(type="scheduled", trigger=None, schedule="every minute", next_run_at=0.0))
    await store.close()
    results = race(tmp_path, db, "fire-once", 2)
    assert sorted((r["fired"], r["conflicts"]) for r in results) == [(0, 1), (1, 0)]
    assert raw(db).execute("SELECT count(*), min(scheduled_at) FROM runs").fetchone() == (1, 0.0)
    assert raw(db).execute("SELECT revision FROM automations").fetchone() == (2,)


async def test_a_version_2_file_migrates_to_the_current_version_in_place(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:2])
        old = SQLiteStore(db)
        await old.start()
        await old.close()
    # Rows as version 2 wrote them: the runs columns it had (waiting_for came with version 4, the rest later).
    columns = list(sqlite_schema.RUN_FIELDS[: sqlite_schema.RUN_FIELDS.index("waiting_for")])
    insert_run = f"INSERT INTO runs ({', '.join(map(repr, columns))}) VALUES ({', '.join('?' * len(columns))})"
    with raw(db) as conn:
        conn.execute(
            'INSERT INTO automations (lookup_key, status, type, "trigger", revision, updated_at, data, id, app_id) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            sqlite_schema.automation_row(automation()),
        )
        for run_id in ("atr_1", "atr_2"):
            row = dict(zip(sqlite_schema.RUN_FIELDS, sqlite_schema.run_row(run(run_id=run_id)), strict=True))
            conn.execute(insert_run, [row[c] for c in columns])
    assert raw(db).execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    assert raw(db).execute("SELECT name FROM sqlite_master WHERE name = 'stream_events'").fetchall() == []

    store = SQLiteStore(db)
    await store.start()
    try:
        assert raw(db).execute("SELECT version FROM schema_version").fetchall() == [(sqlite_schema.SCHEMA_VERSION,)]
        before = await store.get_automation("app_a", "aut_1")
        assert before is not None and before.last_error is None  # a version-2 record reads as before
        assert await store.read_events("app_a", after=0, limit=10) == []  # the log starts with version 3
        (claimed,) = await store.claim_runs("w1", lease=30, limit=1, run_ids=["atr_1"])
        assert claimed.started_at is not None
        claimed.status, claimed.finished_at, claimed.result = "failed", T0 + 1, {"error": "boom"}
        await store.update_run(claimed, fence=claimed.fence)
        after = await store.get_automation("app_a", "aut_1")
        assert after is not None and (after.last_run_status, after.last_error) == ("failed", "boom")
        events = await store.read_events("app_a", after=0, limit=10)
        assert [(e.type, e.run_id) for e in events] == [("run.started", "atr_1"), ("run.failed", "atr_1")]
    finally:
        await store.close()


# --- the event log: node events in batches ------------------------------------------------------


async def _checkpointed(store: SQLiteStore, keys: list[str]) -> AutomationRun:
    await store.insert_automation(automation())
    pending = run()
    await store.insert_runs([pending])
    (claimed,) = await store.claim_runs("w1", lease=30, limit=1, run_ids=[pending.id])
    for key in keys:
        await store.save_step(claimed.id, claimed.fence, key, {"output": key})
    return claimed


async def test_node_events_are_logged_in_order_one_seq_each_by_the_finish(store: SQLiteStore) -> None:
    keys = [f"n{i}" for i in range(7)]
    claimed = await _checkpointed(store, keys)
    claimed.status, claimed.finished_at = "completed", T0 + 1
    await store.update_run(claimed, fence=claimed.fence)
    events = await store.read_events("app_a", after=0, limit=100)
    mine = [e for e in events if e.run_id == claimed.id]
    assert [e.type for e in mine] == ["run.created", "run.started", *["run.node_completed"] * 7, "run.completed"]
    assert [e.data.get("key") for e in mine[2:-1]] == keys
    assert {e.data["status"] for e in mine[2:-1]} == {"running"}
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))
    assert await store.last_event_seq("app_a") == seqs[-1]
    for position, event in enumerate(events):  # resuming anywhere, inside a batch too, gives the rest
        assert await store.read_events("app_a", after=event.seq, limit=100) == events[position + 1 :]
        assert await store.read_events("app_a", after=event.seq, limit=2) == events[position + 1 : position + 3]
    nodes = await store.read_events("app_a", after=mine[3].seq, limit=100, types=frozenset({"run.node_completed"}))
    assert [e.data["key"] for e in nodes] == keys[2:]
    assert raw(Path(store.path)).execute("SELECT count(*) FROM steps").fetchone() == (0,)


async def test_reading_a_runs_events_logs_its_pending_checkpoints(store: SQLiteStore) -> None:
    claimed = await _checkpointed(store, ["a", "b", "c"])
    events = await store.read_events("app_a", after=0, limit=100, run_id=claimed.id)
    assert [e.data.get("key") for e in events if e.type == "run.node_completed"] == ["a", "b", "c"]
    again = await store.read_events("app_a", after=0, limit=100, run_id=claimed.id)
    assert again == events  # logged once


async def test_checkpoints_of_a_worker_that_stopped_are_logged_by_the_next(db: Path) -> None:
    first = SQLiteStore(db)
    await first.start()
    claimed = await _checkpointed(first, ["a", "b", "c"])
    await first.close()  # as if it died: its last checkpoints may not be logged yet
    second = SQLiteStore(db)
    await second.start()
    try:
        claimed.status, claimed.finished_at = "failed", T0 + 1
        await second.update_run(claimed, fence=claimed.fence)
        events = await second.read_events("app_a", after=0, limit=100)
        assert [e.data.get("key") for e in events if e.type == "run.node_completed"] == ["a", "b", "c"]
    finally:
        await second.close()


async def test_a_prune_never_lets_a_seq_be_reused(store: SQLiteStore) -> None:
    claimed = await _checkpointed(store, ["a", "b", "c"])
    claimed.status, claimed.finished_at = "completed", T0 + 1
    await store.update_run(claimed, fence=claimed.fence)
    last = await store.last_event_seq("app_a")
    await store.prune(time.time() + 60)
    assert await store.read_events("app_a", after=0, limit=100) == []
    assert await store.last_event_seq("app_a") == 0
    await store.insert_automation(automation("aut_2"))
    (event,) = await store.read_events("app_a", after=0, limit=100)
    assert event.seq > last
