"""SQLiteStore: the :class:`~graphflow.abc.Store` contract in one SQLite file — the default store.

SQLite is for **one host** (one or several processes on it); for workers on several hosts use
PostgreSQL. The design, and why:

* **One connection, used on the event loop's thread.** A statement costs microseconds; a hop to
  a worker thread (``anyio.to_thread``) costs ~50 µs, and a checkpoint per node must stay under
  60 µs. Nothing awaits between ``BEGIN`` and ``COMMIT``, so the tasks sharing the connection
  never interleave inside a transaction, and a cancellation can never leave one open.
* **The loop never waits for another process's lock.** The busy timeout is 0: a write that finds
  the file locked fails at once with ``SQLITE_BUSY``, and the store tries again after an
  ``await anyio.sleep`` (1 ms, doubling to 50 ms) until ``lock_timeout`` (30 s) has passed, then
  raises :class:`~graphflow.exceptions.StoreUnavailableError` ("database is locked"): a
  ``StoreError`` that the engine treats as a database gone for a while (it pauses and retries,
  and nothing was written). In WAL mode readers never wait for the writer.
* **Autocommit, explicit write transactions.** ``isolation_level=None``: a write of several
  statements runs inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (the write lock is taken up front, so
  it cannot fail half-way for a lock), and any error rolls it back — no half-written run
  remains, whether a constraint, a full disk or a bug interrupted it. A write of one statement
  (a checkpoint, a release) runs alone: one statement is one atomic transaction.
* **WAL, ``synchronous=NORMAL`` by default.** A commit survives the process dying (``kill -9``);
  after a power loss or an OS crash the last transactions may be lost (never corrupted).
  ``sqlite:///file.db?synchronous=FULL`` makes every commit durable against power loss too, at
  the price of an fsync per commit. ``journal_size_limit`` keeps the WAL file from staying large.
* **Lease times from the database's clock** (``julianday('now')``, or ``unixepoch('subsec')`` on
  SQLite ≥ 3.42), never a worker's: two processes agree on when a lease expires.
* **Uniqueness by constraints, never check-then-insert**: accepted event ids (primary key,
  ``INSERT … ON CONFLICT DO NOTHING``), scheduled occurrences (``UNIQUE (automation_id,
  scheduled_at)``), lookup keys, config versions. Claims and scheduler fires run inside
  ``BEGIN IMMEDIATE`` transactions, and SQLite allows one writer at a time, so two processes on
  one file never claim the same run or fire the same occurrence.
* **Versioned schema** (:mod:`graphflow.stores.sqlite_schema`): ``start()`` applies the missing
  migrations in one transaction and refuses a database written by a newer graphflow.
* **The event log** (``stream_events``) is appended by triggers on the tables (see
  :mod:`graphflow.stores.sqlite_schema`), in each write's own transaction; a write of this
  process wakes :meth:`SQLiteStore.wait_for_events`.
* **Records as JSON**, compact (``separators=(",", ":")``) with the stdlib encoder; every record
  returned is decoded afresh, so callers may mutate it. Runs keep each field in a column
  (payload, result and journal as JSON); automations keep their indexed fields in columns and
  the whole record as JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

import anyio
import anyio.lowlevel

from graphflow.abc import WakeMatcher
from graphflow.exceptions import (
    ConflictError,
    NotFoundError,
    SchemaVersionError,
    StoreError,
    StoreUnavailableError,
)
from graphflow.records import (
    TERMINAL_RUN_STATUSES,
    ApiKey,
    Automation,
    AutomationRun,
    ConfigRecord,
    FlowPolicy,
    Page,
    StoreStatus,
    StreamEvent,
    Wait,
)
from graphflow.stores import sqlite_schema
from graphflow.stores import status as status_sql
from graphflow.stores.base import FAILURES_REASON, lease_lost, page
from graphflow.stores.flow import MAX_FLOW_PERIOD
from graphflow.stores.sqlite_delivery import SQLiteDeliveries
from graphflow.stores.sqlite_flow import SQLiteFlow, automation_state, decide_flow
from graphflow.stores.sqlite_schema import (
    API_KEY_COLUMNS,
    CONFIG_COLUMNS,
    RUN_COLUMNS,
    RUN_FIELDS,
    STREAM_EVENT_COLUMNS,
    automation_from_data,
    automation_row,
    config_from_row,
    decode_json,
    encode_json,
    run_from_row,
    run_row,
    stream_events_from_row,
)
from graphflow.stores.sqlite_waits import SQLiteWaits, offer_event

__all__ = ["SQLiteStore"]

T = TypeVar("T")

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
_FIRST_RETRY, _LONGEST_RETRY = 0.001, 0.05
_PRUNE_BATCH = 500
_LOGGED_AT_LIMIT = 10_000
_UNAVAILABLE = {sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_PERM}

if sqlite3.sqlite_version_info >= (3, 42):
    _NOW = "SELECT unixepoch('subsec')"
else:
    _NOW = "SELECT (julianday('now') - 2440587.5) * 86400.0"


def _unique_violation(exc: sqlite3.IntegrityError) -> bool:
    return exc.sqlite_errorcode in (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)


# -- SQL ----------------------------------------------------------------------------------------

_INSERT_AUTOMATION = (
    'INSERT INTO automations (lookup_key, status, type, "trigger", revision, updated_at, data, id, app_id) '
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# ``last_run_at``/``last_run_status`` belong to run outcomes (``_OUTCOME``), ``last_delivery_error``
# to delivery outcomes: an automation write keeps the stored values, so a host's update never
# clobbers a newer outcome.
_UPDATE_AUTOMATION = (
    'UPDATE automations SET lookup_key = ?, status = ?, type = ?, "trigger" = ?, revision = ?, updated_at = ?, '
    "data = json_set(?, '$.last_run_at', json_extract(data, '$.last_run_at'), "
    "'$.last_run_status', json_extract(data, '$.last_run_status'), '$.last_error', json_extract(data, '$.last_error'), "
    "'$.consecutive_failures', coalesce(json_extract(data, '$.consecutive_failures'), 0), "
    "'$.last_delivery_error', json_extract(data, '$.last_delivery_error')) "
    "WHERE id = ? AND app_id = ? AND revision = ?"
)
# A finished run becomes its automation's last run, unless one that started later already is.
_OUTCOME = (
    "UPDATE automations SET data = json_set(data, '$.last_run_at', ?1, '$.last_run_status', ?2, '$.last_error', ?3, "
    "'$.consecutive_failures', CASE ?2 WHEN 'completed' THEN 0 "
    "ELSE coalesce(json_extract(data, '$.consecutive_failures'), 0) + (?2 = 'failed') END) "
    "WHERE id = ?4 AND coalesce(json_extract(data, '$.last_run_at') <= ?5, 1)"
)
# A running automation whose failure streak reached its max pauses (the revision trigger logs it).
_PAUSE_ON_FAILURES = (
    "UPDATE automations SET status = 'paused', revision = revision + 1, updated_at = ?1, "
    "data = json_set(data, '$.status', 'paused', '$.paused_reason', ?2, '$.revision', revision + 1, "
    "'$.updated_at', ?1) "
    "WHERE id = ?3 AND status = 'running' AND json_extract(data, '$.max_consecutive_failures') IS NOT NULL "
    "AND json_extract(data, '$.consecutive_failures') >= json_extract(data, '$.max_consecutive_failures')"
)
_INSERT_RUN = (
    f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * len(RUN_FIELDS))}) "
    "ON CONFLICT (automation_id, scheduled_at) DO NOTHING"
)
_SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs"
_CONFIG_VERSION = RUN_FIELDS.index("config_version")
_UPDATE_RUN = {  # (terminal, fenced) → statement; a terminal write also drops the lease
    (terminal, fenced): "UPDATE runs SET status = ?, config_id = ?, config_version = ?, updated_at = ?, "
    "started_at = ?, finished_at = ?, result = ?, journal = ?, delivery = ?"
    + (", lease_owner = NULL, lease_expires_at = NULL" if terminal else "")
    + " WHERE id = ?"
    + (" AND fence = ?" if fenced else "")
    for terminal in (False, True)
    for fenced in (False, True)
}
_CLAIM = (
    "UPDATE runs SET status = 'running', lease_owner = ?, lease_expires_at = ?, wake_at = NULL, waiting_for = NULL, "
    "fence = fence + 1, recoveries = recoveries + ?, started_at = coalesce(started_at, ?) WHERE id = ?"
)
#: Upsert an automation's memory (automation id, app id, document, automation id), if it still exists.
_REMEMBER = (
    "INSERT INTO memories (automation_id, app_id, document, updated_at) "
    f"SELECT ?, ?, ?, {sqlite_schema.NOW} WHERE EXISTS (SELECT 1 FROM automations WHERE id = ?) "
    "ON CONFLICT (automation_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at"
)
_SAVE_STEP = (
    'INSERT INTO steps (run_id, "key", data, unlogged_at) SELECT ?, ?, ?, ? WHERE EXISTS '
    "(SELECT 1 FROM runs WHERE id = ? AND fence = ?) "
    'ON CONFLICT (run_id, "key") DO UPDATE SET data = excluded.data, unlogged_at = excluded.unlogged_at'
)
# The run's checkpoints whose run.node_completed events are not in the log yet, logged in the order
# they were saved; then marked logged.
_UNLOGGED_KEYS = 'SELECT "key" FROM steps WHERE run_id = ? AND unlogged_at IS NOT NULL ORDER BY unlogged_at, "key"'
# One row for a batch of node events (``span`` of them), then the sequence moved past them all.
_LOG_BATCH = (
    "INSERT INTO stream_events (app_id, type, at, automation_id, run_id, config_id, data, span) "
    f"SELECT app_id, 'run.node_completed', {sqlite_schema.NOW}, automation_id, id, NULL, "
    "json_object('status', status, 'keys', json(?)), ? FROM runs WHERE id = ?"
)
_SKIP_SEQS = "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'stream_events'"
#: The most node events one row holds (a reader looks this far back for a batch it is inside).
_MAX_SPAN = 1000
_UNLOGGED = "SELECT 1 FROM steps WHERE run_id = ? AND unlogged_at IS NOT NULL LIMIT 1"
_STEPS_LOGGED = "UPDATE steps SET unlogged_at = NULL WHERE run_id = ? AND unlogged_at IS NOT NULL"
#: Seconds a run's node events may wait to be logged together (see ``SQLiteStore.save_step``).
NODE_EVENT_BATCH = 0.05
_BATCH_NS = int(NODE_EVENT_BATCH * 1e9)
_TERMINAL = "('completed', 'failed', 'cancelled')"
_PAUSED_RESULT = '{"error":"cancelled: the automation was paused or deleted"}'
_CANCELLED_RESULT = '{"error":"run cancelled"}'


def _parse(url_or_path: str | os.PathLike[str], synchronous: str) -> tuple[str, str]:
    """``(path, synchronous)`` from ``sqlite:///relative.db``, ``sqlite:////abs.db?…`` or a path."""
    text = os.fspath(url_or_path)
    options: dict[str, str] = {}
    if text.startswith("sqlite:"):
        rest = text[len("sqlite:") :]
        if not rest.startswith("//") or (len(rest) > 2 and rest[2] not in "/?"):
            raise ValueError(
                f"not a SQLite URL: {text!r}; use sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        rest, _, query = rest[2:].partition("?")
        text = unquote(rest[1:]) or ":memory:"
        options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"synchronous"})
    if unknown:
        raise ValueError(f"unknown SQLite URL option(s) {', '.join(unknown)}; the one supported is synchronous")
    mode = options.get("synchronous", synchronous).upper()
    if mode not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous={mode!r} is not a SQLite mode; use one of {', '.join(SYNCHRONOUS_MODES)}")
    return text, mode


class SQLiteStore(SQLiteFlow, SQLiteWaits, SQLiteDeliveries):
    """The store in a SQLite file; see the module docstring for the design.

    Args:
        url_or_path: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
            ``sqlite:///:memory:`` (a private database that dies with the store) or a plain path.
            The URL may carry ``?synchronous=FULL``.
        synchronous: the ``PRAGMA synchronous`` mode when the URL does not set one: ``NORMAL``
            (durable against process crashes) or ``FULL`` (against power loss too).
        lock_timeout: seconds a write keeps retrying while another connection holds the
            file's write lock before it raises ``StoreUnavailableError`` ("database is locked").
    """

    def __init__(
        self, url_or_path: str | os.PathLike[str], *, synchronous: str = "NORMAL", lock_timeout: float = 30.0
    ) -> None:
        self.path, self.synchronous = _parse(url_or_path, synchronous)
        self.lock_timeout = lock_timeout
        self.durable = self.path != ":memory:"
        self._conn: sqlite3.Connection | None = None
        #: Set (and dropped) by the next write, when a reader waits for events.
        self._appended: anyio.Event | None = None
        #: run id → when it was claimed here or its last batch of node events logged (``time.monotonic_ns``).
        self._logged_at: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- the connection ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the file (creating it), set WAL and the pragmas, and apply missing migrations.

        Raises:
            StoreUnavailableError: the file cannot be opened (its directory is missing, it is
                not a SQLite database…).
            SchemaVersionError: the database was written by a newer graphflow.
        """
        if self._conn is not None:
            return
        if sqlite3.sqlite_version_info < (3, 24):
            raise StoreError(f"SQLite {sqlite3.sqlite_version} is too old: graphflow needs 3.24 or newer")
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False, cached_statements=256
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            await self._call(self._configure)
            await self._migrate()
        except BaseException:
            self._conn.close()
            self._conn = None
            raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(sqlite3.Error):  # an optimisation only: never fail the shutdown
            conn.execute("PRAGMA optimize")
        conn.close()

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_size_limit = 67108864")  # 64 MiB

    async def _migrate(self) -> None:
        known = len(sqlite_schema.MIGRATIONS)
        if await self._call(self._schema_version) == known:
            return

        def migrate(conn: sqlite3.Connection) -> None:
            current = self._schema_version(conn)  # again, now under the write lock
            if current == known:
                return  # another process migrated first
            for statements in sqlite_schema.MIGRATIONS[current:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (known,))

        await self._call(migrate, write=True)

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
        if found.fetchone() is None:
            return 0
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        version = int(row[0] or 0)
        known = len(sqlite_schema.MIGRATIONS)
        if version > known:
            raise SchemaVersionError(
                f"{self.path} was written by a newer graphflow (schema {version}, this one knows {known}): "
                "upgrade graphflow"
            )
        return version

    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` on the connection, in a ``BEGIN IMMEDIATE`` transaction when ``write``.

        ``fn`` must not await: it runs to completion (and the transaction commits) before any
        other task touches the connection. While another connection holds the write lock, it
        is retried after an async sleep; sqlite3 errors become ``StoreError``.
        """
        conn = self._conn
        if conn is None:
            raise StoreError(f"{self!r} is not started: await store.start() first")
        delay, deadline = _FIRST_RETRY, 0.0
        while True:
            try:
                changes = conn.total_changes
                if not write:
                    result = fn(conn)
                else:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(conn)
                        conn.execute("COMMIT")
                    except BaseException:
                        self._rollback(conn)
                        raise
                if conn.total_changes != changes and self._appended is not None:
                    self._appended.set()  # something was written, so events may have been appended
                    self._appended = None
                return result
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise self._error(exc) from exc
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.lock_timeout
                elif now >= deadline:
                    raise StoreUnavailableError(
                        f"database is locked: another connection has held the write lock on {self.path} for "
                        f"more than {self.lock_timeout:g} s (a long transaction in another process?). SQLite "
                        "allows one writer at a time; for many busy workers use PostgreSQL",
                    ) from exc
                await anyio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, _LONGEST_RETRY)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        # Some errors (a full disk, an I/O error) have already rolled the transaction back.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error being raised is the one to report
                conn.execute("ROLLBACK")

    def _error(self, exc: sqlite3.Error) -> StoreError:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in _UNAVAILABLE or (self._conn is None and isinstance(exc, sqlite3.OperationalError)):
            hint = {
                sqlite3.SQLITE_CANTOPEN: "does its directory exist, and may this process write there?",
                sqlite3.SQLITE_NOTADB: "the file is not a SQLite database",
                sqlite3.SQLITE_CORRUPT: "the file is damaged; restore it from a backup",
            }.get(code, "check the path and its permissions")
            return StoreUnavailableError(f"cannot use the SQLite database {self.path}: {exc} ({hint})")
        if code == sqlite3.SQLITE_FULL:
            return StoreError(f"cannot write to {self.path}: {exc}; free disk space (nothing was half-written)")
        return StoreError(f"SQLite error on {self.path}: {exc}")

    # -- configs ---------------------------------------------------------------------------

    async def put_config(self, record: ConfigRecord) -> None:
        row = (
            record.id,
            record.app_id,
            record.version,
            record.name,
            encode_json(record.document, f"config {record.id!r}"),
            record.created_at,
            record.updated_at,
        )

        def put(conn: sqlite3.Connection) -> None:
            try:
                inserted = conn.execute(
                    f"INSERT INTO configs ({CONFIG_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ? "
                    "WHERE NOT EXISTS (SELECT 1 FROM configs WHERE id = ? AND app_id <> ?)",
                    (*row, record.id, record.app_id),
                ).rowcount
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"config {record.id!r} already has version {record.version}") from exc
            if not inserted:
                raise ConflictError(f"config id {record.id!r} belongs to another app; use a new id")

        await self._call(put)

    async def get_config(self, app_id: str, config_id: str, version: int | None = None) -> ConfigRecord | None:
        sql = f"SELECT {CONFIG_COLUMNS} FROM configs WHERE id = ? AND app_id = ?"
        args: tuple[Any, ...] = (config_id, app_id)
        if version is None:
            sql += " ORDER BY version DESC LIMIT 1"
        else:
            sql, args = sql + " AND version = ?", (*args, version)
        row = await self._call(lambda conn: conn.execute(sql, args).fetchone())
        return config_from_row(row) if row is not None else None

    async def latest_config_version(self, app_id: str, config_id: str) -> int | None:
        sql = "SELECT max(version) FROM configs WHERE id = ? AND app_id = ?"
        row = await self._call(lambda conn: conn.execute(sql, (config_id, app_id)).fetchone())
        return None if row is None else row[0]

    async def list_configs(self, app_id: str, *, cursor: str | None, limit: int) -> Page:
        where, args = ("app_id = ?", [app_id]) if cursor is None else ("app_id = ? AND id < ?", [app_id, cursor])
        sql = (
            f"SELECT {CONFIG_COLUMNS} FROM configs AS c WHERE {where} "
            "AND version = (SELECT max(version) FROM configs WHERE id = c.id) ORDER BY id DESC LIMIT ?"
        )
        rows = await self._call(lambda conn: conn.execute(sql, (*args, limit + 1)).fetchall())
        return page([config_from_row(row) for row in rows], limit)

    async def delete_config(self, app_id: str, config_id: str) -> bool:
        sql = "DELETE FROM configs WHERE id = ? AND app_id = ?"
        return bool(await self._call(lambda conn: conn.execute(sql, (config_id, app_id)).rowcount))

    # -- automations -------------------------------------------------------------------------

    async def insert_automation(self, automation: Automation) -> None:
        row = automation_row(automation)

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(_INSERT_AUTOMATION, row)
            except sqlite3.IntegrityError as exc:
                raise self._automation_conflict(automation, exc) from exc

        await self._call(insert)

    @staticmethod
    def _automation_conflict(automation: Automation, exc: sqlite3.IntegrityError) -> StoreError | ConflictError:
        if not _unique_violation(exc):
            return StoreError(f"automation {automation.id!r} was refused by the database: {exc}")
        if "lookup_key" in str(exc):
            return ConflictError(f"lookup_key {automation.lookup_key!r} is already used in app {automation.app_id!r}")
        return ConflictError(f"automation {automation.id!r} already exists")

    async def get_automation(self, app_id: str, automation_id: str) -> Automation | None:
        sql = "SELECT data FROM automations WHERE id = ? AND app_id = ?"
        row = await self._call(lambda conn: conn.execute(sql, (automation_id, app_id)).fetchone())
        return automation_from_data(row[0]) if row is not None else None

    async def get_automation_by_lookup_key(self, app_id: str, lookup_key: str) -> Automation | None:
        sql = "SELECT data FROM automations WHERE app_id = ? AND lookup_key = ?"
        row = await self._call(lambda conn: conn.execute(sql, (app_id, lookup_key)).fetchone())
        return automation_from_data(row[0]) if row is not None else None

    async def list_automations(self, app_id: str, *, type: str | None, cursor: str | None, limit: int) -> Page:
        where, args = ["app_id = ?"], [app_id]
        if type is not None:
            where.append("type = ?")
            args.append(type)
        if cursor is not None:
            where.append("id < ?")
            args.append(cursor)
        sql = f"SELECT data FROM automations WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        rows = await self._call(lambda conn: conn.execute(sql, (*args, limit + 1)).fetchall())
        return page([automation_from_data(row[0]) for row in rows], limit)

    def _compare_and_set(
        self, conn: sqlite3.Connection, automation: Automation, row: tuple[Any, ...], expected_revision: int
    ) -> None:
        try:
            changed = conn.execute(_UPDATE_AUTOMATION, (*row, expected_revision)).rowcount
        except sqlite3.IntegrityError as exc:
            raise self._automation_conflict(automation, exc) from exc
        if changed:
            return
        sql = "SELECT revision FROM automations WHERE id = ? AND app_id = ?"
        stored = conn.execute(sql, (automation.id, automation.app_id)).fetchone()
        if stored is None:
            raise NotFoundError("automation", automation.id)
        raise ConflictError(
            f"automation {automation.id!r} was changed concurrently (revision {stored[0]}, expected "
            f"{expected_revision}); read it again and retry"
        )

    async def update_automation(self, automation: Automation, *, expected_revision: int) -> None:
        row = automation_row(automation)
        await self._call(lambda conn: self._compare_and_set(conn, automation, row, expected_revision))

    async def delete_automation(self, app_id: str, automation_id: str) -> bool:
        sql = "DELETE FROM automations WHERE id = ? AND app_id = ?"
        return bool(await self._call(lambda conn: conn.execute(sql, (automation_id, app_id)).rowcount))

    async def running_automations(self, *, type: str | None = None) -> list[Automation]:
        sql, args = "SELECT data FROM automations WHERE status = 'running'", [type]
        if type is not None:
            sql += " AND type = ?"
        else:
            args.clear()
        rows = await self._call(lambda conn: conn.execute(sql, args).fetchall())
        return [automation_from_data(row[0]) for row in rows]

    # -- events ----------------------------------------------------------------------------

    async def accept_event(
        self,
        app_id: str,
        event_id: str,
        name: str,
        payload: Any,
        runs: Sequence[AutomationRun],
        *,
        wake: WakeMatcher | None = None,
        woken: list[Wait] | None = None,
        flow: Mapping[str, FlowPolicy] | None = None,
    ) -> list[AutomationRun] | None:
        rows = [(run, run_row(run)) for run in runs]
        resolved: list[Wait] = []
        accepted_at = runs[0].created_at if runs else time.time()

        def accept(conn: sqlite3.Connection) -> list[AutomationRun] | None:
            sql = "INSERT INTO events (app_id, event_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
            if not conn.execute(sql, (app_id, event_id, accepted_at)).rowcount:
                return None
            running: dict[str, tuple[bool, FlowPolicy | None]] = {}
            stored = []
            for run, row in rows:
                state = running.get(run.automation_id)
                if state is None:
                    state = running[run.automation_id] = automation_state(conn, run.automation_id, policy=bool(flow))
                live, policy = state
                if not live:
                    continue
                if (
                    flow and run.id in flow and policy is not None
                ):  # the policy as stored: one another process changed applies
                    run = dataclasses.replace(run)  # a retried transaction decides afresh
                    decided = decide_flow(conn, run, policy)
                    if decided is not run:
                        if decided is not None:
                            stored.append(decided)
                        continue
                    row = run_row(run)
                if self._insert_run(conn, run, row):
                    stored.append(run)
            if wake is not None:
                resolved[:] = offer_event(conn, app_id, name, wake, conn.execute(_NOW).fetchone()[0])
            return stored

        stored = await self._call(accept, write=True)  # a retried transaction offers again: resolved is reset
        if woken is not None:
            woken.extend(resolved)
        return stored

    # -- runs ------------------------------------------------------------------------------

    @staticmethod
    def _insert_run(conn: sqlite3.Connection, run: AutomationRun, row: list[Any]) -> bool:
        """Insert one run; ``False`` when its occurrence ``(automation_id, scheduled_at)`` exists.

        A run without a config version gets its config's latest (the version current when the
        run was created is the one it executes).
        """
        if run.config_version is None and run.config_id is not None:
            latest = conn.execute(
                "SELECT max(version) FROM configs WHERE id = ? AND app_id = ?", (run.config_id, run.app_id)
            ).fetchone()[0]
            row[_CONFIG_VERSION] = run.config_version = latest
        try:
            return bool(conn.execute(_INSERT_RUN, row).rowcount)
        except sqlite3.IntegrityError as exc:
            if _unique_violation(exc):
                raise ConflictError(f"run {run.id!r} already exists") from exc
            raise

    async def insert_runs(self, runs: Iterable[AutomationRun]) -> list[AutomationRun]:
        rows = [(run, run_row(run)) for run in runs]
        if not rows:
            return []

        def insert(conn: sqlite3.Connection) -> list[AutomationRun]:
            return [run for run, row in rows if self._insert_run(conn, run, row)]

        return await self._call(insert, write=len(rows) > 1)

    async def run_for_event(self, app_id: str, event_id: str) -> AutomationRun | None:
        sql = f"{_SELECT_RUN} WHERE app_id = ? AND event_id = ? ORDER BY id LIMIT 1"
        row = await self._call(lambda conn: conn.execute(sql, (app_id, event_id)).fetchone())
        return run_from_row(row) if row is not None else None

    async def get_run(self, app_id: str, run_id: str) -> AutomationRun | None:
        sql = f"{_SELECT_RUN} WHERE id = ? AND app_id = ?"
        row = await self._call(lambda conn: conn.execute(sql, (run_id, app_id)).fetchone())
        return run_from_row(row) if row is not None else None

    async def list_runs(
        self,
        app_id: str,
        automation_id: str,
        *,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        where, args = ["automation_id = ?", "app_id = ?"], [automation_id, app_id]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if cursor is not None:
            where.append("id < ?")
            args.append(cursor)
        sql = f"{_SELECT_RUN} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        rows = await self._call(lambda conn: conn.execute(sql, (*args, limit + 1)).fetchall())
        return page([run_from_row(row) for row in rows], limit)

    async def update_run(self, run: AutomationRun, *, fence: int | None = None) -> None:
        """Write status, config, timing, result, journal and delivery (the rest is fixed at insert)."""
        terminal = run.status in TERMINAL_RUN_STATUSES
        args: list[Any] = [
            run.status,
            run.config_id,
            run.config_version,
            run.updated_at,
            run.started_at,
            run.finished_at,
            None if run.result is None else encode_json(run.result, f"run {run.id!r} result"),
            encode_json(run.journal, f"run {run.id!r} journal"),
            None if run.delivery is None else encode_json(run.delivery, f"run {run.id!r} delivery"),
            run.id,
        ]
        if fence is not None:
            args.append(fence)
        sql = _UPDATE_RUN[terminal, fence is not None]
        if terminal:
            self._logged_at.pop(run.id, None)

        def update(conn: sqlite3.Connection) -> None:
            if terminal:  # its node events come before its last one
                self._log_steps(conn, run.id, mark=False)
            if not conn.execute(sql, args).rowcount:
                if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run.id,)).fetchone() is None:
                    raise NotFoundError("run", run.id)
                raise lease_lost(run.id, fence or 0)
            if terminal:
                conn.execute("DELETE FROM steps WHERE run_id = ?", (run.id,))
                if run.started_at is not None:
                    error = None if run.status == "completed" else _error_text(run.result)
                    outcome = (run.started_at, run.status, error, run.automation_id, run.started_at)
                    if conn.execute(_OUTCOME, outcome).rowcount and run.status == "failed":
                        now = run.finished_at or time.time()
                        conn.execute(_PAUSE_ON_FAILURES, (now, FAILURES_REASON, run.automation_id))

        await self._call(update, write=terminal)

    async def cancel_pending_runs(self, app_id: str, automation_id: str, now: float) -> list[str]:
        where = "automation_id = ? AND app_id = ? AND status = 'pending'"

        def cancel(conn: sqlite3.Connection) -> list[str]:
            ids = [row[0] for row in conn.execute(f"SELECT id FROM runs WHERE {where}", (automation_id, app_id))]
            for run_id in ids:  # their node events come before their last one
                self._log_steps(conn, run_id, mark=False)
            if ids:
                conn.execute(
                    "UPDATE runs SET status = 'cancelled', updated_at = ?, finished_at = ?, result = ?, "
                    f"wake_at = NULL, waiting_for = NULL WHERE {where}",
                    (now, now, _PAUSED_RESULT, automation_id, app_id),
                )
                conn.executemany("DELETE FROM steps WHERE run_id = ?", [(run_id,) for run_id in ids])
            return ids

        return await self._call(cancel, write=True)

    async def pending_runs(self, limit: int) -> list[AutomationRun]:
        sql = f"{_SELECT_RUN} WHERE status = 'pending' ORDER BY id LIMIT ?"
        rows = await self._call(lambda conn: conn.execute(sql, (limit,)).fetchall())
        return [run_from_row(row) for row in rows]

    async def status(self, now: float, *, late_after: float | None = None, limit: int = 20) -> StoreStatus:
        def read(conn: sqlite3.Connection) -> StoreStatus:
            summary = conn.execute(
                status_sql.SUMMARY.format(now=":now", cap=":cap"), {"now": now, "cap": status_sql.STATUS_CAP}
            ).fetchone()
            workers = conn.execute(status_sql.WORKERS.format(limit=":limit"), {"limit": limit}).fetchall()
            late = []
            if late_after is not None:
                sql = status_sql.LATE.format(
                    next_run_at="json_extract(data, '$.next_run_at')", before=":before", limit=":limit"
                )
                late = conn.execute(sql, {"before": now - late_after, "limit": limit}).fetchall()
            return status_sql.store_status(len(sqlite_schema.MIGRATIONS), summary, workers, late)

        return await self._call(read)

    async def cancel_run(self, app_id: str, run_id: str, now: float) -> AutomationRun | None:
        def cancel(conn: sqlite3.Connection) -> AutomationRun | None:
            sql = (
                "UPDATE runs SET status = 'cancelled', updated_at = ?, finished_at = ?, result = ?, "
                "fence = fence + 1, lease_owner = NULL, lease_expires_at = NULL, wake_at = NULL, waiting_for = NULL "
                "WHERE id = ? AND app_id = ? AND status IN ('pending', 'running')"
            )
            self._log_steps(conn, run_id, app_id)
            if conn.execute(sql, (now, now, _CANCELLED_RESULT, run_id, app_id)).rowcount:
                conn.execute("DELETE FROM steps WHERE run_id = ?", (run_id,))
            row = conn.execute(f"{_SELECT_RUN} WHERE id = ? AND app_id = ?", (run_id, app_id)).fetchone()
            return run_from_row(row) if row is not None else None

        return await self._call(cancel, write=True)

    # -- scheduling --------------------------------------------------------------------------

    async def record_fire(
        self, automation: Automation, *, expected_revision: int, runs: Sequence[AutomationRun]
    ) -> list[AutomationRun]:
        values = automation_row(automation)
        rows = [(run, run_row(run)) for run in runs]

        def fire(conn: sqlite3.Connection) -> list[AutomationRun]:
            self._compare_and_set(conn, automation, values, expected_revision)
            return [run for run, row in rows if self._insert_run(conn, run, row)]

        return await self._call(fire, write=True)

    async def changed_automations(self, since: float) -> list[Automation]:
        sql = "SELECT data FROM automations WHERE updated_at >= ?"
        rows = await self._call(lambda conn: conn.execute(sql, (since,)).fetchall())
        return [automation_from_data(row[0]) for row in rows]

    # -- leases and checkpoints ----------------------------------------------------------------

    async def claim_runs(
        self,
        worker_id: str,
        *,
        lease: float,
        limit: int,
        run_ids: Sequence[str] | None = None,
    ) -> list[AutomationRun]:
        if limit <= 0 or (run_ids is not None and not run_ids):
            return []

        def claim(conn: sqlite3.Connection) -> list[AutomationRun]:
            now = conn.execute(_NOW).fetchone()[0]
            if run_ids is not None:
                rows = []
                for run_id in dict.fromkeys(run_ids):
                    row = conn.execute(f"{_SELECT_RUN} WHERE id = ?", (run_id,)).fetchone()
                    if row is not None:
                        rows.append(row)
            else:
                # Runs whose worker died first, then pending runs oldest first: those without a
                # timer come out of runs_claim in id order, due timers by a range on wake_at.
                rows = conn.execute(
                    f"{_SELECT_RUN} WHERE status = 'running' AND lease_expires_at < ? ORDER BY id LIMIT ?",
                    (now, limit),
                ).fetchall()
                if len(rows) < limit:
                    waiting = conn.execute(
                        f"{_SELECT_RUN} WHERE status = 'pending' AND wake_at IS NULL ORDER BY id LIMIT ?", (limit,)
                    ).fetchall()
                    waiting += conn.execute(
                        f"{_SELECT_RUN} WHERE status = 'pending' AND wake_at <= ? ORDER BY id LIMIT ?", (now, limit)
                    ).fetchall()
                    waiting.sort(key=lambda row: row[0])
                    rows += waiting
            claimed: list[AutomationRun] = []
            expires = now + lease
            for row in rows:
                if len(claimed) >= limit:
                    break
                run = run_from_row(row)
                if run.status == "pending" and (run.wake_at is None or run.wake_at <= now):
                    recovered = 0
                elif run.status == "running" and run.lease_expires_at is not None and run.lease_expires_at < now:
                    recovered = 1
                else:
                    continue
                conn.execute(_CLAIM, (worker_id, expires, recovered, now, run.id))
                run.status, run.lease_owner, run.lease_expires_at, run.wake_at = "running", worker_id, expires, None
                run.waiting_for = None
                if run.started_at is None:
                    run.started_at = now
                run.fence += 1
                run.recoveries += recovered
                claimed.append(run)
            return claimed

        claimed = await self._call(claim, write=True)
        if claimed:  # the first batch of their node events waits for NODE_EVENT_BATCH, like the others
            logged_at, now = self._logged_at, time.monotonic_ns()
            if len(logged_at) + len(claimed) > _LOGGED_AT_LIMIT:
                logged_at.clear()
            for run in claimed:
                logged_at[run.id] = now
        return claimed

    async def renew_leases(self, worker_id: str, fences: Mapping[str, int], *, lease: float) -> set[str]:
        if not fences:
            return set()
        sql = (
            "UPDATE runs SET lease_expires_at = ? WHERE id = ? AND fence = ? AND lease_owner = ? AND status = 'running'"
        )

        def renew(conn: sqlite3.Connection) -> set[str]:
            expires = conn.execute(_NOW).fetchone()[0] + lease
            return {
                run_id
                for run_id, fence in fences.items()
                if not conn.execute(sql, (expires, run_id, fence, worker_id)).rowcount
            }

        return await self._call(renew, write=True)

    async def release_run(
        self, run_id: str, fence: int, *, wake_at: float | None = None, waiting_for: dict[str, Any] | None = None
    ) -> None:
        # A wait resolved while this claim held the run (resolved_fence = fence) wakes it at once.
        sql = (
            "UPDATE runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, waiting_for = ?, "
            f"wake_at = CASE WHEN ? IS NOT NULL AND EXISTS (SELECT 1 FROM waits WHERE waits.run_id = runs.id "
            f"AND waits.status IN ('answered', 'matched') AND waits.resolved_fence = runs.fence) THEN ({_NOW}) "
            "ELSE ? END WHERE id = ? AND fence = ? AND status = 'running'"
        )
        waiting = None if waiting_for is None else encode_json(waiting_for, f"run {run_id!r} waiting_for")

        def release(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM runs WHERE id = ? AND fence = ?", (run_id, fence)).fetchone() is not None:
                self._log_steps(conn, run_id)
            return int(conn.execute(sql, (waiting, wake_at, wake_at, run_id, fence)).rowcount)

        self._logged_at.pop(run_id, None)
        if not await self._call(release, write=True):
            raise lease_lost(run_id, fence)

    async def save_step(self, run_id: str, fence: int, key: str, data: Any) -> None:
        """Upsert the checkpoint; its ``run.node_completed`` event may be logged a little later.

        A checkpoint costs one row write, so its event is batched: the run's unlogged
        checkpoints are logged together, in the order they were saved, by the first checkpoint
        at least :data:`NODE_EVENT_BATCH` seconds after the run's last batch (or its claim by
        this store), by the run's next status change (hand-back, finish, cancel) and by a read of
        the run's events, in the same transaction as each. An event is never lost, only late.
        """
        now = time.monotonic_ns()  # one clock for the whole host: it orders the checkpoints of every process
        args = (run_id, key, encode_json(data, f"step {key!r} of run {run_id!r}"), now, run_id, fence)
        logged_at = self._logged_at
        if now - logged_at.get(run_id, 0) < _BATCH_NS:
            saved = await self._call(lambda conn: conn.execute(_SAVE_STEP, args).rowcount)
        else:

            def save_and_log(conn: sqlite3.Connection) -> int:
                count = int(conn.execute(_SAVE_STEP, args).rowcount)
                if count:
                    self._log_steps(conn, run_id)
                return count

            saved = await self._call(save_and_log, write=True)
            if len(logged_at) >= _LOGGED_AT_LIMIT:
                logged_at.clear()  # runs that finished elsewhere: forgetting one only makes its batch early
            logged_at[run_id] = now
        if not saved:
            raise lease_lost(run_id, fence)

    @staticmethod
    def _log_steps(conn: sqlite3.Connection, run_id: str, app_id: str | None = None, *, mark: bool = True) -> None:
        """Append the ``run.node_completed`` events of the run's unlogged checkpoints (in a write transaction).

        ``mark=False`` when the steps are deleted next (the run ends): nothing to mark then.
        """
        if app_id is not None:
            found = conn.execute("SELECT 1 FROM runs WHERE id = ? AND app_id = ?", (run_id, app_id)).fetchone()
            if found is None:
                return
        keys = [row[0] for row in conn.execute(_UNLOGGED_KEYS, (run_id,))]
        if not keys:
            return
        for start in range(0, len(keys), _MAX_SPAN):
            batch = keys[start : start + _MAX_SPAN]
            if (
                conn.execute(_LOG_BATCH, (encode_json(batch, "step keys"), len(batch), run_id)).rowcount
                and len(batch) > 1
            ):
                conn.execute(_SKIP_SEQS, (len(batch) - 1,))
        if mark:
            conn.execute(_STEPS_LOGGED, (run_id,))

    async def save_memory(self, run_id: str, fence: int, memory: Any, *, step: tuple[str, Any] | None = None) -> None:
        """The memory and the step in one transaction (the step's event is logged with it, not batched)."""
        document = encode_json(memory, f"memory of run {run_id!r}")
        step_args = None
        if step is not None:
            key, data = step
            step_args = (
                run_id,
                key,
                encode_json(data, f"step {key!r} of run {run_id!r}"),
                time.monotonic_ns(),
                run_id,
                fence,
            )

        def save(conn: sqlite3.Connection) -> bool:
            owner = conn.execute(
                "SELECT automation_id, app_id FROM runs WHERE id = ? AND fence = ?", (run_id, fence)
            ).fetchone()
            if owner is None:
                return False
            if step_args is not None:
                conn.execute(_SAVE_STEP, step_args)
                self._log_steps(conn, run_id)
            conn.execute(_REMEMBER, (owner[0], owner[1], document, owner[0]))
            return True

        if not await self._call(save, write=True):
            raise lease_lost(run_id, fence)

    async def get_memory(self, app_id: str, automation_id: str) -> Any:
        sql = "SELECT document FROM memories WHERE automation_id = ? AND app_id = ?"
        row = await self._call(lambda conn: conn.execute(sql, (automation_id, app_id)).fetchone())
        return decode_json(row[0]) if row is not None else None

    async def load_steps(self, run_id: str) -> dict[str, Any]:
        sql = 'SELECT "key", data FROM steps WHERE run_id = ?'
        rows = await self._call(lambda conn: conn.execute(sql, (run_id,)).fetchall())
        return {key: decode_json(data) for key, data in rows}

    # -- retention -------------------------------------------------------------------------

    async def prune(self, before: float) -> int:
        """Delete in batches, one short transaction each.

        A large prune then neither holds the write lock for long nor keeps the event loop busy.
        """
        runs_sql = (
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE finished_at < ? "
            f"AND status IN {_TERMINAL} LIMIT ?)"  # their steps go too: ON DELETE CASCADE
        )
        events_sql = (
            "DELETE FROM events WHERE (app_id, event_id) IN "
            "(SELECT app_id, event_id FROM events WHERE created_at < ? LIMIT ?)"
        )
        slots_sql = "DELETE FROM flow_slots WHERE rowid IN (SELECT rowid FROM flow_slots WHERE at < ? LIMIT ?)"
        deleted = await self._delete_in_batches(runs_sql, before)
        await self._delete_in_batches(events_sql, before)
        await self._delete_in_batches(slots_sql, before - MAX_FLOW_PERIOD)  # older than any throttle window
        await self._prune_log(before)
        return deleted

    async def _prune_log(self, before: float) -> None:
        """Delete the log's oldest events, up to the first one written at or after ``before``.

        ``at`` grows with ``seq`` (one writer, the database's clock), so the old events are a
        prefix of the log: found by walking it from its start, and deleted by ``seq`` ranges, with
        no index on ``at`` for every append to maintain.
        """
        first_kept = "SELECT seq FROM stream_events WHERE at >= ? ORDER BY seq LIMIT 1"
        row = await self._call(lambda conn: conn.execute(first_kept, (before,)).fetchone())
        if row is None:
            row = await self._call(lambda conn: conn.execute("SELECT max(seq) + 1 FROM stream_events").fetchone())
        end = row[0] if row is not None and row[0] is not None else 0
        sql = (
            "DELETE FROM stream_events WHERE seq IN (SELECT seq FROM stream_events WHERE seq < ? ORDER BY seq LIMIT ?)"
        )

        def delete(conn: sqlite3.Connection) -> int:
            return int(conn.execute(sql, (end, _PRUNE_BATCH)).rowcount)

        while await self._call(delete, write=True) == _PRUNE_BATCH:
            await anyio.lowlevel.checkpoint()

    async def _delete_in_batches(self, sql: str, before: float) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            return int(conn.execute(sql, (before, _PRUNE_BATCH)).rowcount)

        total = 0
        while True:
            count = await self._call(delete, write=True)
            total += count
            if count < _PRUNE_BATCH:
                return total
            await anyio.lowlevel.checkpoint()

    # -- the event log (appended by the schema's triggers: see sqlite_schema) ---------------

    async def read_events(
        self,
        app_id: str,
        *,
        after: int,
        limit: int,
        run_id: str | None = None,
        types: frozenset[str] | None = None,
    ) -> list[StreamEvent]:
        where, args = ["app_id = ?", "seq > ?"], [app_id, after]
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if types is not None:
            if not types:
                return []
            where.append(f"type IN ({', '.join('?' * len(types))})")
            args.extend(sorted(types))
        filters = " AND ".join(where[2:])
        extra = f" AND {filters}" if filters else ""
        columns = f"{STREAM_EVENT_COLUMNS}, span"
        # A batch of node events that ``after`` falls inside, then the rows after it.
        sql = (
            f"SELECT * FROM (SELECT {columns} FROM stream_events WHERE app_id = ? AND seq <= ? AND seq > ? "
            f"AND span > 1 AND seq + span - 1 > ?{extra} ORDER BY seq DESC LIMIT 1) UNION ALL "
            f"SELECT * FROM (SELECT {columns} FROM stream_events WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?)"
        )
        params = (app_id, after, after - _MAX_SPAN, after, *args[2:], *args, limit)
        if run_id is not None and await self._call(lambda conn: conn.execute(_UNLOGGED, (run_id,)).fetchone()):
            await self._call(lambda conn: self._log_steps(conn, run_id, app_id), write=True)  # no waiting for a batch
        rows = await self._call(lambda conn: conn.execute(sql, params).fetchall())
        events: list[StreamEvent] = []
        for row in sorted(rows, key=lambda row: row[0]):
            events += stream_events_from_row(row, after)
            if len(events) >= limit:
                return events[:limit]
        return events

    async def last_event_seq(self, app_id: str) -> int:
        sql = "SELECT seq + span - 1 FROM stream_events WHERE app_id = ? ORDER BY seq DESC LIMIT 1"
        row = await self._call(lambda conn: conn.execute(sql, (app_id,)).fetchone())
        return int(row[0]) if row is not None else 0

    async def wait_for_events(self, timeout: float) -> None:
        """Return when this process wrote to the database, or after ``timeout``.

        Other processes' writes are not seen here: readers poll at the timeout.
        """
        appended = self._appended
        if appended is None:
            appended = self._appended = anyio.Event()
        with anyio.move_on_after(timeout):
            await appended.wait()

    # -- API keys ----------------------------------------------------------------------------

    async def create_api_key(self, key: ApiKey, secret_hash: str) -> None:
        sql = f"INSERT INTO api_keys ({API_KEY_COLUMNS}, secret_hash) VALUES (?, ?, ?, ?, ?, ?)"
        args = (key.id, key.app_id, key.name, key.created_at, key.revoked_at, secret_hash)

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(sql, args)
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"API key {key.id!r} already exists") from exc

        await self._call(insert)

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        sql = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?"
        row = await self._call(lambda conn: conn.execute(sql, (secret_hash,)).fetchone())
        return ApiKey(*row) if row is not None else None

    async def list_api_keys(self, app_id: str) -> list[ApiKey]:
        sql = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE app_id = ? ORDER BY created_at, id"
        rows = await self._call(lambda conn: conn.execute(sql, (app_id,)).fetchall())
        return [ApiKey(*row) for row in rows]

    async def revoke_api_key(self, app_id: str, key_id: str, now: float) -> ApiKey | None:
        def revoke(conn: sqlite3.Connection) -> ApiKey | None:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND app_id = ? AND revoked_at IS NULL",
                (now, key_id, app_id),
            )
            sql = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ? AND app_id = ?"
            row = conn.execute(sql, (key_id, app_id)).fetchone()
            return ApiKey(*row) if row is not None else None

        return await self._call(revoke, write=True)


def _error_text(result: Any) -> str | None:
    """The ``error`` of a run's result, when it has one."""
    error = result.get("error") if isinstance(result, dict) else None
    return None if error is None else str(error)
