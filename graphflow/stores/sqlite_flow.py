"""SQLiteStore's event flow control: debounce holders, throttle admissions, concurrency queues (schema 5).

A mixin of :class:`~graphflow.stores.sqlite.SQLiteStore`. What is decided is
:mod:`graphflow.stores.flow`; here is only how the state of a key is read and written. SQLite
has one writer at a time (``BEGIN IMMEDIATE``), so the decisions of every process sharing the
file are serialised by the write lock: the count an admission reads is the count when it commits.
Active runs of a key come from the ``runs_flow`` index, throttle admissions from ``flow_slots``.
"""

from __future__ import annotations

import sqlite3
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from graphflow.abc import Store
from graphflow.records import QUEUED_AT, AutomationRun, FlowPolicy
from graphflow.stores.base import encode_json
from graphflow.stores.flow import debounce_holder, debounce_merge, queue, throttle_start, throttled
from graphflow.stores.sqlite_schema import RUN_COLUMNS, run_from_row

__all__ = ["SQLiteFlow", "decide_flow"]

T = TypeVar("T")

_ACTIVE = "automation_id = ? AND flow_key = ? AND status IN ('pending', 'running')"
_HOLDER = (
    f"SELECT {RUN_COLUMNS} FROM runs WHERE {_ACTIVE} AND status = 'pending' "
    "AND json_extract(waiting_for, '$.kind') = 'debounce' ORDER BY id LIMIT 1"
)
_MERGE = (
    "UPDATE runs SET payload = ?, event_id = ?, causation = ?, trace_context = ?, updated_at = ?, wake_at = ? "
    "WHERE id = ?"
)
_SLOT = "SELECT at FROM flow_slots WHERE automation_id = ? AND key = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?"


def _json(value: Any, what: str) -> str | None:
    return None if value is None else encode_json(value, what)


def decide_flow(conn: sqlite3.Connection, run: AutomationRun, policy: FlowPolicy) -> AutomationRun | None:
    """Decide a flow-controlled run in the accepting transaction (see :meth:`graphflow.abc.Store.accept_event`).

    Returns ``run`` to store it as decided, the key's holder it was merged into (already
    written), or ``None`` (dropped).
    """
    key, now = run.flow_key or "", run.created_at
    if policy.kind == "debounce":
        row = conn.execute(_HOLDER, (run.automation_id, key)).fetchone()
        if row is not None:
            holder = run_from_row(row)
            debounce_merge(holder, run, policy, now)
            conn.execute(
                _MERGE,
                (
                    encode_json(holder.payload, f"run {run.id!r} payload"),
                    holder.event_id,
                    _json(holder.causation, "causation"),
                    _json(holder.trace_context, "trace_context"),
                    now,
                    holder.wake_at,
                    holder.id,
                ),
            )
            return holder
        debounce_holder(run, policy, now)
    elif policy.kind == "throttle":
        conn.execute(
            "DELETE FROM flow_slots WHERE automation_id = ? AND key = ? AND at <= ?",
            (run.automation_id, key, now - policy.period),
        )
        row = conn.execute(_SLOT, (run.automation_id, key, now - policy.period, policy.limit - 1)).fetchone()
        start = throttle_start(policy, now, None if row is None else row[0])
        if start is None:
            return None
        conn.execute(
            "INSERT INTO flow_slots (automation_id, key, at) VALUES (?, ?, ?)", (run.automation_id, key, start)
        )
        throttled(run, start, now)
    else:
        active = conn.execute(
            f"SELECT count(*) FROM runs WHERE {_ACTIVE} AND wake_at IS NOT ?", (run.automation_id, key, QUEUED_AT)
        ).fetchone()[0]
        if active >= policy.limit:
            queue(run)
    return run


class SQLiteFlow(Store):
    """Promotion of queued runs, a key's active runs, and in-process flow timers."""

    @abstractmethod
    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` on the connection (see ``SQLiteStore._call``)."""

    async def promote_queued(self, app_id: str, automation_id: str, key: str | None, limit: int) -> list[AutomationRun]:
        def promote(conn: sqlite3.Connection) -> list[AutomationRun]:
            if key is None:
                keys = [
                    row[0]
                    for row in conn.execute(
                        "SELECT DISTINCT flow_key FROM runs WHERE automation_id = ? AND app_id = ? AND wake_at = ? "
                        "AND status = 'pending'",
                        (automation_id, app_id, QUEUED_AT),
                    )
                ]
            else:
                keys = [key]
            promoted: list[AutomationRun] = []
            for flow_key in keys:
                active = conn.execute(
                    f"SELECT count(*) FROM runs WHERE {_ACTIVE} AND wake_at IS NOT ?",
                    (automation_id, flow_key, QUEUED_AT),
                ).fetchone()[0]
                if active >= limit:
                    continue
                rows = conn.execute(
                    f"UPDATE runs SET wake_at = NULL, waiting_for = NULL WHERE id IN ("
                    f"SELECT id FROM runs WHERE {_ACTIVE} AND app_id = ? AND wake_at = ? "
                    f"ORDER BY created_at, id LIMIT ?) RETURNING {RUN_COLUMNS}",
                    (automation_id, flow_key, app_id, QUEUED_AT, limit - active),
                ).fetchall()
                promoted.extend(sorted((run_from_row(row) for row in rows), key=lambda r: (r.created_at, r.id)))
            return promoted

        return await self._call(promote, write=True)

    async def flow_runs(self, app_id: str, automation_id: str, key: str | None, *, limit: int = 1000) -> list[str]:
        where = "automation_id = ? AND app_id = ? AND status IN ('pending', 'running')"
        args: tuple[Any, ...] = (automation_id, app_id)
        if key is not None:
            where, args = where + " AND flow_key = ?", (*args, key)
        sql = f"SELECT id FROM runs WHERE {where} ORDER BY id LIMIT ?"
        return [row[0] for row in await self._call(lambda conn: conn.execute(sql, (*args, limit)).fetchall())]

    async def wake_run(self, app_id: str, run_id: str, due: float) -> AutomationRun | None:
        sql = (
            "UPDATE runs SET wake_at = NULL, waiting_for = NULL "
            f"WHERE id = ? AND app_id = ? AND status = 'pending' AND wake_at <= ? RETURNING {RUN_COLUMNS}"
        )
        row = await self._call(lambda conn: conn.execute(sql, (run_id, app_id, due)).fetchone(), write=True)
        return None if row is None else run_from_row(row)
