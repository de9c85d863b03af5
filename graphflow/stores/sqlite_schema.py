"""The SQLite store's schema: versioned migrations, and how records map onto rows.

The migrations are applied in order by ``SQLiteStore.start``.

Each migration is a tuple of statements (not a script: ``executescript`` would commit half-way,
and a migration must apply entirely or not at all). Never edit a released migration; append a
new one. ``SCHEMA_VERSION`` is the number of migrations; a database whose ``schema_version`` is
higher was written by a newer graphflow and is refused.

Layout, and why:

* ``runs`` — one column per record field, so that what is queried or written alone (status,
  lease, fence, timers) is a column; ``payload``, ``result`` and ``journal`` are JSON text.
  ``UNIQUE (automation_id, scheduled_at)`` makes each scheduled occurrence fire once (NULLs
  never clash, so event runs are not constrained). Indexes: ``runs_claim`` (status, wake_at, id)
  serves claims — pending runs without a timer come out in id order, due timers by range —,
  ``runs_listing`` (automation_id, id) the newest-first pages, ``runs_finished`` the prune.
* ``steps`` — a run's checkpoints, ``(run_id, key)`` → JSON; they go with their run
  (``ON DELETE CASCADE``).
* ``events`` — accepted event ids, unique per app: the dedupe is this primary key.
* ``automations`` — the indexed fields as columns (``UNIQUE (app_id, lookup_key)``, where NULL
  keys never clash; ``revision`` for compare-and-set; ``updated_at`` for cross-process sync)
  and the whole record as JSON.
* ``configs`` — one row per version, the document as JSON.
* ``stream_events`` (version 3) — the apps' event log. ``seq`` is an ``AUTOINCREMENT`` key: never
  reused, even after a prune removed the newest rows, and, SQLite having one writer, assigned in
  commit order. The rows are written by **triggers** on ``configs``, ``automations``, ``runs`` and
  ``steps``, so every write appends its events in its own statement's transaction, whichever
  method (or process, or graphflow version with this schema) made it. An automation write is
  told from an outcome write by ``UPDATE OF revision`` (outcomes never set it).
  A checkpoint's ``run.node_completed`` event is not a row of its own (that would double a
  checkpoint's cost): the store logs a run's checkpoints in batches, each batch one row of
  ``span`` n covering the n sequence numbers ``seq`` … ``seq + n - 1`` (``sqlite_sequence`` is
  advanced past them), one event per checkpoint when read (see ``SQLiteStore.save_step``).
* ``api_keys`` (version 3) — keys by id, the secret's SHA-256 hex unique.
"""

from __future__ import annotations

import operator
from dataclasses import fields
from typing import Any

from graphflow.records import Automation, AutomationRun, ConfigRecord, Repeat, StreamEvent
from graphflow.stores.base import decode_json, encode_json

__all__ = [
    "API_KEY_COLUMNS",
    "CONFIG_COLUMNS",
    "MIGRATIONS",
    "NOW",
    "RUN_COLUMNS",
    "RUN_FIELDS",
    "SCHEMA_VERSION",
    "STREAM_EVENT_COLUMNS",
    "automation_from_data",
    "automation_row",
    "config_from_row",
    "decode_json",
    "encode_json",
    "run_from_row",
    "run_row",
    "stream_events_from_row",
]

_V1 = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE configs (
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        app_id TEXT NOT NULL,
        name TEXT NOT NULL,
        document TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (id, version)
    )""",
    "CREATE INDEX configs_app ON configs (app_id, id)",
    """CREATE TABLE automations (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        lookup_key TEXT,
        status TEXT NOT NULL,
        type TEXT NOT NULL,
        "trigger" TEXT,
        revision INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (app_id, lookup_key)
    )""",
    "CREATE INDEX automations_app ON automations (app_id, id)",
    "CREATE INDEX automations_status ON automations (status, type)",
    "CREATE INDEX automations_updated ON automations (updated_at)",
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        automation_id TEXT NOT NULL,
        app_id TEXT NOT NULL,
        "trigger" TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        config_id TEXT,
        config_version INTEGER,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        event_id TEXT,
        scheduled_at REAL,
        started_at REAL,
        finished_at REAL,
        result TEXT,
        journal TEXT NOT NULL,
        run_as_user_id TEXT,
        lease_owner TEXT,
        lease_expires_at REAL,
        fence INTEGER NOT NULL DEFAULT 0,
        recoveries INTEGER NOT NULL DEFAULT 0,
        wake_at REAL,
        UNIQUE (automation_id, scheduled_at)
    )""",
    "CREATE INDEX runs_claim ON runs (status, wake_at, id)",
    "CREATE INDEX runs_listing ON runs (automation_id, id)",
    "CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL",
    """CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        "key" TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, "key")
    ) WITHOUT ROWID""",
    """CREATE TABLE events (
        app_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (app_id, event_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX events_created ON events (created_at)",
)

#: 2: the causation of runs started by events that runs emitted.
_V2 = ("ALTER TABLE runs ADD COLUMN causation TEXT",)

#: The store's clock in SQL stored in the schema (``unixepoch('subsec')`` needs SQLite 3.42; this any version).
NOW = "((julianday('now') - 2440587.5) * 86400.0)"
_NOW = NOW
_LOG = "INSERT INTO stream_events (app_id, type, at, automation_id, run_id, config_id, data)"
_RUN_DATA = (
    "CASE WHEN NEW.status IN ('failed', 'cancelled') AND json_extract(NEW.result, '$.error') IS NOT NULL "
    "THEN json_object('status', NEW.status, 'error', CAST(json_extract(NEW.result, '$.error') AS TEXT)) "
    "WHEN NEW.status = 'pending' THEN json_object('status', NEW.status, 'wake_at', NEW.wake_at) "
    "ELSE json_object('status', NEW.status) END"
)

#: 3: the apps' event log (written by triggers), API keys; ``last_error`` lives in automations' JSON.
_V3 = (
    """CREATE TABLE stream_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        app_id TEXT NOT NULL,
        type TEXT NOT NULL,
        at REAL NOT NULL,
        automation_id TEXT,
        run_id TEXT,
        config_id TEXT,
        data TEXT NOT NULL,
        span INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE INDEX stream_events_app ON stream_events (app_id, seq)",
    "CREATE INDEX stream_events_run ON stream_events (run_id, seq) WHERE run_id IS NOT NULL",
    """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        name TEXT,
        created_at REAL NOT NULL,
        revoked_at REAL,
        secret_hash TEXT NOT NULL UNIQUE
    )""",
    "CREATE INDEX api_keys_app ON api_keys (app_id, created_at)",
    f"""CREATE TRIGGER configs_log_insert AFTER INSERT ON configs BEGIN
        {_LOG} VALUES (NEW.app_id, CASE WHEN NEW.version = 1 THEN 'config.created' ELSE 'config.updated' END,
            {_NOW}, NULL, NULL, NEW.id, json_object('version', NEW.version));
    END""",
    # Deleting a config deletes every version; the event is appended once, with the last one.
    f"""CREATE TRIGGER configs_log_delete AFTER DELETE ON configs
    WHEN NOT EXISTS (SELECT 1 FROM configs WHERE id = OLD.id) BEGIN
        {_LOG} VALUES (OLD.app_id, 'config.deleted', {_NOW}, NULL, NULL, OLD.id, '{{}}');
    END""",
    f"""CREATE TRIGGER automations_log_insert AFTER INSERT ON automations BEGIN
        {_LOG} VALUES (NEW.app_id, 'automation.created', {_NOW}, NEW.id, NULL, NULL,
            json_object('status', NEW.status));
    END""",
    f"""CREATE TRIGGER automations_log_update AFTER UPDATE OF revision ON automations BEGIN
        {_LOG} VALUES (NEW.app_id,
            CASE WHEN OLD.status IN ('draft', 'paused') AND NEW.status = 'running' THEN 'automation.activated'
                 WHEN OLD.status = 'running' AND NEW.status = 'paused' THEN 'automation.paused'
                 WHEN OLD.status = 'paused' AND NEW.status = 'draft' THEN 'automation.reset'
                 ELSE 'automation.updated' END,
            {_NOW}, NEW.id, NULL, NULL, json_object('status', NEW.status, 'previous_status', OLD.status));
    END""",
    f"""CREATE TRIGGER automations_log_delete AFTER DELETE ON automations BEGIN
        {_LOG} VALUES (OLD.app_id, 'automation.deleted', {_NOW}, OLD.id, NULL, NULL, '{{}}');
    END""",
    f"""CREATE TRIGGER runs_log_insert AFTER INSERT ON runs BEGIN
        {_LOG} VALUES (NEW.app_id, 'run.created', {_NOW}, NEW.automation_id, NEW.id, NULL,
            json_object('status', NEW.status));
    END""",
    # A status change, or a claim of a run whose worker died (running → running, new fence).
    f"""CREATE TRIGGER runs_log_update AFTER UPDATE OF status, fence ON runs
    WHEN NEW.status IS NOT OLD.status OR (NEW.status = 'running' AND NEW.fence <> OLD.fence) BEGIN
        {_LOG} VALUES (NEW.app_id,
            CASE NEW.status WHEN 'running' THEN 'run.started' WHEN 'pending' THEN 'run.waiting'
                 ELSE 'run.' || NEW.status END,
            {_NOW}, NEW.automation_id, NEW.id, NULL, {_RUN_DATA});
    END""",
    # A checkpoint's run.node_completed event is batched by the store (SQLiteStore.save_step): a
    # separate row per checkpoint would double its cost. Until then the step is "unlogged":
    # unlogged_at holds when it was saved (ns), the order its event takes.
    "ALTER TABLE steps ADD COLUMN unlogged_at INTEGER",
)

_RUN_DATA_V4 = (
    "CASE WHEN NEW.status IN ('failed', 'cancelled') AND json_extract(NEW.result, '$.error') IS NOT NULL "
    "THEN json_object('status', NEW.status, 'error', CAST(json_extract(NEW.result, '$.error') AS TEXT)) "
    "WHEN NEW.status = 'pending' THEN json_object('status', NEW.status, 'wake_at', NEW.wake_at, "
    "'waiting_for', json(NEW.waiting_for)) "
    "ELSE json_object('status', NEW.status) END"
)
_WAIT_LOG = "json_object('request_id', NEW.id, 'node_id', json_extract(NEW.data, '$.node_id'), 'status', NEW.status"

#: 4: runs parked on waits — steering requests and event waits (``waits``), what a parked run
#: waits for (``runs.waiting_for``); a run that ends cancels its pending waits; steering events
#: in the log; an index for finding a run by its event id (idempotent invokes); automations'
#: memory documents (``memories``, deleted with their automation).
_V4 = (
    "ALTER TABLE runs ADD COLUMN waiting_for TEXT",
    """CREATE TABLE waits (
        id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        automation_id TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL,
        event TEXT,
        resolved_at REAL,
        resolved_fence INTEGER,
        data TEXT NOT NULL,
        UNIQUE (run_id, step_key)
    )""",
    "CREATE INDEX waits_app ON waits (app_id, kind, id)",
    "CREATE INDEX waits_event ON waits (app_id, event) WHERE status = 'pending' AND kind = 'event'",
    "CREATE INDEX runs_event ON runs (app_id, event_id) WHERE event_id IS NOT NULL",
    """CREATE TABLE memories (
        automation_id TEXT PRIMARY KEY REFERENCES automations (id) ON DELETE CASCADE,
        app_id TEXT NOT NULL,
        document TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "DROP TRIGGER runs_log_update",
    f"""CREATE TRIGGER runs_log_update AFTER UPDATE OF status, fence ON runs
    WHEN NEW.status IS NOT OLD.status OR (NEW.status = 'running' AND NEW.fence <> OLD.fence) BEGIN
        {_LOG} VALUES (NEW.app_id,
            CASE NEW.status WHEN 'running' THEN 'run.started' WHEN 'pending' THEN 'run.waiting'
                 ELSE 'run.' || NEW.status END,
            {_NOW}, NEW.automation_id, NEW.id, NULL, {_RUN_DATA_V4});
    END""",
    """CREATE TRIGGER runs_end_waits AFTER UPDATE OF status ON runs
    WHEN NEW.status IN ('completed', 'failed', 'cancelled') AND OLD.status IN ('pending', 'running') BEGIN
        UPDATE waits SET status = 'cancelled' WHERE run_id = NEW.id AND status = 'pending';
    END""",
    f"""CREATE TRIGGER waits_log_insert AFTER INSERT ON waits WHEN NEW.kind = 'steering' BEGIN
        {_LOG} VALUES (NEW.app_id, 'steering.requested', {_NOW}, NEW.automation_id, NEW.run_id, NULL,
            {_WAIT_LOG}));
    END""",
    f"""CREATE TRIGGER waits_log_update AFTER UPDATE OF status ON waits
    WHEN NEW.kind = 'steering' AND NEW.status IS NOT OLD.status BEGIN
        {_LOG} VALUES (NEW.app_id, 'steering.' || NEW.status, {_NOW}, NEW.automation_id, NEW.run_id, NULL,
            CASE WHEN NEW.status = 'answered'
                 THEN {_WAIT_LOG}, 'choice', json_extract(NEW.data, '$.resolution.choice'))
                 ELSE {_WAIT_LOG}) END);
    END""",
)

#: 5: event flow control — a run's flow key (``runs.flow_key``; active runs by key are counted
#: for concurrency limits, a debounce holder is found by it), throttle admissions
#: (``flow_slots``: one row per run admitted, by automation and key, with its run: a run cancelled
#: before it started gives its slot back); result delivery
#: (``runs.delivery``, due retries indexed); a run's trace context (``runs.trace_context``).
_V5 = (
    "ALTER TABLE runs ADD COLUMN flow_key TEXT",
    "ALTER TABLE runs ADD COLUMN delivery TEXT",
    "ALTER TABLE runs ADD COLUMN trace_context TEXT",
    "CREATE INDEX runs_flow ON runs (automation_id, flow_key, id) "
    "WHERE flow_key IS NOT NULL AND status IN ('pending', 'running')",
    # The active runs of a key (what a concurrency limit counts) and its queue, apart: counting
    # never reads the queue, however long it is. 253402300800 is QUEUED_AT (graphflow.records).
    "CREATE INDEX runs_flow_active ON runs (automation_id, flow_key) "
    "WHERE flow_key IS NOT NULL AND status IN ('pending', 'running') AND wake_at IS NOT 253402300800",
    "CREATE INDEX runs_flow_queue ON runs (automation_id, flow_key, created_at, id) "
    "WHERE status = 'pending' AND wake_at = 253402300800",
    "CREATE INDEX runs_delivery_due ON runs (json_extract(delivery, '$.next_at')) "
    "WHERE json_extract(delivery, '$.status') = 'pending'",
    """CREATE TABLE flow_slots (
        automation_id TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        at REAL NOT NULL,
        run_id TEXT NOT NULL
    )""",
    "CREATE INDEX flow_slots_key ON flow_slots (automation_id, key, at)",
)

#: Every migration, oldest first; migration ``n`` (1-based) brings the schema to version ``n``.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5)

#: The schema version this graphflow writes.
SCHEMA_VERSION = len(MIGRATIONS)


# -- records <-> rows ------------------------------------------------------------------------

#: The ``runs`` columns, named and ordered like the fields of ``AutomationRun``.
RUN_FIELDS = tuple(f.name for f in fields(AutomationRun))
RUN_COLUMNS = ", ".join(f'"{name}"' for name in RUN_FIELDS)
CONFIG_COLUMNS = "id, app_id, version, name, document, created_at, updated_at"  # ConfigRecord's order
STREAM_EVENT_COLUMNS = "seq, app_id, type, at, automation_id, run_id, config_id, data"  # StreamEvent's order
API_KEY_COLUMNS = "id, app_id, name, created_at, revoked_at"  # ApiKey's order
_run_values = operator.attrgetter(*RUN_FIELDS)
_PAYLOAD, _RESULT, _JOURNAL = (RUN_FIELDS.index(name) for name in ("payload", "result", "journal"))
#: The run's JSON columns that may be ``NULL``.
_OPTIONAL_JSON = tuple(
    RUN_FIELDS.index(name) for name in ("result", "causation", "waiting_for", "delivery", "trace_context")
)
_AUTOMATION_FIELDS = tuple(f.name for f in fields(Automation))


def run_row(run: AutomationRun) -> list[Any]:
    """The values of a ``runs`` row (``RUN_COLUMNS`` order)."""
    values = list(_run_values(run))
    values[_PAYLOAD] = encode_json(values[_PAYLOAD], f"run {run.id!r} payload")
    values[_JOURNAL] = encode_json(values[_JOURNAL], f"run {run.id!r} journal")
    for index in _OPTIONAL_JSON:
        if values[index] is not None:
            values[index] = encode_json(values[index], f"run {run.id!r} {RUN_FIELDS[index]}")
    return values


def run_from_row(row: tuple[Any, ...]) -> AutomationRun:
    """A fresh run from a row selected as ``RUN_COLUMNS``."""
    values = list(row)
    values[_PAYLOAD] = decode_json(values[_PAYLOAD])
    values[_JOURNAL] = decode_json(values[_JOURNAL])
    for index in _OPTIONAL_JSON:
        if values[index] is not None:
            values[index] = decode_json(values[index])
    return AutomationRun(*values)


def automation_row(automation: Automation) -> tuple[Any, ...]:
    """``(lookup_key, status, type, trigger, revision, updated_at, data, id, app_id)``.

    ``data`` is the whole record as JSON; the other columns are there to be indexed and matched.
    """
    data = {name: getattr(automation, name) for name in _AUTOMATION_FIELDS}
    data["repeat"] = {"times": automation.repeat.times, "completed": automation.repeat.completed}
    return (
        automation.lookup_key,
        automation.status,
        automation.type,
        automation.trigger,
        automation.revision,
        automation.updated_at,
        encode_json(data, f"automation {automation.id!r}"),
        automation.id,
        automation.app_id,
    )


def automation_from_data(text: str) -> Automation:
    """A fresh automation from its ``data`` column."""
    data = decode_json(text)
    data["repeat"] = Repeat(**data["repeat"])
    return Automation(**data)


def config_from_row(row: tuple[Any, ...]) -> ConfigRecord:
    """A fresh config version from a row selected as ``CONFIG_COLUMNS``."""
    return ConfigRecord(row[0], row[1], row[2], row[3], decode_json(row[4]), row[5], row[6])


def stream_events_from_row(row: tuple[Any, ...], after: int) -> list[StreamEvent]:
    """The events (those after ``after``) of a row selected as ``STREAM_EVENT_COLUMNS, span``.

    A row is one event, except a batch of node events (``data = {"status", "keys"}``): one
    ``run.node_completed`` event per key, numbered from the row's ``seq``.
    """
    seq, app_id, type, at, automation_id, run_id, config_id, text, _span = row
    data = decode_json(text)
    if "keys" not in data or type != "run.node_completed":
        return [StreamEvent(seq, app_id, type, at, automation_id, run_id, config_id, data)] if seq > after else []
    status = data.get("status")
    return [
        StreamEvent(seq + index, app_id, type, at, automation_id, run_id, config_id, {"status": status, "key": key})
        for index, key in enumerate(data["keys"])
        if seq + index > after
    ]
