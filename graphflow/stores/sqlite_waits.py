"""SQLiteStore's waits: steering requests and event waits, in the ``waits`` table (schema 4).

A mixin of :class:`~graphflow.stores.sqlite.SQLiteStore`, kept apart so the store's module stays
about its core. Every statement names the app. SQLite has one writer at a time (``BEGIN
IMMEDIATE``), so an event's transaction, which offers it to the pending waits
(:func:`offer_event`), and a registration are ordered: a wait committed first is offered the
event, a wait registered after it never sees it — no event is lost between the two.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from graphflow.abc import Store, WakeMatcher
from graphflow.records import Page, Wait
from graphflow.stores.base import encode_json, lease_lost, page, wait_data, wait_filter, wait_from_data
from graphflow.stores.sqlite_schema import NOW

__all__ = ["SQLiteWaits", "offer_event"]

T = TypeVar("T")

_COLUMNS = (
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
)
_SELECT = f"SELECT {', '.join(_COLUMNS)}, data FROM waits"
_INSERT = f"INSERT INTO waits ({', '.join(_COLUMNS)}, data) VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})"
#: Ends a pending, unexpired wait: status, resolved_at, data (with the resolution), then id, app, now.
_RESOLVE = (
    "UPDATE waits SET status = ?, resolved_at = ?, data = ?, "
    "resolved_fence = (SELECT fence FROM runs WHERE runs.id = waits.run_id) "
    "WHERE id = ? AND app_id = ? AND status = 'pending' AND (expires_at IS NULL OR expires_at > ?)"
)
#: A parked run whose wait was resolved is claimable now (by the database's clock, which claims read).
_WAKE_RUN = f"UPDATE runs SET wake_at = min(?, {NOW}) WHERE id = ? AND status = 'pending'"


def _wait(row: tuple[Any, ...]) -> Wait:
    return wait_from_data(dict(zip(_COLUMNS, row[:-1], strict=True)), row[-1])


def _resolve(conn: sqlite3.Connection, wait: Wait, status: str, resolution: dict[str, Any], now: float) -> bool:
    """End ``wait`` (read in this transaction) with ``status`` and wake its run; ``False``: not pending."""
    text = wait_data(dataclasses.replace(wait, resolution=resolution))
    if not conn.execute(_RESOLVE, (status, now, text, wait.id, wait.app_id, now)).rowcount:
        return False
    conn.execute(_WAKE_RUN, (now, wait.run_id))
    return True


def offer_event(conn: sqlite3.Connection, app_id: str, name: str, wake: WakeMatcher, now: float) -> list[Wait]:
    """Offer an accepted event to the app's pending, unexpired waits for ``name`` (inside its transaction).

    Returns the waits it resolved.
    """
    rows = conn.execute(
        f"{_SELECT} WHERE app_id = ? AND event = ? AND status = 'pending' AND kind = 'event' "
        "AND (expires_at IS NULL OR expires_at > ?) ORDER BY id",
        (app_id, name, now),
    ).fetchall()
    resolved: list[Wait] = []
    if rows:
        for wait, resolution in wake([_wait(row) for row in rows]):
            if _resolve(conn, wait, "matched", resolution, now):
                resolved.append(wait)
    return resolved


class SQLiteWaits(Store):
    """The waits half of :class:`~graphflow.stores.sqlite.SQLiteStore`."""

    @abstractmethod
    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` on the connection (see ``SQLiteStore._call``)."""

    async def register_wait(self, wait: Wait, fence: int) -> Wait:
        row = [getattr(wait, name) for name in _COLUMNS]
        text = wait_data(wait)

        def register(conn: sqlite3.Connection) -> Wait | None:
            found = conn.execute(
                f"{_SELECT} WHERE run_id = ? AND step_key = ? AND app_id = ?", (wait.run_id, wait.step_key, wait.app_id)
            ).fetchone()
            if (
                conn.execute(
                    "SELECT 1 FROM runs WHERE id = ? AND app_id = ? AND fence = ?", (wait.run_id, wait.app_id, fence)
                ).fetchone()
                is None
            ):
                return None
            if found is not None:
                return _wait(found)
            conn.execute(_INSERT, (*row, text))
            return _wait((*row, text))

        stored = await self._call(register, write=True)
        if stored is None:
            raise lease_lost(wait.run_id, fence)
        return stored

    async def resolve_wait(
        self, app_id: str, wait_id: str, *, status: str, resolution: dict[str, Any], now: float
    ) -> Wait | None:
        encode_json(resolution, f"wait {wait_id!r} resolution")  # refused before any write

        def resolve(conn: sqlite3.Connection) -> Wait | None:
            row = conn.execute(f"{_SELECT} WHERE id = ? AND app_id = ?", (wait_id, app_id)).fetchone()
            if row is None or not _resolve(conn, _wait(row), status, resolution, now):
                return None
            return _wait(conn.execute(f"{_SELECT} WHERE id = ?", (wait_id,)).fetchone())

        return await self._call(resolve, write=True)

    async def expire_wait(self, app_id: str, wait_id: str, now: float) -> Wait | None:
        def expire(conn: sqlite3.Connection) -> Wait | None:
            conn.execute(
                "UPDATE waits SET status = 'expired' WHERE id = ? AND app_id = ? AND status = 'pending' "
                "AND expires_at IS NOT NULL AND expires_at <= ?",
                (wait_id, app_id, now),
            )
            row = conn.execute(f"{_SELECT} WHERE id = ? AND app_id = ?", (wait_id, app_id)).fetchone()
            return None if row is None else _wait(row)

        return await self._call(expire, write=True)

    async def get_wait(self, app_id: str, wait_id: str) -> Wait | None:
        sql = f"{_SELECT} WHERE id = ? AND app_id = ?"
        row = await self._call(lambda conn: conn.execute(sql, (wait_id, app_id)).fetchone())
        return None if row is None else _wait(row)

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
        where, args = wait_filter("?", app_id, kind, run_id, status, cursor)
        sql = f"{_SELECT} WHERE {where} ORDER BY id DESC LIMIT ?"
        rows = await self._call(lambda conn: conn.execute(sql, (*args, limit + 1)).fetchall())
        return page([_wait(row) for row in rows], limit)
