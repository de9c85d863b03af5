"""MemoryStore: the :class:`~graphflow.abc.Store` contract in process memory (tests, ephemeral use).

Nothing survives the process. Records are copied on the way out (and automations and configs on
the way in) down to their nested values, so a caller mutating a record never reaches the stored
one; runs passed in are kept by reference, as the contract allows (the engine never mutates them).
The indexes (lookup keys, per-automation run ids kept sorted, accepted event ids, fired
occurrences) are what make the contract's uniqueness rules hold without scans.

Automation and config copies are cheap rather than generic (``dataclasses.replace`` with
``copy.deepcopy`` took ~5 µs for an automation and ~300 µs for a 50-node config, on every
activation check): a record is rebuilt positionally from its fields (~0.8 µs; the strings and
numbers it shares are immutable), its mutable parts are made afresh (``Repeat``), and JSON values
(``metadata``, a config's ``document``) go through :func:`_copy_json`, a deep copy of dicts and
lists that shares the immutable scalars (~4x faster than ``copy.deepcopy``).
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import itertools
import operator
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio

from graphflow.abc import WakeMatcher
from graphflow.exceptions import ConflictError, NotFoundError
from graphflow.records import (
    TERMINAL_RUN_STATUSES,
    ApiKey,
    Automation,
    AutomationRun,
    ConfigRecord,
    FlowPolicy,
    LateSchedule,
    Page,
    Repeat,
    StoreStatus,
    StreamEvent,
    Wait,
    WorkerSeen,
)
from graphflow.stores.base import (
    FAILURES_REASON,
    automation_event,
    encode_json,
    json_copy,
    lease_lost,
    page,
    run_event_data,
    run_event_type,
    streak,
    wait_event,
)
from graphflow.stores.flow import (
    debounce_holder,
    debounce_merge,
    is_debounce_holder,
    queue,
    throttle_start,
    throttled,
)
from graphflow.stores.memory_delivery import MemoryDeliveries

__all__ = ["MemoryStore"]


_SEQ = operator.itemgetter(0)
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _copy_json(value: Any) -> Any:
    """A deep copy of JSON data: new dicts and lists, the (immutable) scalars shared.

    4-5x faster than ``copy.deepcopy``, which it falls back to for anything that is not a dict,
    a list or a JSON scalar, so the copy is always complete.
    """
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _JSON_SCALARS else _copy_json(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _JSON_SCALARS else _copy_json(item) for item in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


#: Every field of a record, in constructor order: ``Record(*_FIELDS(record))`` is a shallow copy.
_CONFIG_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(ConfigRecord)))
_AUTOMATION_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(Automation)))


def _config(record: ConfigRecord) -> ConfigRecord:
    copied = ConfigRecord(*_CONFIG_FIELDS(record))
    copied.document = _copy_json(record.document)
    return copied


# A stored automation is a plain tuple of its field values (``repeat`` as ``(times, completed)``):
# a tuple of strings, numbers and an empty dict is not tracked by CPython's garbage collector,
# where a record and its ``Repeat`` are two objects every full collection walks — for 100,000
# automations that was a quarter of the time it takes to register them.
_NAMES = [f.name for f in dataclasses.fields(Automation)]
_ID, _APP, _TYPE, _STATUS = (_NAMES.index(n) for n in ("id", "app_id", "type", "status"))
_UPDATED, _LOOKUP, _METADATA, _REPEAT = (_NAMES.index(n) for n in ("updated_at", "lookup_key", "metadata", "repeat"))
_LAST_AT, _LAST_STATUS, _LAST_ERROR, _REVISION = (
    _NAMES.index(n) for n in ("last_run_at", "last_run_status", "last_error", "revision")
)
_STREAK, _MAX_FAILURES, _PAUSED_REASON = (
    _NAMES.index(n) for n in ("consecutive_failures", "max_consecutive_failures", "paused_reason")
)
#: JSON fields copied in and out; a list one is kept as ``()`` when empty (a list would make the
#: row a tracked object again, walked by every full collection).
_JSON_FIELDS = tuple(_NAMES.index(n) for n in ("input_schema", "debounce", "throttle", "concurrency"))
_LIST_FIELDS = tuple(_NAMES.index(n) for n in ("cancel_on", "deliver"))
_NEXT_RUN_AT = _NAMES.index("next_run_at")
_DELIVER, _DELIVERY_ERROR = _NAMES.index("deliver"), _NAMES.index("last_delivery_error")
AutomationRow = tuple[Any, ...]


def _freeze(automation: Automation, outcome: tuple[Any, Any, Any, Any] | None = None) -> AutomationRow:
    row = list(_AUTOMATION_FIELDS(automation))
    row[_REPEAT] = (automation.repeat.times, automation.repeat.completed)
    metadata = automation.metadata
    row[_METADATA] = _copy_json(metadata) if metadata else {}
    for index in _JSON_FIELDS:
        if row[index] is not None:
            row[index] = _copy_json(row[index])
    for index in _LIST_FIELDS:
        row[index] = _copy_json(row[index]) if row[index] else ()
    if outcome is not None:
        row[_LAST_AT], row[_LAST_STATUS], row[_LAST_ERROR], row[_STREAK] = outcome
    return tuple(row)


def _thaw(row: AutomationRow) -> Automation:
    automation = Automation(*row)
    automation.repeat = Repeat(*row[_REPEAT])
    metadata = row[_METADATA]
    automation.metadata = _copy_json(metadata) if metadata else {}
    for index in _JSON_FIELDS:
        if row[index] is not None:
            setattr(automation, _NAMES[index], _copy_json(row[index]))
    for index in _LIST_FIELDS:
        setattr(automation, _NAMES[index], _copy_json(row[index]) if row[index] else [])
    return automation


def _run(run: AutomationRun) -> AutomationRun:
    return dataclasses.replace(
        run,
        payload=_copy_json(run.payload),
        result=_copy_json(run.result),
        journal=_copy_json(run.journal),
        delivery=_copy_json(run.delivery),
    )


class MemoryStore(MemoryDeliveries):
    """An in-memory store. Safe for one event loop (the engine's); not shared across processes."""

    durable = False
    _copy_run = staticmethod(_run)

    def __init__(self) -> None:
        self._configs: dict[str, list[ConfigRecord]] = {}
        self._automations: dict[str, AutomationRow] = {}
        self._lookup: dict[tuple[str, str], str] = {}
        self._runs: dict[str, AutomationRun] = {}
        self._runs_by_automation: dict[str, list[str]] = {}
        self._occurrences: set[tuple[str, float]] = set()
        self._events: dict[tuple[str, str], float] = {}
        #: (app, event id) → the first run the event created (idempotent invokes find it here).
        self._event_runs: dict[tuple[str, str], str] = {}
        self._pending: dict[str, None] = {}
        self._steps: dict[str, dict[str, Any]] = {}
        #: The event log: ``StreamEvent`` fields as tuples (built into events when read: appends stay cheap).
        self._log: list[tuple[Any, ...]] = []
        self._seq = 0
        #: Set (and dropped) by the next write, when a reader waits for events.
        self._appended: anyio.Event | None = None
        self._keys: dict[str, tuple[ApiKey, str]] = {}
        self._key_hashes: dict[str, str] = {}
        self._waits: dict[str, Wait] = {}
        #: automation id → (app id, memory document).
        self._memories: dict[str, tuple[str, Any]] = {}
        #: run id → {step key → wait id}: a run's waits, one per node execution.
        self._waits_by_run: dict[str, dict[str, str]] = {}
        #: Pending event waits by (app, event name): what an accepted event is offered.
        self._event_waits: dict[tuple[str, str], dict[str, None]] = {}
        #: (automation id, flow key) → ids of its active runs (not queued; a run is dropped when it
        #: ends), of its queued runs in arrival order, and the throttle's admissions (time, run id),
        #: sorted, with the key's period.
        self._flow_active: dict[tuple[str, str], dict[str, None]] = {}
        self._flow_queue: dict[tuple[str, str], dict[str, None]] = {}
        self._flow_slots: dict[tuple[str, str], tuple[float, list[tuple[float, str]]]] = {}
        self._throttled = 0  # decisions since the admissions of every key were last trimmed
        self._deliveries: dict[str, None] = {}

    # -- the event log ---------------------------------------------------------------------

    def _append(
        self,
        app_id: str,
        type: str,
        *,
        automation_id: str | None = None,
        run_id: str | None = None,
        config_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._seq += 1
        self._log.append((self._seq, app_id, type, time.time(), automation_id, run_id, config_id, data or {}))
        if self._appended is not None:
            self._appended.set()
            self._appended = None

    def _run_changed(self, run: AutomationRun, previous: str | None) -> None:
        """Append the event of a run whose status went from ``previous`` to ``run.status``.

        A run that ended cancels its pending waits (as the SQL stores' triggers do).
        """
        type = run_event_type(previous, run.status)
        if type is not None:
            data = run_event_data(run.status, run.result)
            if run.status == "pending":
                data.update(wake_at=run.wake_at, waiting_for=run.waiting_for)
            self._append(run.app_id, type, automation_id=run.automation_id, run_id=run.id, data=data)
        if run.flow_key is not None and run.status in TERMINAL_RUN_STATUSES:
            self._flow_ended(run)
        if run.status in TERMINAL_RUN_STATUSES and run.id in self._waits_by_run:
            for wait in self._run_waits(run.id):
                if wait.status == "pending":
                    self._set_wait_status(wait, "cancelled")

    async def read_events(
        self,
        app_id: str,
        *,
        after: int,
        limit: int,
        run_id: str | None = None,
        types: frozenset[str] | None = None,
    ) -> list[StreamEvent]:
        log = self._log
        position = bisect.bisect_right(log, after, key=_SEQ)
        out: list[StreamEvent] = []
        for row in itertools.islice(log, position, None):
            if len(out) >= limit:
                break
            if row[1] == app_id and (run_id is None or row[5] == run_id) and (types is None or row[2] in types):
                seq, app, type, at, automation_id, row_run_id, config_id, data = row
                out.append(StreamEvent(seq, app, type, at, automation_id, row_run_id, config_id, _copy_json(data)))
        return out

    async def last_event_seq(self, app_id: str) -> int:
        return next((row[0] for row in reversed(self._log) if row[1] == app_id), 0)

    async def wait_for_events(self, timeout: float) -> None:
        appended = self._appended
        if appended is None:
            appended = self._appended = anyio.Event()
        with anyio.move_on_after(timeout):
            await appended.wait()

    # -- API keys ----------------------------------------------------------------------------

    async def create_api_key(self, key: ApiKey, secret_hash: str) -> None:
        if secret_hash in self._key_hashes or key.id in self._keys:
            raise ConflictError(f"API key {key.id!r} already exists")
        self._keys[key.id] = (dataclasses.replace(key), secret_hash)
        self._key_hashes[secret_hash] = key.id

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        key_id = self._key_hashes.get(secret_hash)
        return dataclasses.replace(self._keys[key_id][0]) if key_id is not None else None

    async def list_api_keys(self, app_id: str) -> list[ApiKey]:
        keys = [dataclasses.replace(key) for key, _ in self._keys.values() if key.app_id == app_id]
        return sorted(keys, key=lambda key: (key.created_at, key.id))

    async def revoke_api_key(self, app_id: str, key_id: str, now: float) -> ApiKey | None:
        found = self._keys.get(key_id)
        if found is None or found[0].app_id != app_id:
            return None
        key = found[0]
        if key.revoked_at is None:
            key.revoked_at = now
        return dataclasses.replace(key)

    # -- configs ---------------------------------------------------------------------------

    async def put_config(self, record: ConfigRecord) -> None:
        versions = self._configs.setdefault(record.id, [])
        if any(v.version == record.version or v.app_id != record.app_id for v in versions):
            raise ConflictError(f"config {record.id!r} already has version {record.version}")
        versions.append(_config(record))
        self._append(
            record.app_id,
            "config.created" if record.version == 1 else "config.updated",
            config_id=record.id,
            data={"version": record.version},
        )

    async def get_config(self, app_id: str, config_id: str, version: int | None = None) -> ConfigRecord | None:
        versions = self._configs.get(config_id)
        if not versions or versions[0].app_id != app_id:
            return None
        if version is None:
            return _config(versions[-1])
        for record in versions:
            if record.version == version:
                return _config(record)
        return None

    async def latest_config_version(self, app_id: str, config_id: str) -> int | None:
        versions = self._configs.get(config_id)
        return versions[-1].version if versions and versions[0].app_id == app_id else None

    async def list_configs(self, app_id: str, *, cursor: str | None, limit: int) -> Page:
        latest = sorted(
            (v[-1] for v in self._configs.values() if v and v[0].app_id == app_id),
            key=lambda r: r.id,
            reverse=True,
        )
        if cursor is not None:
            latest = [r for r in latest if r.id < cursor]
        return page([_config(r) for r in latest[: limit + 1]], limit)

    async def delete_config(self, app_id: str, config_id: str) -> bool:
        versions = self._configs.get(config_id)
        if not versions or versions[0].app_id != app_id:
            return False
        del self._configs[config_id]
        self._append(app_id, "config.deleted", config_id=config_id)
        return True

    # -- automations -------------------------------------------------------------------------

    async def insert_automation(self, automation: Automation) -> None:
        if automation.lookup_key is not None:
            key = (automation.app_id, automation.lookup_key)
            if key in self._lookup:
                raise ConflictError(
                    f"lookup_key {automation.lookup_key!r} is already used in app {automation.app_id!r}"
                )
            self._lookup[key] = automation.id
        self._automations[automation.id] = _freeze(automation)
        self._append(
            automation.app_id, "automation.created", automation_id=automation.id, data={"status": automation.status}
        )

    async def get_automation(self, app_id: str, automation_id: str) -> Automation | None:
        found = self._automations.get(automation_id)
        return _thaw(found) if found is not None and found[_APP] == app_id else None

    async def get_automation_by_lookup_key(self, app_id: str, lookup_key: str) -> Automation | None:
        automation_id = self._lookup.get((app_id, lookup_key))
        return await self.get_automation(app_id, automation_id) if automation_id else None

    async def list_automations(self, app_id: str, *, type: str | None, cursor: str | None, limit: int) -> Page:
        items = [
            a
            for a in self._automations.values()
            if a[_APP] == app_id and (type is None or a[_TYPE] == type) and (cursor is None or a[_ID] < cursor)
        ]
        items.sort(key=lambda a: a[_ID], reverse=True)
        return page([_thaw(a) for a in items[: limit + 1]], limit)

    async def update_automation(self, automation: Automation, *, expected_revision: int) -> None:
        stored = self._automations.get(automation.id)
        if stored is None or stored[_APP] != automation.app_id:
            raise NotFoundError("automation", automation.id)
        if stored[_REVISION] != expected_revision:
            raise ConflictError(
                f"automation {automation.id!r} was changed concurrently (revision "
                f"{stored[_REVISION]}, expected {expected_revision}); read it again and retry"
            )
        if automation.lookup_key != stored[_LOOKUP]:
            if automation.lookup_key is not None:
                key = (automation.app_id, automation.lookup_key)
                if key in self._lookup:
                    raise ConflictError(f"lookup_key {automation.lookup_key!r} is already used")
                self._lookup[key] = automation.id
            if stored[_LOOKUP] is not None:
                self._lookup.pop((stored[_APP], stored[_LOOKUP]), None)
        # The outcome fields are the run outcomes' own: the stored ones are kept.
        outcome = (stored[_LAST_AT], stored[_LAST_STATUS], stored[_LAST_ERROR], stored[_STREAK])
        row = _freeze(automation, outcome)
        if row[_DELIVERY_ERROR] != stored[_DELIVERY_ERROR]:  # delivery outcomes own it too
            row = (*row[:_DELIVERY_ERROR], stored[_DELIVERY_ERROR], *row[_DELIVERY_ERROR + 1 :])
        self._automations[automation.id] = row
        type, data = automation_event(stored[_STATUS], automation.status)
        self._append(automation.app_id, type, automation_id=automation.id, data=data)

    async def delete_automation(self, app_id: str, automation_id: str) -> bool:
        stored = self._automations.get(automation_id)
        if stored is None or stored[_APP] != app_id:
            return False
        del self._automations[automation_id]
        self._memories.pop(automation_id, None)
        for index in (self._flow_slots, self._flow_active, self._flow_queue):
            for key in [k for k in index if k[0] == automation_id]:
                del index[key]
        if stored[_LOOKUP] is not None:
            self._lookup.pop((app_id, stored[_LOOKUP]), None)
        self._append(app_id, "automation.deleted", automation_id=automation_id)
        return True

    async def running_automations(self, *, type: str | None = None) -> list[Automation]:
        return [
            _thaw(a)
            for a in self._automations.values()
            if a[_STATUS] == "running" and (type is None or a[_TYPE] == type)
        ]

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
        key = (app_id, event_id)
        if key in self._events:
            return None
        encode_json(payload, f"event {event_id!r} payload")  # refused as the durable stores refuse it
        accepted_at = runs[0].created_at if runs else time.time()
        matches: list[tuple[Wait, dict[str, Any]]] = []
        waiting = self._event_waits.get((app_id, name)) if wake is not None and self._event_waits else None
        if wake is not None and waiting:
            offered = [_wait(w) for w in map(self._waits.__getitem__, waiting) if not _expired(w, time.time())]
            matches = [(w, json_copy(r, f"wait {w.id!r} resolution")) for w, r in wake(offered)] if offered else []
        self._events[key] = accepted_at
        automations = self._automations
        stored = []
        for run in runs:
            automation = automations.get(run.automation_id)
            if automation is not None and automation[_STATUS] == "running":
                policy = flow.get(run.id) if flow else None
                if policy is not None:
                    decided = self._decide_flow(run, policy)
                    if decided is not run:
                        if decided is not None:
                            stored.append(_run(decided))
                        continue
                self._store_run(run)
                stored.append(run)
                self._event_runs.setdefault(key, run.id)
        now = time.time() if matches else 0.0
        for wait, resolution in matches:
            stored_wait = self._waits[wait.id]
            if stored_wait.status == "pending":
                self._resolve(stored_wait, "matched", resolution, now)
                if woken is not None:
                    woken.append(_wait(stored_wait))
        return stored

    # -- flow control (see graphflow.stores.flow) ------------------------------------------

    def _decide_flow(self, run: AutomationRun, policy: FlowPolicy) -> AutomationRun | None:
        """``run`` to store it (as decided), the key's holder it was merged into, or ``None`` (dropped)."""
        key = (run.automation_id, run.flow_key or "")
        now = run.created_at
        if policy.kind == "debounce":
            for held in self._flow_active.get(key, ()):
                holder = self._runs[held]
                if is_debounce_holder(holder):
                    debounce_merge(holder, run, policy, now)
                    return holder
            debounce_holder(run, policy, now)
        elif policy.kind == "throttle":
            start = throttle_start(policy, now, self._admission(key, policy, now))
            if start is None:
                return None
            bisect.insort(self._flow_slots.setdefault(key, (policy.period, []))[1], (start, run.id))
            throttled(run, start, now)
        elif len(self._flow_active.get(key, ())) >= policy.limit:
            queue(run)
            self._flow_queue.setdefault(key, {})[run.id] = None
            return run
        self._flow_active.setdefault(key, {})[run.id] = None
        return run

    def _admission(self, key: tuple[str, str], policy: FlowPolicy, now: float) -> float | None:
        """The ``limit``-th latest admission of a key in its window (a run cancelled before it started: none)."""
        self._throttled += 1
        if self._throttled >= 1024:  # keys no event came back to: forget what left their window
            self._throttled = 0
            for other, (period, slots) in list(self._flow_slots.items()):
                del slots[: bisect.bisect_right(slots, (now - period, "~"))]
                if not slots:
                    del self._flow_slots[other]
        entry = self._flow_slots.get(key)
        if entry is None:
            return None
        slots = entry[1]
        del slots[: bisect.bisect_right(slots, (now - policy.period, "~"))]
        counted = 0
        for at, run_id in reversed(slots):
            run = self._runs.get(run_id)
            if run is not None and run.status == "cancelled" and run.started_at is None:
                continue
            counted += 1
            if counted == policy.limit:
                return at
        return None

    def _flow_ended(self, run: AutomationRun) -> None:
        """Forget an ended run of a key (and the key, when nothing of it is left)."""
        key = (run.automation_id, run.flow_key or "")
        for index in (self._flow_active, self._flow_queue):
            ids = index.get(key)
            if ids is not None:
                ids.pop(run.id, None)
                if not ids:
                    del index[key]

    async def promote_queued(self, app_id: str, automation_id: str, key: str | None, limit: int) -> list[AutomationRun]:
        keys = [k for k in self._flow_queue if k[0] == automation_id] if key is None else [(automation_id, key)]
        promoted: list[AutomationRun] = []
        stored = self._automations.get(automation_id)
        if stored is None or stored[_APP] != app_id or stored[_STATUS] != "running":
            return promoted  # paused (its pending runs are being cancelled) or deleted
        for flow_key in keys:
            queued = self._flow_queue.get(flow_key)
            active = self._flow_active.setdefault(flow_key, {})
            while queued and len(active) < limit:
                run = self._runs[next(iter(queued))]
                if run.app_id != app_id:
                    break
                del queued[run.id]
                run.wake_at = run.waiting_for = None
                active[run.id] = None
                promoted.append(_run(run))
            if not queued:
                self._flow_queue.pop(flow_key, None)
            if not active:
                del self._flow_active[flow_key]
        return promoted

    async def flow_runs(self, app_id: str, automation_id: str, key: str | None, *, limit: int = 1000) -> list[str]:
        runs = self._runs
        if key is not None:
            keys = [(automation_id, key)]
        else:
            keys = [k for k in (*self._flow_active, *self._flow_queue) if k[0] == automation_id]
        ids = {r for k in keys for index in (self._flow_active, self._flow_queue) for r in index.get(k, ())}
        if key is None and not keys:  # runs of an automation without a policy have no key
            ids = {
                r for r in self._runs_by_automation.get(automation_id, ()) if runs[r].status in ("pending", "running")
            }
        found = sorted((runs[r] for r in ids if runs[r].app_id == app_id), key=lambda r: (r.created_at, r.id))
        return [r.id for r in found][:limit]

    async def wake_run(self, app_id: str, run_id: str, due: float) -> AutomationRun | None:
        run = self._runs.get(run_id)
        if run is None or run.app_id != app_id or run.status != "pending" or run.wake_at is None or run.wake_at > due:
            return None
        run.wake_at = run.waiting_for = None
        return _run(run)

    # -- runs ------------------------------------------------------------------------------

    def _store_run(self, run: AutomationRun) -> None:
        if run.config_version is None and run.config_id is not None:
            versions = self._configs.get(run.config_id)
            if versions and versions[0].app_id == run.app_id:  # the version current at creation runs
                run.config_version = versions[-1].version
        self._runs[run.id] = run
        # Sorted, not in arrival order: the cursor is an id, and ids made in one millisecond
        # arrive in any order; insort is an append for the usual (time-ordered) arrival.
        bisect.insort(self._runs_by_automation.setdefault(run.automation_id, []), run.id)
        if run.status == "pending":
            self._pending[run.id] = None
        if run.delivery is not None:
            self._track_delivery(run)
        self._append(
            run.app_id,
            "run.created",
            automation_id=run.automation_id,
            run_id=run.id,
            data=run_event_data(run.status, run.result),
        )

    async def insert_runs(self, runs: Iterable[AutomationRun]) -> list[AutomationRun]:
        runs = list(runs)
        for run in runs:  # all or nothing: check every payload before storing any run
            encode_json(run.payload, f"run {run.id!r} payload")
        stored: list[AutomationRun] = []
        for run in runs:
            if run.scheduled_at is not None:
                occurrence = (run.automation_id, run.scheduled_at)
                if occurrence in self._occurrences:
                    continue
                self._occurrences.add(occurrence)
            self._store_run(run)
            stored.append(run)
        return stored

    async def run_for_event(self, app_id: str, event_id: str) -> AutomationRun | None:
        run_id = self._event_runs.get((app_id, event_id))
        run = self._runs.get(run_id) if run_id is not None else None
        return _run(run) if run is not None else None

    async def get_run(self, app_id: str, run_id: str) -> AutomationRun | None:
        run = self._runs.get(run_id)
        return _run(run) if run is not None and run.app_id == app_id else None

    async def list_runs(
        self,
        app_id: str,
        automation_id: str,
        *,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        items: list[AutomationRun] = []
        runs = self._runs
        ids = self._runs_by_automation.get(automation_id, [])
        end = len(ids) if cursor is None else bisect.bisect_left(ids, cursor)
        for position in range(end - 1, -1, -1):
            run = runs.get(ids[position])
            if run is None or run.app_id != app_id or (status is not None and run.status != status):
                continue
            items.append(copy.copy(run))
            if len(items) > limit:
                break
        return page(items, limit)

    async def update_run(self, run: AutomationRun, *, fence: int | None = None) -> None:
        stored = self._runs.get(run.id)
        if stored is None:
            raise NotFoundError("run", run.id)
        if fence is not None and stored.fence != fence:
            raise lease_lost(run.id, fence)
        # The stored copy holds what a durable store would give back: checked and decoded JSON.
        previous = stored.status
        result = json_copy(run.result, f"run {run.id!r} result")
        journal = json_copy(run.journal, f"run {run.id!r} journal")
        delivery = run.delivery
        run = dataclasses.replace(
            run,
            result=result,
            journal=journal,
            delivery=None if delivery is None else json_copy(delivery, f"run {run.id!r} delivery"),
            lease_owner=stored.lease_owner,
            lease_expires_at=stored.lease_expires_at,
            fence=stored.fence,
            recoveries=stored.recoveries,
            wake_at=stored.wake_at,
        )
        if run.status in TERMINAL_RUN_STATUSES:
            run.lease_owner = run.lease_expires_at = None
            self._steps.pop(run.id, None)
            row = self._automations.get(run.automation_id)
            started = run.started_at
            if row is not None and started is not None and (row[_LAST_AT] is None or row[_LAST_AT] <= started):
                updated = list(row)
                updated[_LAST_AT], updated[_LAST_STATUS] = started, run.status
                updated[_LAST_ERROR] = None if run.status == "completed" else _error_text(result)
                updated[_STREAK], pause = streak(run.status, row[_STREAK], row[_MAX_FAILURES], row[_STATUS])
                if pause:  # as an update of the automation: a new revision, announced in the log
                    updated[_STATUS], updated[_PAUSED_REASON] = "paused", FAILURES_REASON
                    updated[_REVISION] = row[_REVISION] + 1
                    updated[_UPDATED] = run.finished_at or time.time()
                self._automations[run.automation_id] = tuple(updated)
                if pause:
                    type, data = automation_event("running", "paused")
                    self._append(run.app_id, type, automation_id=run.automation_id, data=data)
        self._runs[run.id] = run
        if run.status == "pending":
            self._pending[run.id] = None
        else:
            self._pending.pop(run.id, None)
        if delivery is not None:
            self._track_delivery(run)
        self._run_changed(run, previous)

    async def cancel_pending_runs(self, app_id: str, automation_id: str, now: float) -> list[str]:
        cancelled = []
        for run_id in self._runs_by_automation.get(automation_id, ()):
            run = self._runs[run_id]
            if run.status == "pending" and run.app_id == app_id:
                run.status = "cancelled"
                run.updated_at = run.finished_at = now
                run.wake_at = run.waiting_for = None
                run.result = {"error": "cancelled: the automation was paused or deleted"}
                self._pending.pop(run_id, None)
                cancelled.append(run_id)
                self._run_changed(run, "pending")
        return cancelled

    async def pending_runs(self, limit: int) -> list[AutomationRun]:
        out = []
        for run_id in self._pending:
            out.append(_run(self._runs[run_id]))
            if len(out) >= limit:
                break
        return out

    async def status(self, now: float, *, late_after: float | None = None, limit: int = 20) -> StoreStatus:
        # A memory store is one process's: scanning its runs is what an index read is elsewhere.
        pending = [self._runs[r] for r in self._pending]
        due = [r.wake_at if r.wake_at is not None else r.created_at for r in pending if (r.wake_at or 0) <= now]
        leases: dict[str, list[float]] = {}
        running = expired = 0
        for run in self._runs.values():
            if run.status == "running":
                running += 1
                until = run.lease_expires_at or 0.0
                expired += until < now
                if run.lease_owner is not None:
                    leases.setdefault(run.lease_owner, []).append(until)
        workers = sorted((WorkerSeen(w, len(u), max(u)) for w, u in leases.items()), key=lambda w: -w.lease_expires_at)
        late: list[LateSchedule] = []
        if late_after is not None:
            for row in self._automations.values():
                if row[_STATUS] == "running" and row[_TYPE] == "scheduled":
                    at = row[_NEXT_RUN_AT]
                    if at is not None and at < now - late_after:
                        late.append(LateSchedule(row[_APP], row[_ID], at))
            late.sort(key=lambda s: s.next_run_at)
        return StoreStatus(
            schema_version=0,
            expected_schema_version=0,
            pending=len(due),
            parked=len(pending) - len(due),
            running=running,
            expired_leases=expired,
            oldest_pending_at=min(due) if due else None,
            workers=tuple(workers[:limit]),
            late_schedules=tuple(late[:limit]),
        )

    async def cancel_run(self, app_id: str, run_id: str, now: float) -> AutomationRun | None:
        run = self._runs.get(run_id)
        if run is None or run.app_id != app_id:
            return None
        if run.status in ("pending", "running"):
            previous = run.status
            run.status = "cancelled"
            run.updated_at = run.finished_at = now
            run.result = {"error": "run cancelled"}
            run.fence += 1
            run.lease_owner = run.lease_expires_at = run.wake_at = run.waiting_for = None
            self._pending.pop(run_id, None)
            self._steps.pop(run_id, None)
            self._run_changed(run, previous)
        return _run(run)

    # -- scheduling --------------------------------------------------------------------------

    async def record_fire(
        self, automation: Automation, *, expected_revision: int, runs: Sequence[AutomationRun]
    ) -> list[AutomationRun]:
        await self.update_automation(automation, expected_revision=expected_revision)
        return await self.insert_runs(runs)

    async def changed_automations(self, since: float) -> list[Automation]:
        return [_thaw(a) for a in self._automations.values() if a[_UPDATED] >= since]

    # -- leases and checkpoints ----------------------------------------------------------------

    async def claim_runs(
        self,
        worker_id: str,
        *,
        lease: float,
        limit: int,
        run_ids: Sequence[str] | None = None,
    ) -> list[AutomationRun]:
        now = time.time()
        runs = self._runs
        candidates: Iterable[str] = run_ids if run_ids is not None else list(self._pending)
        if run_ids is None:
            expired = [
                r.id
                for r in runs.values()
                if r.status == "running" and r.lease_expires_at is not None and r.lease_expires_at < now
            ]
            candidates = [*expired, *candidates]
        claimed: list[AutomationRun] = []
        for run_id in candidates:
            if len(claimed) >= limit:
                break
            run = runs.get(run_id)
            if run is None:
                continue
            if run.status == "pending" and (run.wake_at is None or run.wake_at <= now):
                self._pending.pop(run_id, None)
            elif run.status == "running" and run.lease_expires_at is not None and run.lease_expires_at < now:
                run.recoveries += 1
            else:
                continue
            previous = run.status
            run.status = "running"
            run.lease_owner = worker_id
            run.lease_expires_at = now + lease
            run.wake_at = None
            run.waiting_for = None
            run.fence += 1
            if run.started_at is None:
                run.started_at = now
            self._run_changed(run, previous if previous != "running" else None)
            claimed.append(_run(run))
        return claimed

    async def renew_leases(self, worker_id: str, fences: Mapping[str, int], *, lease: float) -> set[str]:
        now = time.time()
        lost: set[str] = set()
        for run_id, fence in fences.items():
            run = self._runs.get(run_id)
            if run is None or run.fence != fence or run.lease_owner != worker_id or run.status != "running":
                lost.add(run_id)
            else:
                run.lease_expires_at = now + lease
        return lost

    async def release_run(
        self, run_id: str, fence: int, *, wake_at: float | None = None, waiting_for: dict[str, Any] | None = None
    ) -> None:
        run = self._runs.get(run_id)
        if run is None or run.fence != fence or run.status != "running":
            raise lease_lost(run_id, fence)
        if wake_at is not None and any(w.resolved and w.resolved_fence == fence for w in self._run_waits(run_id)):
            wake_at = time.time()  # resolved while this claim held the run: claimable at once
        run.status = "pending"
        run.lease_owner = run.lease_expires_at = None
        run.wake_at = wake_at
        run.waiting_for = json_copy(waiting_for, f"run {run_id!r} waiting_for")
        self._pending[run_id] = None
        self._append(
            run.app_id,
            "run.waiting",
            automation_id=run.automation_id,
            run_id=run_id,
            data={"status": "pending", "wake_at": wake_at, "waiting_for": run.waiting_for},
        )

    async def save_step(self, run_id: str, fence: int, key: str, data: Any) -> None:
        run = self._runs.get(run_id)
        if run is None or run.fence != fence:
            raise lease_lost(run_id, fence)
        self._steps.setdefault(run_id, {})[key] = json_copy(data, f"step {key!r} of run {run_id!r}")
        # _append inlined: a checkpoint is the hot path.
        seq = self._seq = self._seq + 1
        event = (seq, run.app_id, "run.node_completed", time.time(), run.automation_id, run_id, None)
        self._log.append((*event, {"status": run.status, "key": key}))
        if self._appended is not None:
            self._appended.set()
            self._appended = None

    async def save_memory(self, run_id: str, fence: int, memory: Any, *, step: tuple[str, Any] | None = None) -> None:
        run = self._runs.get(run_id)
        if run is None or run.fence != fence:
            raise lease_lost(run_id, fence)
        document = json_copy(memory, f"memory of automation {run.automation_id!r}")
        if step is not None:
            await self.save_step(run_id, fence, *step)
        if run.automation_id in self._automations:
            self._memories[run.automation_id] = (run.app_id, document)

    async def get_memory(self, app_id: str, automation_id: str) -> Any:
        found = self._memories.get(automation_id)
        return _copy_json(found[1]) if found is not None and found[0] == app_id else None

    async def load_steps(self, run_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._steps.get(run_id, {}))

    # -- waits -----------------------------------------------------------------------------

    def _set_wait_status(self, wait: Wait, status: Any) -> None:
        wait.status = status
        if status != "pending" and wait.kind == "event" and wait.event is not None:
            pending = self._event_waits.get((wait.app_id, wait.event))
            if pending is not None:
                pending.pop(wait.id, None)
                if not pending:
                    del self._event_waits[(wait.app_id, wait.event)]
        self._wait_logged(wait)

    def _wait_logged(self, wait: Wait) -> None:
        entry = wait_event(wait)
        if entry is not None:
            self._append(wait.app_id, entry[0], automation_id=wait.automation_id, run_id=wait.run_id, data=entry[1])

    def _resolve(self, wait: Wait, status: str, resolution: dict[str, Any], now: float) -> None:
        run = self._runs.get(wait.run_id)
        wait.resolution = resolution
        wait.resolved_at = now
        wait.resolved_fence = run.fence if run is not None else None
        self._set_wait_status(wait, status)
        if run is not None and run.status == "pending":
            run.wake_at = now
            self._pending[run.id] = None
            if self._appended is not None:  # pollers waiting for work look again
                self._appended.set()
                self._appended = None

    def _run_waits(self, run_id: str) -> list[Wait]:
        """The stored waits of a run (the objects themselves: callers copy what they hand out)."""
        return [self._waits[wait_id] for wait_id in self._waits_by_run.get(run_id, {}).values()]

    async def register_wait(self, wait: Wait, fence: int) -> Wait:
        run = self._runs.get(wait.run_id)
        if run is None or run.fence != fence or run.app_id != wait.app_id:
            raise lease_lost(wait.run_id, fence)
        steps = self._waits_by_run.setdefault(wait.run_id, {})
        existing = steps.get(wait.step_key)
        if existing is not None:
            return _wait(self._waits[existing])
        stored = _wait(wait)
        stored.input = json_copy(wait.input, f"wait {wait.id!r} input")
        self._waits[wait.id] = stored
        steps[wait.step_key] = wait.id
        if wait.kind == "event" and wait.event is not None and wait.status == "pending":
            self._event_waits.setdefault((wait.app_id, wait.event), {})[wait.id] = None
        self._wait_logged(stored)
        return _wait(stored)

    async def resolve_wait(
        self, app_id: str, wait_id: str, *, status: str, resolution: dict[str, Any], now: float
    ) -> Wait | None:
        wait = self._waits.get(wait_id)
        if wait is None or wait.app_id != app_id or wait.status != "pending" or _expired(wait, now):
            return None
        self._resolve(wait, status, json_copy(resolution, f"wait {wait_id!r} resolution"), now)
        return _wait(wait)

    async def expire_wait(self, app_id: str, wait_id: str, now: float) -> Wait | None:
        wait = self._waits.get(wait_id)
        if wait is None or wait.app_id != app_id:
            return None
        if wait.status == "pending" and _expired(wait, now):
            self._set_wait_status(wait, "expired")
        return _wait(wait)

    async def get_wait(self, app_id: str, wait_id: str) -> Wait | None:
        wait = self._waits.get(wait_id)
        return _wait(wait) if wait is not None and wait.app_id == app_id else None

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
        found = sorted(
            (
                w
                for w in self._waits.values()
                if w.app_id == app_id
                and (kind is None or w.kind == kind)
                and (run_id is None or w.run_id == run_id)
                and (status is None or w.status == status)
                and (cursor is None or w.id < cursor)
            ),
            key=operator.attrgetter("id"),
            reverse=True,
        )[: limit + 1]
        return page([_wait(w) for w in found], limit)

    # -- retention -------------------------------------------------------------------------

    async def prune(self, before: float) -> int:
        doomed = [
            r
            for r in self._runs.values()
            if r.status in TERMINAL_RUN_STATUSES and r.finished_at is not None and r.finished_at < before
        ]
        for run in doomed:
            for wait_id in self._waits_by_run.pop(run.id, {}).values():
                del self._waits[wait_id]
            del self._runs[run.id]
            self._steps.pop(run.id, None)
            self._deliveries.pop(run.id, None)
            ids = self._runs_by_automation.get(run.automation_id)
            if ids is not None:
                position = bisect.bisect_left(ids, run.id)
                if position < len(ids) and ids[position] == run.id:
                    del ids[position]
        for key in [k for k, at in self._events.items() if at < before]:
            del self._events[key]
            self._event_runs.pop(key, None)
        self._log = [row for row in self._log if row[3] >= before]
        for key in [k for k, (_, slots) in self._flow_slots.items() if not slots or slots[-1][0] < before]:
            del self._flow_slots[key]
        return len(doomed)


def _wait(wait: Wait) -> Wait:
    """A copy of a stored wait (its JSON parts copied too)."""
    return dataclasses.replace(
        wait,
        choices=list(wait.choices),
        assignees=None if wait.assignees is None else list(wait.assignees),
        input=_copy_json(wait.input),
        resolution=_copy_json(wait.resolution),
    )


def _expired(wait: Wait, now: float) -> bool:
    return wait.expires_at is not None and wait.expires_at <= now


def _error_text(result: Any) -> str | None:
    """The ``error`` of a run's result, when it has one."""
    error = result.get("error") if isinstance(result, dict) else None
    return None if error is None else str(error)
