"""SQLiteStore's event flow control: debounce holders, throttle admissions, concurrency queues (schema 5).

A mixin of :class:`~graphflow.stores.sqlite.SQLiteStore`. What is decided is
:mod:`graphflow.stores.flow`; here is only how the state of a key is read and written. SQLite
has one writer at a time (``BEGIN IMMEDIATE``), so the decisions of every process sharing the
file are serialised by the write lock: the count an admission reads is the count when it commits.
Active runs of a key come from the ``runs_flow`` index, throttle admissions from ``flow_slots``.
"""

from __future__ import annotations

import functools
import sqlite3
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from graphflow.abc import Store
from graphflow.records import AutomationRun, FlowPolicy
from graphflow.stores.base import decode_json, encode_json
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
from graphflow.stores.sqlite_schema import RUN_COLUMNS, run_from_row

__all__ = ["SQLiteFlow", "automation_state", "decide_flow"]

T = TypeVar("T")

_ACTIVE = "automation_id = ? AND flow_key = ? AND status IN ('pending', 'running')"
#: The key's active runs: the runs_flow_active index, which holds no queued run.
_COUNT_ACTIVE = (
    "SELECT count(*) FROM runs WHERE automation_id = ? AND flow_key = ? AND flow_key IS NOT NULL "
    f"AND status IN ('pending', 'running') AND wake_at IS NOT {QUEUED_SQL}"
)
_HOLDER = (
    f"SELECT {RUN_COLUMNS} FROM runs WHERE {_ACTIVE} AND status = 'pending' "
    "AND json_extract(waiting_for, '$.kind') = 'debounce' ORDER BY id LIMIT 1"
)
_MERGE = f"UPDATE runs SET {', '.join(f'{name} = ?' for name in MERGED)} WHERE id = ?"
#: The limit-th latest admission in the window; a run cancelled before it started gave its slot back.
_SLOT = (
    "SELECT s.at FROM flow_slots AS s LEFT JOIN runs AS r ON r.id = s.run_id "
    "WHERE s.automation_id = ? AND s.key = ? AND s.at > ? "
    "AND NOT coalesce(r.status = 'cancelled' AND r.started_at IS NULL, 0) "
    "ORDER BY s.at DESC LIMIT 1 OFFSET ?"
)
#: Keys of an automation with queued runs and room for them (at most 100 a sweep).
_ROOMY_KEYS = f"""
    SELECT flow_key FROM runs
    WHERE automation_id = ? AND app_id = ? AND flow_key IS NOT NULL AND status IN ('pending', 'running')
    GROUP BY flow_key
    HAVING sum(wake_at = {QUEUED_SQL}) > 0 AND sum(wake_at IS NOT {QUEUED_SQL}) < ?
    LIMIT 100
"""


def automation_state(conn: sqlite3.Connection, automation_id: str, *, policy: bool) -> tuple[bool, FlowPolicy | None]:
    """Whether an automation is running, and (with ``policy``) its flow policy as stored, in one read."""
    if not policy:
        row = conn.execute("SELECT status FROM automations WHERE id = ?", (automation_id,)).fetchone()
        return row is not None and row[0] == "running", None
    row = conn.execute(
        "SELECT status, json_extract(data, '$.debounce'), json_extract(data, '$.throttle'), "
        "json_extract(data, '$.concurrency') FROM automations WHERE id = ?",
        (automation_id,),
    ).fetchone()
    if row is None:
        return False, None
    fields = (None if text is None else decode_json(text) for text in row[1:])
    return row[0] == "running", FlowPolicy.from_fields(*fields)


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
            conn.execute(_MERGE, merged_values(holder, encode_json))
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
            "INSERT INTO flow_slots (automation_id, key, at, run_id) VALUES (?, ?, ?, ?)",
            (run.automation_id, key, start, run.id),
        )
        throttled(run, start, now)
    else:
        if conn.execute(_COUNT_ACTIVE, (run.automation_id, key)).fetchone()[0] >= policy.limit:
            queue(run)
    return run


class SQLiteFlow(Store):
    """Promotion of queued runs, a key's active runs, and in-process flow timers."""

    @abstractmethod
    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` on the connection (see ``SQLiteStore._call``)."""

    async def promote_queued(self, app_id: str, automation_id: str, key: str | None, limit: int) -> list[AutomationRun]:
        def keys(conn: sqlite3.Connection) -> list[str]:
            return [row[0] for row in conn.execute(_ROOMY_KEYS, (automation_id, app_id, limit))]

        def promote(conn: sqlite3.Connection, flow_key: str) -> list[AutomationRun]:
            running = conn.execute(
                "SELECT 1 FROM automations WHERE id = ? AND app_id = ? AND status = 'running'", (automation_id, app_id)
            ).fetchone()
            if running is None:  # paused (its pending runs are being cancelled) or deleted
                return []
            active = conn.execute(_COUNT_ACTIVE, (automation_id, flow_key)).fetchone()[0]
            if active >= limit:
                return []
            rows = conn.execute(
                "UPDATE runs SET wake_at = NULL, waiting_for = NULL WHERE id IN ("
                "SELECT id FROM runs WHERE automation_id = ? AND flow_key = ? AND app_id = ? "
                f"AND status = 'pending' AND wake_at = {QUEUED_SQL} ORDER BY created_at, id LIMIT ?"
                f") RETURNING {RUN_COLUMNS}",
                (automation_id, flow_key, app_id, limit - active),
            ).fetchall()
            return sorted((run_from_row(row) for row in rows), key=lambda r: (r.created_at, r.id))

        promoted: list[AutomationRun] = []
        for flow_key in [key] if key is not None else await self._call(keys):
            # One short transaction per key: a sweep never holds the write lock across many keys.
            promoted += await self._call(functools.partial(promote, flow_key=flow_key), write=True)
        return promoted

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
