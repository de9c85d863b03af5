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

import functools
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from psycopg import AsyncConnection

from graphflow.abc import Store
from graphflow.records import AutomationRun, FlowPolicy
from graphflow.stores.flow import (
    MERGED,
    QUEUED_SQL,
    debounce_holder,
    debounce_merge,
    merged_values,
    queue,
    throttle_start,
    throttled,
)
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
_MERGE = f"UPDATE runs SET {', '.join(f'{name} = %s' for name in MERGED)} WHERE id = %s"
#: The key's active runs: the runs_flow_active index, which holds no queued run.
_COUNT_ACTIVE = (
    "SELECT count(*) FROM runs WHERE automation_id = %s AND flow_key = %s AND flow_key IS NOT NULL "
    f"AND status IN ('pending', 'running') AND wake_at IS DISTINCT FROM {QUEUED_SQL}"
)
#: The limit-th latest admission in the window; a run cancelled before it started gave its slot back.
_SLOT = """
    WITH expired AS (DELETE FROM flow_slots WHERE automation_id = %(a)s AND key = %(k)s AND at <= %(since)s)
    SELECT s.at FROM flow_slots AS s LEFT JOIN runs AS r ON r.id = s.run_id
    WHERE s.automation_id = %(a)s AND s.key = %(k)s AND s.at > %(since)s
      AND NOT coalesce(r.status = 'cancelled' AND r.started_at IS NULL, false)
    ORDER BY s.at DESC LIMIT 1 OFFSET %(offset)s
"""
#: Promote the oldest queued runs of a key (automation ``a``, key ``k``, app) up to ``limit`` active
#: ones — nothing while the automation is not running — and wake the workers when it did.
_PROMOTE = f"""
    WITH live AS (
        SELECT FROM automations WHERE id = %(a)s AND app_id = %(app)s AND status = 'running' FOR SHARE
    ), active AS (
        SELECT count(*) AS n FROM runs
        WHERE automation_id = %(a)s AND flow_key = %(k)s AND flow_key IS NOT NULL
          AND status IN ('pending', 'running') AND wake_at IS DISTINCT FROM {QUEUED_SQL}
    ), promoted AS (
        UPDATE runs SET wake_at = NULL, waiting_for = NULL
        WHERE id IN (
            SELECT id FROM runs
            WHERE automation_id = %(a)s AND flow_key = %(k)s AND app_id = %(app)s
              AND status = 'pending' AND wake_at = {QUEUED_SQL} AND EXISTS (SELECT FROM live)
            ORDER BY created_at, id LIMIT greatest(0, %(limit)s - (SELECT n FROM active))
            FOR UPDATE
        )
        RETURNING {RUNS}
    ), woken AS (
        SELECT pg_notify(%(channel)s, current_schema()) WHERE EXISTS (SELECT FROM promoted)
    )
    SELECT promoted.* FROM promoted CROSS JOIN (SELECT count(*) FROM woken) AS notified
"""
#: Keys of an automation with queued runs and room for them (at most 100 a sweep).
_ROOMY_KEYS = f"""
    SELECT flow_key FROM runs
    WHERE automation_id = %s AND app_id = %s AND flow_key IS NOT NULL AND status IN ('pending', 'running')
    GROUP BY flow_key
    HAVING count(*) FILTER (WHERE wake_at = {QUEUED_SQL}) > 0
       AND count(*) FILTER (WHERE wake_at IS DISTINCT FROM {QUEUED_SQL}) < %s
    LIMIT 100
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
            await conn.execute(_MERGE, merged_values(holder, jsonb))
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
            "INSERT INTO flow_slots (automation_id, key, at, run_id) VALUES (%s, %s, %s, %s)",
            [run.automation_id, key, start, run.id],
        )
        throttled(run, start, now)
    else:
        row = await (await conn.execute(_COUNT_ACTIVE, [run.automation_id, key])).fetchone()
        if row is not None and row[0] >= policy.limit:
            queue(run)
    return run


async def decide_all(
    conn: Connection, app_id: str, event_id: str, runs: Sequence[AutomationRun], flow: Mapping[str, FlowPolicy]
) -> tuple[list[AutomationRun], list[AutomationRun]] | None:
    """Lock the keys of ``runs``' flow-controlled ones (in order) and decide them by their stored policies.

    Returns (the runs to store, the holders debounced runs were merged into), or ``None`` when the
    event was accepted before (nothing decided).
    """
    keep: list[AutomationRun] = []
    merged: list[AutomationRun] = []
    controlled = sorted((r for r in runs if r.id in flow), key=lambda r: (r.automation_id, r.flow_key or ""))
    # One round trip: is the event new; the policies as stored, of the automations still running
    # (FOR SHARE: as ACCEPT_EVENT checks them) — a policy another process changed is the one
    # applied, a run of an automation paused or deleted meanwhile decides nothing —; the keys' locks.
    async with conn.pipeline():
        seen = await conn.execute("SELECT FROM events WHERE app_id = %s AND event_id = %s", [app_id, event_id])
        cur = await conn.execute(
            "SELECT id, debounce, throttle, concurrency FROM automations "
            "WHERE id = ANY(%s) AND status = 'running' ORDER BY id FOR SHARE",
            [sorted({r.automation_id for r in controlled})],
        )
        for run in controlled:
            await conn.execute(_LOCK, [_FLOW_LOCK, lock_key(run.automation_id, run.flow_key)])
    if await seen.fetchone() is not None:
        return None
    policies = {row[0]: FlowPolicy.from_fields(row[1], row[2], row[3]) for row in await cur.fetchall()}
    live = [r for r in controlled if r.automation_id in policies]
    for run in live:
        policy = policies[run.automation_id]
        decided = run if policy is None else await decide_flow(conn, run, policy)
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
        async def keys(conn: Connection) -> list[str]:
            cur = await conn.execute(_ROOMY_KEYS, [automation_id, app_id, limit])
            return [row[0] for row in await cur.fetchall()]

        async def promote(conn: Connection, flow_key: str) -> list[AutomationRun]:
            # One round trip: the key's lock, then (a statement of its own, so its snapshot follows
            # the lock) the promotion; one short transaction per key, a sweep holds one lock at a time.
            params = {"a": automation_id, "k": flow_key, "app": app_id, "limit": limit, "channel": CHANNEL}
            async with conn.pipeline(), conn.transaction():
                await conn.execute(_LOCK, [_FLOW_LOCK, lock_key(automation_id, flow_key)])
                cur = await conn.execute(_PROMOTE, params)
            return sorted((run_record(r) for r in await cur.fetchall()), key=lambda r: (r.created_at, r.id))

        promoted: list[AutomationRun] = []
        for flow_key in [key] if key is not None else await self._call(keys, idempotent=True):
            promoted += await self._call(functools.partial(promote, flow_key=flow_key))
        return promoted

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
