"""PostgresStore's group commit: writes that queue while one is sent go together, each with its own outcome.

Each test holds the batcher's turn (its lock) while the writes queue, so they are sent together
deterministically when it is released; the store contract covers the writes sent alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from graphflow.exceptions import ConflictError, LeaseLostError
from graphflow.records import AutomationRun
from graphflow.testing.store_contract import automation, claim, run
from tests.conftest import eventually
from tests.pg import in_ci, postgres_store

if not in_ci():  # in CI a missing driver must fail, not skip
    pytest.importorskip("psycopg")

from graphflow.stores.postgres import PostgresStore
from graphflow.stores.postgres_batch import GroupCommit

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

T0 = 1_767_225_600.0


async def send_together(batcher: GroupCommit, calls: list[Callable[[], Awaitable[Any]]]) -> tuple[list[Any], list[int]]:
    """Make the calls while holding the batcher's turn, then let them go: one send of them all.

    Returns each call's result (or the exception it raised) and the size of each batched send.
    """
    results: list[Any] = [None] * len(calls)
    sends: list[int] = []
    together = batcher._together

    async def counted(batch: Any) -> None:
        sends.append(len(batch))
        await together(batch)

    async def one(index: int) -> None:
        try:
            results[index] = await calls[index]()
        except Exception as exc:
            results[index] = exc

    async def queued() -> bool:
        return len(batcher._queue) == len(calls)

    batcher._together = counted  # type: ignore[method-assign]
    try:
        async with anyio.create_task_group() as tg, batcher._sending:
            for index in range(len(calls)):
                tg.start_soon(one, index)
            await eventually(queued, f"{len(calls)} writes to queue")
    finally:
        batcher._together = together  # type: ignore[method-assign]
    return results, sends


async def test_events_accepted_together_keep_their_own_outcomes() -> None:
    async with postgres_store() as store:
        record = automation(status="running")
        await store.insert_automation(record)
        paused = automation(status="paused")
        await store.insert_automation(paused)
        first = run(record.id, event_id="evt_1")
        duplicate = run(record.id, event_id="evt_1")
        left_out = run(paused.id, event_id="evt_2")
        clash = run(record.id, run_id=first.id, event_id="evt_3")  # an id taken by evt_1's run
        fresh = run(record.id, event_id="evt_4")
        calls = [
            lambda: store.accept_event("app_a", "evt_1", "thread.created", {}, [first]),
            lambda: store.accept_event("app_a", "evt_1", "thread.created", {}, [duplicate]),
            lambda: store.accept_event("app_a", "evt_2", "thread.created", {}, [left_out]),
            lambda: store.accept_event("app_a", "evt_3", "thread.created", {}, [clash]),
            lambda: store.accept_event("app_a", "evt_4", "thread.created", {"n": 1}, [fresh], wake=lambda w: ()),
        ]
        results, sends = await send_together(store._accepts, calls)
        # The clash failed the transaction: nothing of it was committed, and each went alone.
        assert sends == [len(calls)]
        stored, repeated, none, refused, alone = results
        assert stored == [first] and repeated is None and none == [] and alone == [fresh]
        assert isinstance(refused, ConflictError)
        assert await store.run_for_event("app_a", "evt_3") is None
        assert await store.accept_event("app_a", "evt_3", "thread.created", {}, []) == []  # its event was not kept


async def test_final_writes_together_record_each_run_and_the_latest_outcome() -> None:
    async with postgres_store() as store:
        record = automation(status="running", max_consecutive_failures=3)
        await store.insert_automation(record)
        runs = [run(record.id) for _ in range(4)]
        await store.insert_runs(runs)
        held = [await claim(store, r.id) for r in runs]
        finished: list[AutomationRun] = []
        for index, got in enumerate(held):
            got.status, got.result = "failed", {"error": f"boom {index}"}
            got.started_at, got.finished_at = T0 + index, T0 + index + 0.5
            finished.append(got)
        stale = held[3].fence - 1
        fences = [got.fence for got in held[:3]] + [stale]
        pairs = zip(finished, fences, strict=True)
        calls = [lambda got=got, fence=fence: store.update_run(got, fence=fence) for got, fence in pairs]
        results, sends = await send_together(store._finishes, calls)
        assert sends == [len(calls)]
        assert results[:3] == [None, None, None] and isinstance(results[3], LeaseLostError)
        for got in finished[:3]:
            stored = await store.get_run("app_a", got.id)
            assert stored is not None and (stored.status, stored.lease_owner) == ("failed", None)
        still = await store.get_run("app_a", finished[3].id)
        assert still is not None and still.status == "running"
        after = await store.get_automation("app_a", record.id)
        assert after is not None
        # the three failures count one by one: the third reaches the max and pauses it, once
        assert (after.last_run_at, after.last_error, after.consecutive_failures) == (T0 + 2, "boom 2", 3)
        assert (after.status, after.paused_reason, after.revision) == ("paused", "failures", record.revision + 1)


async def test_a_write_cancelled_while_it_queued_is_never_sent() -> None:
    async with postgres_store() as store:
        record = automation(status="running")
        await store.insert_automation(record)
        kept, dropped = run(record.id, event_id="evt_kept"), run(record.id, event_id="evt_dropped")
        batcher = store._accepts
        scope = anyio.CancelScope()

        async def drop() -> None:
            with scope:
                await store.accept_event("app_a", "evt_dropped", "thread.created", {}, [dropped])

        async def queued(count: int) -> bool:
            return len(batcher._queue) == count

        async with anyio.create_task_group() as tg, batcher._sending:
            tg.start_soon(store.accept_event, "app_a", "evt_kept", "thread.created", {}, [kept])
            tg.start_soon(drop)
            await eventually(lambda: queued(2), "both writes to queue")
            scope.cancel()
            await eventually(lambda: queued(1), "the cancelled write to leave the queue")
        assert await store.run_for_event("app_a", "evt_kept") is not None
        assert await store.run_for_event("app_a", "evt_dropped") is None


def test_group_commit_is_the_store_s_own() -> None:
    """Each store has its own batchers (two stores of one process never share a transaction)."""
    one, two = PostgresStore("postgresql://x@127.0.0.1/db"), PostgresStore("postgresql://x@127.0.0.1/db")
    assert one._accepts is not two._accepts and one._finishes is not two._finishes


async def test_claims_together_hand_each_run_out_once() -> None:
    async with postgres_store() as store:
        record = automation(status="running")
        await store.insert_automation(record)
        first, second = run(record.id), run(record.id)
        await store.insert_runs([first, second])
        calls = [
            lambda: store.claim_runs("w1", lease=30, limit=1, run_ids=[first.id]),
            lambda: store.claim_runs("w2", lease=30, limit=1, run_ids=[first.id]),  # the same run
            lambda: store.claim_runs("w3", lease=30, limit=2, run_ids=[second.id, "atr_missing"]),
        ]
        results, sends = await send_together(store._claims, calls)
        assert sends == [len(calls)]
        assert sorted(len(claimed) for claimed in results[:2]) == [0, 1]  # one of the two has it
        (winner,) = results[0] or results[1]
        assert (winner.id, winner.status, winner.fence) == (first.id, "running", 1)
        assert [(r.id, r.lease_owner) for r in results[2]] == [(second.id, "w3")]
