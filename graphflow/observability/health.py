"""Readiness and status: is this engine able to do its work, and what does the database hold?

:func:`readiness` answers ``GET /v1/health/ready``: the store answers (within a timeout), its
schema is the one this graphflow writes (migrations current), the engine is started (its
scheduler runs in the engine's task group: if it died, the engine stopped), and the scheduler is
not lagging (its earliest tracked fire is not overdue by more than ``max_lag``).

:func:`status_document` answers ``graphflow status`` and ``GET /v1/status``: the store's
:class:`~graphflow.records.StoreStatus` as JSON (workers seen through their leases, the queue,
overdue schedules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from graphflow.exceptions import GraphflowError
from graphflow.records import StoreStatus, iso

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine

__all__ = ["readiness", "status_document"]


async def readiness(engine: Engine, *, max_lag: float = 60.0, timeout: float = 2.0) -> dict[str, Any]:
    """``{"status": "ready" | "not_ready", "checks": {name: {"ok": bool, ...}}}`` for ``engine``."""
    from graphflow.observability.metrics import scheduler_lag

    checks: dict[str, dict[str, Any]] = {}
    status: StoreStatus | None = None
    error = f"the store did not answer within {timeout:g}s"
    with anyio.move_on_after(timeout):
        try:
            status = await engine.store.status(engine.clock.now())
        except GraphflowError as exc:
            error = exc.message
    checks["store"] = {"ok": status is not None} if status is not None else {"ok": False, "error": error}
    if status is not None:
        current = status.schema_version == status.expected_schema_version
        checks["migrations"] = {
            "ok": current,
            "schema_version": status.schema_version,
            "expected": status.expected_schema_version,
        }
        if not current:
            checks["migrations"]["error"] = (
                "the database's schema is not the one this graphflow writes; upgrade graphflow on every process"
            )
    checks["scheduler"] = {"ok": engine.started, "tracked": len(engine.scheduler)}
    if not engine.started:
        checks["scheduler"]["error"] = "the engine is not started"
    lag = scheduler_lag(engine) if engine.started else 0.0
    checks["lag"] = {"ok": lag <= max_lag, "seconds": round(lag, 3), "max": max_lag}
    ready = all(check["ok"] for check in checks.values())
    return {"status": "ready" if ready else "not_ready", "checks": checks}


def status_document(status: StoreStatus, now: float) -> dict[str, Any]:
    """The JSON shape of a store's status (``graphflow status --json`` and ``GET /v1/status``)."""
    oldest = status.oldest_pending_at
    return {
        "schema_version": status.schema_version,
        "expected_schema_version": status.expected_schema_version,
        "queue": {
            "pending": status.pending,
            "oldest_pending_age": None if oldest is None else round(max(0.0, now - oldest), 3),
            "parked": status.parked,
            "running": status.running,
            "expired_leases": status.expired_leases,
            "cap": status.cap,
        },
        "workers": [
            {
                "worker_id": w.worker_id,
                "runs": w.runs,
                "lease_expires_at": iso(w.lease_expires_at),
                "alive": w.lease_expires_at >= now,
            }
            for w in status.workers
        ],
        "late_schedules": [
            {
                "app_id": s.app_id,
                "automation_id": s.automation_id,
                "next_run_at": iso(s.next_run_at),
                "late_by": round(now - s.next_run_at, 3),
            }
            for s in status.late_schedules
        ],
    }
