"""The statements behind :meth:`graphflow.abc.Store.status`, shared by SQLite and PostgreSQL.

Each figure is one index read, capped: a count counts at most :data:`STATUS_CAP` rows of a
partial index (PostgreSQL ``runs_fresh``, ``runs_timers``, ``runs_leased``; SQLite
``runs_claim``), the oldest pending run is the first entry of its index (ids sort by time), and
the workers are the lease owners of running runs (as many as the runs executing, bounded by the
workers' concurrency). The statements are written once with ``{now}``-style markers that each
dialect fills in with its own parameter style.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphflow.records import LateSchedule, StoreStatus, WorkerSeen

__all__ = ["LATE", "STATUS_CAP", "SUMMARY", "WORKERS", "store_status"]

#: Counts stop there: a count equal to it means "at least".
STATUS_CAP = 100_000


def _capped(where: str) -> str:
    return f"(SELECT count(*) FROM (SELECT 1 FROM runs WHERE {where} LIMIT {{cap}}) AS capped)"


#: One row: schema version, claimable new runs, due parked runs, parked runs, running, expired
#: leases, the oldest new run's creation, the oldest due parked run's wake time.
SUMMARY = f"""
    SELECT
        (SELECT max(version) FROM schema_version),
        {_capped("status = 'pending' AND wake_at IS NULL")},
        {_capped("status = 'pending' AND wake_at <= {now}")},
        {_capped("status = 'pending' AND wake_at > {now}")},
        {_capped("status = 'running'")},
        {_capped("status = 'running' AND lease_expires_at < {now}")},
        (SELECT created_at FROM runs WHERE status = 'pending' AND wake_at IS NULL ORDER BY id LIMIT 1),
        (SELECT min(wake_at) FROM runs WHERE status = 'pending' AND wake_at <= {{now}})
"""
#: The lease owners of running runs, latest heartbeat first.
WORKERS = """
    SELECT lease_owner, count(*), max(lease_expires_at) FROM runs
    WHERE status = 'running' AND lease_owner IS NOT NULL
    GROUP BY lease_owner ORDER BY max(lease_expires_at) DESC LIMIT {limit}
"""
#: Running scheduled automations overdue, most overdue first (``{next_run_at}``: the column, or SQLite's JSON field).
LATE = """
    SELECT app_id, id, {next_run_at} FROM automations
    WHERE status = 'running' AND type = 'scheduled' AND {next_run_at} < {before}
    ORDER BY {next_run_at} LIMIT {limit}
"""


def store_status(
    expected: int, summary: Sequence[Any], workers: Sequence[Sequence[Any]], late: Sequence[Sequence[Any]]
) -> StoreStatus:
    """A :class:`~graphflow.records.StoreStatus` from the statements' rows (``expected``: this code's version)."""
    version, fresh, due, parked, running, expired, oldest_new, oldest_due = summary
    starts = [at for at in (oldest_new, oldest_due) if at is not None]
    return StoreStatus(
        schema_version=int(version or 0),
        expected_schema_version=expected,
        pending=min(STATUS_CAP, int(fresh) + int(due)),
        parked=int(parked),
        running=int(running),
        expired_leases=int(expired),
        oldest_pending_at=float(min(starts)) if starts else None,
        workers=tuple(WorkerSeen(str(owner), int(n), float(until)) for owner, n, until in workers),
        late_schedules=tuple(LateSchedule(str(app), str(aid), float(at)) for app, aid, at in late),
        cap=STATUS_CAP,
    )
