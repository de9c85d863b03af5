"""PostgresStore's result deliveries: due deliveries claimed, attempts finished (see :class:`~graphflow.abc.Store`).

A mixin of :class:`~graphflow.stores.postgres.PostgresStore`. Due deliveries are found through
the ``runs_delivery_due`` partial index (migration 6: ``(delivery ->> 'next_at')::float8`` where
the status is ``pending``); the statements repeat its expressions so the planner uses it. A claim
locks the rows it takes (``FOR UPDATE SKIP LOCKED``: concurrent claimers pass each other's rows),
and a row claimed by another between this statement's snapshot and its lock is re-checked on its
newest version, so no attempt is claimed twice. An attempt is finished by a compare-and-set on
its number, with the automation's ``last_delivery_error`` in the same statement.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from graphflow.abc import Store
from graphflow.records import AutomationRun
from graphflow.stores.postgres_schema import RUN_COLUMNS, jsonb, run_record

__all__ = ["PostgresDeliveries"]

_DUE = "delivery ->> 'status' = 'pending' AND (delivery ->> 'next_at')::float8"
#: Claim due deliveries: now + lease, now, limit.
CLAIM_DELIVERIES = f"""
    WITH chosen AS (
        SELECT id FROM runs WHERE {_DUE} <= %(now)s
        ORDER BY (delivery ->> 'next_at')::float8 LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    UPDATE runs SET delivery = runs.delivery || jsonb_build_object(
        'attempts', coalesce((runs.delivery ->> 'attempts')::integer, 0) + 1, 'next_at', %(until)s::float8)
    FROM chosen
    WHERE runs.id = chosen.id AND runs.delivery ->> 'status' = 'pending'
    RETURNING {", ".join(f"runs.{name}" for name in RUN_COLUMNS)}
"""
#: Finish an attempt: delivery, run id, app id, attempt; then the automation's error (written
#: when the last flag is true).
FINISH_DELIVERY = """
    WITH written AS (
        UPDATE runs SET delivery = %(delivery)s::jsonb
        WHERE id = %(run)s AND app_id = %(app)s
          AND delivery ->> 'status' = 'pending' AND (delivery ->> 'attempts')::integer = %(attempt)s
        RETURNING automation_id
    ), outcome AS (
        UPDATE automations SET last_delivery_error = %(error)s::text
        WHERE %(final)s AND app_id = %(app)s AND id IN (SELECT automation_id FROM written)
    )
    SELECT count(*) FROM written
"""


class PostgresDeliveries(Store):
    """The deliveries half of :class:`~graphflow.stores.postgres.PostgresStore`."""

    @abstractmethod
    async def _fetchall_write(self, query: str, params: Any) -> list[tuple[Any, ...]]:
        """Run a write statement (never retried) and return its rows."""

    async def claim_deliveries(self, now: float, *, lease: float, limit: int) -> list[AutomationRun]:
        if limit <= 0:
            return []
        rows = await self._fetchall_write(CLAIM_DELIVERIES, {"now": now, "until": now + lease, "limit": limit})
        return [run_record(row) for row in rows]

    async def finish_delivery(self, app_id: str, run_id: str, attempt: int, delivery: dict[str, Any]) -> bool:
        status = delivery.get("status")
        params = {
            "delivery": jsonb(delivery, f"run {run_id!r} delivery"),
            "run": run_id,
            "app": app_id,
            "attempt": attempt,
            "error": delivery.get("last_error") if status == "failed" else None,
            "final": status in ("delivered", "failed"),
        }
        rows = await self._fetchall_write(FINISH_DELIVERY, params)
        return bool(rows and rows[0][0])
