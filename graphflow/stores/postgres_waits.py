"""PostgresStore's waits: steering requests and event waits, in the ``waits`` table (schema 5).

A mixin of :class:`~graphflow.stores.postgres.PostgresStore`. Registering, resolving and parking
are PL/pgSQL functions of the schema (see migration 5 in :mod:`graphflow.stores.postgres_schema`):
each is one round trip, and each takes its locks before it reads, in statements of their own, so
it reads what the transaction it waited for committed (READ COMMITTED gives a statement the
snapshot of its start).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from graphflow.abc import Store
from graphflow.records import Offer, Page, Wait
from graphflow.stores.base import WAIT_DATA_FIELDS, encode_json, lease_lost, page, wait_filter
from graphflow.stores.postgres_schema import jsonb

__all__ = ["WAIT_COLUMNS", "PostgresWaits", "wait_record"]

#: The columns of ``waits``, in table order (``SELECT *`` of the functions returns them so).
WAIT_COLUMNS = (
    "id",
    "app_id",
    "automation_id",
    "run_id",
    "step_key",
    "kind",
    "status",
    "created_at",
    "expires_at",
    "event",
    "resolved_at",
    "resolved_fence",
    "data",
)
_SELECT = f"SELECT {', '.join(WAIT_COLUMNS)} FROM waits"


def wait_record(row: Sequence[Any]) -> Wait:
    """A wait from a row of :data:`WAIT_COLUMNS` (``data`` decoded by psycopg)."""
    values = dict(zip(WAIT_COLUMNS, row, strict=True))
    data = values.pop("data")
    return Wait(**values, **{name: data.get(name) for name in WAIT_DATA_FIELDS if name in data})


class PostgresWaits(Store):
    """The waits half of :class:`~graphflow.stores.postgres.PostgresStore`."""

    @abstractmethod
    async def _fetchall(self, query: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run a statement (retried once on a dead connection) and return its rows."""

    @abstractmethod
    async def _fetchone(self, query: str, params: Any = (), *, idempotent: bool = False) -> tuple[Any, ...] | None:
        """Run a statement and return its first row."""

    async def register_wait(self, wait: Wait, fence: int) -> Wait:
        data = {name: getattr(wait, name) for name in WAIT_DATA_FIELDS}
        rows = await self._fetchall(
            f"SELECT {', '.join(WAIT_COLUMNS)} FROM graphflow_register_wait("
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                wait.id,
                wait.app_id,
                wait.automation_id,
                wait.run_id,
                wait.step_key,
                wait.kind,
                wait.status,
                wait.created_at,
                wait.expires_at,
                wait.event,
                jsonb(data, f"wait {wait.id!r}"),
                fence,
            ],
        )
        if not rows:
            raise lease_lost(wait.run_id, fence)
        return wait_record(rows[0])

    async def resolve_wait(
        self, app_id: str, wait_id: str, *, status: str, resolution: dict[str, Any], now: float
    ) -> Wait | None:
        encode_json(resolution, f"wait {wait_id!r} resolution")  # refused before any write
        row = await self._fetchone(
            f"SELECT {', '.join(WAIT_COLUMNS)} FROM graphflow_resolve_wait(%s, %s, %s, %s, %s)",
            [app_id, wait_id, status, jsonb(resolution, f"wait {wait_id!r} resolution"), now],
        )
        return None if row is None else wait_record(row)

    async def expire_wait(self, app_id: str, wait_id: str, now: float) -> Wait | None:
        row = await self._fetchone(
            f"""
            WITH expired AS (
                UPDATE waits SET status = 'expired'
                WHERE id = %s AND app_id = %s AND status = 'pending' AND expires_at IS NOT NULL AND expires_at <= %s
                RETURNING {", ".join(WAIT_COLUMNS)}
            )
            SELECT * FROM expired
            UNION ALL
            {_SELECT} WHERE id = %s AND app_id = %s AND NOT EXISTS (SELECT FROM expired)
            """,
            [wait_id, app_id, now, wait_id, app_id],
            idempotent=True,
        )
        return None if row is None else wait_record(row)

    async def resolve_offer(
        self, app_id: str, event_id: str, matches: Sequence[tuple[Wait, dict[str, Any]]], now: float
    ) -> list[Wait]:
        ordered = sorted(matches, key=lambda match: match[0].id)  # locks in one order
        rows = await self._fetchall(
            "SELECT graphflow_resolve_offer(%s, %s, %s::text[], %s::jsonb[], %s)",
            [
                app_id,
                event_id,
                [wait.id for wait, _ in ordered],
                [jsonb(resolution, f"wait {wait.id!r} resolution") for wait, resolution in ordered],
                now,
            ],
        )
        resolved = {row[0] for row in rows}
        return [wait for wait, _ in ordered if wait.id in resolved]

    async def leftover_offers(self, older_than: float, limit: int = 100) -> list[Offer]:
        rows = await self._fetchall(
            """
            SELECT o.app_id, o.event_id, o.name, o.payload, o.created_at,
                   coalesce(array_agg(to_jsonb(w) ORDER BY w.id) FILTER (WHERE w.id IS NOT NULL), '{}')
            FROM (SELECT * FROM offers WHERE created_at < %s ORDER BY created_at LIMIT %s) AS o
            LEFT JOIN waits AS w ON w.id = ANY (o.wait_ids) AND w.status = 'pending'
            GROUP BY o.app_id, o.event_id, o.name, o.payload, o.created_at
            """,
            [older_than, limit],
        )
        return [
            Offer(app, event, name, payload, [wait_record([w[c] for c in WAIT_COLUMNS]) for w in waits], created)
            for app, event, name, payload, created, waits in rows
        ]

    async def get_wait(self, app_id: str, wait_id: str) -> Wait | None:
        row = await self._fetchone(f"{_SELECT} WHERE id = %s AND app_id = %s", [wait_id, app_id], idempotent=True)
        return None if row is None else wait_record(row)

    async def list_waits(
        self,
        app_id: str,
        *,
        kind: str | None = None,
        run_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        where, params = wait_filter("%s", app_id, kind, run_id, status, cursor)
        rows = await self._fetchall(f"{_SELECT} WHERE {where} ORDER BY id DESC LIMIT %s", [*params, limit + 1])
        return page([wait_record(row) for row in rows], limit)
