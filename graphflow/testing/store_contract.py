"""The Store contract (:class:`graphflow.abc.Store`) as a pytest suite: one test per obligation.

graphflow runs it against its memory, SQLite and PostgreSQL stores; a third-party store runs the
same suite by importing it into a test module that defines a ``store`` fixture yielding a
*started, empty* store (closed afterwards)::

    # tests/test_my_store_contract.py
    import pytest
    from graphflow.testing.store_contract import *  # noqa: F403 - the contract's tests

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    async def store(tmp_path):
        store = MyStore(tmp_path / "db")
        await store.start()
        try:
            yield store
        finally:
            await store.close()

The suite needs ``pytest`` and ``anyio``'s pytest plugin (``anyio_backend`` fixture: ``asyncio``).
Nothing in it depends on a backend's internals: records go in and come out through the contract.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from graphflow.abc import Store
from graphflow.exceptions import ConflictError, LeaseLostError, NotFoundError, StoreError
from graphflow.ids import new_id
from graphflow.records import ApiKey, Automation, AutomationRun, ConfigRecord, Repeat, Wait

pytestmark = pytest.mark.anyio


T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# --- records --------------------------------------------------------------------------------


def ordered_ids(prefix: str, count: int) -> list[str]:
    """``count`` fresh ids, oldest first (ids made in the same millisecond sort randomly)."""
    return sorted(new_id(prefix) for _ in range(count))


def config(app_id: str = "app_a", config_id: str | None = None, version: int = 1, name: str = "g") -> ConfigRecord:
    document = {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": name,
        "start_node": "t",
        "nodes": [{"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created"}],
    }
    return ConfigRecord(config_id or new_id("cfg_"), app_id, version, name, document, T0, T0 + version)


def automation(app_id: str = "app_a", automation_id: str | None = None, **fields: Any) -> Automation:
    values: dict[str, Any] = {
        "name": "A",
        "type": "trigger",
        "status": "draft",
        "config_id": "cfg_x",
        "trigger": "thread.created",
        "created_at": T0,
        "updated_at": T0,
        "metadata": {"team": {"name": "ops"}},
    }
    values.update(fields)
    return Automation(id=automation_id or new_id("aut_"), app_id=app_id, **values)


def run(automation_id: str, app_id: str = "app_a", run_id: str | None = None, **fields: Any) -> AutomationRun:
    values: dict[str, Any] = {
        "trigger": "thread.created",
        "payload": {"thread": {"id": "thr_1"}},
        "status": "pending",
        "config_id": "cfg_x",
        "config_version": None,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return AutomationRun(id=run_id or new_id("atr_"), automation_id=automation_id, app_id=app_id, **values)


async def all_pages(
    store: Store, app_id: str, automation_id: str, *, limit: int, status: str | None = None
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await store.list_runs(app_id, automation_id, status=status, cursor=cursor, limit=limit)
        pages.append([r.id for r in page.data])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) < 1000, "the cursor never ends"


# --- lifecycle ------------------------------------------------------------------------------


async def test_close_is_idempotent(store: Store) -> None:
    await store.close()
    await store.close()


# --- configs --------------------------------------------------------------------------------


async def test_config_versions_are_unique(store: Store) -> None:
    first = config(name="first")
    await store.put_config(first)
    with pytest.raises(ConflictError):
        await store.put_config(config(config_id=first.id, name="second"))
    stored = await store.get_config("app_a", first.id)
    assert stored is not None and stored.name == "first"


async def test_get_config_returns_latest_or_the_version_asked(store: Store) -> None:
    first = config(name="v1")
    await store.put_config(first)
    await store.put_config(config(config_id=first.id, version=2, name="v2"))
    latest = await store.get_config("app_a", first.id)
    assert latest is not None and (latest.version, latest.name) == (2, "v2")
    old = await store.get_config("app_a", first.id, 1)
    assert old is not None and (old.version, old.name) == (1, "v1")
    assert await store.get_config("app_a", first.id, 3) is None
    assert await store.get_config("app_a", "cfg_missing") is None


async def test_latest_config_version_follows_the_versions_stored(store: Store) -> None:
    first = config(name="v1")
    await store.put_config(first)
    assert await store.latest_config_version("app_a", first.id) == 1
    await store.put_config(config(config_id=first.id, version=2, name="v2"))
    assert await store.latest_config_version("app_a", first.id) == 2
    assert await store.latest_config_version("app_b", first.id) is None  # another app's: not found
    assert await store.latest_config_version("app_a", "cfg_missing") is None
    await store.delete_config("app_a", first.id)
    assert await store.latest_config_version("app_a", first.id) is None


async def test_configs_of_another_app_are_not_found(store: Store) -> None:
    record = config("app_a")
    await store.put_config(record)
    assert await store.get_config("app_b", record.id) is None
    assert await store.get_config("app_b", record.id, 1) is None
    assert (await store.list_configs("app_b", cursor=None, limit=10)).data == []
    assert await store.delete_config("app_b", record.id) is False
    assert await store.get_config("app_a", record.id) is not None


async def test_list_configs_gives_latest_versions_newest_first_in_pages(store: Store) -> None:
    ids = ordered_ids("cfg_", 5)
    for config_id in ids:
        await store.put_config(config(config_id=config_id))
    await store.put_config(config(config_id=ids[0], version=2))
    await store.put_config(config("app_b"))
    seen: list[ConfigRecord] = []
    cursor: str | None = None
    while True:
        page = await store.list_configs("app_a", cursor=cursor, limit=2)
        assert len(page.data) <= 2
        seen.extend(page.data)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [c.id for c in seen] == ids[::-1]
    assert {c.id: c.version for c in seen}[ids[0]] == 2


async def test_delete_config_removes_every_version(store: Store) -> None:
    record = config()
    await store.put_config(record)
    await store.put_config(config(config_id=record.id, version=2))
    assert await store.delete_config("app_a", record.id) is True
    assert await store.get_config("app_a", record.id) is None
    assert await store.get_config("app_a", record.id, 1) is None
    assert await store.delete_config("app_a", record.id) is False


async def test_returned_configs_are_copies(store: Store) -> None:
    record = config()
    await store.put_config(record)
    got = await store.get_config("app_a", record.id)
    assert got is not None
    got.name = "changed"
    got.document["nodes"].clear()
    again = await store.get_config("app_a", record.id)
    assert again is not None and again.name == "g" and again.document["nodes"]


# --- automations ----------------------------------------------------------------------------


async def test_automations_of_another_app_are_not_found(store: Store) -> None:
    mine = automation("app_a", lookup_key="digest")
    await store.insert_automation(mine)
    assert await store.get_automation("app_b", mine.id) is None
    assert await store.get_automation_by_lookup_key("app_b", "digest") is None
    assert (await store.list_automations("app_b", type=None, cursor=None, limit=10)).data == []
    assert await store.delete_automation("app_b", mine.id) is False
    stolen = automation("app_b", mine.id, name="stolen")
    with pytest.raises(NotFoundError):
        await store.update_automation(stolen, expected_revision=1)
    stored = await store.get_automation("app_a", mine.id)
    assert stored is not None and stored.name == "A"


async def test_returned_automations_are_copies(store: Store) -> None:
    record = automation(repeat=Repeat(times=3))
    await store.insert_automation(record)
    record.name = "mutated after insert"
    record.metadata["team"]["name"] = "mutated after insert"
    got = await store.get_automation("app_a", record.id)
    assert got is not None and got.name == "A" and got.metadata == {"team": {"name": "ops"}}
    got.name = "x"
    got.metadata["team"]["name"] = "x"
    got.repeat.completed = 99
    again = await store.get_automation("app_a", record.id)
    assert again is not None
    assert (again.name, again.metadata, again.repeat) == ("A", {"team": {"name": "ops"}}, Repeat(times=3))


async def test_lookup_key_is_unique_per_app_on_insert(store: Store) -> None:
    first = automation(lookup_key="digest")
    await store.insert_automation(first)
    duplicate = automation(lookup_key="digest", name="dup")
    with pytest.raises(ConflictError):
        await store.insert_automation(duplicate)
    assert await store.get_automation("app_a", duplicate.id) is None
    found = await store.get_automation_by_lookup_key("app_a", "digest")
    assert found is not None and found.id == first.id
    await store.insert_automation(automation("app_b", lookup_key="digest"))  # another app: no clash
    await store.insert_automation(automation(lookup_key=None))
    await store.insert_automation(automation(lookup_key=None))  # unset keys never clash


async def test_lookup_key_is_unique_on_update(store: Store) -> None:
    taken = automation(lookup_key="taken")
    other = automation(lookup_key="mine")
    await store.insert_automation(taken)
    await store.insert_automation(other)
    changed = automation(automation_id=other.id, lookup_key="taken", name="renamed", revision=2)
    with pytest.raises(ConflictError):
        await store.update_automation(changed, expected_revision=1)
    stored = await store.get_automation("app_a", other.id)
    assert stored is not None and (stored.name, stored.lookup_key, stored.revision) == ("A", "mine", 1)
    found = await store.get_automation_by_lookup_key("app_a", "taken")
    assert found is not None and found.id == taken.id


async def test_update_moves_the_lookup_key(store: Store) -> None:
    record = automation(lookup_key="old")
    await store.insert_automation(record)
    await store.update_automation(
        automation(automation_id=record.id, lookup_key="new", revision=2), expected_revision=1
    )
    assert await store.get_automation_by_lookup_key("app_a", "old") is None
    found = await store.get_automation_by_lookup_key("app_a", "new")
    assert found is not None and found.id == record.id
    await store.insert_automation(automation(lookup_key="old"))  # the old key is free again


async def test_update_checks_the_revision(store: Store) -> None:
    record = automation()
    await store.insert_automation(record)
    await store.update_automation(automation(automation_id=record.id, name="v2", revision=2), expected_revision=1)
    stale = automation(automation_id=record.id, name="lost update", revision=2)
    with pytest.raises(ConflictError):
        await store.update_automation(stale, expected_revision=1)
    stored = await store.get_automation("app_a", record.id)
    assert stored is not None and (stored.name, stored.revision) == ("v2", 2)


async def test_update_of_a_missing_automation_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.update_automation(automation(), expected_revision=1)


async def test_list_automations_filters_by_type_newest_first_in_pages(store: Store) -> None:
    ids = ordered_ids("aut_", 7)
    shuffled = ids[:]
    random.Random(7).shuffle(shuffled)
    for automation_id in shuffled:
        kind = "scheduled" if ids.index(automation_id) % 2 else "trigger"
        await store.insert_automation(automation(automation_id=automation_id, type=kind))
    await store.insert_automation(automation("app_b"))
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await store.list_automations("app_a", type=None, cursor=cursor, limit=3)
        pages.append([a.id for a in page.data])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == ids[::-1]
    scheduled = await store.list_automations("app_a", type="scheduled", cursor=None, limit=100)
    assert [a.id for a in scheduled.data] == ids[1::2][::-1]
    assert scheduled.next_cursor is None


async def test_delete_automation_keeps_its_runs_and_frees_its_key(store: Store) -> None:
    record = automation(lookup_key="gone")
    await store.insert_automation(record)
    past = run(record.id, status="completed")
    await store.insert_runs([past])
    assert await store.delete_automation("app_a", record.id) is True
    assert await store.get_automation("app_a", record.id) is None
    assert await store.delete_automation("app_a", record.id) is False
    kept = await store.get_run("app_a", past.id)
    assert kept is not None and kept.status == "completed"
    assert [r.id for r in (await store.list_runs("app_a", record.id, status=None, cursor=None, limit=10)).data] == [
        past.id
    ]
    await store.insert_automation(automation(lookup_key="gone"))


async def test_running_automations_spans_apps_and_filters_by_type(store: Store) -> None:
    running_trigger = automation("app_a", status="running")
    running_scheduled = automation("app_b", status="running", type="scheduled", trigger=None, schedule="0 9 * * *")
    for record in (running_trigger, running_scheduled, automation(status="draft"), automation(status="paused")):
        await store.insert_automation(record)
    assert {a.id for a in await store.running_automations()} == {running_trigger.id, running_scheduled.id}
    assert [a.id for a in await store.running_automations(type="scheduled")] == [running_scheduled.id]
    assert [a.id for a in await store.running_automations(type="trigger")] == [running_trigger.id]


# --- events ---------------------------------------------------------------------------------


async def running(store: Store, app_id: str = "app_a") -> str:
    """Insert a running trigger automation and return its id."""
    record = automation(app_id, status="running")
    await store.insert_automation(record)
    return record.id


async def test_accept_event_dedupes_by_app_and_event_id(store: Store) -> None:
    aut = await running(store)
    first = run(aut, event_id="evt_1")
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, [first]) == [first]
    second = run(aut, event_id="evt_1")
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, [second]) is None
    assert await store.get_run("app_a", second.id) is None
    assert await store.get_run("app_a", first.id) is not None
    page = await store.list_runs("app_a", aut, status=None, cursor=None, limit=10)
    assert [r.id for r in page.data] == [first.id]


async def test_the_same_event_id_in_another_app_is_independent(store: Store) -> None:
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, []) == []
    other = run(await running(store, "app_b"), app_id="app_b", event_id="evt_1")
    assert await store.accept_event("app_b", "evt_1", "thread.created", {}, [other]) == [other]
    assert await store.get_run("app_b", other.id) is not None


async def test_accepted_runs_are_pending_and_visible(store: Store) -> None:
    runs = [run(await running(store), event_id="evt_1"), run(await running(store), event_id="evt_1")]
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, runs) == runs
    assert {r.id for r in await store.pending_runs(10)} == {r.id for r in runs}


async def test_accept_event_leaves_out_runs_of_automations_no_longer_running(store: Store) -> None:
    live = run(await running(store), event_id="evt_1")
    paused = automation(status="paused")
    await store.insert_automation(paused)
    stale = [run(paused.id, event_id="evt_1"), run("aut_deleted", event_id="evt_1")]
    stored = await store.accept_event("app_a", "evt_1", "thread.created", {}, [live, *stale])
    assert [r.id for r in stored or []] == [live.id]
    for left_out in stale:
        assert await store.get_run("app_a", left_out.id) is None


# --- runs -----------------------------------------------------------------------------------


async def test_insert_runs_fires_each_occurrence_once(store: Store) -> None:
    first = run("aut_1", scheduled_at=T0 + 3600)
    assert [r.id for r in await store.insert_runs([first])] == [first.id]
    again = run("aut_1", scheduled_at=T0 + 3600)
    later = run("aut_1", scheduled_at=T0 + 7200)
    other_automation = run("aut_2", scheduled_at=T0 + 3600)
    stored = await store.insert_runs([again, later, other_automation])
    assert [r.id for r in stored] == [later.id, other_automation.id]
    assert await store.get_run("app_a", again.id) is None


async def test_runs_without_scheduled_at_are_always_stored(store: Store) -> None:
    runs = [run("aut_1") for _ in range(3)]
    assert len(await store.insert_runs(runs)) == 3
    assert len(await store.insert_runs([run("aut_1")])) == 1
    page = await store.list_runs("app_a", "aut_1", status=None, cursor=None, limit=10)
    assert len(page.data) == 4


async def test_runs_of_another_app_are_not_found(store: Store) -> None:
    mine = run("aut_1", app_id="app_a")
    await store.insert_runs([mine])
    assert await store.get_run("app_b", mine.id) is None
    assert (await store.list_runs("app_b", "aut_1", status=None, cursor=None, limit=10)).data == []
    assert await store.cancel_pending_runs("app_b", "aut_1", T0) == []
    stored = await store.get_run("app_a", mine.id)
    assert stored is not None and stored.status == "pending"


async def test_returned_runs_are_copies(store: Store) -> None:
    record = run("aut_1")
    await store.insert_runs([record])
    got = await store.get_run("app_a", record.id)
    assert got is not None
    got.status = "failed"
    got.payload["thread"]["id"] = "thr_changed"
    again = await store.get_run("app_a", record.id)
    assert again is not None and again.status == "pending" and again.payload == {"thread": {"id": "thr_1"}}


async def test_list_runs_pages_cover_every_run_once_newest_first(store: Store) -> None:
    ids = ordered_ids("atr_", 23)
    shuffled = ids[:]
    random.Random(23).shuffle(shuffled)  # ids made in one millisecond need not arrive in order
    await store.insert_runs([run("aut_1", run_id=run_id) for run_id in shuffled])
    await store.insert_runs([run("aut_other")])
    pages = await all_pages(store, "app_a", "aut_1", limit=5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for p in pages for i in p] == ids[::-1]
    exact = await all_pages(store, "app_a", "aut_1", limit=23)
    assert exact == [ids[::-1]]


async def test_the_runs_cursor_is_stable_under_concurrent_inserts(store: Store) -> None:
    ids = ordered_ids("atr_", 9)
    await store.insert_runs([run("aut_1", run_id=run_id) for run_id in ids])
    first = await store.list_runs("app_a", "aut_1", status=None, cursor=None, limit=4)
    newer = [f"{ids[-1]}{n}" for n in range(1, 4)]  # made later: they sort after every id above
    await store.insert_runs([run("aut_1", run_id=run_id) for run_id in newer])
    rest: list[str] = []
    cursor = first.next_cursor
    while cursor is not None:
        page = await store.list_runs("app_a", "aut_1", status=None, cursor=cursor, limit=4)
        rest.extend(r.id for r in page.data)
        cursor = page.next_cursor
    assert [r.id for r in first.data] + rest == ids[::-1]


async def test_list_runs_filters_by_status_and_limits(store: Store) -> None:
    ids = ordered_ids("atr_", 10)
    statuses = ["completed", "failed"] * 5
    await store.insert_runs([run("aut_1", run_id=i, status=s) for i, s in zip(ids, statuses, strict=True)])
    failed = [i for i, s in zip(ids, statuses, strict=True) if s == "failed"][::-1]
    pages = await all_pages(store, "app_a", "aut_1", limit=2, status="failed")
    assert [i for p in pages for i in p] == failed
    assert all(len(p) <= 2 for p in pages)
    one = await store.list_runs("app_a", "aut_1", status="completed", cursor=None, limit=1)
    assert len(one.data) == 1 and one.data[0].status == "completed" and one.next_cursor is not None
    assert (await store.list_runs("app_a", "aut_1", status="cancelled", cursor=None, limit=5)).data == []


async def test_update_run_replaces_it_and_leaves_pending(store: Store) -> None:
    record = run("aut_1")
    await store.insert_runs([record])
    got = await store.get_run("app_a", record.id)
    assert got is not None
    got.status = "completed"
    got.result = {"payload": 1, "output": []}
    got.journal = [{"type": "node_started", "node_id": "t"}]
    await store.update_run(got)
    stored = await store.get_run("app_a", record.id)
    assert stored is not None
    assert (stored.status, stored.result, stored.journal) == ("completed", got.result, got.journal)
    assert await store.pending_runs(10) == []


async def test_update_of_a_missing_run_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.update_run(run("aut_1"))


async def test_cancel_pending_runs_touches_only_that_automations_pending_runs(store: Store) -> None:
    pending = [run("aut_1") for _ in range(2)]
    executing = run("aut_1", status="running")
    done = run("aut_1", status="completed")
    neighbour = run("aut_2")
    foreign = run("aut_1", app_id="app_b")
    await store.insert_runs([*pending, executing, done, neighbour, foreign])
    cancelled = await store.cancel_pending_runs("app_a", "aut_1", T0 + 5)
    assert sorted(cancelled) == sorted(r.id for r in pending)
    for record in pending:
        stored = await store.get_run("app_a", record.id)
        assert stored is not None and stored.status == "cancelled"
    expected = {executing.id: "running", done.id: "completed", neighbour.id: "pending"}
    for run_id, status in expected.items():
        stored = await store.get_run("app_a", run_id)
        assert stored is not None and stored.status == status
    foreign_stored = await store.get_run("app_b", foreign.id)
    assert foreign_stored is not None and foreign_stored.status == "pending"
    assert {r.id for r in await store.pending_runs(10)} == {neighbour.id, foreign.id}
    assert await store.cancel_pending_runs("app_a", "aut_1", T0 + 6) == []


async def test_pending_runs_oldest_first_across_apps_up_to_limit(store: Store) -> None:
    ids = ordered_ids("atr_", 6)
    apps = ["app_a", "app_b"] * 3
    await store.insert_runs([run("aut_1", app_id=a, run_id=i) for i, a in zip(ids, apps, strict=True)])
    await store.insert_runs([run("aut_1", status="completed")])
    assert [r.id for r in await store.pending_runs(100)] == ids
    assert [r.id for r in await store.pending_runs(4)] == ids[:4]


# --- leases and checkpoints -----------------------------------------------------------------


LEASE = 30.0


async def test_status_counts_the_queue_and_sees_workers_by_their_leases(store: Store) -> None:
    runs = await pending(store, 4)
    await claim(store, runs[0].id, worker="w1")
    parked = await claim(store, runs[1].id, worker="w2")
    await store.release_run(parked.id, parked.fence, wake_at=time.time() + 3600)
    late = automation(type="scheduled", status="running", schedule="0 9 * * *", schedule_kind="cron", next_run_at=T0)
    await store.insert_automation(late)
    await store.insert_automation(automation(app_id="app_b", type="scheduled", status="running", next_run_at=None))
    now = time.time()
    status = await store.status(now)
    assert (status.pending, status.parked, status.running, status.expired_leases) == (2, 1, 1, 0)
    assert status.oldest_pending_at == T0 and status.schema_version == status.expected_schema_version
    assert [(w.worker_id, w.runs) for w in status.workers] == [("w1", 1)] and status.workers[0].lease_expires_at > now
    assert status.late_schedules == ()  # only when asked
    asked = await store.status(now, late_after=60)
    assert [(s.app_id, s.automation_id, s.next_run_at) for s in asked.late_schedules] == [("app_a", late.id, T0)]
    assert (await store.status(now, late_after=now)).late_schedules == ()  # not overdue by that much
    later = await store.status(now + 3600 + 2 * LEASE)  # the lease expired, the parked run is due
    assert (later.pending, later.parked, later.running, later.expired_leases) == (3, 0, 1, 1)
    assert (await store.status(now, limit=1)).workers[0].worker_id == "w1"


async def pending(store: Store, count: int = 1, app_id: str = "app_a") -> list[AutomationRun]:
    """Insert ``count`` pending runs of ``aut_1`` and return them, oldest first."""
    runs = [run("aut_1", app_id=app_id, run_id=run_id) for run_id in ordered_ids("atr_", count)]
    await store.insert_runs(runs)
    return runs


async def claim(store: Store, run_id: str, worker: str = "w1", lease: float = LEASE) -> AutomationRun:
    """Claim one run through the ``run_ids`` fast path; it must be claimable."""
    claimed = await store.claim_runs(worker, lease=lease, limit=1, run_ids=[run_id])
    assert [r.id for r in claimed] == [run_id]
    return claimed[0]


async def stored_run(store: Store, run_id: str, app_id: str = "app_a") -> AutomationRun:
    found = await store.get_run(app_id, run_id)
    assert found is not None, run_id
    return found


async def test_claim_runs_takes_claimable_runs_oldest_first_across_apps(store: Store) -> None:
    runs = await pending(store, 4)
    foreign = run("aut_1", app_id="app_b", run_id=f"{runs[-1].id}z")  # the newest of all
    await store.insert_runs([foreign, run("aut_1", status="completed"), run("aut_1", status="failed")])
    before = time.time()
    claimed = await store.claim_runs("w1", lease=LEASE, limit=3)
    after = time.time()
    assert [r.id for r in claimed] == [r.id for r in runs[:3]]
    for record in claimed:
        assert (record.status, record.lease_owner, record.fence, record.recoveries, record.wake_at) == (
            "running",
            "w1",
            1,
            0,
            None,
        )
        assert record.lease_expires_at is not None
        assert before + LEASE - 5 <= record.lease_expires_at <= after + LEASE + 5  # the database's clock
        stored = await stored_run(store, record.id)
        assert (stored.status, stored.lease_owner, stored.fence, stored.lease_expires_at) == (
            "running",
            "w1",
            1,
            record.lease_expires_at,
        )
    rest = await store.claim_runs("w2", lease=LEASE, limit=10)
    assert [r.id for r in rest] == [runs[3].id, foreign.id]
    assert await store.claim_runs("w3", lease=LEASE, limit=10) == []
    assert await store.pending_runs(10) == []


async def test_claimed_runs_are_copies(store: Store) -> None:
    (record,) = await pending(store)
    claimed = await claim(store, record.id)
    claimed.payload["thread"]["id"] = "thr_changed"
    claimed.fence = 99
    stored = await stored_run(store, record.id)
    assert stored.payload == {"thread": {"id": "thr_1"}} and stored.fence == 1


async def test_a_runs_trace_context_is_stored_with_it_and_claimed_with_it(store: Store) -> None:
    context = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "v=1"}
    accepted = run(await running(store), event_id="evt_1", trace_context=context)
    inserted = run("aut_1", trace_context={"traceparent": context["traceparent"]})
    untraced = run("aut_1")
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, [accepted]) == [accepted]
    await store.insert_runs([inserted, untraced])
    for record in (accepted, inserted, untraced):
        assert (await stored_run(store, record.id)).trace_context == record.trace_context
    claimed = await store.claim_runs("w1", lease=LEASE, limit=10)
    assert {r.id: r.trace_context for r in claimed} == {r.id: r.trace_context for r in (accepted, inserted, untraced)}


async def test_claim_runs_with_run_ids_considers_only_those_runs(store: Store) -> None:
    first, second, third = await pending(store, 3)
    done = run("aut_1", status="completed")
    await store.insert_runs([done])
    claimed = await store.claim_runs(
        "w1", lease=LEASE, limit=10, run_ids=[third.id, done.id, "atr_missing", first.id, first.id]
    )
    assert sorted(r.id for r in claimed) == sorted([first.id, third.id])
    assert all(r.lease_owner == "w1" and r.fence == 1 for r in claimed)
    assert (await stored_run(store, second.id)).status == "pending"
    assert await store.claim_runs("w2", lease=LEASE, limit=10, run_ids=[first.id]) == []  # held: not expired
    assert await store.claim_runs("w2", lease=LEASE, limit=10, run_ids=[]) == []
    assert [r.id for r in await store.claim_runs("w2", lease=LEASE, limit=1, run_ids=[second.id])] == [second.id]


async def test_concurrent_claims_never_return_the_same_run(store: Store) -> None:
    runs = await pending(store, 40)
    got: list[str] = []

    async def worker(name: str) -> None:
        while batch := await store.claim_runs(name, lease=LEASE, limit=3):
            got.extend(r.id for r in batch)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(worker, f"w{n}")
    assert sorted(got) == [r.id for r in runs]


async def test_a_released_run_waits_for_its_wake_at(store: Store) -> None:
    sleeping, due = await pending(store, 2)
    held = await claim(store, sleeping.id)
    await store.release_run(sleeping.id, held.fence, wake_at=time.time() + 3600)
    timer = await stored_run(store, sleeping.id)
    assert (timer.status, timer.lease_owner, timer.lease_expires_at) == ("pending", None, None)
    assert timer.wake_at is not None and timer.wake_at > time.time()
    held = await claim(store, due.id)
    await store.release_run(due.id, held.fence, wake_at=time.time() - 1)
    assert [r.id for r in await store.claim_runs("w2", lease=LEASE, limit=10)] == [due.id]
    assert await store.claim_runs("w2", lease=LEASE, limit=10) == []
    assert await store.claim_runs("w2", lease=LEASE, limit=10, run_ids=[sleeping.id]) == []
    woken = await stored_run(store, due.id)
    assert (woken.status, woken.lease_owner, woken.wake_at, woken.fence, woken.recoveries) == (
        "running",
        "w2",
        None,
        2,
        0,
    )


async def test_a_run_whose_lease_expired_is_reclaimed_with_one_more_recovery(store: Store) -> None:
    bulk, fast, alive = await pending(store, 3)
    dead_bulk = await claim(store, bulk.id, "w1", lease=0.05)
    dead_fast = await claim(store, fast.id, "w1", lease=0.05)
    await claim(store, alive.id, "w1", lease=LEASE)
    await anyio.sleep(0.15)
    (again,) = await store.claim_runs("w2", lease=LEASE, limit=10, run_ids=[fast.id, alive.id])
    assert (again.id, again.lease_owner, again.fence, again.recoveries) == (fast.id, "w2", dead_fast.fence + 1, 1)
    (again,) = await store.claim_runs("w3", lease=LEASE, limit=10)
    assert (again.id, again.lease_owner, again.fence, again.recoveries) == (bulk.id, "w3", dead_bulk.fence + 1, 1)
    assert (await stored_run(store, alive.id)).lease_owner == "w1"
    with pytest.raises(LeaseLostError):
        await store.save_step(bulk.id, dead_bulk.fence, "n1", {"late": True})
    assert await store.load_steps(bulk.id) == {}
    assert await store.renew_leases("w1", {bulk.id: dead_bulk.fence, alive.id: 1}, lease=LEASE) == {bulk.id}


async def test_renew_leases_extends_held_leases_and_reports_lost_ones(store: Store) -> None:
    kept, expired, cancelled, finished, theirs = await pending(store, 5)
    fences = {}
    for record in (kept, expired, cancelled, finished):
        fences[record.id] = (await claim(store, record.id, "w1", lease=0.05 if record is expired else LEASE)).fence
    fences[theirs.id] = (await claim(store, theirs.id, "w2")).fence  # the right fence, another worker
    await store.cancel_run("app_a", cancelled.id, T0 + 1)
    done = await stored_run(store, finished.id)
    done.status, done.finished_at = "completed", T0 + 1
    await store.update_run(done, fence=fences[finished.id])
    await anyio.sleep(0.15)
    await claim(store, expired.id, "w3")
    before = (await stored_run(store, kept.id)).lease_expires_at
    lost = await store.renew_leases("w1", {**fences, "atr_missing": 1}, lease=LEASE * 2)
    assert lost == {expired.id, cancelled.id, finished.id, theirs.id, "atr_missing"}
    after = await stored_run(store, kept.id)
    assert before is not None and after.lease_expires_at is not None and after.lease_expires_at > before
    assert (after.lease_owner, after.fence) == ("w1", fences[kept.id])
    assert (await stored_run(store, theirs.id)).lease_owner == "w2"
    assert (await stored_run(store, expired.id)).lease_owner == "w3"
    assert await store.renew_leases("w1", {}, lease=LEASE) == set()


async def test_release_run_hands_the_run_back_with_its_steps(store: Store) -> None:
    (record,) = await pending(store)
    held = await claim(store, record.id)
    await store.save_step(record.id, held.fence, "n1", {"output": 1})
    await store.release_run(record.id, held.fence)
    released = await stored_run(store, record.id)
    assert (released.status, released.lease_owner, released.lease_expires_at, released.wake_at) == (
        "pending",
        None,
        None,
        None,
    )
    assert (released.fence, released.recoveries) == (held.fence, 0)
    assert await store.load_steps(record.id) == {"n1": {"output": 1}}
    with pytest.raises(LeaseLostError):
        await store.release_run(record.id, held.fence)  # not running any more
    again = await claim(store, record.id, "w2")
    assert (again.fence, again.recoveries) == (held.fence + 1, 0)
    with pytest.raises(LeaseLostError):
        await store.release_run(record.id, held.fence)  # a stale fence
    assert (await stored_run(store, record.id)).lease_owner == "w2"
    with pytest.raises(LeaseLostError):
        await store.release_run("atr_missing", 1)


async def test_save_step_upserts_checkpoints_under_the_current_fence(store: Store) -> None:
    record, other = await pending(store, 2)
    assert await store.load_steps(record.id) == {}
    held = await claim(store, record.id)
    await store.save_step(record.id, held.fence, "n1", {"output": {"a": 1}})
    await store.save_step(record.id, held.fence, "map/0/n2", [1, "two", None, 3.5, True])
    await store.save_step(record.id, held.fence, "n1", {"output": {"a": 2}})
    expected = {"n1": {"output": {"a": 2}}, "map/0/n2": [1, "two", None, 3.5, True]}
    assert await store.load_steps(record.id) == expected
    assert await store.load_steps(other.id) == {}
    with pytest.raises(LeaseLostError):
        await store.save_step(record.id, held.fence - 1, "n3", 1)
    with pytest.raises(LeaseLostError):
        await store.save_step(other.id, 1, "n3", 1)  # never claimed: fence 0
    with pytest.raises(LeaseLostError):
        await store.save_step("atr_missing", 1, "n3", 1)
    assert await store.load_steps(record.id) == expected
    assert await store.load_steps(other.id) == {}


async def test_steps_are_copies(store: Store) -> None:
    (record,) = await pending(store)
    held = await claim(store, record.id)
    data = {"output": {"items": [1]}}
    await store.save_step(record.id, held.fence, "n1", data)
    data["output"]["items"].append(2)
    loaded = await store.load_steps(record.id)
    assert loaded == {"n1": {"output": {"items": [1]}}}
    loaded["n1"]["output"]["items"].append(3)
    assert await store.load_steps(record.id) == {"n1": {"output": {"items": [1]}}}


async def test_update_run_with_a_fence_writes_only_while_the_lease_is_held(store: Store) -> None:
    (record,) = await pending(store)
    held = await claim(store, record.id, "w1")
    fence, expires = held.fence, held.lease_expires_at
    held.started_at = T0 + 1
    held.config_version = 3
    held.journal = [{"type": "node_started", "node_id": "t"}]
    held.lease_owner, held.lease_expires_at, held.fence, held.recoveries, held.wake_at = "w9", 1.0, 99, 7, T0
    await store.update_run(held, fence=fence)
    stored = await stored_run(store, record.id)
    assert (stored.status, stored.started_at, stored.config_version, stored.journal) == (
        "running",
        T0 + 1,
        3,
        held.journal,
    )
    assert (stored.lease_owner, stored.lease_expires_at, stored.fence, stored.recoveries, stored.wake_at) == (
        "w1",
        expires,
        fence,
        0,
        None,
    )  # the lease columns are the lease methods' alone
    stale = await stored_run(store, record.id)
    stale.status, stale.result, stale.finished_at = "failed", {"error": "late"}, T0 + 2
    with pytest.raises(LeaseLostError):
        await store.update_run(stale, fence=fence - 1)
    after = await stored_run(store, record.id)
    assert (after.status, after.result, after.finished_at, after.lease_owner) == ("running", None, None, "w1")
    with pytest.raises(NotFoundError):
        await store.update_run(run("aut_1"), fence=1)


async def test_a_run_finished_under_its_fence_loses_its_lease_and_steps(store: Store) -> None:
    (record,) = await pending(store)
    held = await claim(store, record.id)
    await store.save_step(record.id, held.fence, "n1", {"output": 1})
    held.status, held.finished_at, held.updated_at = "completed", T0 + 2, T0 + 2
    held.result = {"payload": {}, "output": [1]}
    await store.update_run(held, fence=held.fence)
    stored = await stored_run(store, record.id)
    assert (stored.status, stored.result, stored.finished_at) == ("completed", held.result, T0 + 2)
    assert (stored.lease_owner, stored.lease_expires_at, stored.fence) == (None, None, held.fence)
    assert await store.load_steps(record.id) == {}
    assert await store.claim_runs("w2", lease=LEASE, limit=10) == []
    assert await store.renew_leases("w1", {record.id: held.fence}, lease=LEASE) == {record.id}


async def test_cancel_run_bumps_the_fence_so_its_holder_can_no_longer_write(store: Store) -> None:
    executing, waiting = await pending(store, 2)
    held = await claim(store, executing.id)
    await store.save_step(executing.id, held.fence, "n1", 1)
    cancelled = await store.cancel_run("app_a", executing.id, T0 + 9)
    assert cancelled is not None
    assert (cancelled.status, cancelled.result, cancelled.finished_at, cancelled.updated_at) == (
        "cancelled",
        {"error": "run cancelled"},
        T0 + 9,
        T0 + 9,
    )
    assert (cancelled.fence, cancelled.lease_owner, cancelled.lease_expires_at) == (held.fence + 1, None, None)
    with pytest.raises(LeaseLostError):
        await store.save_step(executing.id, held.fence, "n2", 2)
    held.status, held.result = "completed", {"payload": {}, "output": []}
    with pytest.raises(LeaseLostError):
        await store.update_run(held, fence=held.fence)
    assert await store.renew_leases("w1", {executing.id: held.fence}, lease=LEASE) == {executing.id}
    assert await store.load_steps(executing.id) == {}
    assert (await stored_run(store, executing.id)).status == "cancelled"
    waiting_cancelled = await store.cancel_run("app_a", waiting.id, T0 + 9)
    assert waiting_cancelled is not None and waiting_cancelled.status == "cancelled"
    assert await store.claim_runs("w2", lease=LEASE, limit=10) == []


async def test_cancel_run_leaves_finished_runs_and_hides_other_apps(store: Store) -> None:
    done = run("aut_1", status="completed", result={"payload": {}, "output": [1]}, finished_at=T0 + 1)
    await store.insert_runs([done])
    unchanged = await store.cancel_run("app_a", done.id, T0 + 9)
    assert unchanged is not None
    assert (unchanged.status, unchanged.result, unchanged.finished_at, unchanged.fence) == (
        "completed",
        done.result,
        T0 + 1,
        0,
    )
    (theirs,) = await pending(store, app_id="app_b")
    assert await store.cancel_run("app_a", theirs.id, T0 + 9) is None
    assert (await stored_run(store, theirs.id, "app_b")).status == "pending"
    assert await store.cancel_run("app_a", "atr_missing", T0 + 9) is None


# --- scheduling -----------------------------------------------------------------------------


def scheduled(automation_id: str | None = None, **fields: Any) -> Automation:
    values: dict[str, Any] = {
        "status": "running",
        "type": "scheduled",
        "trigger": None,
        "schedule": "every hour",
        "next_run_at": T0 + 3600,
        "repeat": Repeat(times=5),
    }
    values.update(fields)
    return automation(automation_id=automation_id, **values)


def fired(record: Automation, occurrence: float) -> Automation:
    """``record`` after firing ``occurrence``: the next fire an hour later, one more repeat done."""
    return scheduled(
        record.id,
        next_run_at=occurrence + 3600,
        revision=record.revision + 1,
        repeat=Repeat(times=5, completed=record.repeat.completed + 1),
        updated_at=occurrence,
    )


async def test_record_fire_stores_the_automation_and_its_occurrence(store: Store) -> None:
    record = scheduled()
    await store.insert_automation(record)
    occurrence = run(record.id, scheduled_at=T0 + 3600, trigger="workflow.scheduled")
    assert await store.record_fire(fired(record, T0 + 3600), expected_revision=1, runs=[occurrence]) == [occurrence]
    stored = await store.get_automation("app_a", record.id)
    assert stored is not None
    assert (stored.next_run_at, stored.revision, stored.repeat) == (T0 + 7200, 2, Repeat(times=5, completed=1))
    assert (await stored_run(store, occurrence.id)).scheduled_at == T0 + 3600


async def test_record_fire_that_lost_the_race_stores_nothing(store: Store) -> None:
    record = scheduled()
    await store.insert_automation(record)
    winner = fired(record, T0 + 3600)
    await store.record_fire(winner, expected_revision=1, runs=[run(record.id, scheduled_at=T0 + 3600)])
    late = run(record.id, scheduled_at=T0 + 7200)
    with pytest.raises(ConflictError):
        await store.record_fire(fired(winner, T0 + 7200), expected_revision=1, runs=[late])
    assert await store.get_run("app_a", late.id) is None
    stored = await store.get_automation("app_a", record.id)
    assert stored is not None and (stored.revision, stored.next_run_at) == (2, T0 + 7200)
    orphan = run("aut_missing", scheduled_at=T0)
    with pytest.raises(NotFoundError):
        await store.record_fire(scheduled("aut_missing", revision=2), expected_revision=1, runs=[orphan])
    assert await store.get_run("app_a", orphan.id) is None


async def test_record_fire_skips_an_occurrence_already_fired(store: Store) -> None:
    record = scheduled()
    await store.insert_automation(record)
    first = run(record.id, scheduled_at=T0 + 3600)
    await store.record_fire(fired(record, T0 + 3600), expected_revision=1, runs=[first])
    current = await store.get_automation("app_a", record.id)
    assert current is not None
    again, later = run(record.id, scheduled_at=T0 + 3600), run(record.id, scheduled_at=T0 + 7200)
    stored = await store.record_fire(fired(current, T0 + 7200), expected_revision=2, runs=[again, later])
    assert [r.id for r in stored] == [later.id]
    assert await store.get_run("app_a", again.id) is None
    updated = await store.get_automation("app_a", record.id)
    assert updated is not None and (updated.revision, updated.next_run_at) == (3, T0 + 10800)


async def test_changed_automations_spans_apps_from_since_on(store: Store) -> None:
    old = automation("app_a", updated_at=T0)
    edge = automation("app_a", updated_at=T0 + 5)
    recent = automation("app_b", updated_at=T0 + 10, status="running")
    for record in (old, edge, recent):
        await store.insert_automation(record)
    changed = {a.id: a for a in await store.changed_automations(T0 + 5)}
    assert set(changed) == {edge.id, recent.id}
    assert (changed[recent.id].app_id, changed[recent.id].status, changed[recent.id].metadata) == (
        "app_b",
        "running",
        {"team": {"name": "ops"}},
    )
    await store.update_automation(automation("app_a", old.id, updated_at=T0 + 20, revision=2), expected_revision=1)
    assert {a.id for a in await store.changed_automations(T0 + 15)} == {old.id}
    assert await store.changed_automations(T0 + 21) == []


# --- retention ------------------------------------------------------------------------------


async def test_prune_removes_old_finished_runs_their_steps_and_old_event_ids(store: Store) -> None:
    aut = await running(store)
    old = [run(aut, status=status, finished_at=T0 + 10) for status in ("completed", "failed", "cancelled")]
    recent = run(aut, status="completed", finished_at=T0 + 1000)
    waiting = run(aut, created_at=T0)
    executing = run(aut, created_at=T0)
    released = run(aut, created_at=T0)  # will be cancelled with a checkpoint left behind
    await store.insert_runs([*old, recent, waiting, executing, released])
    held = await claim(store, executing.id)
    await store.save_step(executing.id, held.fence, "n1", {"output": 1})
    other = await claim(store, released.id)
    await store.save_step(released.id, other.fence, "n1", {"output": 2})
    await store.release_run(released.id, other.fence)
    assert sorted(await store.cancel_pending_runs("app_a", aut, T0 + 10)) == sorted([waiting.id, released.id])
    await store.accept_event("app_a", "evt_old", "thread.created", {}, [run(aut, event_id="evt_old", created_at=T0)])
    await store.accept_event(
        "app_a", "evt_new", "thread.created", {}, [run(aut, event_id="evt_new", created_at=T0 + 1000)]
    )

    assert await store.prune(T0 + 100) == 5  # three old, and the two cancelled at T0 + 10
    for gone in (*old, waiting, released):
        assert await store.get_run("app_a", gone.id) is None
    assert await store.load_steps(released.id) == {}
    assert (await stored_run(store, recent.id)).status == "completed"
    assert (await stored_run(store, executing.id)).status == "running"
    assert await store.load_steps(executing.id) == {"n1": {"output": 1}}
    page = await store.list_runs("app_a", aut, status=None, cursor=None, limit=100)
    assert recent.id in {r.id for r in page.data} and not {r.id for r in old} & {r.id for r in page.data}
    again = run(aut, event_id="evt_old", created_at=T0 + 2000)
    assert await store.accept_event("app_a", "evt_old", "thread.created", {}, [again]) == [again]
    assert await store.accept_event("app_a", "evt_new", "thread.created", {}, [run(aut, event_id="evt_new")]) is None
    assert await store.prune(T0 + 100) == 0


# --- run outcomes -----------------------------------------------------------------------------


async def test_a_finished_run_becomes_its_automations_last_run_once_and_in_order(store: Store) -> None:
    record = automation(status="running")
    await store.insert_automation(record)
    earlier, later = run(record.id), run(record.id)
    await store.insert_runs([earlier, later])
    later.status, later.started_at, later.finished_at = "failed", T0 + 20, T0 + 21
    await store.update_run(later)
    earlier.status, earlier.started_at, earlier.finished_at = "completed", T0 + 10, T0 + 30
    await store.update_run(earlier)  # finished last, but started first: not the last run
    stored = await store.get_automation("app_a", record.id)
    assert stored is not None and (stored.last_run_at, stored.last_run_status) == (T0 + 20, "failed")
    assert stored.revision == record.revision  # an outcome is not an edit


async def test_an_automation_write_keeps_the_stored_outcome(store: Store) -> None:
    record = automation(status="running")
    await store.insert_automation(record)
    stale = await store.get_automation("app_a", record.id)
    assert stale is not None
    finished = run(record.id)
    await store.insert_runs([finished])
    finished.status, finished.started_at, finished.finished_at = "completed", T0 + 5, T0 + 6
    await store.update_run(finished)
    stale.name, stale.revision = "renamed", stale.revision + 1
    await store.update_automation(stale, expected_revision=record.revision)
    stored = await store.get_automation("app_a", record.id)
    assert stored is not None and stored.name == "renamed"
    assert (stored.last_run_at, stored.last_run_status) == (T0 + 5, "completed")


async def test_a_new_run_is_pinned_to_its_configs_latest_version(store: Store) -> None:
    first = config()
    await store.put_config(first)
    await store.put_config(config(config_id=first.id, version=2))
    record = automation(status="running", config_id=first.id)
    await store.insert_automation(record)
    inserted, accepted = run(record.id, config_id=first.id), run(record.id, config_id=first.id, event_id="evt_9")
    pinned = run(record.id, config_id=first.id, config_version=1)
    await store.insert_runs([inserted, pinned])
    await store.accept_event("app_a", "evt_9", "thread.created", {}, [accepted])
    versions = [(await store.get_run("app_a", r.id)).config_version for r in (inserted, accepted, pinned)]  # type: ignore[union-attr]
    assert versions == [2, 2, 1]


# --- one JSON check, the same on every store ------------------------------------------------

UNSTORABLE = {
    "nan": float("nan"),
    "infinity": float("inf"),
    "bytes": b"raw",
    "datetime": datetime(2026, 1, 1, tzinfo=UTC),
    "set": {1, 2},
    "object": object(),
    "nul": "a\u0000b",
    "lone surrogate": "\ud800",
}


@pytest.mark.parametrize("kind", sorted(UNSTORABLE))
async def test_every_store_refuses_the_same_values_and_stores_nothing(store: Store, kind: str) -> None:
    value = {"v": [UNSTORABLE[kind]]}
    aut = await running(store)
    with pytest.raises(StoreError, match="cannot be stored"):
        await store.insert_runs([run(aut, payload=value)])
    with pytest.raises(StoreError, match="cannot be stored"):
        await store.accept_event("app_a", "evt_bad", "thread.created", value, [run(aut, payload=value)])
    assert await store.pending_runs(10) == []
    assert await store.accept_event("app_a", "evt_bad", "thread.created", {}, []) == []  # the id was not taken
    ok = run(aut)
    await store.insert_runs([ok])
    held = await claim(store, ok.id)
    with pytest.raises(StoreError, match="cannot be stored"):
        await store.save_step(ok.id, held.fence, "a", value)
    assert await store.load_steps(ok.id) == {}
    held.status, held.result = "completed", {"payload": True, "output": value}
    with pytest.raises(StoreError, match="cannot be stored"):
        await store.update_run(held, fence=held.fence)
    stored = await store.get_run("app_a", ok.id)
    assert stored is not None and stored.status == "running" and stored.result is None


async def test_every_store_gives_back_json_as_json(store: Store) -> None:
    aut = await running(store)
    ok = run(aut)
    await store.insert_runs([ok])
    held = await claim(store, ok.id)
    await store.save_step(ok.id, held.fence, "a", {1: ("x", 2.5), "s": "\U0001f600"})
    assert await store.load_steps(ok.id) == {"a": {"1": ["x", 2.5], "s": "\U0001f600"}}
    held.status, held.result = "completed", {"payload": (1, 2), "output": []}
    await store.update_run(held, fence=held.fence)
    stored = await store.get_run("app_a", ok.id)
    assert stored is not None and stored.result == {"payload": [1, 2], "output": []}


# --- tenancy: a run pins its own app's config, never another app's --------------------------


async def test_a_run_naming_another_apps_config_pins_no_version(store: Store) -> None:
    theirs = config("app_a")
    await store.put_config(theirs)
    await store.put_config(config("app_a", theirs.id, version=2))
    aut = await running(store, "app_b")
    runs = [run(aut, app_id="app_b", config_id=theirs.id, event_id="evt_1")]
    stored = await store.accept_event("app_b", "evt_1", "thread.created", {}, runs)
    assert stored is not None and stored[0].config_version is None
    inserted = run(aut, app_id="app_b", config_id=theirs.id)
    [kept] = await store.insert_runs([inserted])
    assert kept.config_version is None
    got = await store.get_run("app_b", inserted.id)
    assert got is not None and got.config_version is None
    assert await store.get_config("app_b", theirs.id) is None


async def test_a_config_id_of_another_app_cannot_get_versions(store: Store) -> None:
    theirs = config("app_a")
    await store.put_config(theirs)
    with pytest.raises(ConflictError):
        await store.put_config(config("app_b", theirs.id, version=2))
    latest = await store.get_config("app_a", theirs.id)
    assert latest is not None and latest.version == 1


# --- the event log ----------------------------------------------------------------------------


async def log(store: Store, app_id: str = "app_a", **filters: Any) -> list[tuple[str, str | None]]:
    """The app's events as ``(type, the record id it is about)``, checking that ``seq`` ascends."""
    events = await store.read_events(app_id, after=0, limit=10_000, **filters)
    seqs = [event.seq for event in events]
    assert seqs == sorted(set(seqs)), "seq must be strictly increasing"
    assert all(event.app_id == app_id for event in events)
    return [(event.type, event.run_id or event.automation_id or event.config_id) for event in events]


async def test_config_writes_append_their_events(store: Store) -> None:
    first = config()
    await store.put_config(first)
    await store.put_config(config(config_id=first.id, version=2))
    with pytest.raises(ConflictError):
        await store.put_config(config(config_id=first.id, version=2))  # refused: no event
    assert await store.delete_config("app_a", first.id)
    assert not await store.delete_config("app_a", first.id)
    assert await log(store) == [
        ("config.created", first.id),
        ("config.updated", first.id),
        ("config.deleted", first.id),  # once, however many versions went
    ]
    events = await store.read_events("app_a", after=0, limit=10)
    assert [event.data.get("version") for event in events] == [1, 2, None]


async def test_automation_writes_append_their_status_transitions(store: Store) -> None:
    record = automation()  # a draft
    await store.insert_automation(record)
    for status in ("running", "paused", "running", "paused", "draft", "draft"):
        record.status, record.revision = status, record.revision + 1
        await store.update_automation(record, expected_revision=record.revision - 1)
    stale = automation(automation_id=record.id, status="running", revision=record.revision + 1)
    with pytest.raises(ConflictError):
        await store.update_automation(stale, expected_revision=record.revision - 1)  # refused: no event
    assert await store.delete_automation("app_a", record.id)
    types = [kind for kind, _ in await log(store)]
    assert types == [
        "automation.created",
        "automation.activated",
        "automation.paused",
        "automation.activated",
        "automation.paused",
        "automation.reset",
        "automation.updated",
        "automation.deleted",
    ]
    events = await store.read_events("app_a", after=0, limit=10)
    assert events[0].data == {"status": "draft"}
    assert events[1].data == {"status": "running", "previous_status": "draft"}
    assert {event.automation_id for event in events} == {record.id}


async def test_a_runs_life_appends_one_event_per_step(store: Store) -> None:
    aut = await running(store)
    created = run(aut, event_id="evt_1")
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, [created]) == [created]
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, [run(aut)]) is None  # no event
    held = await claim(store, created.id)
    await store.save_step(created.id, held.fence, "n1", {"output": 1})
    await store.save_step(created.id, held.fence, "n2", {"output": 2})
    await store.release_run(created.id, held.fence, wake_at=T0)  # node events come before it (batched or not)
    again = await claim(store, created.id)
    with pytest.raises(LeaseLostError):
        await store.save_step(created.id, held.fence, "n3", {})  # a stale fence: no event
    again.status, again.finished_at = "failed", T0 + 1
    again.result = {"error": "boom"}
    with pytest.raises(LeaseLostError):
        await store.update_run(again, fence=held.fence)  # a stale fence: no event
    await store.update_run(again, fence=again.fence)
    events = await store.read_events("app_a", after=0, limit=100, run_id=created.id)
    assert [event.type for event in events] == [
        "run.created",
        "run.started",
        "run.node_completed",
        "run.node_completed",
        "run.waiting",
        "run.started",
        "run.failed",
    ]
    assert {event.automation_id for event in events} == {aut}
    assert [event.data.get("status") for event in events] == [
        "pending",
        "running",
        "running",
        "running",
        "pending",
        "running",
        "failed",
    ]
    assert [events[2].data["key"], events[3].data["key"]] == ["n1", "n2"]
    assert events[-1].data["error"] == "boom"


async def test_record_fire_and_insert_runs_append_their_events(store: Store) -> None:
    record = scheduled()
    await store.insert_automation(record)
    occurrence = run(record.id, scheduled_at=T0 + 3600, trigger="workflow.scheduled")
    await store.record_fire(fired(record, T0 + 3600), expected_revision=1, runs=[occurrence])
    with pytest.raises(ConflictError):  # lost the race: nothing stored, nothing appended
        await store.record_fire(fired(record, T0 + 3600), expected_revision=1, runs=[run(record.id)])
    again = run(record.id, scheduled_at=T0 + 3600)
    assert await store.insert_runs([again]) == []  # an occurrence already fired: no event
    with pytest.raises(StoreError):  # not JSON: nothing stored, nothing appended
        await store.insert_runs([run(record.id), run(record.id, payload={"bad": float("nan")})])
    assert await log(store) == [
        ("automation.created", record.id),
        ("automation.updated", record.id),
        ("run.created", occurrence.id),
    ]


async def test_cancelling_runs_appends_run_cancelled_once(store: Store) -> None:
    aut = await running(store)
    waiting, executing, done = run(aut), run(aut), run(aut, status="completed")
    await store.insert_runs([waiting, executing, done])
    await claim(store, executing.id)
    mark = await store.last_event_seq("app_a")
    assert await store.cancel_pending_runs("app_a", aut, T0 + 1) == [waiting.id]
    assert await store.cancel_run("app_a", executing.id, T0 + 2) is not None
    assert await store.cancel_run("app_a", executing.id, T0 + 3) is not None  # already cancelled: no event
    assert await store.cancel_run("app_a", done.id, T0 + 3) is not None  # finished: no event
    events = await store.read_events("app_a", after=mark, limit=10)
    assert [(event.type, event.run_id) for event in events] == [
        ("run.cancelled", waiting.id),
        ("run.cancelled", executing.id),
    ]
    assert events[1].data == {"status": "cancelled", "error": "run cancelled"}


async def test_a_reader_following_concurrent_writers_sees_every_event_once_in_order(store: Store) -> None:
    # What an SSE stream does while several processes write: read after the last seq seen, again
    # and again. A store whose seq can become visible below one already read loses that event.
    followed: list[int] = []
    written = anyio.Event()

    async def write(count: int) -> None:
        for _ in range(count):
            await store.put_config(config())

    async def follow() -> None:
        after, finished = 0, False
        while True:
            page = await store.read_events("app_a", after=after, limit=7)
            followed.extend(event.seq for event in page)
            after = page[-1].seq if page else after
            if finished and not page:
                return
            finished = written.is_set()  # one more read once every write has returned
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as readers:
        readers.start_soon(follow)
        async with anyio.create_task_group() as writers:
            for _ in range(6):
                writers.start_soon(write, 5)
        written.set()
    everything = [event.seq for event in await store.read_events("app_a", after=0, limit=100)]
    assert len(everything) == 30
    assert followed == everything


async def test_events_are_scoped_by_app_and_read_after_a_seq(store: Store) -> None:
    assert await store.last_event_seq("app_a") == 0
    assert await store.read_events("app_a", after=0, limit=10) == []
    for app_id in ("app_a", "app_b", "app_a", "app_b", "app_a"):
        await store.insert_automation(automation(app_id=app_id))
    mine = await store.read_events("app_a", after=0, limit=10)
    theirs = await store.read_events("app_b", after=0, limit=10)
    assert len(mine) == 3 and len(theirs) == 2
    assert {event.app_id for event in mine} == {"app_a"}
    assert await store.last_event_seq("app_a") == mine[-1].seq
    assert await store.last_event_seq("app_b") == theirs[-1].seq
    assert await store.last_event_seq("app_c") == 0
    # Paging by seq covers every event once, in order.
    first = await store.read_events("app_a", after=0, limit=2)
    rest = await store.read_events("app_a", after=first[-1].seq, limit=2)
    assert [event.seq for event in first + rest] == [event.seq for event in mine]
    # Another app's seq only positions the read: it yields nothing of theirs.
    after_theirs = await store.read_events("app_a", after=theirs[0].seq, limit=10)
    assert after_theirs == [event for event in mine if event.seq > theirs[0].seq]
    assert await store.read_events("app_b", after=theirs[-1].seq, limit=10) == []


async def test_read_events_filters_by_run_and_type(store: Store) -> None:
    aut = await running(store)
    first, second = run(aut), run(aut)
    await store.insert_runs([first, second])
    await claim(store, first.id)
    assert [e.type for e in await store.read_events("app_a", after=0, limit=10, run_id=first.id)] == [
        "run.created",
        "run.started",
    ]
    started = await store.read_events("app_a", after=0, limit=10, types=frozenset({"run.started"}))
    assert [(e.type, e.run_id) for e in started] == [("run.started", first.id)]
    both = await store.read_events(
        "app_a", after=0, limit=10, types=frozenset({"run.created", "automation.created"}), run_id=second.id
    )
    assert [(e.type, e.run_id) for e in both] == [("run.created", second.id)]
    assert await store.read_events("app_b", after=0, limit=10, run_id=first.id) == []


async def test_returned_events_are_copies_with_json_data(store: Store) -> None:
    await store.insert_automation(automation())
    event = (await store.read_events("app_a", after=0, limit=1))[0]
    event.data["status"] = "changed"
    assert (await store.read_events("app_a", after=0, limit=1))[0].data == {"status": "draft"}
    assert event.to_dict()["at"].endswith("Z") and event.to_dict()["type"] == "automation.created"


async def test_prune_removes_old_events(store: Store) -> None:
    before = time.time() - 5
    await store.insert_automation(automation())
    await store.insert_automation(automation(app_id="app_b"))
    events = await store.read_events("app_a", after=0, limit=10)
    assert before <= events[0].at <= time.time() + 5  # the store's clock
    await store.prune(before)
    assert len(await store.read_events("app_a", after=0, limit=10)) == 1
    await store.prune(time.time() + 60)
    assert await store.read_events("app_a", after=0, limit=10) == []
    assert await store.read_events("app_b", after=0, limit=10) == []
    await store.insert_automation(automation())  # seq never goes back, even after a prune
    assert (await store.read_events("app_a", after=0, limit=10))[0].seq > events[0].seq


async def test_wait_for_events_wakes_on_an_append(store: Store) -> None:
    woken = anyio.Event()

    async def wait() -> None:
        await store.wait_for_events(3600)
        woken.set()

    with anyio.fail_after(30):  # far below the wait's own timeout: it returned on an append
        await store.wait_for_events(0)  # a store may start listening on its first wait (and return at once)
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            # Whether the waiter is already waiting cannot be observed through the contract, so
            # keep appending until it wakes: an append after it started waiting must wake it.
            while not woken.is_set():
                await store.insert_automation(automation())
                with anyio.move_on_after(0.2):
                    await woken.wait()


# --- API keys ---------------------------------------------------------------------------------


#: A secret hash no generated id or time can contain by chance (ids never hold "-").
HASH_1 = "hash-of-the-first-secret"


async def test_api_keys_are_found_by_hash_listed_per_app_and_revoked(store: Store) -> None:
    first = ApiKey(new_id("key_"), "app_a", "ci", T0)
    second = ApiKey(new_id("key_"), "app_a", None, T0 + 1)
    foreign = ApiKey(new_id("key_"), "app_b", "theirs", T0)
    for key, secret_hash in ((first, HASH_1), (second, "hash-2"), (foreign, "hash-3")):
        await store.create_api_key(key, secret_hash)
    with pytest.raises(ConflictError):
        await store.create_api_key(ApiKey(new_id("key_"), "app_a", None, T0), HASH_1)
    assert await store.api_key_by_hash(HASH_1) == first
    assert await store.api_key_by_hash("nope") is None
    assert await store.list_api_keys("app_a") == [first, second]
    assert await store.list_api_keys("app_c") == []
    assert await store.revoke_api_key("app_a", foreign.id, T0 + 5) is None  # another app's key
    assert (await store.api_key_by_hash("hash-3")) == foreign  # untouched
    revoked = await store.revoke_api_key("app_a", first.id, T0 + 5)
    assert revoked is not None and revoked.revoked_at == T0 + 5
    again = await store.revoke_api_key("app_a", first.id, T0 + 9)
    assert again is not None and again.revoked_at == T0 + 5  # the first revocation stands
    found = await store.api_key_by_hash(HASH_1)
    assert found is not None and found.revoked_at == T0 + 5
    assert HASH_1 not in str(found.to_dict())  # "-" never occurs in an id, so no chance match
    assert await store.revoke_api_key("app_a", "key_missing", T0) is None


# --- seed shapes: last_error, started_at -------------------------------------------------------


async def test_last_error_is_written_with_the_outcome_and_cleared_by_a_success(store: Store) -> None:
    record = automation(status="running")
    await store.insert_automation(record)
    failed, succeeded = run(record.id), run(record.id)
    await store.insert_runs([failed, succeeded])
    failed.status, failed.started_at, failed.finished_at = "failed", T0 + 10, T0 + 11
    failed.result = {"error": "boom"}
    await store.update_run(failed)
    stored = await store.get_automation("app_a", record.id)
    assert stored is not None and (stored.last_run_status, stored.last_error) == ("failed", "boom")
    assert stored.to_dict()["last_error"] == "boom"
    stored.name, stored.revision, stored.last_error = "renamed", stored.revision + 1, "edited"
    await store.update_automation(stored, expected_revision=record.revision)  # an edit keeps the outcome
    kept = await store.get_automation("app_a", record.id)
    assert kept is not None and kept.last_error == "boom"
    succeeded.status, succeeded.started_at, succeeded.finished_at = "completed", T0 + 20, T0 + 21
    succeeded.result = {"payload": {}, "output": None}
    await store.update_run(succeeded)
    cleared = await store.get_automation("app_a", record.id)
    assert cleared is not None and (cleared.last_run_status, cleared.last_error) == ("completed", None)


async def test_a_claim_sets_started_at_once(store: Store) -> None:
    aut = await running(store)
    fresh, resumed = run(aut), run(aut, started_at=T0 + 5)
    await store.insert_runs([fresh, resumed])
    before = time.time()
    claimed = {r.id: r for r in await store.claim_runs("w1", lease=LEASE, limit=10)}
    after = time.time()
    started = claimed[fresh.id].started_at
    assert started is not None and before - 5 <= started <= after + 5  # the claim's (database) clock
    assert (await stored_run(store, fresh.id)).started_at == started
    assert claimed[resumed.id].started_at == T0 + 5  # kept when already set
    assert (await stored_run(store, resumed.id)).started_at == T0 + 5


# --- waits: steering requests and event waits ------------------------------------------------


def wait(held: AutomationRun, step_key: str = "gate", **fields: Any) -> Wait:
    """A pending steering request of ``held`` (an event wait with ``kind="event", event=...``)."""
    values: dict[str, Any] = {
        "kind": "steering",
        "status": "pending",
        "created_at": time.time(),
        "message": "Publish it?",
        "choices": ["approve", "reject"],
        "assignees": None,
    }
    values.update(fields)
    prefix = "str_" if values["kind"] == "steering" else "wfe_"
    return Wait(
        id=new_id(prefix),
        app_id=held.app_id,
        automation_id=held.automation_id,
        run_id=held.id,
        node_id=step_key.rsplit("/", 1)[-1],
        step_key=step_key,
        **values,
    )


async def parked(store: Store, app_id: str = "app_a", **fields: Any) -> tuple[AutomationRun, Wait]:
    """A claimed run with a registered wait (not yet released)."""
    (fresh,) = await pending(store, app_id=app_id)
    held = await claim(store, fresh.id)
    return held, await store.register_wait(wait(held, **fields), held.fence)


async def test_register_wait_stores_one_wait_per_step(store: Store) -> None:
    held, first = await parked(store, input={"thread_id": "thr_1"})
    assert (first.status, first.choices, first.message, first.input) == (
        "pending",
        ["approve", "reject"],
        "Publish it?",
        {"thread_id": "thr_1"},
    )
    again = await store.register_wait(wait(held, message="Another?"), held.fence)
    assert (again.id, again.message) == (first.id, "Publish it?")  # a re-executed node finds its request
    other_step = await store.register_wait(wait(held, step_key="branch/gate"), held.fence)
    assert other_step.id != first.id
    page = await store.list_waits("app_a", run_id=held.id)
    assert sorted(w.id for w in page.data) == sorted([first.id, other_step.id])


async def test_register_wait_needs_the_runs_current_fence_and_app(store: Store) -> None:
    (fresh,) = await pending(store)
    held = await claim(store, fresh.id)
    with pytest.raises(LeaseLostError):
        await store.register_wait(wait(held), held.fence - 1)
    foreign = wait(held)
    foreign.app_id = "app_b"
    with pytest.raises(LeaseLostError):
        await store.register_wait(foreign, held.fence)
    assert (await store.list_waits("app_a")).data == []
    assert (await store.list_waits("app_b")).data == []


async def test_waits_of_another_app_are_not_found(store: Store) -> None:
    _, stored = await parked(store)
    assert await store.get_wait("app_b", stored.id) is None
    assert (await store.list_waits("app_b")).data == []
    now = time.time()
    assert await store.resolve_wait("app_b", stored.id, status="answered", resolution={"choice": "x"}, now=now) is None
    assert await store.expire_wait("app_b", stored.id, now + 10**6) is None
    assert (await store.get_wait("app_a", stored.id)).status == "pending"  # type: ignore[union-attr]


async def test_list_waits_filters_and_pages_newest_first(store: Store) -> None:
    held, first = await parked(store)
    second = await store.register_wait(wait(held, step_key="b"), held.fence)
    event = await store.register_wait(wait(held, step_key="c", kind="event", event="thread.created"), held.fence)
    await store.resolve_wait("app_a", second.id, status="answered", resolution={"choice": "approve"}, now=time.time())
    steering = await store.list_waits("app_a", kind="steering")
    assert [w.id for w in steering.data] == sorted([first.id, second.id], reverse=True)
    assert [w.id for w in (await store.list_waits("app_a", status="pending", kind="steering")).data] == [first.id]
    assert [w.id for w in (await store.list_waits("app_a", kind="event")).data] == [event.id]
    one = await store.list_waits("app_a", limit=1)
    assert len(one.data) == 1 and one.next_cursor is not None
    rest = await store.list_waits("app_a", cursor=one.next_cursor, limit=10)
    assert {w.id for w in one.data + rest.data} == {first.id, second.id, event.id}


async def test_resolve_wait_ends_a_pending_wait_once(store: Store) -> None:
    held, stored = await parked(store)
    now = time.time()
    resolution = {"choice": "approve", "note": "ship it", "by": "usr_1"}
    answered = await store.resolve_wait("app_a", stored.id, status="answered", resolution=resolution, now=now)
    assert answered is not None
    assert (answered.status, answered.resolution, answered.resolved_fence) == ("answered", resolution, held.fence)
    assert answered.resolved_at == pytest.approx(now)
    late = {"choice": "reject"}
    assert await store.resolve_wait("app_a", stored.id, status="answered", resolution=late, now=now) is None
    kept = await store.get_wait("app_a", stored.id)
    assert kept is not None and kept.resolution == resolution


async def test_concurrent_answers_have_exactly_one_winner(store: Store) -> None:
    _, stored = await parked(store)
    won: list[str] = []

    async def answer(choice: str) -> None:
        got = await store.resolve_wait("app_a", stored.id, status="answered", resolution={"c": choice}, now=time.time())
        if got is not None:
            won.append(choice)

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(answer, f"c{n}")
    assert len(won) == 1
    final = await store.get_wait("app_a", stored.id)
    assert final is not None and final.resolution == {"c": won[0]}


async def test_an_expired_wait_cannot_be_resolved_and_expires_once_due(store: Store) -> None:
    now = time.time()
    _, stored = await parked(store, expires_at=now + 60)
    still = await store.expire_wait("app_a", stored.id, now)
    assert still is not None and still.status == "pending"  # not due yet: unchanged
    answer = {"choice": "approve"}
    assert await store.resolve_wait("app_a", stored.id, status="answered", resolution=answer, now=now + 60) is None
    expired = await store.expire_wait("app_a", stored.id, now + 60)
    assert expired is not None and expired.status == "expired"
    _, resolved = await parked(store, expires_at=now + 60)
    await store.resolve_wait("app_a", resolved.id, status="answered", resolution=answer, now=now)
    after = await store.expire_wait("app_a", resolved.id, now + 120)
    assert after is not None and after.status == "answered"  # the answer won: it stays answered


async def test_a_parked_run_waits_until_its_wait_is_resolved(store: Store) -> None:
    held, stored = await parked(store)
    waiting_for = {"kind": "steering", "steering_request_id": stored.id, "node_id": "gate", "until": None}
    await store.release_run(held.id, held.fence, wake_at=time.time() + 3600, waiting_for=waiting_for)
    shown = await stored_run(store, held.id)
    assert (shown.status, shown.waiting_for) == ("pending", waiting_for)
    assert await store.claim_runs("w2", lease=LEASE, limit=10) == []
    await store.resolve_wait("app_a", stored.id, status="answered", resolution={"choice": "approve"}, now=time.time())
    resumed = await store.claim_runs("w2", lease=LEASE, limit=10)
    assert [r.id for r in resumed] == [held.id]
    assert resumed[0].waiting_for is None and (await stored_run(store, held.id)).waiting_for is None


async def test_a_run_parked_after_its_wait_was_resolved_is_claimable_at_once(store: Store) -> None:
    held, stored = await parked(store)
    await store.resolve_wait("app_a", stored.id, status="answered", resolution={"choice": "approve"}, now=time.time())
    await store.release_run(held.id, held.fence, wake_at=time.time() + 3600)
    assert [r.id for r in await store.claim_runs("w2", lease=LEASE, limit=10)] == [held.id]


async def test_a_run_that_ends_cancels_its_pending_waits(store: Store) -> None:
    held, stored = await parked(store)
    finished = dataclasses.replace(held, status="failed", result={"error": "boom"}, finished_at=time.time())
    await store.update_run(finished, fence=held.fence)
    gone = await store.get_wait("app_a", stored.id)
    assert gone is not None and gone.status == "cancelled"
    held2, other = await parked(store)
    await store.release_run(held2.id, held2.fence, wake_at=time.time() + 3600)
    await store.cancel_run("app_a", held2.id, time.time())
    cancelled = await store.get_wait("app_a", other.id)
    assert cancelled is not None and cancelled.status == "cancelled"


async def test_an_accepted_event_is_offered_to_the_pending_waits_of_its_name(store: Store) -> None:
    later = time.time() + 3600
    held, matching = await parked(store, kind="event", event="thread.created", condition="c", input={"n": 1})
    await store.release_run(held.id, held.fence, wake_at=later)
    held2, other = await parked(store, kind="event", event="thread.created", input={"n": 2})
    await store.release_run(held2.id, held2.fence, wake_at=later)
    _, other_name = await parked(store, kind="event", event="thread.deleted")
    _, foreign = await parked(store, app_id="app_b", kind="event", event="thread.created")
    _, expired = await parked(store, kind="event", event="thread.created", expires_at=time.time() - 1)
    offered: list[list[str]] = []

    def wake(waits: Sequence[Wait]) -> list[tuple[Wait, dict[str, Any]]]:
        offered.append(sorted(w.id for w in waits))
        return [(w, {"event_id": "evt_1", "payload": {"n": 1}}) for w in waits if w.input == {"n": 1}]

    woken: list[Wait] = []
    assert await store.accept_event("app_a", "evt_1", "thread.created", {"n": 1}, [], wake=wake, woken=woken) == []
    assert offered[-1] == sorted([matching.id, other.id])  # not other names, apps, or expired waits
    assert [w.id for w in woken] == [matching.id]  # what it resolved
    woke = await store.get_wait("app_a", matching.id)
    assert woke is not None and (woke.status, woke.resolution) == (
        "matched",
        {"event_id": "evt_1", "payload": {"n": 1}},
    )
    assert (await store.get_wait("app_a", other.id)).status == "pending"  # type: ignore[union-attr]
    for untouched in (other_name, expired):
        assert (await store.get_wait("app_a", untouched.id)).status == "pending"  # type: ignore[union-attr]
    assert (await store.get_wait("app_b", foreign.id)).status == "pending"  # type: ignore[union-attr]
    assert [r.id for r in await store.claim_runs("w2", lease=LEASE, limit=10)] == [held.id]  # woken; not held2
    calls = len(offered)
    assert await store.accept_event("app_a", "evt_1", "thread.created", {}, [], wake=wake) is None
    assert len(offered) == calls  # a duplicate event offers nothing
    again: list[Wait] = []
    await store.accept_event("app_a", "evt_2", "thread.created", {"n": 1}, [], wake=wake, woken=again)
    assert again == [] and offered[-1] == [other.id]  # the matched wait is no longer offered
    assert await store.leftover_offers(time.time() + 60) == []  # nothing left behind


async def test_steering_requests_are_in_the_event_log(store: Store) -> None:
    start = await store.last_event_seq("app_a")
    _, stored = await parked(store)
    await store.resolve_wait("app_a", stored.id, status="answered", resolution={"choice": "approve"}, now=time.time())
    _, quiet = await parked(store, kind="event", event="thread.created")
    events = [e for e in await store.read_events("app_a", after=start, limit=100) if e.type.startswith("steering.")]
    assert [(e.type, e.run_id, e.data.get("request_id"), e.data.get("choice")) for e in events] == [
        ("steering.requested", stored.run_id, stored.id, None),
        ("steering.answered", stored.run_id, stored.id, "approve"),
    ]
    assert all(e.data.get("request_id") != quiet.id for e in await store.read_events("app_a", after=start, limit=100))


async def test_run_for_event_finds_the_run_an_event_created(store: Store) -> None:
    aut = await running(store)
    first = run(aut, event_id="invoke:a:k1")
    assert await store.accept_event("app_a", "invoke:a:k1", "workflow.invoked", {}, [first]) == [first]
    assert await store.accept_event("app_a", "invoke:a:k1", "workflow.invoked", {}, [run(aut)]) is None
    found = await store.run_for_event("app_a", "invoke:a:k1")
    assert found is not None and found.id == first.id
    assert await store.run_for_event("app_b", "invoke:a:k1") is None
    assert await store.run_for_event("app_a", "invoke:a:k2") is None


async def test_save_memory_writes_the_memory_with_the_step_atomically(store: Store) -> None:
    aut = await running(store)
    fresh = run(aut)
    await store.insert_runs([fresh])
    held = await claim(store, fresh.id)
    assert await store.get_memory("app_a", aut) is None
    await store.save_memory(held.id, held.fence, {"sent": ["a"]}, step=("keep", {"ok": True}))
    assert await store.get_memory("app_a", aut) == {"sent": ["a"]}
    assert (await store.load_steps(held.id))["keep"] == {"ok": True}
    await store.save_memory(held.id, held.fence, {"sent": ["a", "b"]})
    assert await store.get_memory("app_a", aut) == {"sent": ["a", "b"]}
    assert await store.get_memory("app_b", aut) is None  # another app's automation: nothing
    with pytest.raises(LeaseLostError):  # a stale fence writes neither
        await store.save_memory(held.id, held.fence - 1, {"sent": []}, step=("late", 1))
    with pytest.raises(StoreError):  # a step that cannot be stored takes the memory with it
        await store.save_memory(held.id, held.fence, {"sent": []}, step=("bad", float("nan")))
    assert await store.get_memory("app_a", aut) == {"sent": ["a", "b"]}
    assert set(await store.load_steps(held.id)) == {"keep"}
    copy = await store.get_memory("app_a", aut)
    copy["sent"].append("mutated")
    assert await store.get_memory("app_a", aut) == {"sent": ["a", "b"]}


async def test_memory_goes_with_its_automation(store: Store) -> None:
    aut = await running(store)
    fresh = run(aut)
    await store.insert_runs([fresh])
    held = await claim(store, fresh.id)
    await store.save_memory(held.id, held.fence, {"n": 1})
    assert await store.delete_automation("app_a", aut)
    assert await store.get_memory("app_a", aut) is None


async def finish(store: Store, aut: str, status: str, at: float) -> None:
    """Store a run of ``aut`` that started at ``at`` and ended ``status``."""
    ended = run(aut, status=status, started_at=at, finished_at=at + 1)
    ended.result = {"error": "boom"} if status != "completed" else {"payload": 1, "output": []}
    await store.insert_runs([run(aut, run_id=ended.id)])
    await store.update_run(ended)


async def test_a_failure_streak_pauses_the_automation_exactly_at_its_max(store: Store) -> None:
    record = automation(status="running", max_consecutive_failures=3)
    await store.insert_automation(record)
    start = await store.last_event_seq("app_a")
    await finish(store, record.id, "failed", T0 + 1)
    await finish(store, record.id, "completed", T0 + 2)  # a success resets the count
    await finish(store, record.id, "failed", T0 + 3)
    await finish(store, record.id, "cancelled", T0 + 4)  # a cancel leaves it
    await finish(store, record.id, "failed", T0 + 5)
    two = await store.get_automation("app_a", record.id)
    assert two is not None and (two.status, two.consecutive_failures) == ("running", 2)
    two.name, two.revision = "renamed", two.revision + 1  # a host's update keeps the streak
    two.consecutive_failures = 0
    await store.update_automation(two, expected_revision=two.revision - 1)
    kept = await store.get_automation("app_a", record.id)
    assert kept is not None and kept.consecutive_failures == 2
    await finish(store, record.id, "failed", T0 + 6)
    paused = await store.get_automation("app_a", record.id)
    assert paused is not None
    assert (paused.status, paused.paused_reason, paused.consecutive_failures) == ("paused", "failures", 3)
    assert paused.revision == kept.revision + 1
    events = await store.read_events("app_a", after=start, limit=100)
    assert [e.type for e in events if e.type.startswith("automation.")] == ["automation.updated", "automation.paused"]
    await finish(store, record.id, "failed", T0 + 7)  # already paused: counted, no second pause
    again = await store.get_automation("app_a", record.id)
    assert again is not None and (again.revision, again.consecutive_failures) == (paused.revision, 4)


async def test_without_a_max_failures_only_count(store: Store) -> None:
    record = automation(status="running")
    await store.insert_automation(record)
    for n in range(5):
        await finish(store, record.id, "failed", T0 + n)
    stored = await store.get_automation("app_a", record.id)
    assert stored is not None and (stored.status, stored.consecutive_failures) == ("running", 5)


# --- result delivery --------------------------------------------------------------------------

_SINKS = [{"kind": "webhook", "url": "https://hooks.example/x", "secret": "s" * 16, "headers": {}, "on": ["failed"]}]


async def delivered_run(store: Store, *, next_at: float, app_id: str = "app_a") -> tuple[Automation, AutomationRun]:
    """A finished run of an automation with sinks, stored with its first delivery attempt (as the engine does)."""
    record = automation(app_id, status="running", deliver=_SINKS)
    await store.insert_automation(record)
    finished = record.new_run(T0, {"n": 1})
    assert finished.delivery == {"status": "awaiting", "on": ["failed"]}
    await store.insert_runs([finished])
    finished.status, finished.started_at, finished.finished_at = "failed", T0 + 1, T0 + 2
    finished.result = {"error": "boom"}
    finished.delivery = {"status": "pending", "attempts": 1, "last_error": None, "next_at": next_at}
    await store.update_run(finished)
    return record, finished


async def test_a_runs_delivery_is_written_with_its_outcome_and_copied(store: Store) -> None:
    _, finished = await delivered_run(store, next_at=T0 + 100)
    stored = await store.get_run("app_a", finished.id)
    assert stored is not None and stored.delivery is not None
    assert (stored.status, stored.delivery["status"], stored.delivery["attempts"]) == ("failed", "pending", 1)
    stored.delivery["attempts"] = 99
    again = await store.get_run("app_a", finished.id)
    assert again is not None and again.delivery is not None and again.delivery["attempts"] == 1
    assert again.to_dict()["delivery"]["status"] == "pending"


async def test_claim_deliveries_takes_due_attempts_once_and_counts_them(store: Store) -> None:
    _, due = await delivered_run(store, next_at=T0 + 10)
    _, later = await delivered_run(store, next_at=T0 + 50, app_id="app_b")
    assert await store.claim_deliveries(T0 + 9, lease=30, limit=10) == []
    claimed = await store.claim_deliveries(T0 + 10, lease=30, limit=10)
    assert [r.id for r in claimed] == [due.id]
    delivery = claimed[0].delivery
    assert delivery is not None and (delivery["attempts"], delivery["next_at"]) == (2, T0 + 40)
    assert claimed[0].result == {"error": "boom"} and claimed[0].status == "failed"
    assert await store.claim_deliveries(T0 + 20, lease=30, limit=10) == []  # held until its lease ends
    both = await store.claim_deliveries(T0 + 60, lease=30, limit=10)  # the holder died: taken again
    assert sorted(r.id for r in both) == sorted([due.id, later.id])  # across apps
    again = await store.get_run("app_a", due.id)
    assert again is not None and again.delivery is not None and again.delivery["attempts"] == 3
    assert again.status == "failed" and again.result == {"error": "boom"}  # the run itself is untouched


async def test_concurrent_delivery_claims_never_return_the_same_attempt(store: Store) -> None:
    ids = {(await delivered_run(store, next_at=T0 + n))[1].id for n in range(6)}
    results: list[list[AutomationRun]] = []

    async def claim() -> None:
        results.append(await store.claim_deliveries(T0 + 100, lease=30, limit=4))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(claim)
    claimed = [r.id for batch in results for r in batch]
    assert sorted(claimed) == sorted(ids)


async def test_finish_delivery_is_a_compare_and_set_on_the_attempt(store: Store) -> None:
    record, finished = await delivered_run(store, next_at=T0 + 10)
    retry = {"status": "pending", "attempts": 1, "last_error": "503", "next_at": T0 + 20, "done": []}
    assert not await store.finish_delivery("app_b", finished.id, 1, retry)  # another app's run
    assert not await store.finish_delivery("app_a", finished.id, 2, retry)  # not the current attempt
    assert await store.finish_delivery("app_a", finished.id, 1, retry)
    assert not await store.claim_deliveries(T0 + 19, lease=30, limit=10)
    (claimed,) = await store.claim_deliveries(T0 + 20, lease=30, limit=10)
    assert claimed.delivery is not None and claimed.delivery["attempts"] == 2
    assert claimed.delivery["last_error"] == "503"
    stale = {"status": "delivered", "attempts": 1, "last_error": None, "done": [0]}
    assert not await store.finish_delivery("app_a", finished.id, 1, stale)  # taken over: records nothing
    failed = {"status": "failed", "attempts": 2, "last_error": "gave up", "done": []}
    assert await store.finish_delivery("app_a", finished.id, 2, failed)
    assert not await store.finish_delivery("app_a", finished.id, 2, failed)  # no longer pending
    assert await store.claim_deliveries(T0 + 1000, lease=30, limit=10) == []
    stored = await store.get_run("app_a", finished.id)
    assert stored is not None and stored.delivery is not None
    assert (stored.status, stored.delivery["status"], stored.delivery["last_error"]) == ("failed", "failed", "gave up")
    owner = await store.get_automation("app_a", record.id)
    assert owner is not None and owner.last_delivery_error == "gave up"
    assert owner.revision == record.revision  # a delivery outcome is not an edit


async def test_last_delivery_error_belongs_to_delivery_outcomes(store: Store) -> None:
    record, finished = await delivered_run(store, next_at=T0 + 10)
    failed = {"status": "failed", "attempts": 1, "last_error": "refused", "done": []}
    assert await store.finish_delivery("app_a", finished.id, 1, failed)
    stale = await store.get_automation("app_a", record.id)
    assert stale is not None and stale.last_delivery_error == "refused"
    stale.name, stale.revision, stale.last_delivery_error = "renamed", stale.revision + 1, None
    await store.update_automation(stale, expected_revision=record.revision)  # a host's edit keeps it
    kept = await store.get_automation("app_a", record.id)
    assert kept is not None and (kept.name, kept.last_delivery_error) == ("renamed", "refused")
    _, second = await delivered_run(store, next_at=T0 + 10)
    second_owner = second.automation_id
    delivered = {"status": "delivered", "attempts": 1, "last_error": None, "done": [0], "delivered_at": T0 + 3}
    assert await store.finish_delivery("app_a", second.id, 1, delivered)
    other = await store.get_automation("app_a", second_owner)
    assert other is not None and other.last_delivery_error is None
    retry = {"status": "pending", "attempts": 1, "last_error": "x", "next_at": T0 + 5, "done": []}
    third = record.new_run(T0, {})
    await store.insert_runs([third])
    third.status, third.started_at, third.finished_at = "failed", T0 + 1, T0 + 2
    third.delivery = {"status": "pending", "attempts": 1, "last_error": None, "next_at": T0 + 10}
    await store.update_run(third)
    assert await store.finish_delivery("app_a", third.id, 1, retry)  # a retry leaves the automation's error
    still = await store.get_automation("app_a", record.id)
    assert still is not None and still.last_delivery_error == "refused"
    ok = {**delivered, "attempts": 2}
    (claimed,) = await store.claim_deliveries(T0 + 5, lease=30, limit=10)
    assert claimed.id == third.id and await store.finish_delivery("app_a", third.id, 2, ok)
    cleared = await store.get_automation("app_a", record.id)
    assert cleared is not None and cleared.last_delivery_error is None


async def test_sinks_are_stored_and_their_secrets_never_shown(store: Store) -> None:
    record = automation(status="running", deliver=_SINKS)
    await store.insert_automation(record)
    stored = await store.get_automation("app_a", record.id)
    assert stored is not None and stored.deliver == _SINKS  # the secret signs deliveries: it is kept
    shown = stored.to_dict()["deliver"]
    assert shown[0]["secret"] == "<redacted>" and "s" * 16 not in str(stored.to_dict())
    stored.deliver[0]["url"] = "https://changed.example"
    again = await store.get_automation("app_a", record.id)
    assert again is not None and again.deliver == _SINKS


__all__ = sorted(name for name in globals() if name.startswith("test_"))
