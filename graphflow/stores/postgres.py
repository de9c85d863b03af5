"""PostgresStore: the :class:`~graphflow.abc.Store` contract on PostgreSQL, for many workers on many hosts.

Use it when several engine processes (on one host or many) share one database; SQLite is the
one-host store. ``pip install 'graphflow[postgres]'`` brings psycopg 3 and psycopg-pool; this
module is imported only when a ``postgresql://`` URL (or the class) is used.

How the contract's guarantees are kept:

* **Uniqueness lives in constraints, never in check-then-insert.** ``configs`` is keyed by
  ``(id, version)``; ``automations`` has ``UNIQUE (app_id, lookup_key)``; ``runs`` has
  ``UNIQUE (automation_id, scheduled_at)`` (NULLs are distinct, so unscheduled runs never clash),
  which makes each scheduled occurrence exist once however many processes fire it; ``events`` is
  keyed by ``(app_id, event_id)`` and written with ``INSERT … ON CONFLICT DO NOTHING``. A
  violation the contract names becomes :class:`~graphflow.exceptions.ConflictError`.
* **Group commit.** ``accept_event``, ``claim_runs`` by id and a worker's final ``update_run``
  go through a :class:`~graphflow.stores.postgres_batch.GroupCommit`: sent at once when nothing
  else is in flight, else together with the others that queued meanwhile, in one pipelined
  transaction (one round trip, one commit); each statement does what it does alone.
* **One statement per operation where possible.** ``accept_event`` is one statement: the event
  insert, then the runs inserted only if the event was new *and* their automation is ``running``
  (checked in the same statement with ``FOR SHARE``, so a concurrent pause either commits first
  and the run is left out, or waits for the run to commit and then cancels it). ``record_fire``
  is one statement too: a compare-and-set on the automation's ``revision`` and the occurrence
  runs, inserted only if the CAS matched. A single statement is atomic and costs one round trip.
* **Claims** are one ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)``: concurrent claimers
  skip each other's rows instead of waiting, and a row claimed between a claimer's snapshot and
  its lock is re-checked, so no run is returned twice. Lease expiries come from the database's
  clock (``clock_timestamp()``), never a worker's. Every write of a claimed run names its
  ``fence``; ``update_run`` writes ``WHERE id = … AND fence = …`` and ``save_step`` inserts from
  a ``SELECT … FOR SHARE`` of the run at that fence, so a worker that lost its lease changes
  nothing (:class:`~graphflow.exceptions.LeaseLostError`).
* **Times are ``double precision`` UNIX seconds**, the engine's own floats: they round-trip
  exactly, and a scheduled instant must compare equal to itself to stay unique. Ids are
  ``text COLLATE "C"``: byte order is creation order, which the cursors rely on.
* **Documents, payloads, results, journals and checkpoints are ``jsonb``.**
* **Migrations** are numbered; :meth:`PostgresStore.start` applies the missing ones in one
  transaction under ``pg_advisory_xact_lock``, so processes starting together migrate once. A
  database whose ``schema_version`` is newer than this graphflow knows is refused
  (:class:`~graphflow.exceptions.SchemaVersionError`).
* **``schema``** (or ``?schema=`` in the URL) puts graphflow's tables in a PostgreSQL schema of
  their own, created if missing and set as ``search_path`` on every pooled connection: graphflow
  then shares a database with an application without name clashes, and tests isolate themselves.
* **LISTEN/NOTIFY is a hint.** Writes that create claimable work (``accept_event``,
  ``insert_runs``, ``record_fire``, ``release_run``) send ``NOTIFY graphflow_work`` (payload: the
  schema) inside their transaction, so it is delivered only if they commit.
  :meth:`PostgresStore.wait_for_work` listens on a dedicated connection and returns on a
  notification or at the timeout; if that connection breaks it sleeps instead and reconnects
  later. Correctness never depends on a notification: the engine claims after every wake-up.
* **The event log** (``stream_events``) is appended by row triggers on the tables (see
  :mod:`graphflow.stores.postgres_schema`), inside each write's own statement, without a lock:
  each event records its transaction (``xid``) and its ``seq`` orders events by transaction id,
  then position in the transaction. Reads return only events of transactions older than every
  transaction still in progress, so a smaller ``seq`` never appears after a larger one was read.
  ``NOTIFY graphflow_events`` wakes :meth:`PostgresStore.wait_for_events` in every process (a
  second ``LISTEN`` connection, opened by the first wait).
* **Failures.** An unreachable server at start raises
  :class:`~graphflow.exceptions.StoreUnavailableError` within ``connect_timeout`` seconds, naming
  the URL with its password hidden. A connection lost mid-run raises the same error (the engine
  retries), and the pool reconnects when the server returns. An operation whose connection
  turned out dead is retried once on a fresh connection when that is safe: reads and idempotent
  writes always, other writes only when the server reports it never ran the statement (its
  connection had been terminated). Other driver errors become
  :class:`~graphflow.exceptions.StoreError` with the driver's error as ``__cause__``.
* **PgBouncer.** Session pooling needs nothing. Transaction pooling (``?pgbouncer=transaction``)
  hands each transaction to any server connection, so nothing may outlive a transaction: the
  store then prepares no statements (psycopg's ``prepare_threshold=None``), sets no
  ``search_path`` (``schema`` must be the connections' default, which :meth:`PostgresStore.start`
  checks) and LISTENs on nothing (workers poll; event streams read the newest ``seq`` every
  quarter second). Every lock the store takes is transaction-scoped (``pg_advisory_xact_lock``,
  ``FOR UPDATE``) and every setting transaction-local (``set_config(…, true)``), so both modes
  keep every guarantee. Statement pooling cannot run multi-statement transactions: refused.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio

from graphflow.abc import WakeMatcher
from graphflow.exceptions import (
    ConflictError,
    GraphflowError,
    NotFoundError,
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
from graphflow.stores import redact_url
from graphflow.stores import status as status_sql
from graphflow.stores.base import lease_lost, page

try:
    import psycopg
    from psycopg import sql
    from psycopg_pool import AsyncConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("PostgresStore needs psycopg 3 and psycopg-pool: pip install 'graphflow[postgres]'") from exc

from graphflow.stores.flow import MAX_FLOW_PERIOD
from graphflow.stores.postgres_batch import GroupCommit
from graphflow.stores.postgres_delivery import PostgresDeliveries
from graphflow.stores.postgres_flow import PostgresFlow, decide_all
from graphflow.stores.postgres_listen import ChangePoller, Wakeup, WorkListener
from graphflow.stores.postgres_schema import (
    ACCEPT_EVENT,
    ACCEPT_EVENT_OFFER,
    API_KEY_COLUMNS,
    AUTOMATION_COLUMNS,
    AUTOMATIONS,
    CHANNEL,
    CLAIM,
    CLAIM_THESE,
    CONFIG_COLUMNS,
    CONFIGS,
    CONFLICTS,
    EVENTS_CHANNEL,
    FINISH_RUN,
    FINISH_RUN_FENCED,
    INSERT_RUNS,
    LOG_DECIDED,
    PENDING,
    RECORD_FIRE,
    RUNS,
    SCHEMA_VERSION,
    STREAM_EVENT_COLUMNS,
    UPDATE_AUTOMATION,
    UPDATE_RUN,
    UPDATE_RUN_FENCED,
    automation_params,
    automation_record,
    config_params,
    config_record,
    jsonb,
    migrate,
    outcome_params,
    placeholders,
    run_record,
    run_write_params,
)
from graphflow.stores.postgres_waits import WAIT_COLUMNS, PostgresWaits, wait_record

__all__ = ["PostgresStore"]

T = TypeVar("T")
Connection = psycopg.AsyncConnection[tuple[Any, ...]]
Params = Sequence[Any] | Mapping[str, Any]

#: Server errors that mean the statement never ran: the connection had been terminated
#: (admin_shutdown) or was never let in (cannot_connect_now).
_NEVER_RAN = frozenset({"57P01", "57P03"})
_CHECK_URL = "check that the server is running and reachable, and the URL"
_RETRIED = "the engine retries, and the pool reconnects when the server is back"
#: Runs (and event ids) deleted per statement by :meth:`PostgresStore.prune`: short transactions.
_PRUNE_BATCH = 5000
#: How long an event-log read waits for committed events held back behind older transactions.
_HELD_BACK_WAIT = 0.5
#: PgBouncer pool modes the store runs behind (``?pgbouncer=``).
_POOL_MODES = ("session", "transaction")
#: Seconds between looks for new events where LISTEN cannot work (transaction pooling).
_EVENTS_POLL = 0.25
#: A prepared statement missing or already there: another client's, through a transaction pooler.
_PREPARED_ELSEWHERE = frozenset({"26000", "42P05"})

logger = logging.getLogger(__name__)


class PostgresStore(PostgresFlow, PostgresWaits, PostgresDeliveries):
    """A store on PostgreSQL (psycopg 3, async, pooled): many engine processes share it safely.

    Args:
        url: ``postgresql://user:password@host:port/database`` (libpq URL or ``key=value``
            string); ``?schema=name`` selects a schema as the ``schema`` argument does.
        min_size: connections the pool keeps open.
        max_size: the most connections the pool opens.
        schema: a PostgreSQL schema for graphflow's tables, created if missing (default: the
            connection's ``search_path``, usually ``public``).
        connect_timeout: seconds to wait for the server when connecting, and for a free
            connection from the pool.
        pgbouncer: the pool mode of a PgBouncer between graphflow and the server (or
            ``?pgbouncer=`` in the URL): ``"session"`` or ``"transaction"`` (no prepared
            statements, no ``SET search_path``, no LISTEN: see the module's notes).
    """

    durable = True

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        schema: str | None = None,
        connect_timeout: float = 5.0,
        pgbouncer: str | None = None,
    ) -> None:
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(f"need 0 <= min_size <= max_size and max_size >= 1, got {min_size} and {max_size}")
        self.url = url
        self._conninfo, options = _split_url(url)
        self.schema = schema if schema is not None else options.get("schema")
        self.pgbouncer = pgbouncer if pgbouncer is not None else options.get("pgbouncer")
        _check_pool_mode(self.pgbouncer)
        self._pooled = self.pgbouncer == "transaction"
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        try:
            params = psycopg.conninfo.conninfo_to_dict(self._conninfo)
        except psycopg.Error as exc:
            raise ValueError(f"not a PostgreSQL URL: {_redact(url)} ({_first_line(exc)})") from exc
        self._kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": max(2, round(connect_timeout))}
        if "application_name" not in params:
            self._kwargs["application_name"] = "graphflow"
        if self._pooled:  # a prepared statement would stay on a server connection others get next
            self._kwargs["prepare_threshold"] = None
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._wakeups: WorkListener | None = None
        self._appended: Wakeup | None = None
        self._listen_schema = ""
        # The writes of every run's way through, each sent with the ones that queue meanwhile.
        self._accepts = GroupCommit(self._call)
        self._claims = GroupCommit(self._call)  # by id: the runs this process just stored or woke
        self._finishes = GroupCommit(self._call)

    def __repr__(self) -> str:
        return f"PostgresStore({_redact(self.url)!r}, schema={self.schema!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, migrate the schema and open the pool and the LISTEN connection.

        Raises:
            StoreUnavailableError: the server did not answer within ``connect_timeout``.
            SchemaVersionError: the database was written by a newer graphflow.
        """
        if self._pool is not None:
            return
        try:
            conn = await self._connect()
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise self._unavailable(exc, "cannot connect to", _CHECK_URL) from exc
        try:
            async with conn:
                await self._configure(conn)
                await migrate(conn, self.schema, where=f"{_redact(self.url)} ({self._schema_name()})")
                row = await (await conn.execute("SELECT current_schema(), pg_backend_pid()")).fetchone()
                schema, server_pid = row if row else ("", 0)
                self._check_pooler(conn, schema, server_pid)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        # A short reconnect_timeout: a background reconnection backs off exponentially until it
        # gives up, and a late one would keep the pool empty long after the server is back;
        # given up, the next operation starts a fresh attempt at once.
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._conninfo,
            kwargs=self._kwargs,
            min_size=self._min_size,
            max_size=self._max_size,
            configure=self._configure,
            timeout=self._connect_timeout,
            open=False,
            name="graphflow",
            reconnect_timeout=2 * self._connect_timeout,
        )
        try:
            await pool.open(wait=True, timeout=self._connect_timeout)
        except PoolTimeout as exc:
            await pool.close()
            raise self._unavailable(exc, "cannot connect to", _CHECK_URL) from exc
        self._pool = pool
        self._listen_schema = schema
        if not self._pooled:  # behind a transaction pooler workers poll (``wait_for_work`` sleeps)
            self._wakeups = WorkListener(self._connect, CHANNEL, schema)
            await self._wakeups.open()

    async def close(self) -> None:
        """Close the pool and the LISTEN connection (idempotent)."""
        pool, self._pool = self._pool, None
        wakeups, self._wakeups = self._wakeups, None
        appended, self._appended = self._appended, None
        for listener in (wakeups, appended):
            if listener is not None:
                await listener.close()
        if pool is not None:
            await pool.close()

    async def _connect(self) -> Connection:
        """A new connection outside the pool (migrations, LISTEN), within ``connect_timeout``."""
        with anyio.fail_after(self._connect_timeout + 1):
            return await psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs)

    async def _configure(self, conn: Connection) -> None:
        if self.schema is not None and not self._pooled:  # a session setting: see _check_pooler
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    def _check_pooler(self, conn: Connection, schema: str | None, server_pid: int) -> None:
        """Refuse a schema a transaction pooler's connections do not use; warn of an undeclared pooler.

        PgBouncer gives its clients a made-up backend pid, so a pid the server does not report
        means a pooler sits in between.
        """
        if self._pooled and self.schema is not None and schema != self.schema:
            raise StoreError(
                f"the connections of {_redact(self.url)} use schema {schema!r}, not {self.schema!r}: through "
                "PgBouncer in transaction mode graphflow cannot set their search_path; make it their default "
                f"(ALTER ROLE … IN DATABASE … SET search_path = {self.schema}, or connect_query in the "
                "[databases] entry of pgbouncer.ini), or drop ?schema= to use that default"
            )
        if self.pgbouncer is None and conn.info.backend_pid != server_pid:
            logger.warning(
                "PostgreSQL at %s is reached through a connection pooler (PgBouncer?): add ?pgbouncer=session or "
                "?pgbouncer=transaction to the URL, as it pools; transaction pooling needs it",
                _redact(self.url),
            )

    def _schema_name(self) -> str:
        return f"schema {self.schema!r}" if self.schema is not None else "the search_path's schema"

    # -- running statements ------------------------------------------------------------------

    async def _call(self, op: Callable[[Connection], Awaitable[T]], *, idempotent: bool = False) -> T:
        """Run ``op`` on a pooled connection, translating driver errors.

        A connection found dead is retried once on a fresh one when that cannot apply a write
        twice: ``idempotent`` operations always, others when the server says it never ran them.
        """
        pool = self._pool
        if pool is None:
            raise StoreError("PostgresStore is not started: call `await store.start()` first (the engine does)")
        for attempt in (1, 2):
            try:
                conn = await pool.getconn()
                try:
                    return await op(conn)
                finally:
                    # Shielded: a caller cancelled mid-statement (a client leaving an event stream)
                    # must still hand the connection back (the pool discards or resets it).
                    # Unshielded, AnyIO's cancellation also cancelled the return, and the pool
                    # counted the connection as taken for ever: after a few, every request waited
                    # out the pool timeout (503).
                    with anyio.CancelScope(shield=True):
                        await pool.putconn(conn)
            except PoolTimeout as exc:  # an OperationalError too: nothing was sent
                raise self._unavailable(exc, "no connection to", _RETRIED) from exc
            except psycopg.OperationalError as exc:
                if attempt == 1 and _connection_lost(exc) and (idempotent or exc.sqlstate in _NEVER_RAN):
                    await pool.check()  # the other idle connections probably died too
                    continue
                raise self._translate(exc) from exc
            except psycopg.Error as exc:
                raise self._translate(exc) from exc
            except (TypeError, ValueError) as exc:  # adapting a parameter: a value JSON cannot hold
                if isinstance(exc, GraphflowError):  # ConflictError, NotFoundError… raised on purpose
                    raise
                raise StoreError(
                    f"a value could not be stored: {exc}; payloads, node outputs and results must be JSON "
                    "(objects, arrays, strings, numbers, booleans, null)"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetchall(self, query: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async def op(conn: Connection) -> list[tuple[Any, ...]]:
            return await (await conn.execute(query, params)).fetchall()

        return await self._call(op, idempotent=True)

    async def _fetchone(self, query: str, params: Params = (), *, idempotent: bool = False) -> tuple[Any, ...] | None:
        async def op(conn: Connection) -> tuple[Any, ...] | None:
            return await (await conn.execute(query, params)).fetchone()

        return await self._call(op, idempotent=idempotent)

    async def _execute(self, query: str, params: Params = (), *, idempotent: bool = False) -> int:
        """Run a statement; return the number of rows it touched."""

        async def op(conn: Connection) -> int:
            return (await conn.execute(query, params)).rowcount

        return await self._call(op, idempotent=idempotent)

    def _translate(self, exc: psycopg.Error) -> GraphflowError:
        if isinstance(exc, psycopg.errors.UniqueViolation):
            constraint = exc.diag.constraint_name or ""
            return ConflictError(CONFLICTS.get(constraint, f"unique constraint {constraint} violated"))
        if isinstance(exc, psycopg.OperationalError) and _connection_lost(exc):
            return self._unavailable(exc, "lost the connection to", _RETRIED)
        if exc.sqlstate in _PREPARED_ELSEWHERE and not self._pooled:
            return StoreError(
                f"PostgreSQL error: {_first_line(exc)}; a pooler in transaction mode (PgBouncer?) is between "
                "graphflow and the server: add ?pgbouncer=transaction to the URL"
            )
        return StoreError(f"PostgreSQL error: {_first_line(exc)}")

    def _unavailable(self, exc: BaseException, what: str, hint: str) -> StoreUnavailableError:
        reason = _first_line(exc) or f"no answer within {self._connect_timeout:g} s"
        return StoreUnavailableError(f"{what} PostgreSQL at {_redact(self.url)}: {reason}; {hint}")

    # -- configs ---------------------------------------------------------------------------

    async def put_config(self, record: ConfigRecord) -> None:
        inserted = await self._execute(
            f"INSERT INTO configs ({CONFIGS}) SELECT * FROM (VALUES {placeholders(CONFIG_COLUMNS)}) AS v "
            "WHERE NOT EXISTS (SELECT FROM configs WHERE id = %s AND app_id <> %s)",
            [*config_params(record), record.id, record.app_id],
        )
        if not inserted:
            raise ConflictError(f"config id {record.id!r} belongs to another app; use a new id")

    async def get_config(self, app_id: str, config_id: str, version: int | None = None) -> ConfigRecord | None:
        if version is None:
            query = f"SELECT {CONFIGS} FROM configs WHERE id = %s AND app_id = %s ORDER BY version DESC LIMIT 1"
            row = await self._fetchone(query, [config_id, app_id], idempotent=True)
        else:
            query = f"SELECT {CONFIGS} FROM configs WHERE id = %s AND app_id = %s AND version = %s"
            row = await self._fetchone(query, [config_id, app_id, version], idempotent=True)
        return config_record(row) if row else None

    async def latest_config_version(self, app_id: str, config_id: str) -> int | None:
        row = await self._fetchone(
            "SELECT max(version) FROM configs WHERE id = %s AND app_id = %s", [config_id, app_id], idempotent=True
        )
        return None if row is None else row[0]

    async def list_configs(self, app_id: str, *, cursor: str | None, limit: int) -> Page:
        where, params = "app_id = %s", [app_id]
        if cursor is not None:
            where, params = where + " AND id < %s", [*params, cursor]
        rows = await self._fetchall(
            f"SELECT DISTINCT ON (id) {CONFIGS} FROM configs WHERE {where} ORDER BY id DESC, version DESC LIMIT %s",
            [*params, limit + 1],
        )
        return page([config_record(row) for row in rows], limit)

    async def delete_config(self, app_id: str, config_id: str) -> bool:
        return await self._execute("DELETE FROM configs WHERE id = %s AND app_id = %s", [config_id, app_id]) > 0

    # -- automations -------------------------------------------------------------------------

    async def insert_automation(self, automation: Automation) -> None:
        await self._execute(
            f"INSERT INTO automations ({AUTOMATIONS}) VALUES {placeholders(AUTOMATION_COLUMNS)}",
            automation_params(automation),
        )

    async def get_automation(self, app_id: str, automation_id: str) -> Automation | None:
        row = await self._fetchone(
            f"SELECT {AUTOMATIONS} FROM automations WHERE id = %s AND app_id = %s",
            [automation_id, app_id],
            idempotent=True,
        )
        return automation_record(row) if row else None

    async def get_automation_by_lookup_key(self, app_id: str, lookup_key: str) -> Automation | None:
        row = await self._fetchone(
            f"SELECT {AUTOMATIONS} FROM automations WHERE app_id = %s AND lookup_key = %s",
            [app_id, lookup_key],
            idempotent=True,
        )
        return automation_record(row) if row else None

    async def list_automations(self, app_id: str, *, type: str | None, cursor: str | None, limit: int) -> Page:
        where, params = "app_id = %s", [app_id]
        if type is not None:
            where, params = where + " AND type = %s", [*params, type]
        if cursor is not None:
            where, params = where + " AND id < %s", [*params, cursor]
        rows = await self._fetchall(
            f"SELECT {AUTOMATIONS} FROM automations WHERE {where} ORDER BY id DESC LIMIT %s", [*params, limit + 1]
        )
        return page([automation_record(row) for row in rows], limit)

    async def update_automation(self, automation: Automation, *, expected_revision: int) -> None:
        async def op(conn: Connection) -> None:
            params = [*automation_params(automation), automation.id, automation.app_id, expected_revision]
            if (await conn.execute(UPDATE_AUTOMATION, params)).rowcount == 0:
                await self._explain_missed_revision(conn, automation, expected_revision)

        await self._call(op)

    async def _explain_missed_revision(self, conn: Connection, automation: Automation, expected: int) -> None:
        cur = await conn.execute(
            "SELECT revision FROM automations WHERE id = %s AND app_id = %s", [automation.id, automation.app_id]
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFoundError("automation", automation.id)
        raise ConflictError(
            f"automation {automation.id!r} was changed concurrently (revision {row[0]}, expected "
            f"{expected}); read it again and retry"
        )

    async def delete_automation(self, app_id: str, automation_id: str) -> bool:
        deleted = await self._execute("DELETE FROM automations WHERE id = %s AND app_id = %s", [automation_id, app_id])
        return deleted > 0

    async def running_automations(self, *, type: str | None = None) -> list[Automation]:
        query = f"SELECT {AUTOMATIONS} FROM automations WHERE status = 'running'"
        rows = await (self._fetchall(query) if type is None else self._fetchall(query + " AND type = %s", [type]))
        return [automation_record(row) for row in rows]

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
        """One statement stores the event and its runs and, when ``wake`` is given, reads the waits to offer it.

        The waits are read by ``graphflow_event_waits`` (a shared lock, then a fresh snapshot)
        inside the statement, which also records the **offer** (the payload and those waits' ids)
        when there are any. The matched ones are then resolved by one call of
        ``graphflow_resolve_offer``, which drops the offer; if this process dies in between, the
        offer stays for :meth:`leftover_offers`, and another engine resolves it.
        """
        accepted_at = runs[0].created_at if runs else time.time()
        if flow:
            return await self._accept_flow(app_id, event_id, name, payload, runs, accepted_at, wake, woken, flow)
        if wake is None:
            if not runs:
                inserted = await self._execute(
                    "INSERT INTO events (app_id, event_id, name, accepted_at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [app_id, event_id, name, accepted_at],
                )
                return [] if inserted else None
            query, values = ACCEPT_EVENT.bind(runs)
            params = [app_id, event_id, name, accepted_at, *values]
        else:
            query, values = ACCEPT_EVENT_OFFER.bind(runs)
            offered = [app_id, name, app_id, event_id, name, jsonb(payload, f"event {event_id!r} payload")]
            params = [app_id, event_id, name, accepted_at, *values, *offered]
        key = (min(run.automation_id for run in runs) if runs else "", app_id, event_id)
        (row,) = await self._accepts.fetchall(query, params, key=key)
        if not row[0]:
            return None
        if wake is not None and row[-1]:
            await self._resolve_offered(app_id, event_id, row[-1], wake, woken)
        return _stored(runs, row[1]) if runs else []

    async def _accept_flow(
        self,
        app_id: str,
        event_id: str,
        name: str,
        payload: Any,
        runs: Sequence[AutomationRun],
        accepted_at: float,
        wake: WakeMatcher | None,
        woken: list[Wait] | None,
        flow: Mapping[str, FlowPolicy],
    ) -> list[AutomationRun] | None:
        """:meth:`accept_event` with flow-controlled runs: one transaction, decisions first (see postgres_flow)."""

        async def accept(conn: Connection) -> tuple[list[AutomationRun], list[Any]] | None:
            try:
                async with conn.transaction():
                    candidates = [dataclasses.replace(run) for run in runs]  # a retry decides afresh
                    decided = await decide_all(conn, app_id, event_id, candidates, flow)
                    if decided is None:
                        return None
                    keep, merged = decided
                    statement = ACCEPT_EVENT if wake is None else ACCEPT_EVENT_OFFER
                    query, values = statement.bind(keep)
                    params = [app_id, event_id, name, accepted_at, *values]
                    if wake is not None:
                        params += [app_id, name, app_id, event_id, name, jsonb(payload, f"event {event_id!r} payload")]
                    row = await (await conn.execute(query, params)).fetchone()
                    assert row is not None
                    if not row[0]:
                        raise _Duplicate
                    return _stored(keep, row[1]) + merged, list(row[-1]) if wake is not None else []
            except _Duplicate:
                return None

        accepted = await self._call(accept)
        if accepted is None:
            return None
        stored, offered = accepted
        if wake is not None and offered:
            await self._resolve_offered(app_id, event_id, offered, wake, woken)
        return stored

    async def _resolve_offered(
        self, app_id: str, event_id: str, offered: Sequence[Any], wake: WakeMatcher, woken: list[Wait] | None
    ) -> None:
        """Resolve the waits an accepted event was offered (JSON rows) that ``wake`` matches; add them to ``woken``."""
        waits = [wait_record([w[c] for c in WAIT_COLUMNS]) for w in offered]
        resolved = await self.resolve_offer(app_id, event_id, list(wake(waits)), time.time())
        if woken is not None:
            woken.extend(resolved)

    # -- runs ------------------------------------------------------------------------------

    async def insert_runs(self, runs: Iterable[AutomationRun]) -> list[AutomationRun]:
        batch = list(runs)
        if not batch:
            return []
        row = await self._fetchone(*INSERT_RUNS.bind(batch))
        assert row is not None
        return _stored(batch, row[0])

    async def run_for_event(self, app_id: str, event_id: str) -> AutomationRun | None:
        row = await self._fetchone(
            f"SELECT {RUNS} FROM runs WHERE app_id = %s AND event_id = %s ORDER BY id LIMIT 1",
            [app_id, event_id],
            idempotent=True,
        )
        return run_record(row) if row else None

    async def get_run(self, app_id: str, run_id: str) -> AutomationRun | None:
        row = await self._fetchone(
            f"SELECT {RUNS} FROM runs WHERE id = %s AND app_id = %s", [run_id, app_id], idempotent=True
        )
        return run_record(row) if row else None

    async def list_runs(
        self,
        app_id: str,
        automation_id: str,
        *,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        where, params = "automation_id = %s AND app_id = %s", [automation_id, app_id]
        if status is not None:
            where, params = where + " AND status = %s", [*params, status]
        if cursor is not None:
            where, params = where + " AND id < %s", [*params, cursor]
        rows = await self._fetchall(
            f"SELECT {RUNS} FROM runs WHERE {where} ORDER BY id DESC LIMIT %s", [*params, limit + 1]
        )
        return page([run_record(row) for row in rows], limit)

    async def update_run(self, run: AutomationRun, *, fence: int | None = None) -> None:
        params = [*run_write_params(run), run.id, *([] if fence is None else [fence])]
        terminal = run.status in TERMINAL_RUN_STATUSES

        if terminal and fence is not None:  # a worker's final write: sent with the others of this process
            key = (run.automation_id, run.started_at or 0.0, run.id)  # an automation's runs in start order
            (row,) = await self._finishes.fetchall(
                FINISH_RUN_FENCED, [*params, *outcome_params(run)], idempotent=True, key=key
            )
            if row[0] == 0:
                await self._call(lambda conn: self._missed_write(conn, run.id, fence), idempotent=True)
            return

        async def op(conn: Connection) -> None:
            if terminal:
                row = await (await conn.execute(FINISH_RUN, [*params, *outcome_params(run)])).fetchone()
                written = row[0] if row else 0
            else:
                written = (await conn.execute(UPDATE_RUN if fence is None else UPDATE_RUN_FENCED, params)).rowcount
            if written == 0:
                await self._missed_write(conn, run.id, fence)

        # Idempotent: a retried write sets the same values under the same fence.
        await self._call(op, idempotent=True)

    async def _missed_write(self, conn: Connection, run_id: str, fence: int | None) -> None:
        """Raise why a write of the run changed nothing: it does not exist, or the fence is stale."""
        cur = await conn.execute("SELECT fence FROM runs WHERE id = %s", [run_id])
        if await cur.fetchone() is None:
            raise NotFoundError("run", run_id)
        raise lease_lost(run_id, fence)

    async def cancel_pending_runs(self, app_id: str, automation_id: str, now: float) -> list[str]:
        rows = await self._fetchall_write(
            """
            WITH cancelled AS (
                UPDATE runs SET status = 'cancelled', updated_at = %s, finished_at = %s,
                    wake_at = NULL, waiting_for = NULL,
                    result = '{"error": "cancelled: the automation was paused or deleted"}'
                WHERE automation_id = %s AND app_id = %s AND status = 'pending'
                RETURNING id
            ), dropped AS (
                DELETE FROM steps WHERE run_id IN (SELECT id FROM cancelled)
            )
            SELECT id FROM cancelled
            """,
            [now, now, automation_id, app_id],
        )
        return [row[0] for row in rows]

    async def pending_runs(self, limit: int) -> list[AutomationRun]:
        rows = await self._fetchall(PENDING, {"limit": limit})
        return [run_record(row) for row in rows]

    async def status(self, now: float, *, late_after: float | None = None, limit: int = 20) -> StoreStatus:
        params = {"now": now, "cap": status_sql.STATUS_CAP, "limit": limit}
        summary = await self._fetchone(status_sql.SUMMARY.format(now="%(now)s", cap="%(cap)s"), params, idempotent=True)
        workers = await self._fetchall(status_sql.WORKERS.format(limit="%(limit)s"), params)
        late: list[tuple[Any, ...]] = []
        if late_after is not None:
            sql = status_sql.LATE.format(next_run_at="next_run_at", before="%(before)s", limit="%(limit)s")
            late = await self._fetchall(sql, {"before": now - late_after, "limit": limit})
        assert summary is not None
        return status_sql.store_status(SCHEMA_VERSION, summary, workers, late)

    async def cancel_run(self, app_id: str, run_id: str, now: float) -> AutomationRun | None:
        row = await self._fetchone(
            f"""
            WITH cancelled AS (
                UPDATE runs SET status = 'cancelled', updated_at = %(now)s, finished_at = %(now)s,
                    wake_at = NULL, waiting_for = NULL,
                    result = '{{"error": "run cancelled"}}', fence = fence + 1,
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = %(id)s AND app_id = %(app)s AND status IN ('pending', 'running')
                RETURNING {RUNS}
            ), dropped AS (
                DELETE FROM steps WHERE run_id IN (SELECT id FROM cancelled)
            )
            SELECT {RUNS} FROM cancelled
            UNION ALL
            SELECT {RUNS} FROM runs
            WHERE id = %(id)s AND app_id = %(app)s AND NOT EXISTS (SELECT FROM cancelled)
            """,
            {"now": now, "id": run_id, "app": app_id},
            idempotent=True,  # a second attempt finds the run cancelled and returns it
        )
        return run_record(row) if row else None

    async def _fetchall_write(self, query: str, params: Params) -> list[tuple[Any, ...]]:
        async def op(conn: Connection) -> list[tuple[Any, ...]]:
            return await (await conn.execute(query, params)).fetchall()

        return await self._call(op)

    # -- scheduling --------------------------------------------------------------------------

    async def record_fire(
        self, automation: Automation, *, expected_revision: int, runs: Sequence[AutomationRun]
    ) -> list[AutomationRun]:
        if not runs:
            await self.update_automation(automation, expected_revision=expected_revision)
            return []
        query, values = RECORD_FIRE.bind(runs)
        params = [*automation_params(automation), automation.id, automation.app_id, expected_revision, *values]

        async def op(conn: Connection) -> list[str]:
            row = await (await conn.execute(query, params)).fetchone()
            assert row is not None
            if not row[0]:
                await self._explain_missed_revision(conn, automation, expected_revision)
            return list(row[1])

        return _stored(runs, await self._call(op))

    async def changed_automations(self, since: float) -> list[Automation]:
        rows = await self._fetchall(f"SELECT {AUTOMATIONS} FROM automations WHERE updated_at >= %s", [since])
        return [automation_record(row) for row in rows]

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
        params: dict[str, Any] = {"worker": worker_id, "lease": lease, "limit": limit}
        if run_ids is None:
            rows = await self._fetchall_write(CLAIM, params)
        else:
            params["ids"] = list(run_ids)
            rows = await self._claims.fetchall(CLAIM_THESE, params, key=(min(run_ids),))
        return sorted((run_record(row) for row in rows), key=lambda run: run.id)

    async def renew_leases(self, worker_id: str, fences: Mapping[str, int], *, lease: float) -> set[str]:
        if not fences:
            return set()
        rows = await self._fetchall(
            """
            UPDATE runs SET lease_expires_at = extract(epoch FROM clock_timestamp()) + %s
            FROM unnest(%s::text[], %s::bigint[]) AS held (id, fence)
            WHERE runs.id = held.id AND runs.fence = held.fence
              AND runs.lease_owner = %s AND runs.status = 'running'
            RETURNING runs.id
            """,
            [lease, list(fences), list(fences.values()), worker_id],
        )
        return set(fences) - {row[0] for row in rows}

    async def release_run(
        self, run_id: str, fence: int, *, wake_at: float | None = None, waiting_for: dict[str, Any] | None = None
    ) -> None:
        # graphflow_park_run notifies only when the run is claimable now; a durable timer is found by the poll.
        row = await self._fetchone(
            "SELECT graphflow_park_run(%s, %s, %s, %s)",
            [run_id, fence, wake_at, jsonb(waiting_for, f"run {run_id!r} waiting_for")],
        )
        if not row or not row[0]:
            raise lease_lost(run_id, fence)

    async def save_step(self, run_id: str, fence: int, key: str, data: Any) -> None:
        # FOR SHARE makes the fence check exact: a concurrent claim or cancel (which changes the
        # fence) either commits first and this inserts nothing, or waits for this to commit.
        saved = await self._execute(
            """
            INSERT INTO steps (run_id, key, data)
            SELECT id, %s, %s FROM runs WHERE id = %s AND fence = %s FOR SHARE
            ON CONFLICT (run_id, key) DO UPDATE SET data = excluded.data
            """,
            [key, jsonb(data, f"step {key!r} of run {run_id!r}"), run_id, fence],
            idempotent=True,
        )
        if not saved:
            raise lease_lost(run_id, fence)

    async def save_memory(self, run_id: str, fence: int, memory: Any, *, step: tuple[str, Any] | None = None) -> None:
        # One statement: the run row (FOR SHARE: an exact fence check), the step, the memory.
        key, data = step if step is not None else (None, None)
        saved = await self._fetchone(
            """
            WITH owner AS (
                SELECT id, automation_id, app_id FROM runs WHERE id = %s AND fence = %s FOR SHARE
            ), step AS (
                INSERT INTO steps (run_id, key, data)
                SELECT id, %s, %s FROM owner WHERE %s::text IS NOT NULL
                ON CONFLICT (run_id, key) DO UPDATE SET data = excluded.data
                RETURNING 1
            ), remembered AS (
                INSERT INTO memories (automation_id, app_id, document, updated_at)
                SELECT owner.automation_id, owner.app_id, %s, extract(epoch FROM clock_timestamp())
                FROM owner JOIN automations ON automations.id = owner.automation_id
                ON CONFLICT (automation_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at
                RETURNING 1
            )
            SELECT EXISTS (SELECT FROM owner)
            """,
            [
                run_id,
                fence,
                key,
                jsonb(data, f"step {key!r} of run {run_id!r}") if step is not None else None,
                key,
                jsonb(memory, f"memory of run {run_id!r}"),
            ],
        )
        if not saved or not saved[0]:
            raise lease_lost(run_id, fence)

    async def get_memory(self, app_id: str, automation_id: str) -> Any:
        row = await self._fetchone(
            "SELECT document FROM memories WHERE automation_id = %s AND app_id = %s",
            [automation_id, app_id],
            idempotent=True,
        )
        return row[0] if row else None

    async def load_steps(self, run_id: str) -> dict[str, Any]:
        rows = await self._fetchall("SELECT key, data FROM steps WHERE run_id = %s", [run_id])
        return dict(rows)

    # -- retention -------------------------------------------------------------------------

    async def prune(self, before: float) -> int:
        deleted = 0
        while True:
            row = await self._fetchone(
                """
                WITH doomed AS (
                    DELETE FROM runs WHERE id IN (
                        SELECT id FROM runs
                        WHERE status IN ('completed', 'failed', 'cancelled') AND finished_at < %s
                        LIMIT %s
                    )
                    RETURNING id
                ), dropped AS (
                    DELETE FROM steps WHERE run_id IN (SELECT id FROM doomed)
                )
                SELECT count(*) FROM doomed
                """,
                [before, _PRUNE_BATCH],
            )
            batch = row[0] if row else 0
            deleted += batch
            if batch < _PRUNE_BATCH:
                break
        while True:
            forgotten = await self._execute(
                """
                DELETE FROM events WHERE (app_id, event_id) IN (
                    SELECT app_id, event_id FROM events WHERE accepted_at < %s LIMIT %s
                )
                """,
                [before, _PRUNE_BATCH],
                idempotent=True,
            )
            if forgotten < _PRUNE_BATCH:
                break
        while True:
            trimmed = await self._execute(
                "DELETE FROM stream_events WHERE seq IN (SELECT seq FROM stream_events WHERE at < %s LIMIT %s)",
                [before, _PRUNE_BATCH],
                idempotent=True,
            )
            if trimmed < _PRUNE_BATCH:
                break
        while True:  # admissions older than any throttle window
            slots = await self._execute(
                "DELETE FROM flow_slots WHERE ctid IN (SELECT ctid FROM flow_slots WHERE at < %s LIMIT %s)",
                [before - MAX_FLOW_PERIOD, _PRUNE_BATCH],
                idempotent=True,
            )
            if slots < _PRUNE_BATCH:
                return deleted

    # -- the event log (appended by the schema's triggers: see postgres_schema) ---------------

    async def read_events(
        self,
        app_id: str,
        *,
        after: int,
        limit: int,
        run_id: str | None = None,
        types: frozenset[str] | None = None,
    ) -> list[StreamEvent]:
        """The app's events with ``seq > after``, oldest first (see :meth:`Store.read_events`).

        Only events whose transaction is older than every transaction still in progress on the
        server are returned: an event whose transaction is still open holds back every event of
        a younger transaction until it commits (then it comes first) or rolls back (then it
        never appears), so a reader resuming after a ``seq`` never misses one below it. The
        caveat: any long-open transaction that wrote on the server — graphflow's or not, in this
        database or another, a prepared one too — delays every stream until it ends. It never
        loses an event. Committed events held back behind a transaction in progress are waited
        for up to half a second (short transactions end sooner), so a caller reads its own
        writes while other processes write too.
        """
        where, params = "app_id = %s AND seq > %s", [app_id, after]
        if run_id is not None:
            where, params = where + " AND run_id = %s", [*params, run_id]
        if types is not None:
            where, params = where + " AND type = ANY(%s::text[])", [*params, sorted(types)]
        query = f"SELECT {STREAM_EVENT_COLUMNS}, {LOG_DECIDED} FROM stream_events WHERE {where} ORDER BY seq LIMIT %s"

        async def read() -> tuple[list[StreamEvent], bool]:
            rows = await self._fetchall(query, [*params, limit])
            # seq orders by transaction id, so the events held back are the last ones read
            decided = [StreamEvent(*row[:-1]) for row in itertools.takewhile(lambda row: row[-1], rows)]
            return decided, len(decided) < len(rows)

        return await _while_held_back(read)

    async def last_event_seq(self, app_id: str) -> int:
        """The newest ``seq`` :meth:`read_events` can return now (the same visibility rule)."""

        async def read() -> tuple[int, bool]:
            row = await self._fetchone(
                f"""
                WITH last AS (
                    SELECT coalesce(max(seq), 0) AS seq FROM stream_events WHERE app_id = %(app)s AND {LOG_DECIDED}
                )
                SELECT last.seq, EXISTS (SELECT FROM stream_events WHERE app_id = %(app)s AND seq > last.seq)
                FROM last
                """,
                {"app": app_id},
                idempotent=True,
            )
            return (int(row[0]), bool(row[1])) if row else (0, False)

        return await _while_held_back(read)

    async def wait_for_events(self, timeout: float) -> None:
        """Return on a ``graphflow_events`` notification for this schema (from any process), or after ``timeout``.

        The LISTEN connection is opened by the first call (processes that never stream events
        hold none), which then returns at once: an event appended before the LISTEN took effect
        is found by the caller's next read. Without the connection this sleeps. Behind a
        transaction pooler the newest ``seq`` is read every quarter second instead.
        """
        if self._pool is None:
            await anyio.sleep(timeout)
            return
        if self._appended is None:
            if self._pooled:
                self._appended = ChangePoller(self._newest_seq, interval=_EVENTS_POLL)
            else:
                self._appended = WorkListener(self._connect, EVENTS_CHANNEL, self._listen_schema)
            await self._appended.open()
            return
        await self._appended.wait(timeout)

    async def _newest_seq(self) -> object:
        return await self._fetchone("SELECT max(seq) FROM stream_events", idempotent=True)

    # -- API keys ----------------------------------------------------------------------------

    async def create_api_key(self, key: ApiKey, secret_hash: str) -> None:
        await self._execute(
            f"INSERT INTO api_keys ({API_KEY_COLUMNS}, secret_hash) VALUES (%s, %s, %s, %s, %s, %s)",
            [key.id, key.app_id, key.name, key.created_at, key.revoked_at, secret_hash],
        )

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        row = await self._fetchone(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE secret_hash = %s", [secret_hash], idempotent=True
        )
        return ApiKey(*row) if row else None

    async def list_api_keys(self, app_id: str) -> list[ApiKey]:
        rows = await self._fetchall(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE app_id = %s ORDER BY created_at, id", [app_id]
        )
        return [ApiKey(*row) for row in rows]

    async def revoke_api_key(self, app_id: str, key_id: str, now: float) -> ApiKey | None:
        row = await self._fetchone(
            f"""
            WITH revoked AS (
                UPDATE api_keys SET revoked_at = %(now)s
                WHERE id = %(id)s AND app_id = %(app)s AND revoked_at IS NULL
                RETURNING {API_KEY_COLUMNS}
            )
            SELECT {API_KEY_COLUMNS} FROM revoked
            UNION ALL
            SELECT {API_KEY_COLUMNS} FROM api_keys
            WHERE id = %(id)s AND app_id = %(app)s AND NOT EXISTS (SELECT FROM revoked)
            """,
            {"now": now, "id": key_id, "app": app_id},
            idempotent=True,
        )
        return ApiKey(*row) if row else None

    # -- LISTEN/NOTIFY ---------------------------------------------------------------------

    async def wait_for_work(self, timeout: float) -> None:
        """Return on a ``graphflow_work`` notification for this schema, or after ``timeout``.

        A hint (see :class:`~graphflow.stores.postgres_listen.WorkListener`); without a working
        LISTEN connection, and always behind a transaction pooler, this sleeps.
        """
        if self._wakeups is None:
            await anyio.sleep(timeout)
        else:
            await self._wakeups.wait(timeout)


async def _while_held_back(read: Callable[[], Awaitable[tuple[T, bool]]]) -> T:
    """``read()``'s result, read again while it says committed events are held back, up to a bound.

    Events held back behind a transaction still in progress are usually released within
    milliseconds, when it commits: waiting that long lets a caller read the events it has just
    written. A long-open transaction ends the wait after :data:`_HELD_BACK_WAIT` seconds, and
    the read returns what is decided.
    """
    deadline, pause = time.monotonic() + _HELD_BACK_WAIT, 0.001
    while True:
        result, held_back = await read()
        if not held_back or time.monotonic() >= deadline:
            return result
        await anyio.sleep(pause)
        pause = min(2 * pause, 0.05)


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq conninfo and graphflow's query parameters of a URL (``schema``, ``pgbouncer``: libpq rejects them)."""
    if "://" not in url:
        return url, {}  # a key=value conninfo string
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {key: value for key, value in query if key in ("schema", "pgbouncer")}
    query_text = urlencode([(key, value) for key, value in query if key not in options]) if options else parts.query
    # libpq knows postgresql:// and postgres://, not SQLAlchemy-style postgresql+psycopg://.
    return urlunsplit(("postgresql", parts.netloc, parts.path, query_text, parts.fragment)), options


def _check_pool_mode(mode: str | None) -> None:
    if mode == "statement":
        raise ValueError(
            "PgBouncer's statement pooling cannot run graphflow: it needs transactions of several statements "
            "(migrations, flow control, waits); use pool_mode = transaction or session for its database entry"
        )
    if mode is not None and mode not in _POOL_MODES:
        raise ValueError(f"pgbouncer must be 'session' or 'transaction' (PgBouncer's pool_mode), not {mode!r}")


def _redact(url: str) -> str:
    """The URL or conninfo string with its password hidden, wherever libpq accepts one."""
    return re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]+)", r"\1***", redact_url(url))


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """Whether the error means the connection is gone (not a timeout, lock or resource error)."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]


class _Duplicate(Exception):
    """The event was accepted before: roll the flow decisions back."""


def _stored(runs: Iterable[AutomationRun], ids: Iterable[str]) -> list[AutomationRun]:
    """The runs whose ids the database reports stored, in the order given, each once."""
    stored = set(ids)
    out = []
    for run in runs:
        if run.id in stored:
            stored.discard(run.id)
            out.append(run)
    return out
