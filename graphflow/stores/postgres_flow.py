"""PostgresStore's event flow control: debounce holders, throttle admissions, concurrency queues (schema 6).

A mixin of :class:`~graphflow.stores.postgres.PostgresStore`. What is decided is
:mod:`graphflow.stores.flow`; here is how the state of a key is read under a lock that every
process respects: a transaction-scoped **advisory lock per (automation, key)**, taken by the
statement *before* the ones that read the key's state. Under READ COMMITTED each statement sees
what committed before it started, so a decision reads every decision committed before its lock
was granted — the count of active runs, the holder, the admissions — and the limits hold across
worker processes with no process-local counter. Locks are taken in (automation, key) order, so
two events deciding several keys cannot deadlock. Accepting the event itself is the same
statement as without flow control (``ACCEPT_EVENT``), run last in the transaction: a duplicate
event rolls the decisions back.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from psycopg import AsyncConnection

from graphflow.abc import Store
from graphflow.records import QUEUED_AT, AutomationRun, FlowPolicy
from graphflow.stores.flow import debounce_holder, debounce_merge, queue, throttle_start, throttled
from graphflow.stores.postgres_schema import CHANNEL, RUNS, jsonb, run_record

__all__ = ["PostgresFlow", "decide_flow", "lock_key"]

T = TypeVar("T")
Connection = AsyncConnection[Any]

#: First key of the flow-control advisory locks ("gffl"); the second is a hash of automation and key.
_FLOW_LOCK = 0x6766666C
_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
_ACTIVE = "automation_id = %s AND flow_key = %s AND status IN ('pending', 'running')"
_HOLDER = (
    f"SELECT {RUNS} FROM runs WHERE {_ACTIVE} AND status = 'pending' AND waiting_for ->> 'kind' = 'debounce' "
    "ORDER BY id LIMIT 1 FOR UPDATE"
)
_MERGE = (
    "UPDATE runs SET payload = %s, event_id = %s, causation = %s, trace_context = %s, updated_at = %s, wake_at = %s "
    "WHERE id = %s"
)
_COUNT_ACTIVE = f"SELECT count(*) FROM runs WHERE {_ACTIVE} AND wake_at IS DISTINCT FROM %s"
_SLOT = """
    WITH expired AS (DELETE FROM flow_slots WHERE automation_id = %(a)s AND key = %(k)s AND at <= %(since)s)
    SELECT at FROM flow_slots WHERE automation_id = %(a)s AND key = %(k)s AND at > %(since)s
    ORDER BY at DESC LIMIT 1 OFFSET %(offset)s
"""


def lock_key(automation_id: str, key: str | None) -> str:
    """The text hashed into a key's advisory lock."""
    return f"{automation_id}/{key or ''}"


async def decide_flow(conn: Connection, run: AutomationRun, policy: FlowPolicy) -> AutomationRun | None:
    """Decide a flow-controlled run inside the accepting transaction, its key locked by the caller.

    Returns ``run`` to store it as decided, the key's holder it was merged into (already
    written), or ``None`` (dropped).
    """
    key, now = run.flow_key or "", run.created_at
    if policy.kind == "debounce":
        row = await (await conn.execute(_HOLDER, [run.automation_id, key])).fetchone()
        if row is not None:
            holder = run_record(row)
            debounce_merge(holder, run, policy, now)
            await conn.execute(
                _MERGE,
                [
                    jsonb(holder.payload, f"run {run.id!r} payload"),
                    holder.event_id,
                    jsonb(holder.causation, "causation"),
                    jsonb(holder.trace_context, "trace_context"),
                    now,
                    holder.wake_at,
                    holder.id,
                ],
            )
            return holder
        debounce_holder(run, policy, now)
    elif policy.kind == "throttle":
        since = now - policy.period
        params = {"a": run.automation_id, "k": key, "since": since, "offset": policy.limit - 1}
        row = await (await conn.execute(_SLOT, params)).fetchone()
        start = throttle_start(policy, now, None if row is None else row[0])
        if start is None:
            return None
        await conn.execute(
            "INSERT INTO flow_slots (automation_id, key, at) VALUES (%s, %s, %s)", [run.automation_id, key, start]
        )
        throttled(run, start, now)
    else:
        row = await (await conn.execute(_COUNT_ACTIVE, [run.automation_id, key, QUEUED_AT])).fetchone()
        if row is not None and row[0] >= policy.limit:
            queue(run)
    return run


async def decide_all(
    conn: Connection, runs: Sequence[AutomationRun], flow: Mapping[str, FlowPolicy]
) -> tuple[list[AutomationRun], list[AutomationRun]]:
    """Lock the keys of ``runs``' flow-controlled ones (in order) and decide them.

    Returns (the runs to store, the holders debounced runs were merged into).
    """
    keep: list[AutomationRun] = []
    merged: list[AutomationRun] = []
    controlled = sorted((r for r in runs if r.id in flow), key=lambda r: (r.automation_id, r.flow_key or ""))
    for run in controlled:
        await conn.execute(_LOCK, [_FLOW_LOCK, lock_key(run.automation_id, run.flow_key)])
    for run in controlled:
        decided = await decide_flow(conn, run, flow[run.id])
        if decided is run:
            keep.append(run)
        elif decided is not None:
            merged.append(decided)
    return [r for r in runs if r.id not in flow] + keep, merged


class PostgresFlow(Store):
    """Promotion of queued runs, a key's active runs, and waking flow timers."""

    @abstractmethod
    async def _call(self, op: Callable[[Connection], Awaitable[T]], *, idempotent: bool = False) -> T:
        """Run ``op`` on a pooled connection (see ``PostgresStore._call``)."""

    async def promote_queued(self, app_id: str, automation_id: str, key: str | None, limit: int) -> list[AutomationRun]:
        async def promote(conn: Connection) -> list[AutomationRun]:
            promoted: list[AutomationRun] = []
            async with conn.transaction():
                if key is None:
                    cur = await conn.execute(
                        "SELECT DISTINCT flow_key FROM runs WHERE automation_id = %s AND app_id = %s "
                        "AND status = 'pending' AND wake_at = %s ORDER BY 1",
                        [automation_id, app_id, QUEUED_AT],
                    )
                    keys = [row[0] for row in await cur.fetchall()]
                else:
                    keys = [key]
                for flow_key in keys:
                    await conn.execute(_LOCK, [_FLOW_LOCK, lock_key(automation_id, flow_key)])
                    row = await (await conn.execute(_COUNT_ACTIVE, [automation_id, flow_key, QUEUED_AT])).fetchone()
                    free = limit - (row[0] if row else 0)
                    if free <= 0:
                        continue
                    cur = await conn.execute(
                        f"""
                        UPDATE runs SET wake_at = NULL, waiting_for = NULL
                        WHERE id IN (
                            SELECT id FROM runs WHERE {_ACTIVE} AND app_id = %s AND wake_at = %s
                            ORDER BY created_at, id LIMIT %s FOR UPDATE
                        )
                        RETURNING {RUNS}
                        """,
                        [automation_id, flow_key, app_id, QUEUED_AT, free],
                    )
                    promoted.extend(
                        sorted((run_record(r) for r in await cur.fetchall()), key=lambda r: (r.created_at, r.id))
                    )
                if promoted:
                    await conn.execute("SELECT pg_notify(%s, current_schema())", [CHANNEL])
            return promoted

        return await self._call(promote)

    async def flow_runs(self, app_id: str, automation_id: str, key: str | None, *, limit: int = 1000) -> list[str]:
        where = "automation_id = %s AND app_id = %s AND status IN ('pending', 'running')"
        params: list[Any] = [automation_id, app_id]
        if key is not None:
            where, params = where + " AND flow_key = %s", [*params, key]

        async def read(conn: Connection) -> list[str]:
            cur = await conn.execute(f"SELECT id FROM runs WHERE {where} ORDER BY id LIMIT %s", [*params, limit])
            return [row[0] for row in await cur.fetchall()]

        return await self._call(read, idempotent=True)

    async def wake_run(self, app_id: str, run_id: str, due: float) -> AutomationRun | None:
        async def wake(conn: Connection) -> AutomationRun | None:
            cur = await conn.execute(
                "UPDATE runs SET wake_at = NULL, waiting_for = NULL "
                f"WHERE id = %s AND app_id = %s AND status = 'pending' AND wake_at <= %s RETURNING {RUNS}",
                [run_id, app_id, due],
            )
            row = await cur.fetchone()
            return None if row is None else run_record(row)

        return await self._call(wake, idempotent=True)
