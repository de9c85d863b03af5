"""``WorkflowWaitForEvent``: a run parks until an event whose payload matches arrives, on every store.

One event can wake many waiting runs; each wakes once. The race the issue names — an event
published while a run is starting to wait — is tested on the SQL stores with a registration held
open in another connection: the event either commits first (and the wait never sees it) or waits
for the registration and is offered to it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from graphflow.engine.engine import Engine
from graphflow.exceptions import ValidationError
from graphflow.records import AutomationRun, Wait
from graphflow.stores.base import wait_data
from graphflow.stores.sqlite import SQLiteStore
from graphflow.testing.store_contract import automation, claim, run, wait
from tests.conftest import eventually, graph_dict
from tests.pg import postgres_store, postgres_url

pytestmark = pytest.mark.anyio

APP = "app_w"


def waiting(condition: str | None = "payload.thread_id == $.thread_id", **node: Any) -> dict[str, Any]:
    step = {
        "kind": "WorkflowWaitForEvent",
        "id": "reply",
        "event": "thread.message_added",
        "on_success": "thank",
        **({"condition": condition} if condition is not None else {}),
        **node,
    }
    steps = [step, {"kind": "WorkflowScript", "id": "thank", "source": "'thanks for ' + $.payload.message_id"}]
    if node.get("on_timeout"):
        steps.append({"kind": "WorkflowScript", "id": "nudge", "source": "'nudged ' + $.input.thread_id"})
    return graph_dict(*steps, trigger="thread.created")


async def automation_waiting(engine: Engine, **node: Any) -> str:
    config = await engine.configs.create(APP, waiting(**node))
    created = await engine.automations.create(
        APP, name="waits", trigger="thread.created", config_id=config.id, enabled=True, overlap="allow"
    )
    return created.id


async def until_waiting(engine: Engine, run_ids: Sequence[str]) -> None:
    """Until every run has registered its wait (and, on a durable store, parked)."""

    async def all_waiting() -> bool:
        waits = (await engine.store.list_waits(APP, kind="event", status="pending", limit=100)).data
        if {w.run_id for w in waits} < set(run_ids):
            return False
        if engine.store.durable:
            runs = [await engine.automations.run(APP, r) for r in run_ids]
            return all(r.waiting_for is not None for r in runs)
        return True

    await eventually(all_waiting, "every run to wait")


def message(thread: str, n: int) -> dict[str, Any]:
    return {"thread_id": thread, "message_id": f"msg_{n}"}


async def test_a_matching_event_wakes_the_run_and_others_do_not(engine: Engine) -> None:
    aut = await automation_waiting(engine)
    run_id = await engine.automations.trigger(APP, aut, {"thread_id": "thr_1"})
    await until_waiting(engine, [run_id])
    parked = await engine.automations.run(APP, run_id)
    if engine.store.durable:
        assert parked.status == "pending" and parked.waiting_for is not None
        assert (parked.waiting_for["kind"], parked.waiting_for["event"]) == ("event", "thread.message_added")
    missed = await engine.publish(APP, "thread.message_added", message("thr_2", 1))
    assert missed.woken_run_ids == ()
    other_name = await engine.publish(APP, "thread.member_joined", {"thread_id": "thr_1"})
    assert other_name.woken_run_ids == ()
    hit = await engine.publish(APP, "thread.message_added", message("thr_1", 2))
    assert hit.woken_run_ids == (run_id,)
    done = await engine.wait_for_run(APP, run_id, timeout=10)
    assert done.result == {"payload": "thanks for msg_2", "output": []}
    again = await engine.publish(APP, "thread.message_added", message("thr_1", 3))
    assert again.woken_run_ids == ()  # each wait wakes once


async def test_one_event_wakes_every_matching_run_once(engine: Engine) -> None:
    aut = await automation_waiting(engine)
    same = [await engine.automations.trigger(APP, aut, {"thread_id": "thr_1"}) for _ in range(5)]
    other = await engine.automations.trigger(APP, aut, {"thread_id": "thr_9"})
    await until_waiting(engine, [*same, other])
    woke = await engine.publish(APP, "thread.message_added", message("thr_1", 1))
    assert sorted(woke.woken_run_ids) == sorted(same)
    for run_id in same:
        assert (await engine.wait_for_run(APP, run_id, timeout=10)).result["payload"] == "thanks for msg_1"  # type: ignore[index]
    assert (await engine.automations.run(APP, other)).status in ("pending", "running")
    assert (await engine.publish(APP, "thread.message_added", message("thr_1", 2))).woken_run_ids == ()


async def test_without_a_condition_any_event_of_the_name_matches(engine: Engine) -> None:
    aut = await automation_waiting(engine, condition=None)
    run_id = await engine.automations.trigger(APP, aut, {"thread_id": "thr_1"})
    await until_waiting(engine, [run_id])
    assert (await engine.publish(APP, "thread.message_added", message("thr_7", 1))).woken_run_ids == (run_id,)


async def test_a_wait_that_expires_takes_on_timeout(engine: Engine) -> None:
    aut = await automation_waiting(engine, expires_after=0.3, on_timeout="nudge")
    run_id = await engine.automations.trigger(APP, aut, {"thread_id": "thr_1"})
    done = await engine.wait_for_run(APP, run_id, timeout=10)
    assert done.result == {"payload": "nudged thr_1", "output": []}
    assert (await engine.publish(APP, "thread.message_added", message("thr_1", 1))).woken_run_ids == ()


async def test_a_condition_that_fails_does_not_match(engine: Engine) -> None:
    aut = await automation_waiting(engine, condition="payload.content.size() > 3 && $.thread_id == payload.thread_id")
    run_id = await engine.automations.trigger(APP, aut, {"thread_id": "thr_1"})
    await until_waiting(engine, [run_id])
    no_content = await engine.publish(APP, "thread.message_added", message("thr_1", 1))  # missing key: no match
    assert no_content.woken_run_ids == ()
    hit = await engine.publish(APP, "thread.message_added", {**message("thr_1", 2), "content": "hello"})
    assert hit.woken_run_ids == (run_id,)


async def test_another_apps_events_never_wake_a_run(engine: Engine) -> None:
    aut = await automation_waiting(engine, condition=None)
    run_id = await engine.automations.trigger(APP, aut, {"thread_id": "thr_1"})
    await until_waiting(engine, [run_id])
    assert (await engine.publish("app_other", "thread.message_added", message("thr_1", 1))).woken_run_ids == ()
    assert (await engine.automations.run(APP, run_id)).status in ("pending", "running")


def test_wait_configs_that_cannot_work_are_refused_with_a_path() -> None:
    import graphflow

    bad = [
        ({"condition": "payload.thread_id == "}, "condition"),
        ({"condition": "nope.x == 1"}, "unknown name"),
        ({"event": "NotAnEvent"}, "dotted event name"),
        ({"on_timeout": "nudge"}, "on_timeout needs expires_after"),
        ({"timeout": "1s"}, "expires_after"),
    ]
    for node, expected in bad:
        with pytest.raises(ValidationError) as refused:
            graphflow.load_graph(waiting(**node))
        text = str(refused.value)
        assert "$.nodes[1]" in text and expected in text, (node, text)


# --- the race: an event published while a run starts to wait -----------------------------------


def offer_recorder() -> tuple[list[list[str]], Any]:
    offered: list[list[str]] = []

    def wake(waits: Sequence[Wait]) -> list[tuple[Wait, dict[str, Any]]]:
        offered.append([w.id for w in waits])
        return [(w, {"event_id": "evt_race"}) for w in waits]

    return offered, wake


async def held_run(store: Any) -> AutomationRun:
    record = automation("app_a", status="running")
    await store.insert_automation(record)
    fresh = run(record.id)
    await store.insert_runs([fresh])
    return await claim(store, fresh.id)


async def test_sqlite_an_event_racing_a_registration_is_offered_to_it(tmp_path: Path) -> None:
    """The registration commits while the event's transaction waits for the write lock: it is offered."""
    store = SQLiteStore(tmp_path / "race.db")
    await store.start()
    try:
        held = await held_run(store)
        pending_wait = wait(held, kind="event", event="thread.created")
        other = sqlite3.connect(tmp_path / "race.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the registration's transaction, not yet committed
        other.execute(
            "INSERT INTO waits (id, app_id, automation_id, run_id, step_key, kind, status, created_at, expires_at, "
            "event, resolved_at, resolved_fence, data) VALUES (?, ?, ?, ?, ?, 'event', 'pending', ?, NULL, ?, NULL, "
            "NULL, ?)",
            (pending_wait.id, "app_a", held.automation_id, held.id, "reply", time.time(), "thread.created",
             wait_data(pending_wait)),
        )  # fmt: skip
        offered, wake = offer_recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: store.accept_event("app_a", "evt_race", "thread.created", {}, [], wake=wake))
            await anyio.sleep(0.05)  # not synchronisation: the outcome must be the same whenever it runs
            other.execute("COMMIT")
        other.close()
        assert offered == [[pending_wait.id]]
        matched = await store.get_wait("app_a", pending_wait.id)
        assert matched is not None and matched.status == "matched"
    finally:
        await store.close()


async def _advisory_waiters(conn: Any) -> int:
    """How many backends of this database wait for an advisory lock now."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
    )
    row = await (await conn.execute(query)).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.postgres
async def test_postgres_an_event_racing_a_registration_is_offered_to_it() -> None:
    """A registration holds its lock (its wait inserted, uncommitted) while the event is accepted.

    The accepting statement waits for the lock and then reads the waits with a snapshot taken
    after it: the wait that committed meanwhile is offered. Without the lock-then-read order it
    would read the waits as they were when the statement started, and miss it.
    """
    import psycopg

    from graphflow.stores.postgres_schema import WAIT_LOCK_CLASS

    async with postgres_store() as store:
        held = await held_run(store)
        pending_wait = wait(held, kind="event", event="thread.created")
        schema = store.schema
        async with await psycopg.AsyncConnection.connect(store._conninfo, autocommit=False) as registration, \
                await psycopg.AsyncConnection.connect(store._conninfo, autocommit=True) as watcher:  # fmt: skip
            await registration.execute(f'SET search_path TO "{schema}"')
            await registration.execute(
                "SELECT pg_advisory_xact_lock(%s, graphflow_wait_key(%s, %s))",
                [WAIT_LOCK_CLASS, "app_a", "thread.created"],
            )
            await registration.execute(
                "INSERT INTO waits (id, app_id, automation_id, run_id, step_key, kind, status, created_at, event, "
                "data) VALUES (%s, %s, %s, %s, 'reply', 'event', 'pending', %s, 'thread.created', %s::jsonb)",
                [pending_wait.id, "app_a", held.automation_id, held.id, time.time(), wait_data(pending_wait)],
            )
            offered, wake = offer_recorder()
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: store.accept_event("app_a", "evt_race", "thread.created", {}, [], wake=wake))

                async def accepting_waits() -> bool:
                    return await _advisory_waiters(watcher) > 0

                await eventually(accepting_waits, "the event's statement to wait for the registration's lock")
                await registration.commit()
        assert offered == [[pending_wait.id]]
        matched = await store.get_wait("app_a", pending_wait.id)
        assert matched is not None and matched.status == "matched"


@pytest.mark.postgres
async def test_postgres_a_registration_racing_an_event_does_not_see_it() -> None:
    """An event in flight (its lock held, uncommitted) makes a registration wait: the wait comes after it."""
    import psycopg

    from graphflow.stores.postgres_schema import WAIT_LOCK_CLASS

    async with postgres_store() as store:
        held = await held_run(store)
        async with await psycopg.AsyncConnection.connect(store._conninfo, autocommit=False) as event, \
                await psycopg.AsyncConnection.connect(store._conninfo, autocommit=True) as watcher:  # fmt: skip
            await event.execute(f'SET search_path TO "{store.schema}"')
            await event.execute(
                "SELECT pg_advisory_xact_lock_shared(%s, graphflow_wait_key(%s, %s))",
                [WAIT_LOCK_CLASS, "app_a", "thread.created"],
            )
            registered: list[Wait] = []

            async def register() -> None:
                registered.append(
                    await store.register_wait(wait(held, kind="event", event="thread.created"), held.fence)
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(register)

                async def blocked() -> bool:
                    return await _advisory_waiters(watcher) > 0

                await eventually(blocked, "the registration to wait for the event's lock")
                assert registered == []  # it waits for the event to be decided
                await event.commit()
        assert registered and registered[0].status == "pending"


@pytest.mark.postgres
async def test_postgres_an_offer_left_by_a_dying_publisher_is_resolved_by_another_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The publisher stores the event (and the offer) and dies before resolving: another engine finishes."""
    from graphflow.engine import waits as waits_module
    from graphflow.stores.postgres import PostgresStore

    class DiesAfterTheEvent(PostgresStore):
        async def resolve_offer(self, *args: Any, **kwargs: Any) -> list[Wait]:
            raise anyio.get_cancelled_exc_class()()  # as if the process stopped right there

    monkeypatch.setattr(waits_module, "OFFER_GRACE", 0.0)
    with postgres_url() as url:
        async with Engine(url, poll_interval=0.05, sync_interval=0.1) as engine:
            aut = await automation_waiting(engine)
            run_id = await engine.automations.trigger(APP, aut, {"thread_id": "thr_1"})
            await until_waiting(engine, [run_id])
            dying = DiesAfterTheEvent(url, schema=engine.store.schema)  # type: ignore[attr-defined]
            async with Engine(dying, max_concurrent_runs=0) as publisher:
                with pytest.raises(anyio.get_cancelled_exc_class()):
                    await publisher.publish(APP, "thread.message_added", message("thr_1", 1))
            done = await engine.wait_for_run(APP, run_id, timeout=20)  # the sweep resolved the offer
            assert done.result == {"payload": "thanks for msg_1", "output": []}
            assert await engine.store.leftover_offers(time.time() + 60) == []


async def test_a_wait_keeps_a_small_input_only(engine: Engine) -> None:
    aut = await automation_waiting(engine)
    run_id = await engine.automations.trigger(APP, aut, {"thread_id": "thr_1", "extra": "x" * 20_000})
    done = await engine.wait_for_run(APP, run_id, timeout=10)
    assert done.status == "failed" and "the limit is 16,384" in done.result["error"]  # type: ignore[index]


async def test_configs_whose_waits_can_never_wake_are_refused(engine: Engine) -> None:
    for event, expected in (("thread.never_heard_of", "unknown event"), ("workflow.scheduled", "fired by graphflow")):
        with pytest.raises(ValidationError) as refused:
            await engine.configs.create(APP, waiting(event=event, condition=None))
        assert "$.nodes[1].event" in str(refused.value) and expected in str(refused.value)
    assert (await engine.configs.list(APP)).data == []


def test_nodes_that_act_on_the_run_are_refused_inside_a_sub_workflow() -> None:
    import graphflow

    child = waiting()
    parent = graph_dict(
        {"kind": "WorkflowSubWorkflow", "id": "sub", "workflow": child, "trigger": "thread.created"},
        trigger="thread.created",
    )
    with pytest.raises(ValidationError, match="cannot run inside a sub-workflow"):
        graphflow.load_graph(parent)
