"""The SQL of :class:`~graphflow.stores.postgres.PostgresStore`: tables, rows and statements.

The tables come from numbered migrations (:data:`MIGRATIONS`; the schema version is their
count). Records map to rows column for column, in the dataclasses' field order, so a row
becomes a record positionally (``tests/stores/test_postgres.py`` checks that the tables and the
dataclasses agree). The statements that do several things at once (accept an event and store
its runs, fire a schedule, claim runs) are built here, once, and explained where they are built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from graphflow.exceptions import SchemaVersionError, StoreError
from graphflow.records import Automation, AutomationRun, ConfigRecord, Repeat
from graphflow.stores.base import encode_json

__all__ = [
    "ACCEPT_EVENT",
    "ACCEPT_EVENT_OFFER",
    "API_KEY_COLUMNS",
    "AUTOMATIONS",
    "AUTOMATION_COLUMNS",
    "CHANNEL",
    "CLAIM",
    "CLAIM_THESE",
    "CONFIGS",
    "CONFIG_COLUMNS",
    "CONFLICTS",
    "EVENTS_CHANNEL",
    "FINISH_RUN",
    "FINISH_RUN_FENCED",
    "INSERT_RUNS",
    "LOG_DECIDED",
    "LOG_POSITION_BITS",
    "MIGRATIONS",
    "NOTIFY",
    "PENDING",
    "RECORD_FIRE",
    "RUNS",
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "STREAM_EVENT_COLUMNS",
    "UPDATE_AUTOMATION",
    "UPDATE_RUN",
    "UPDATE_RUN_FENCED",
    "RunsStatement",
    "automation_params",
    "automation_record",
    "config_params",
    "config_record",
    "migrate",
    "outcome_params",
    "placeholders",
    "run_record",
    "run_write_params",
]

#: The NOTIFY channel of work that became claimable; the payload is the store's schema.
CHANNEL = "graphflow_work"
#: The NOTIFY channel of events appended to the event log; the payload is the store's schema.
EVENTS_CHANNEL = "graphflow_events"
#: The schema version this graphflow writes (the last migration's number).
SCHEMA_VERSION = 6
#: First key of the event log's advisory lock ("gfle") in migration 3 (migration 4 removed the lock).
_LOG_LOCK_CLASS = 0x67666C65
#: Bits of a ``seq`` below its transaction id: the position of the event in its transaction.
LOG_POSITION_BITS = 20

# Version 4 appends without a lock, so concurrent writers no longer commit one after another.
#
# Each event records its transaction (``xid``), and its ``seq`` is made of that transaction's id
# and the event's position in it: ``base + (xid << LOG_POSITION_BITS) + position``, where
# ``base`` is the largest seq of version 3 (baked in by the migration, so seq never goes back).
# Readers return only the events of transactions older than every transaction still in progress
# (``xid < pg_snapshot_xmin(pg_current_snapshot())``): those transactions are all decided, so
# every event with a smaller seq — of the same or an older transaction — is either visible to the
# reader or rolled back, and nothing can later appear below a seq a reader has seen. A plain
# sequence would not do: a transaction's id is assigned at its first write, its seq later, so a
# transaction with an older id can take a larger seq than a younger one and commit first; the
# xmin rule would show its event while the younger one's smaller seq is still to come.
# The position counter lives in a transaction-local setting (reset at commit, and with the rows
# at a rollback); ``%1$s`` is the base, filled in by the migration with format().
# A node event (one per checkpoint) sends no NOTIFY: PostgreSQL makes the commits of transactions
# that notified take turns, which halved concurrent checkpoints; readers see node events with the
# next status event of any run or at their next poll (the wake-up is a hint, never needed).
_V4_LOG = f"""
    CREATE OR REPLACE FUNCTION graphflow_log(app text, kind text, automation text, run text, config text, body jsonb)
    RETURNS void LANGUAGE plpgsql AS $fn$
    DECLARE
        tx xid8 := pg_current_xact_id();
        place bigint := coalesce(nullif(current_setting('graphflow.log_position', true), ''), '0')::bigint;
    BEGIN
        IF place >= {1 << LOG_POSITION_BITS} THEN
            RAISE EXCEPTION 'graphflow''s event log takes at most {1 << LOG_POSITION_BITS} events per transaction'
                USING HINT = 'split the write into several transactions';
        END IF;
        PERFORM set_config('graphflow.log_position', (place + 1)::text, true);
        INSERT INTO stream_events (seq, xid, app_id, type, at, automation_id, run_id, config_id, data)
        VALUES (%1$s + (tx::text::bigint << {LOG_POSITION_BITS}) + place, tx,
                app, kind, extract(epoch FROM clock_timestamp()), automation, run, config, body);
        IF kind <> 'run.node_completed' THEN
            PERFORM pg_notify('{EVENTS_CHANNEL}', current_schema());
        END IF;
    END $fn$;
"""

#: The events a reader may return: those of transactions older than any still in progress
#: (``pg_current_snapshot()`` is the statement's own snapshot, so every such event that
#: committed is visible to it).
LOG_DECIDED = "xid < pg_snapshot_xmin(pg_current_snapshot())"

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE schema_version (
        version integer PRIMARY KEY,
        applied_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp())
    );
    CREATE TABLE configs (
        id text COLLATE "C" NOT NULL,
        app_id text NOT NULL,
        version integer NOT NULL,
        name text NOT NULL,
        document jsonb NOT NULL,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        CONSTRAINT configs_version_taken PRIMARY KEY (id, version)
    );
    CREATE INDEX configs_by_app ON configs (app_id, id);
    CREATE TABLE automations (
        id text COLLATE "C" PRIMARY KEY,
        app_id text NOT NULL,
        name text NOT NULL,
        type text NOT NULL,
        status text NOT NULL,
        config_id text,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        description text,
        trigger text,
        schedule text,
        schedule_kind text,
        schedule_display text,
        timezone text NOT NULL,
        run_as_user_id text,
        lookup_key text,
        metadata jsonb NOT NULL,
        overlap text NOT NULL,
        catchup text NOT NULL,
        misfire_grace double precision NOT NULL,
        max_catchup_runs integer NOT NULL,
        jitter double precision NOT NULL,
        next_run_at double precision,
        last_run_at double precision,
        last_run_status text,
        paused_reason text,
        revision integer NOT NULL,
        repeat_times integer,
        repeat_completed integer NOT NULL,
        CONSTRAINT automations_lookup_key_taken UNIQUE (app_id, lookup_key)
    );
    CREATE INDEX automations_by_app ON automations (app_id, id);
    CREATE INDEX automations_running ON automations (type) WHERE status = 'running';
    CREATE INDEX automations_by_change ON automations (updated_at);
    CREATE TABLE runs (
        id text COLLATE "C" PRIMARY KEY,
        automation_id text COLLATE "C" NOT NULL,
        app_id text NOT NULL,
        trigger text NOT NULL,
        payload jsonb,
        status text NOT NULL,
        config_id text,
        config_version integer,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        event_id text,
        scheduled_at double precision,
        started_at double precision,
        finished_at double precision,
        result jsonb,
        journal jsonb NOT NULL,
        run_as_user_id text,
        lease_owner text,
        lease_expires_at double precision,
        fence bigint NOT NULL,
        recoveries integer NOT NULL,
        wake_at double precision,
        CONSTRAINT runs_occurrence_fired UNIQUE (automation_id, scheduled_at)
    );
    CREATE INDEX runs_by_automation ON runs (automation_id, id);
    CREATE INDEX runs_fresh ON runs (id) WHERE status = 'pending' AND wake_at IS NULL;
    CREATE INDEX runs_timers ON runs (wake_at) WHERE status = 'pending' AND wake_at IS NOT NULL;
    CREATE INDEX runs_leased ON runs (lease_expires_at) WHERE status = 'running';
    CREATE INDEX runs_finished ON runs (finished_at) WHERE status IN ('completed', 'failed', 'cancelled');
    CREATE TABLE events (
        app_id text NOT NULL,
        event_id text NOT NULL,
        name text NOT NULL,
        accepted_at double precision NOT NULL,
        CONSTRAINT events_accepted_once PRIMARY KEY (app_id, event_id)
    );
    CREATE INDEX events_by_age ON events (accepted_at);
    CREATE TABLE steps (
        run_id text COLLATE "C" NOT NULL,
        key text NOT NULL,
        data jsonb NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    """,
    # 2: the causation of runs started by events that runs emitted.
    "ALTER TABLE runs ADD COLUMN causation jsonb;",
    # 3: the apps' event log, written by triggers (see _V3_LOG below); API keys; last_error.
    f"""
    ALTER TABLE automations ADD COLUMN last_error text;
    CREATE TABLE stream_events (
        seq bigserial PRIMARY KEY,
        app_id text NOT NULL,
        type text NOT NULL,
        at double precision NOT NULL,
        automation_id text,
        run_id text COLLATE "C",
        config_id text,
        data jsonb NOT NULL
    );
    CREATE INDEX stream_events_by_app ON stream_events (app_id, seq);
    CREATE INDEX stream_events_by_run ON stream_events (run_id, seq) WHERE run_id IS NOT NULL;
    CREATE INDEX stream_events_by_age ON stream_events (at);
    CREATE TABLE api_keys (
        id text COLLATE "C" PRIMARY KEY,
        app_id text NOT NULL,
        name text,
        created_at double precision NOT NULL,
        revoked_at double precision,
        secret_hash text NOT NULL,
        CONSTRAINT api_keys_secret_taken UNIQUE (secret_hash)
    );
    CREATE INDEX api_keys_by_app ON api_keys (app_id, created_at);

    -- Appends one event. The advisory lock, held until commit, makes seq follow commit order:
    -- a transaction that appends waits for the one before it to commit, so once seq n is
    -- visible no smaller seq can appear later. Row triggers run at the end of their statement,
    -- after the statement took all its row locks, so holding this lock never waits for a row.
    CREATE FUNCTION graphflow_log(app text, kind text, automation text, run text, config text, body jsonb)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock({_LOG_LOCK_CLASS}, hashtext(current_schema()));
        INSERT INTO stream_events (app_id, type, at, automation_id, run_id, config_id, data)
        VALUES (app, kind, extract(epoch FROM clock_timestamp()), automation, run, config, body);
        PERFORM pg_notify('{EVENTS_CHANNEL}', current_schema());
    END $$;

    CREATE FUNCTION graphflow_log_config() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM graphflow_log(NEW.app_id,
            CASE WHEN NEW.version = 1 THEN 'config.created' ELSE 'config.updated' END,
            NULL, NULL, NEW.id, jsonb_build_object('version', NEW.version));
        RETURN NULL;
    END $$;
    CREATE TRIGGER configs_log_insert AFTER INSERT ON configs
        FOR EACH ROW EXECUTE FUNCTION graphflow_log_config();

    -- Deleting a config deletes every version: one event per config, from the statement.
    CREATE FUNCTION graphflow_log_config_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE gone_config record;
    BEGIN
        FOR gone_config IN SELECT DISTINCT app_id, id FROM gone ORDER BY id LOOP
            PERFORM graphflow_log(gone_config.app_id, 'config.deleted', NULL, NULL, gone_config.id, '{{}}');
        END LOOP;
        RETURN NULL;
    END $$;
    CREATE TRIGGER configs_log_delete AFTER DELETE ON configs
        REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION graphflow_log_config_delete();

    CREATE FUNCTION graphflow_log_automation() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM graphflow_log(NEW.app_id, 'automation.created', NEW.id, NULL, NULL,
                jsonb_build_object('status', NEW.status));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM graphflow_log(OLD.app_id, 'automation.deleted', OLD.id, NULL, NULL, '{{}}');
        ELSE
            PERFORM graphflow_log(NEW.app_id,
                CASE WHEN OLD.status IN ('draft', 'paused') AND NEW.status = 'running' THEN 'automation.activated'
                     WHEN OLD.status = 'running' AND NEW.status = 'paused' THEN 'automation.paused'
                     WHEN OLD.status = 'paused' AND NEW.status = 'draft' THEN 'automation.reset'
                     ELSE 'automation.updated' END,
                NEW.id, NULL, NULL, jsonb_build_object('status', NEW.status, 'previous_status', OLD.status));
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER automations_log_insert AFTER INSERT OR DELETE ON automations
        FOR EACH ROW EXECUTE FUNCTION graphflow_log_automation();
    -- Automation writes set revision; run outcomes (last_run_*) never do.
    CREATE TRIGGER automations_log_update AFTER UPDATE OF revision ON automations
        FOR EACH ROW EXECUTE FUNCTION graphflow_log_automation();

    CREATE FUNCTION graphflow_log_run() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM graphflow_log(NEW.app_id, 'run.created', NEW.automation_id, NEW.id, NULL,
                jsonb_build_object('status', NEW.status));
        ELSE
            PERFORM graphflow_log(NEW.app_id,
                CASE NEW.status WHEN 'running' THEN 'run.started' WHEN 'pending' THEN 'run.waiting'
                     ELSE 'run.' || NEW.status END,
                NEW.automation_id, NEW.id, NULL,
                CASE WHEN NEW.status IN ('failed', 'cancelled') AND NEW.result ? 'error'
                          AND jsonb_typeof(NEW.result -> 'error') <> 'null'
                     THEN jsonb_build_object('status', NEW.status, 'error', NEW.result ->> 'error')
                     WHEN NEW.status = 'pending' THEN jsonb_build_object('status', NEW.status, 'wake_at', NEW.wake_at)
                     ELSE jsonb_build_object('status', NEW.status) END);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER runs_log_insert AFTER INSERT ON runs
        FOR EACH ROW EXECUTE FUNCTION graphflow_log_run();
    -- A status change, or a claim of a run whose worker died (running → running, new fence).
    CREATE TRIGGER runs_log_update AFTER UPDATE OF status, fence ON runs
        FOR EACH ROW
        WHEN (NEW.status IS DISTINCT FROM OLD.status OR (NEW.status = 'running' AND NEW.fence <> OLD.fence))
        EXECUTE FUNCTION graphflow_log_run();

    CREATE FUNCTION graphflow_log_step() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE owner record;
    BEGIN
        SELECT app_id, automation_id, status INTO owner FROM runs WHERE id = NEW.run_id;
        IF FOUND THEN
            PERFORM graphflow_log(owner.app_id, 'run.node_completed', owner.automation_id, NEW.run_id, NULL,
                jsonb_build_object('status', owner.status, 'key', NEW.key));
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER steps_log AFTER INSERT OR UPDATE ON steps
        FOR EACH ROW EXECUTE FUNCTION graphflow_log_step();
    """,
    # 4: the event log without a lock (see _V4_LOG below).
    f"""
    ALTER TABLE stream_events ADD COLUMN xid xid8 NOT NULL DEFAULT '0'::xid8;
    ALTER TABLE stream_events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
    ALTER TABLE stream_events ALTER COLUMN seq DROP DEFAULT;
    DROP SEQUENCE stream_events_seq_seq;
    DO $migrate$ BEGIN
        EXECUTE format($log$
            {_V4_LOG}
        $log$, (SELECT coalesce(max(seq), 0) FROM stream_events));
    END $migrate$;
    """,
)
#: First key of the advisory lock that orders an event's offer to the waits for its name and a
#: registration of such a wait ("gfwt"); the second is a hash of the schema, app and event name.
WAIT_LOCK_CLASS = 0x67667774

# 5: runs parked on waits. A registration of an event wait takes the (schema, app, event) lock
# exclusively; an accepted event takes it shared (publishers never wait for each other) and only
# then — in a statement of its own, so with a snapshot taken after the lock — reads the pending
# waits: a wait committed before the event is read, one registered after it waits for the event
# to commit and never sees it. Resolving a wait and parking its run both lock the run's row
# first, so whichever comes second sees the other: a run parked after its wait was resolved under
# the same claim is claimable at once, a wait resolved after the run parked wakes it.
_V5 = f"""
    ALTER TABLE runs ADD COLUMN waiting_for jsonb;
    ALTER TABLE automations ADD COLUMN input_schema jsonb;
    ALTER TABLE automations ADD COLUMN max_consecutive_failures integer;
    ALTER TABLE automations ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
    ALTER TABLE automations ADD COLUMN filter text;
    ALTER TABLE automations ADD COLUMN starts_at double precision;
    ALTER TABLE automations ADD COLUMN ends_at double precision;

    -- A running automation whose failure streak grows to its max pauses, logged as a pause. (A
    -- BEFORE trigger: the streak is written by the statement recording a run's outcome.)
    CREATE FUNCTION graphflow_pause_on_failures() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.consecutive_failures > OLD.consecutive_failures AND NEW.status = 'running'
           AND NEW.max_consecutive_failures IS NOT NULL
           AND NEW.consecutive_failures >= NEW.max_consecutive_failures THEN
            NEW.status := 'paused';
            NEW.paused_reason := 'failures';
            NEW.revision := OLD.revision + 1;
            NEW.updated_at := extract(epoch FROM clock_timestamp());
            PERFORM graphflow_log(NEW.app_id, 'automation.paused', NEW.id, NULL, NULL,
                jsonb_build_object('status', 'paused', 'previous_status', 'running'));
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER automations_pause_on_failures BEFORE UPDATE OF consecutive_failures ON automations
        FOR EACH ROW EXECUTE FUNCTION graphflow_pause_on_failures();
    CREATE TABLE waits (
        id text COLLATE "C" PRIMARY KEY,
        app_id text NOT NULL,
        automation_id text NOT NULL,
        run_id text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step_key text NOT NULL,
        kind text NOT NULL,
        status text NOT NULL,
        created_at double precision NOT NULL,
        expires_at double precision,
        event text,
        resolved_at double precision,
        resolved_fence bigint,
        data jsonb NOT NULL,
        CONSTRAINT waits_one_per_step UNIQUE (run_id, step_key)
    );
    CREATE INDEX waits_by_app ON waits (app_id, kind, id);
    CREATE INDEX waits_pending_event ON waits (app_id, event) WHERE status = 'pending' AND kind = 'event';
    CREATE INDEX runs_by_event ON runs (app_id, event_id) WHERE event_id IS NOT NULL;
    CREATE TABLE memories (
        automation_id text COLLATE "C" PRIMARY KEY REFERENCES automations (id) ON DELETE CASCADE,
        app_id text NOT NULL,
        document jsonb NOT NULL,
        updated_at double precision NOT NULL
    );

    CREATE FUNCTION graphflow_wait_key(app text, name text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
        SELECT hashtext(current_schema() || '/' || app || '/' || name)
    $$;

    -- The pending, unexpired waits an accepted event is offered (see the comment above).
    CREATE FUNCTION graphflow_event_waits(app text, name text, at double precision)
    RETURNS SETOF waits LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock_shared({WAIT_LOCK_CLASS}, graphflow_wait_key(app, name));
        RETURN QUERY SELECT * FROM waits
            WHERE app_id = app AND event = name AND status = 'pending' AND kind = 'event'
              AND (expires_at IS NULL OR expires_at > at)
            ORDER BY id;
    END $$;

    -- Store a wait unless its run already has one for the step; return the stored one (none: the
    -- run is not held under that fence).
    CREATE FUNCTION graphflow_register_wait(
        w_id text, w_app text, w_automation text, w_run text, w_step text, w_kind text, w_status text,
        w_created double precision, w_expires double precision, w_event text, w_data jsonb, w_fence bigint
    ) RETURNS SETOF waits LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
        IF w_kind = 'event' THEN
            PERFORM pg_advisory_xact_lock({WAIT_LOCK_CLASS}, graphflow_wait_key(w_app, w_event));
        END IF;
        PERFORM FROM runs WHERE id = w_run AND app_id = w_app AND fence = w_fence FOR SHARE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        INSERT INTO waits (id, app_id, automation_id, run_id, step_key, kind, status, created_at, expires_at,
                           event, data)
        VALUES (w_id, w_app, w_automation, w_run, w_step, w_kind, w_status, w_created, w_expires, w_event, w_data)
        ON CONFLICT (run_id, step_key) DO NOTHING;
        RETURN QUERY SELECT * FROM waits WHERE run_id = w_run AND step_key = w_step;
    END $$;

    -- End a pending, unexpired wait; wake its run if parked. Returns the wait (none: unchanged).
    CREATE FUNCTION graphflow_resolve_wait(
        w_app text, w_id text, w_status text, w_resolution jsonb, at double precision
    ) RETURNS SETOF waits LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        target text;
        held bigint;
    BEGIN
        SELECT run_id INTO target FROM waits WHERE id = w_id AND app_id = w_app;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        SELECT fence INTO held FROM runs WHERE id = target FOR UPDATE;
        UPDATE waits SET status = w_status, resolved_at = at, resolved_fence = held,
                         data = data || jsonb_build_object('resolution', w_resolution)
        WHERE id = w_id AND app_id = w_app AND status = 'pending' AND (expires_at IS NULL OR expires_at > at);
        IF NOT FOUND THEN
            RETURN;
        END IF;
        UPDATE runs SET wake_at = least(at, extract(epoch FROM clock_timestamp()))
        WHERE id = target AND status = 'pending';
        IF FOUND THEN
            PERFORM pg_notify('{CHANNEL}', current_schema());
        END IF;
        RETURN QUERY SELECT * FROM waits WHERE id = w_id;
    END $$;

    -- Hand a claimed run back (parked), claimable at once if a wait of it was resolved under this claim.
    CREATE FUNCTION graphflow_park_run(r_id text, r_fence bigint, r_wake double precision, r_waiting jsonb)
    RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        wake double precision := r_wake;
    BEGIN
        PERFORM FROM runs WHERE id = r_id AND fence = r_fence AND status = 'running' FOR UPDATE;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        IF wake IS NOT NULL AND EXISTS (
            SELECT FROM waits WHERE run_id = r_id AND status IN ('answered', 'matched') AND resolved_fence = r_fence
        ) THEN
            wake := extract(epoch FROM clock_timestamp());
        END IF;
        UPDATE runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, wake_at = wake,
                        waiting_for = r_waiting
        WHERE id = r_id;
        IF wake IS NULL OR wake <= extract(epoch FROM clock_timestamp()) THEN
            PERFORM pg_notify('{CHANNEL}', current_schema());
        END IF;
        RETURN true;
    END $$;

    -- An accepted event offered to pending waits, until the matched ones are resolved (the
    -- publishing process does it at once; an offer it left behind, any engine later).
    CREATE TABLE offers (
        app_id text NOT NULL,
        event_id text NOT NULL,
        name text NOT NULL,
        payload jsonb NOT NULL,
        wait_ids text[] NOT NULL,
        created_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
        PRIMARY KEY (app_id, event_id)
    );
    CREATE INDEX offers_by_age ON offers (created_at);

    -- Resolve an offer's matched waits (ids in id order: locks are taken in one order) and drop
    -- it; returns the ids of the waits resolved (none when another process resolved it first).
    CREATE FUNCTION graphflow_resolve_offer(
        o_app text, o_event text, ids text[], resolutions jsonb[], at double precision
    ) RETURNS SETOF text LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        i integer;
        got record;
    BEGIN
        PERFORM FROM offers WHERE app_id = o_app AND event_id = o_event FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
            FOR got IN SELECT id FROM graphflow_resolve_wait(o_app, ids[i], 'matched', resolutions[i], at) LOOP
                RETURN NEXT got.id;
            END LOOP;
        END LOOP;
        DELETE FROM offers WHERE app_id = o_app AND event_id = o_event;
    END $$;

    -- A run that ends cancels its pending waits.
    CREATE FUNCTION graphflow_end_waits() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE waits SET status = 'cancelled' WHERE run_id = NEW.id AND status = 'pending';
        RETURN NULL;
    END $$;
    CREATE TRIGGER runs_end_waits AFTER UPDATE OF status ON runs
        FOR EACH ROW
        WHEN (NEW.status IN ('completed', 'failed', 'cancelled') AND OLD.status IN ('pending', 'running'))
        EXECUTE FUNCTION graphflow_end_waits();

    -- Steering requests in the event log.
    CREATE FUNCTION graphflow_log_wait() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        body jsonb := jsonb_build_object('request_id', NEW.id, 'node_id', NEW.data ->> 'node_id', 'status', NEW.status);
    BEGIN
        IF NEW.status = 'answered' THEN
            body := body || jsonb_build_object('choice', NEW.data -> 'resolution' ->> 'choice');
        END IF;
        PERFORM graphflow_log(NEW.app_id,
            CASE WHEN NEW.status = 'pending' THEN 'steering.requested' ELSE 'steering.' || NEW.status END,
            NEW.automation_id, NEW.run_id, NULL, body);
        RETURN NULL;
    END $$;
    CREATE TRIGGER waits_log_insert AFTER INSERT ON waits
        FOR EACH ROW WHEN (NEW.kind = 'steering') EXECUTE FUNCTION graphflow_log_wait();
    CREATE TRIGGER waits_log_update AFTER UPDATE OF status ON waits
        FOR EACH ROW WHEN (NEW.kind = 'steering' AND NEW.status IS DISTINCT FROM OLD.status)
        EXECUTE FUNCTION graphflow_log_wait();

    -- A parked run's event says what it waits for.
    CREATE OR REPLACE FUNCTION graphflow_log_run() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM graphflow_log(NEW.app_id, 'run.created', NEW.automation_id, NEW.id, NULL,
                jsonb_build_object('status', NEW.status));
        ELSE
            PERFORM graphflow_log(NEW.app_id,
                CASE NEW.status WHEN 'running' THEN 'run.started' WHEN 'pending' THEN 'run.waiting'
                     ELSE 'run.' || NEW.status END,
                NEW.automation_id, NEW.id, NULL,
                CASE WHEN NEW.status IN ('failed', 'cancelled') AND NEW.result ? 'error'
                          AND jsonb_typeof(NEW.result -> 'error') <> 'null'
                     THEN jsonb_build_object('status', NEW.status, 'error', NEW.result ->> 'error')
                     WHEN NEW.status = 'pending'
                     THEN jsonb_build_object('status', NEW.status, 'wake_at', NEW.wake_at,
                                             'waiting_for', NEW.waiting_for)
                     ELSE jsonb_build_object('status', NEW.status) END);
        END IF;
        RETURN NULL;
    END $$;
"""
#: 6: event flow control — a run's flow key (active runs by key are counted for concurrency
#: limits under a per-key advisory lock; a debounce holder is found by it), throttle admissions
#: (``flow_slots``), the automations' flow policies; result delivery (``runs.delivery``, due
#: retries indexed; the automations' sinks and ``last_delivery_error``); a run's trace context.
_V6 = """
    ALTER TABLE runs ADD COLUMN flow_key text;
    ALTER TABLE runs ADD COLUMN delivery jsonb;
    ALTER TABLE runs ADD COLUMN trace_context jsonb;
    ALTER TABLE automations ADD COLUMN debounce jsonb;
    ALTER TABLE automations ADD COLUMN throttle jsonb;
    ALTER TABLE automations ADD COLUMN concurrency jsonb;
    ALTER TABLE automations ADD COLUMN cancel_on jsonb NOT NULL DEFAULT '[]';
    ALTER TABLE automations ADD COLUMN deliver jsonb NOT NULL DEFAULT '[]';
    ALTER TABLE automations ADD COLUMN last_delivery_error text;
    CREATE INDEX runs_flow ON runs (automation_id, flow_key, id)
        WHERE flow_key IS NOT NULL AND status IN ('pending', 'running');
    -- The active runs of a key (what a concurrency limit counts) and its queue, apart: counting
    -- never reads the queue, however long it is. 253402300800 is QUEUED_AT (graphflow.records).
    CREATE INDEX runs_flow_active ON runs (automation_id, flow_key)
        WHERE flow_key IS NOT NULL AND status IN ('pending', 'running') AND wake_at IS DISTINCT FROM 253402300800;
    CREATE INDEX runs_flow_queue ON runs (automation_id, flow_key, created_at, id)
        WHERE status = 'pending' AND wake_at = 253402300800;
    CREATE INDEX runs_delivery_due ON runs (((delivery ->> 'next_at')::float8))
        WHERE delivery ->> 'status' = 'pending';
    CREATE TABLE flow_slots (
        automation_id text COLLATE "C" NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
        key text NOT NULL,
        at double precision NOT NULL,
        run_id text COLLATE "C" NOT NULL
    );
    CREATE INDEX flow_slots_key ON flow_slots (automation_id, key, at);
"""
MIGRATIONS = (*MIGRATIONS, _V5, _V6)
assert len(MIGRATIONS) == SCHEMA_VERSION

#: First key of the migration advisory lock ("gflw"); the second is a hash of the schema name.
_LOCK_CLASS = 0x67666C77


async def migrate(conn: psycopg.AsyncConnection[Any], schema: str | None, *, where: str) -> None:
    """Create ``schema`` if needed and apply the migrations it lacks, in one transaction.

    The advisory lock makes processes that start together take turns: the first migrates, the
    others find the work done. ``where`` names the database in messages (password hidden).

    Raises:
        SchemaVersionError: the schema was written by a newer graphflow.
        StoreError: the tables cannot be created (e.g. an application's table has the name).
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_CLASS, schema or ""])
        if schema is not None:
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            # LOCAL: behind a transaction pooler a session setting would stay with a server connection
            await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        row = await (await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")).fetchone()
        current = 0
        if row and row[0]:
            row = await (await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")).fetchone()
            current = row[0] if row else 0
        if current > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the database at {where} has schema version {current}, written by a newer graphflow; "
                f"this one knows versions up to {SCHEMA_VERSION}: upgrade graphflow"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            try:
                await conn.execute(MIGRATIONS[version - 1])
            except psycopg.errors.DuplicateTable as exc:
                raise StoreError(
                    f"cannot create graphflow's tables in the database at {where}: "
                    f"{exc.diag.message_primary}; give graphflow a schema of its own "
                    "(schema='graphflow', or ?schema=graphflow in the URL)"
                ) from exc
            await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [version])


#: What a unique violation means, by constraint: the ConflictError message.
CONFLICTS = {
    "configs_version_taken": "that config version already exists (a concurrent update made it); read it and retry",
    "automations_lookup_key_taken": "that lookup_key is already used in this app",
    "runs_pkey": "a run with that id already exists",
    "api_keys_pkey": "an API key with that id already exists",
    "api_keys_secret_taken": "an API key with that secret already exists",
}

# -- records ↔ rows ------------------------------------------------------------------------------
#
# Every placeholder carries its column's type: a parameter in a VALUES list or an array has no
# column to take its type from.

_TYPES = {
    **dict.fromkeys(
        (
            "payload",
            "result",
            "journal",
            "causation",
            "waiting_for",
            "metadata",
            "document",
            "input_schema",
            "delivery",
            "trace_context",
            "debounce",
            "throttle",
            "concurrency",
            "cancel_on",
            "deliver",
        ),
        "jsonb",
    ),
    **dict.fromkeys(
        (
            "config_version",
            "recoveries",
            "max_catchup_runs",
            "revision",
            "repeat_times",
            "repeat_completed",
            "version",
            "max_consecutive_failures",
            "consecutive_failures",
        ),
        "integer",
    ),
    "fence": "bigint",
    **dict.fromkeys(
        (
            "created_at",
            "updated_at",
            "scheduled_at",
            "started_at",
            "finished_at",
            "lease_expires_at",
            "wake_at",
            "misfire_grace",
            "jitter",
            "next_run_at",
            "last_run_at",
            "starts_at",
            "ends_at",
        ),
        "float8",
    ),
}
_JSON_COLUMNS = frozenset(name for name, kind in _TYPES.items() if kind == "jsonb")

RUN_COLUMNS = tuple(f.name for f in dataclasses.fields(AutomationRun))
#: ``repeat`` is stored as two columns, then come the columns later migrations added.
_ADDED_AUTOMATION_COLUMNS = (
    "last_error",
    "input_schema",
    "max_consecutive_failures",
    "consecutive_failures",
    "filter",
    "starts_at",
    "ends_at",
    "debounce",
    "throttle",
    "concurrency",
    "cancel_on",
    "deliver",
    "last_delivery_error",
)
AUTOMATION_COLUMNS = (
    *(f.name for f in dataclasses.fields(Automation) if f.name != "repeat" and f.name not in _ADDED_AUTOMATION_COLUMNS),
    "repeat_times",
    "repeat_completed",
    *_ADDED_AUTOMATION_COLUMNS,
)
STREAM_EVENT_COLUMNS = "seq, app_id, type, at, automation_id, run_id, config_id, data"  # StreamEvent's order
API_KEY_COLUMNS = "id, app_id, name, created_at, revoked_at"  # ApiKey's order
CONFIG_COLUMNS = tuple(f.name for f in dataclasses.fields(ConfigRecord))
#: What ``update_run`` writes: what executing a run changes (not its identity, input or lease).
RUN_WRITE = (
    "status",
    "config_id",
    "config_version",
    "updated_at",
    "started_at",
    "finished_at",
    "result",
    "journal",
    "run_as_user_id",
    "delivery",
)


def placeholders(columns: Iterable[str]) -> str:
    """``(%s::type, …)`` for one row of these columns."""
    return "(" + ", ".join(f"%s::{_TYPES.get(name, 'text')}" for name in columns) + ")"


def _select(columns: Iterable[str], table: str = "") -> str:
    prefix = f"{table}." if table else ""
    return ", ".join(prefix + name for name in columns)


RUNS = _select(RUN_COLUMNS)
AUTOMATIONS = _select(AUTOMATION_COLUMNS)
CONFIGS = _select(CONFIG_COLUMNS)
_RUN_JSON = tuple(name in _JSON_COLUMNS for name in RUN_COLUMNS)
_RUN_WRITE_JSON = tuple(name in _JSON_COLUMNS for name in RUN_WRITE)


def _as_is(text: str) -> str:
    return text


def jsonb(value: Any, what: str) -> Jsonb | None:
    """A ``jsonb`` parameter encoded by the stores' one JSON codec (:func:`~graphflow.stores.base.encode_json`).

    Encoding here, before the statement is sent, makes PostgreSQL refuse exactly what the other
    stores refuse, with the same message (psycopg's own ``json.dumps`` lets ``NaN`` through).
    """
    return None if value is None else Jsonb(encode_json(value, what), dumps=_as_is)


def _run_row(run: AutomationRun) -> list[Any]:
    return [
        jsonb(getattr(run, name), f"run {run.id!r} {name}") if is_json else getattr(run, name)
        for name, is_json in zip(RUN_COLUMNS, _RUN_JSON, strict=True)
    ]


def _run_arrays(runs: Iterable[AutomationRun]) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in RUN_COLUMNS]
    for run in runs:
        for column, value in zip(columns, _run_row(run), strict=True):
            column.append(value)
    return columns


def run_write_params(run: AutomationRun) -> list[Any]:
    """The parameters of :data:`RUN_WRITE`."""
    return [
        jsonb(getattr(run, name), f"run {run.id!r} {name}") if is_json else getattr(run, name)
        for name, is_json in zip(RUN_WRITE, _RUN_WRITE_JSON, strict=True)
    ]


def automation_params(automation: Automation) -> list[Any]:
    """The parameters of :data:`AUTOMATION_COLUMNS`."""
    values = {f.name: getattr(automation, f.name) for f in dataclasses.fields(Automation)}
    repeat = values.pop("repeat")
    values["metadata"] = jsonb(values["metadata"], f"automation {automation.id!r} metadata")
    for name in ("input_schema", "debounce", "throttle", "concurrency", "cancel_on", "deliver"):
        values[name] = jsonb(values[name], f"automation {automation.id!r} {name}")
    values["repeat_times"], values["repeat_completed"] = repeat.times, repeat.completed
    return [values[name] for name in AUTOMATION_COLUMNS]


def outcome_params(run: AutomationRun) -> list[Any]:
    """The trailing parameters of :data:`FINISH_RUN` (the automation's last-run fields)."""
    error = run.result.get("error") if run.status != "completed" and isinstance(run.result, dict) else None
    last_error = None if error is None else str(error)
    return [
        run.started_at,
        run.status,
        last_error,
        run.status,
        run.status,
        run.automation_id,
        run.started_at,
        run.started_at,
    ]


def config_params(record: ConfigRecord) -> list[Any]:
    """The parameters of :data:`CONFIG_COLUMNS`."""
    return [
        jsonb(record.document, f"config {record.id!r}") if name == "document" else getattr(record, name)
        for name in CONFIG_COLUMNS
    ]


def run_record(row: Sequence[Any]) -> AutomationRun:
    """A run from a row of :data:`RUN_COLUMNS`."""
    return AutomationRun(*row)


def automation_record(row: Sequence[Any]) -> Automation:
    """An automation from a row of :data:`AUTOMATION_COLUMNS`."""
    values = dict(zip(AUTOMATION_COLUMNS, row, strict=True))
    repeat = Repeat(values.pop("repeat_times"), values.pop("repeat_completed"))
    return Automation(**values, repeat=repeat)


def config_record(row: Sequence[Any]) -> ConfigRecord:
    """A config version from a row of :data:`CONFIG_COLUMNS`."""
    return ConfigRecord(*row)


# -- statements ----------------------------------------------------------------------------------
#
# Each write below is one statement: atomic on its own in autocommit mode, one round trip. Data-
# modifying CTEs all run, whether or not the final SELECT reads them.

#: Notify, once, only if the statement's ``stored`` CTE made a run claimable: an uncorrelated
#: scalar subquery runs when the first row needs it. The payload is the schema, so workers of
#: another graphflow schema in the same database sleep on. Delivered only if the statement commits.
NOTIFY = f"(SELECT pg_notify('{CHANNEL}', current_schema()) WHERE EXISTS (SELECT FROM stored))"


_SOURCE = "<runs>"


#: The columns of a run to store; a run without a config version gets its config's latest: a run
#: executes the config version current when it was created.
_CANDIDATE = ", ".join(
    "coalesce(candidate.config_version, (SELECT max(c.version) FROM configs AS c"
    " WHERE c.id = candidate.config_id AND c.app_id = candidate.app_id))"
    if name == "config_version"
    else f"candidate.{name}"
    for name in RUN_COLUMNS
)


@dataclasses.dataclass(frozen=True, slots=True)
class RunsStatement:
    """A statement that stores runs, in two forms.

    One run (the common case) goes as a VALUES row, the cheapest; several go as one array per
    column, unnested on the server: one statement text for any number of runs, and no limit from
    the protocol's 65,535 parameters.
    """

    one: str
    many: str

    @classmethod
    def of(cls, text: str) -> RunsStatement:
        one = f"(VALUES {placeholders(RUN_COLUMNS)}) AS candidate ({RUNS})"
        many = "unnest(" + ", ".join(f"%s::{_TYPES.get(name, 'text')}[]" for name in RUN_COLUMNS) + ")"
        return cls(text.replace(_SOURCE, one), text.replace(_SOURCE, f"{many} AS candidate ({RUNS})"))

    def bind(self, runs: Sequence[AutomationRun]) -> tuple[str, list[Any]]:
        """The statement for these runs and their parameters (after any given before them)."""
        if len(runs) == 1:
            return self.one, _run_row(runs[0])
        return self.many, _run_arrays(runs)


#: Insert runs, skipping occurrences already fired; select the ids stored.
INSERT_RUNS = RunsStatement.of(f"""
    WITH stored AS (
        INSERT INTO runs ({RUNS}) SELECT {_CANDIDATE} FROM {_SOURCE}
        ON CONFLICT (automation_id, scheduled_at) DO NOTHING
        RETURNING id
    )
    SELECT ARRAY(SELECT id FROM stored), {NOTIFY}
""")

#: Accept an event (app id, event id, name, accepted at) and its runs; select (the event was
#: new, the ids stored).
#:
#: The runs are inserted only if the event was new, and each only if its automation is
#: ``running``. ``FOR SHARE`` makes that check hold at commit: a concurrent pause either committed
#: first (and the run is left out) or waits until the run is committed (and then cancels it with
#: the automation's other pending runs).
_ACCEPT_EVENT = f"""
    WITH event AS (
        INSERT INTO events (app_id, event_id, name, accepted_at) VALUES (%s, %s, %s, %s)
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), stored AS (
        INSERT INTO runs ({RUNS})
        SELECT {_CANDIDATE} FROM {_SOURCE}
        WHERE EXISTS (SELECT FROM event)
          AND EXISTS (
              SELECT FROM automations
              WHERE automations.id = candidate.automation_id AND automations.status = 'running'
              FOR SHARE
          )
        ON CONFLICT (automation_id, scheduled_at) DO NOTHING
        RETURNING id
    )
    SELECT EXISTS (SELECT FROM event), ARRAY(SELECT id FROM stored), {NOTIFY}
"""
ACCEPT_EVENT = RunsStatement.of(_ACCEPT_EVENT)
#: :data:`ACCEPT_EVENT` that also reads the pending waits of the event's name (``graphflow_event_waits``:
#: app, name) and, when there are any, records the **offer** — the event's payload and those waits'
#: ids (app, event id, name, payload) — in the same transaction, then returns the waits as JSON
#: rows. ``graphflow_resolve_offer`` resolves the matched ones and deletes the offer; an offer left
#: behind (the process died in between) is resolved by any engine later (migration 5).
ACCEPT_EVENT_OFFER = RunsStatement.of(
    _ACCEPT_EVENT.replace(
        "\n    SELECT EXISTS (SELECT FROM event), ARRAY(SELECT id FROM stored), ",
        """, candidates AS (
        SELECT w.* FROM graphflow_event_waits(%s, %s, extract(epoch FROM clock_timestamp())) AS w
        WHERE EXISTS (SELECT FROM event)
    ), offer AS (
        INSERT INTO offers (app_id, event_id, name, payload, wait_ids)
        SELECT %s, %s, %s, %s::jsonb, array_agg(id ORDER BY id) FROM candidates HAVING count(*) > 0
    )
    SELECT EXISTS (SELECT FROM event), ARRAY(SELECT id FROM stored), """,
    ).rstrip()
    + ", ARRAY(SELECT to_jsonb(c) FROM candidates AS c ORDER BY c.id)\n"
)


#: ``last_run_at``/``last_run_status`` belong to run outcomes (see ``FINISH_RUN``), and
#: ``last_delivery_error`` to delivery outcomes: an automation write keeps the stored values, so
#: a host's update never clobbers a newer outcome.
_OUTCOME = ("last_run_at", "last_run_status", "consecutive_failures")
_AUTOMATION_SET = ", ".join(
    f"{name} = coalesce(automations.{name}, %s::{_TYPES.get(name, 'text')})"
    if name in _OUTCOME
    else "last_error = CASE WHEN automations.last_run_at IS NULL THEN %s::text ELSE automations.last_error END"
    if name == "last_error"
    # delivery outcomes own it (see postgres_delivery): the parameter is read and not used
    else "last_delivery_error = CASE WHEN %s::text IS NULL THEN automations.last_delivery_error "
    "ELSE automations.last_delivery_error END"
    if name == "last_delivery_error"
    else f"{name} = %s::{_TYPES.get(name, 'text')}"
    for name in AUTOMATION_COLUMNS
)
#: Compare-and-set: the parameters of :data:`AUTOMATION_COLUMNS`, then id, app id, revision.
UPDATE_AUTOMATION = f"UPDATE automations SET {_AUTOMATION_SET} WHERE id = %s AND app_id = %s AND revision = %s"

#: :data:`UPDATE_AUTOMATION` and, only if it matched, the occurrence runs; select (the revision
#: matched, the ids stored). Losing the compare-and-set stores nothing: another process fired
#: first.
RECORD_FIRE = RunsStatement.of(f"""
    WITH fired AS (
        UPDATE automations SET {_AUTOMATION_SET}
        WHERE id = %s AND app_id = %s AND revision = %s
        RETURNING 1
    ), stored AS (
        INSERT INTO runs ({RUNS})
        SELECT {_CANDIDATE} FROM {_SOURCE}
        WHERE EXISTS (SELECT FROM fired)
        ON CONFLICT (automation_id, scheduled_at) DO NOTHING
        RETURNING id
    )
    SELECT EXISTS (SELECT FROM fired), ARRAY(SELECT id FROM stored), {NOTIFY}
""")


_RUN_SET = f"({', '.join(RUN_WRITE)}) = {placeholders(RUN_WRITE)}"
#: The parameters of :data:`RUN_WRITE`, then the run id (and its fence).
UPDATE_RUN = f"UPDATE runs SET {_RUN_SET} WHERE id = %s"
UPDATE_RUN_FENCED = UPDATE_RUN + " AND fence = %s"
_FINISH_RUN = f"""
    WITH written AS (
        UPDATE runs SET {_RUN_SET}, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = %s {{fence}}
        RETURNING id
    ), dropped AS (
        DELETE FROM steps WHERE run_id IN (SELECT id FROM written)
    ), outcome AS (
        -- the run becomes its automation's last run, unless one that started later already is;
        -- parameters: started_at, status, last_error, status, status, automation id, started_at, started_at
        UPDATE automations SET last_run_at = %s::float8, last_run_status = %s::text, last_error = %s::text,
            consecutive_failures = CASE WHEN %s::text = 'completed' THEN 0
                                        ELSE automations.consecutive_failures + (%s::text = 'failed')::integer END
        WHERE id = %s AND %s::float8 IS NOT NULL AND EXISTS (SELECT FROM written)
          AND (last_run_at IS NULL OR last_run_at <= %s::float8)
    )
    SELECT count(*) FROM written
"""
#: :data:`UPDATE_RUN` for a terminal status: the lease is cleared, the steps deleted and the run
#: recorded as its automation's last run (``outcome_params`` follow the run's parameters).
FINISH_RUN = _FINISH_RUN.format(fence="")
FINISH_RUN_FENCED = _FINISH_RUN.format(fence="AND fence = %s")

# The database's clock, read once per statement: leases never depend on a worker's clock. Read
# through a scalar subquery, so that comparisons with it can use an index.
_CLOCK = "clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)"
_NOW = "(SELECT now FROM clock)"
_CLAIMED = f"""
    UPDATE runs SET status = 'running', lease_owner = %(worker)s,
        lease_expires_at = clock.now + %(lease)s, wake_at = NULL, waiting_for = NULL, fence = runs.fence + 1,
        recoveries = runs.recoveries + (runs.status = 'running')::integer,
        started_at = coalesce(runs.started_at, clock.now)
    FROM chosen, clock
    WHERE runs.id = chosen.id
    RETURNING {_select(RUN_COLUMNS, "runs")}
"""
#: Claim up to ``limit`` runs: expired leases first (their worker died), then durable timers that
#: are due, then pending runs, oldest first; each part takes what the ones before left room
#: for, from an index of its own (``runs_leased``, ``runs_timers``, ``runs_fresh``) that holds
#: nothing else. ``SKIP LOCKED`` lets concurrent claimers pass each other's rows instead of
#: waiting; a row claimed by another between this statement's snapshot and its lock is
#: re-checked against the WHERE clause on its newest version, so no run is claimed twice.
CLAIM = f"""
    WITH {_CLOCK},
    expired AS (
        SELECT id FROM runs
        WHERE status = 'running' AND lease_expires_at < {_NOW}
        ORDER BY lease_expires_at LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ),
    woken AS (
        SELECT id FROM runs
        WHERE status = 'pending' AND wake_at <= {_NOW}
        ORDER BY wake_at LIMIT greatest(0, %(limit)s - (SELECT count(*) FROM expired))
        FOR UPDATE SKIP LOCKED
    ),
    fresh AS (
        SELECT id FROM runs
        WHERE status = 'pending' AND wake_at IS NULL
        ORDER BY id LIMIT greatest(0, %(limit)s - (SELECT count(*) FROM expired) - (SELECT count(*) FROM woken))
        FOR UPDATE SKIP LOCKED
    ),
    chosen AS (SELECT id FROM expired UNION ALL SELECT id FROM woken UNION ALL SELECT id FROM fresh)
    {_CLAIMED}
"""
#: :data:`CLAIM` among the runs ``ids`` only.
CLAIM_THESE = f"""
    WITH {_CLOCK},
    chosen AS (
        SELECT id FROM runs
        WHERE id = ANY(%(ids)s::text[])
          AND (status = 'pending' AND (wake_at IS NULL OR wake_at <= {_NOW})
               OR status = 'running' AND lease_expires_at < {_NOW})
        ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    {_CLAIMED}
"""
#: Pending runs, oldest first: the two partial indexes merged.
PENDING = f"""
    SELECT {RUNS} FROM (
        (SELECT {RUNS} FROM runs WHERE status = 'pending' AND wake_at IS NULL ORDER BY id LIMIT %(limit)s)
        UNION ALL
        (SELECT {RUNS} FROM runs WHERE status = 'pending' AND wake_at IS NOT NULL ORDER BY id LIMIT %(limit)s)
    ) AS pending
    ORDER BY id LIMIT %(limit)s
"""
