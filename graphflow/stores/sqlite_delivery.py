"""SQLiteStore's result deliveries: due deliveries claimed, attempts finished (see :class:`~graphflow.abc.Store`).

A mixin of :class:`~graphflow.stores.sqlite.SQLiteStore`. Due deliveries are found through the
``runs_delivery_due`` partial index (schema 5: ``json_extract(delivery, '$.next_at')`` where the
status is ``pending``); the statements below repeat its expressions so SQLite uses it. A claim is
one ``UPDATE … RETURNING`` inside ``BEGIN IMMEDIATE`` (one writer at a time), so two processes
never claim the same attempt; an attempt is finished by a compare-and-set on its number.
"""

from __future__ import annotations

import sqlite3
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from graphflow.abc import Store
from graphflow.records import AutomationRun
from graphflow.stores.sqlite_schema import RUN_COLUMNS, encode_json, run_from_row

__all__ = ["SQLiteDeliveries"]

T = TypeVar("T")

_PENDING = "json_extract(delivery, '$.status') = 'pending'"
_CLAIM = (
    "UPDATE runs SET delivery = json_set(delivery, '$.attempts', "
    "coalesce(json_extract(delivery, '$.attempts'), 0) + 1, '$.next_at', ?1) "
    f"WHERE id IN (SELECT id FROM runs WHERE {_PENDING} AND json_extract(delivery, '$.next_at') <= ?2 "
    "ORDER BY json_extract(delivery, '$.next_at') LIMIT ?3) "
    f"RETURNING {RUN_COLUMNS}"
)
#: Whether any delivery is due (a read: the poller looks every second, and most often finds none).
_ANY_DUE = f"SELECT 1 FROM runs WHERE {_PENDING} AND json_extract(delivery, '$.next_at') <= ? LIMIT 1"
_FINISH = (
    "UPDATE runs SET delivery = ? WHERE id = ? AND app_id = ? "
    f"AND {_PENDING} AND json_extract(delivery, '$.attempts') = ?"
)
_LAST_DELIVERY_ERROR = (
    "UPDATE automations SET data = json_set(data, '$.last_delivery_error', ?) "
    "WHERE id = (SELECT automation_id FROM runs WHERE id = ?) AND app_id = ?"
)


class SQLiteDeliveries(Store):
    """The deliveries half of :class:`~graphflow.stores.sqlite.SQLiteStore`."""

    @abstractmethod
    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` on the connection (in a write transaction when ``write``)."""

    async def claim_deliveries(self, now: float, *, lease: float, limit: int) -> list[AutomationRun]:
        if limit <= 0 or await self._call(lambda conn: conn.execute(_ANY_DUE, (now,)).fetchone()) is None:
            return []  # nothing due: no write lock taken

        def claim(conn: sqlite3.Connection) -> list[AutomationRun]:
            return [run_from_row(row) for row in conn.execute(_CLAIM, (now + lease, now, limit)).fetchall()]

        return await self._call(claim, write=True)

    async def finish_delivery(self, app_id: str, run_id: str, attempt: int, delivery: dict[str, Any]) -> bool:
        text = encode_json(delivery, f"run {run_id!r} delivery")
        status = delivery.get("status")

        def finish(conn: sqlite3.Connection) -> bool:
            if not conn.execute(_FINISH, (text, run_id, app_id, attempt)).rowcount:
                return False
            if status in ("delivered", "failed"):
                error = delivery.get("last_error") if status == "failed" else None
                conn.execute(_LAST_DELIVERY_ERROR, (error, run_id, app_id))
            return True

        return await self._call(finish, write=True)
