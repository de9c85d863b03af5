"""The Store contract (``graphflow/abc.py``), one test per obligation, run against every store.

The ``store`` fixture is parametrised over ``FACTORIES``: a name → async context manager that
yields a started store and closes it. Today only ``memory`` exists; the durable-stores issue adds

* ``"sqlite": sqlite_store`` — a fresh database file under ``tmp_path``;
* ``"postgres": postgres_store`` — a fresh schema on the server named by
  ``GRAPHFLOW_TEST_POSTGRES_DSN`` (``pytest.skip`` when it is unset), marked ``postgres``.

Nothing here may depend on a backend's internals: records go in and come out through the
contract only.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from graphflow.abc import Store
from graphflow.automations.model import Automation, AutomationRun, ConfigRecord, Repeat
from graphflow.exceptions import ConflictError, NotFoundError
from graphflow.ids import new_id
from graphflow.stores.memory import MemoryStore

pytestmark = pytest.mark.anyio

POSTGRES_DSN = os.environ.get("GRAPHFLOW_TEST_POSTGRES_DSN")  # read by the PostgreSQL factory
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@asynccontextmanager
async def memory_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = MemoryStore()
    await store.start()
    try:
        yield store
    finally:
        await store.close()


StoreFactory = Callable[[Path], AbstractAsyncContextManager[Store]]
FACTORIES: dict[str, StoreFactory] = {"memory": memory_store}


@pytest.fixture(params=sorted(FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with FACTORIES[request.param](tmp_path) as started:
        yield started


# --- records --------------------------------------------------------------------------------


def ordered_ids(prefix: str, count: int) -> list[str]:
    """``count`` fresh ids, oldest first (ids made in the same millisecond sort randomly)."""
    return sorted(new_id(prefix) for _ in range(count))


def config(app_id: str = "app_a", config_id: str | None = None, version: int = 1, name: str = "g") -> ConfigRecord:
    document = {"kind": "WorkflowGraph", "version": 1, "name": name, "start_node": "t",
                "nodes": [{"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created"}]}
    return ConfigRecord(config_id or new_id("cfg_"), app_id, version, name, document, T0, T0 + version)


def automation(app_id: str = "app_a", automation_id: str | None = None, **fields: Any) -> Automation:
    values: dict[str, Any] = {
        "name": "A", "type": "trigger", "status": "draft", "config_id": "cfg_x", "trigger": "thread.created",
        "created_at": T0, "updated_at": T0, "metadata": {"team": {"name": "ops"}},
    }
    values.update(fields)
    return Automation(id=automation_id or new_id("aut_"), app_id=app_id, **values)


def run(automation_id: str, app_id: str = "app_a", run_id: str | None = None, **fields: Any) -> AutomationRun:
    values: dict[str, Any] = {
        "trigger": "thread.created", "payload": {"thread": {"id": "thr_1"}}, "status": "pending",
        "config_id": "cfg_x", "config_version": None, "created_at": T0, "updated_at": T0,
    }
    values.update(fields)
    return AutomationRun(id=run_id or new_id("atr_"), automation_id=automation_id, app_id=app_id, **values)


async def all_pages(store: Store, app_id: str, automation_id: str, *, limit: int,
                    status: str | None = None) -> list[list[str]]:
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
    await store.update_automation(automation(automation_id=record.id, lookup_key="new", revision=2),
                                  expected_revision=1)
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
