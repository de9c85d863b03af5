"""Records: configs, automations and their runs (the seeds' field names, statuses and id prefixes).

Plain slotted dataclasses rather than pydantic models: the event path creates one run record
per matching automation and must stay in the low microseconds. Input validation happens at the
service boundary (:mod:`graphflow.automations.service`); ``to_dict`` gives the API shape.
"""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from graphflow.ids import new_id

__all__ = [
    "AUTOMATION_STATUSES",
    "AUTOMATION_TYPES",
    "CATCHUP_POLICIES",
    "OVERLAP_POLICIES",
    "QUEUED_AT",
    "REDACTED_SECRET",
    "RUN_STATUSES",
    "STREAM_EVENT_TYPES",
    "TERMINAL_RUN_STATUSES",
    "WAIT_STATUSES",
    "ApiKey",
    "Automation",
    "AutomationRun",
    "ConfigRecord",
    "FlowPolicy",
    "LateSchedule",
    "Offer",
    "Page",
    "Repeat",
    "StoreStatus",
    "StreamEvent",
    "Wait",
    "WorkerSeen",
    "awaiting_delivery",
    "delivery_shape",
    "iso",
]

AutomationType = Literal["trigger", "scheduled", "invoked"]
AutomationStatus = Literal["draft", "running", "paused"]
RunStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
OverlapPolicy = Literal["skip", "buffer_one", "allow"]
CatchupPolicy = Literal["none", "latest", "all"]
WaitKind = Literal["steering", "event"]
WaitStatus = Literal["pending", "answered", "matched", "expired", "cancelled"]

AUTOMATION_TYPES: tuple[str, ...] = ("trigger", "scheduled", "invoked")
AUTOMATION_STATUSES: tuple[str, ...] = ("draft", "running", "paused")
RUN_STATUSES: tuple[str, ...] = ("pending", "running", "completed", "failed", "cancelled")
TERMINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled"})
#: The ``wake_at`` of a run queued behind a concurrency limit: no time makes it due (it is past
#: 9999-12-31T23:59:59Z, the latest instant a date can name, which is what a run parked on a wait
#: without expiry holds); the store makes it claimable (``wake_at = None``) when a slot frees.
QUEUED_AT = 253_402_300_800.0
OVERLAP_POLICIES: tuple[str, ...] = ("skip", "buffer_one", "allow")
CATCHUP_POLICIES: tuple[str, ...] = ("none", "latest", "all")
#: A wait's life: ``pending`` until a person answers (steering), an event matches (event waits),
#: its time runs out (``expired``) or its run ends first (``cancelled``).
WAIT_STATUSES: tuple[str, ...] = ("pending", "answered", "matched", "expired", "cancelled")
#: Every ``type`` of :class:`StreamEvent` a store appends.
STREAM_EVENT_TYPES: tuple[str, ...] = (
    "config.created",
    "config.updated",
    "config.deleted",
    "automation.created",
    "automation.updated",
    "automation.activated",
    "automation.paused",
    "automation.reset",
    "automation.deleted",
    "run.created",
    "run.started",
    "run.waiting",
    "run.node_completed",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "steering.requested",
    "steering.answered",
    "steering.expired",
    "steering.cancelled",
)


#: What the API shows instead of a webhook sink's secret.
REDACTED_SECRET = "<redacted>"


def _redacted(sink: dict[str, Any]) -> dict[str, Any]:
    """A delivery sink as the API shows it: its secret and header values replaced by ``<redacted>``."""
    shown = dict(sink)
    if shown.get("secret"):
        shown["secret"] = REDACTED_SECRET
    if shown.get("headers"):
        shown["headers"] = dict.fromkeys(shown["headers"], REDACTED_SECRET)
    return shown


def awaiting_delivery(sinks: list[dict[str, Any]]) -> dict[str, Any]:
    """A new run's ``delivery``: awaiting its outcome, with the outcomes the automation's sinks deliver."""
    on = {outcome for sink in sinks for outcome in sink.get("on", ("completed", "failed"))}
    return {"status": "awaiting", "on": sorted(on)}


def delivery_shape(delivery: dict[str, Any] | None, run_status: str) -> dict[str, Any] | None:
    """A run's ``delivery`` as the API shows it: status, attempts, last error and times (ISO-8601)."""
    if delivery is None:
        return None
    status = delivery.get("status")
    if status == "awaiting" and run_status == "cancelled":
        status = "skipped"  # a cancelled run delivers nothing
    return {
        "status": status,
        "attempts": delivery.get("attempts", 0),
        "last_error": delivery.get("last_error"),
        "next_at": iso(delivery.get("next_at")) if status == "pending" else None,
        "delivered_at": iso(delivery.get("delivered_at")),
    }


def iso(ts: float | None) -> str | None:
    """A UNIX timestamp as ISO-8601 UTC (``2026-02-28T09:00:00Z``), or ``None``."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat()
    return text.replace("+00:00", "Z")


@dataclass(slots=True)
class ConfigRecord:
    """One version of a stored WorkflowGraph config (``cfg_…``); each update adds a version."""

    id: str
    app_id: str
    version: int
    name: str
    document: dict[str, Any]
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """The API shape."""
        return {
            "id": self.id,
            "app_id": self.app_id,
            "version": self.version,
            "name": self.name,
            "config": self.document,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(slots=True)
class Repeat:
    """How many times a scheduled automation fires: ``times`` (``None`` = forever) and ``completed``."""

    times: int | None = None
    completed: int = 0


@dataclass(slots=True)
class Automation:
    """An automation (``aut_…``): binds a config to a trigger event, a schedule, or direct invocation.

    ``enabled`` is derived: true iff ``status == "running"`` (the Herm shape).
    """

    id: str
    app_id: str
    name: str
    type: AutomationType
    status: AutomationStatus
    config_id: str | None
    created_at: float
    updated_at: float
    description: str | None = None
    trigger: str | None = None
    schedule: str | None = None
    schedule_kind: str | None = None
    schedule_display: str | None = None
    timezone: str = "UTC"
    run_as_user_id: str | None = None
    lookup_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    repeat: Repeat = field(default_factory=Repeat)
    overlap: OverlapPolicy = "skip"
    catchup: CatchupPolicy = "latest"
    misfire_grace: float = 60.0
    max_catchup_runs: int = 10
    jitter: float = 0.0
    next_run_at: float | None = None
    last_run_at: float | None = None
    last_run_status: RunStatus | None = None
    paused_reason: str | None = None
    #: Incremented on every write; stores use it for optimistic concurrency.
    revision: int = 1
    #: The error of the last finished run (``None`` after a success); written with ``last_run_status``.
    last_error: str | None = None
    #: Invoked automations: the JSON Schema (draft 2020-12) an invoke's payload must satisfy.
    input_schema: dict[str, Any] | None = None
    #: Pause the automation after this many failed runs in a row (``None``: never).
    max_consecutive_failures: int | None = None
    #: Failed runs in a row, kept by the store with each outcome (a completed run resets it).
    consecutive_failures: int = 0
    #: Trigger automations: a CEL condition over the event's payload (``$``); an event it does not
    #: hold for starts nothing.
    filter: str | None = None
    #: Scheduled automations: no fire before ``starts_at`` nor after ``ends_at`` (UNIX seconds);
    #: past ``ends_at`` the automation pauses with ``paused_reason: "ended"``.
    starts_at: float | None = None
    ends_at: float | None = None
    # -- event flow control (trigger automations; see graphflow.automations.flow) --
    #: ``{"period", "max_wait", "key"}``: a burst of events (per key) starts one run, with the last
    #: event's payload, ``period`` seconds after the last event (at most ``max_wait`` after the first).
    debounce: dict[str, Any] | None = None
    #: ``{"limit", "period", "key", "overflow"}``: at most ``limit`` runs start per ``period`` seconds
    #: per key; the others are dropped (``overflow: "drop"``) or start later (``"delay"``).
    throttle: dict[str, Any] | None = None
    #: ``{"limit", "key"}``: at most ``limit`` runs per key are active (started and not finished);
    #: the others queue, durably, in order.
    concurrency: dict[str, Any] | None = None
    #: ``[{"event", "key", "filter"}]``: an event of that name (whose ``key`` equals a run's key, and
    #: for which ``filter`` holds) cancels the automation's active runs for that key.
    cancel_on: list[dict[str, Any]] = field(default_factory=list)
    # -- result delivery (see graphflow.engine.delivery) --
    #: Where a finished run's result goes: ``[{"kind": "webhook" | "emit" | "callback", ...}]``.
    deliver: list[dict[str, Any]] = field(default_factory=list, repr=False)  # holds secrets: not in repr
    #: The error of the last failed delivery (``None`` after a delivered one); kept by delivery outcomes.
    last_delivery_error: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether the automation is running."""
        return self.status == "running"

    @property
    def event(self) -> str:
        """The event its config must have a trigger node for."""
        if self.type == "scheduled":
            return "workflow.scheduled"
        if self.type == "invoked":
            return "workflow.invoked"
        return self.trigger or ""

    def new_run(self, now: float, payload: Any, *, trigger: str | None = None, **fields: Any) -> AutomationRun:
        """A new pending run of this automation at ``now`` (its config version is pinned when it is stored).

        ``trigger`` defaults to the automation's event; ``fields`` set the run's other fields
        (``event_id``, ``scheduled_at``, ``causation``). A run of an automation with ``deliver``
        sinks starts with ``delivery = {"status": "awaiting", "on": [...]}`` (the outcomes its
        sinks deliver), which its outcome turns into a delivery (see :mod:`graphflow.engine.delivery`).
        """
        if self.deliver:
            fields.setdefault("delivery", awaiting_delivery(self.deliver))
        return AutomationRun(
            id=new_id("atr_"),
            automation_id=self.id,
            app_id=self.app_id,
            trigger=trigger or self.event,
            payload=payload,
            status="pending",
            config_id=self.config_id,
            config_version=None,
            created_at=now,
            updated_at=now,
            run_as_user_id=self.run_as_user_id,
            **fields,
        )

    def snapshot(self) -> Automation:
        """A shallow copy (~0.5 µs), for the engine's own in-memory views (index, schedule heap).

        Assigning a field of either record leaves the other alone, which is what keeps a host
        that mutates a returned record from changing what the engine tracks; the mutable values
        (``metadata``, ``repeat``) are shared, so holders of a snapshot must only read them.
        """
        return Automation(*_AUTOMATION_FIELDS(self))

    def to_dict(self) -> dict[str, Any]:
        """The API shape."""
        data = asdict(self)
        data.pop("revision")
        if self.deliver:  # secrets sign deliveries, header values often carry credentials: never shown
            data["deliver"] = [_redacted(sink) for sink in data["deliver"]]
        for key in ("created_at", "updated_at", "next_run_at", "last_run_at", "starts_at", "ends_at"):
            data[key] = iso(data[key])
        data["enabled"] = self.enabled
        return data


#: Every field of an automation in constructor order: ``Automation(*_AUTOMATION_FIELDS(a))`` copies it.
_AUTOMATION_FIELDS = operator.attrgetter(*(f.name for f in fields(Automation)))


@dataclass(slots=True)
class AutomationRun:
    """One execution (``atr_…``) of an automation's config.

    ``result`` is ``{"payload", "output"}`` on success and ``{"error"}`` on failure. ``journal``
    holds the per-node entries (as dicts) once the run has executed.
    """

    id: str
    automation_id: str
    app_id: str
    trigger: str
    payload: Any
    status: RunStatus
    config_id: str | None
    config_version: int | None
    created_at: float
    updated_at: float
    event_id: str | None = None
    scheduled_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    journal: list[dict[str, Any]] = field(default_factory=list)
    run_as_user_id: str | None = None
    # -- durable execution (internal: not part of the API shape) --
    #: The worker holding the run's lease (``None`` when nobody does).
    lease_owner: str | None = None
    #: When the lease expires, by the database's clock (UNIX seconds).
    lease_expires_at: float | None = None
    #: Incremented on every claim and cancel; a write with an older fence is refused.
    fence: int = 0
    #: How many times the run was reclaimed after its worker died.
    recoveries: int = 0
    #: A pending run is claimable only from this time on (a durable timer), when set.
    wake_at: float | None = None
    # -- added in schema version 2 (last, as the column is in the tables) --
    #: Why the run exists when an event emitted by another run started it:
    #: ``{"depth": n, "run_id": the emitting run, "origin_run_id": the first run of the chain}``.
    causation: dict[str, Any] | None = None
    # -- added in schema version 4 (SQLite) / 5 (PostgreSQL) --
    #: What a parked run waits for (``None`` unless it is parked): ``{"kind": "steering",
    #: "steering_request_id", "node_id", "until"}``, ``{"kind": "event", "event", "wait_id",
    #: "node_id", "until"}`` or ``{"kind": "timer", "node_id", "until"}``. Cleared when it resumes.
    waiting_for: dict[str, Any] | None = None
    # -- added in schema version 5 (SQLite) / 6 (PostgreSQL) --
    #: The flow-control key of the event that started it (see :attr:`Automation.debounce`…):
    #: the value of the policy's ``key`` expression, as text; ``""`` when the policy has no key.
    flow_key: str | None = None
    #: Delivery of the result, apart from ``status``: ``{"status", "attempts", "last_error",
    #: "next_at", "delivered_at", "done" (the keys of the sinks delivered), "on"}``; ``None`` when the
    #: automation delivers nowhere.
    #: ``status`` is ``awaiting`` (the run has not finished), ``pending`` (an attempt is due at
    #: ``next_at``, or under way until then), ``delivered``, ``failed`` (attempts exhausted, or an
    #: error a retry cannot fix) or ``skipped`` (no sink delivers this outcome). ``done`` lists the
    #: sinks (by index) already delivered, which a retry skips. See :mod:`graphflow.engine.delivery`.
    delivery: dict[str, Any] | None = None
    #: The W3C trace context (``{"traceparent", "tracestate"}``) of what created the run, continued
    #: by whichever process executes it.
    trace_context: dict[str, str] | None = None

    @property
    def envelope(self) -> dict[str, Any]:
        """The workflow input: ``{"trigger": ..., "payload": ...}``."""
        return {"trigger": self.trigger, "payload": self.payload}

    def to_dict(self, *, journal: bool = True) -> dict[str, Any]:
        """The API shape."""
        data = {
            "id": self.id,
            "automation_id": self.automation_id,
            "app_id": self.app_id,
            "event_id": self.event_id,
            "trigger": self.trigger,
            "payload": self.payload,
            "status": self.status,
            "result": self.result,
            "config_id": self.config_id,
            "config_version": self.config_version,
            "scheduled_at": iso(self.scheduled_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "run_as_user_id": self.run_as_user_id,
            "causation": self.causation,
            "waiting_for": self.waiting_for,
            "flow_key": self.flow_key,
            "delivery": delivery_shape(self.delivery, self.status),
        }
        if journal:
            data["journal"] = self.journal
        return data


@dataclass(frozen=True, slots=True)
class FlowPolicy:
    """How a store decides, when it accepts an event, a run of an automation with a flow policy.

    The engine builds one from :attr:`Automation.debounce`, ``throttle`` or ``concurrency`` and
    hands it to :meth:`graphflow.abc.Store.accept_event` with the run (whose ``flow_key`` is set).

    Attributes:
        kind: ``"debounce"``, ``"throttle"`` or ``"concurrency"``.
        limit: runs per period (throttle) or active runs (concurrency) per key.
        period: seconds: the debounce's quiet time, the throttle's window.
        max_wait: debounce: a run starts at most this long after the first event of its burst.
        delay: throttle: start the runs over the limit later (``True``) instead of dropping them.
    """

    kind: Literal["debounce", "throttle", "concurrency"]
    limit: int = 0
    period: float = 0.0
    max_wait: float | None = None
    delay: bool = False

    @classmethod
    def of(cls, automation: Automation) -> FlowPolicy | None:
        """The policy of an automation (``None`` when it has none)."""
        return cls.from_fields(automation.debounce, automation.throttle, automation.concurrency)

    @classmethod
    def from_fields(
        cls, debounce: dict[str, Any] | None, throttle: dict[str, Any] | None, concurrency: dict[str, Any] | None
    ) -> FlowPolicy | None:
        """The policy of an automation's ``debounce``, ``throttle`` and ``concurrency`` (as stored)."""
        if debounce:
            return cls("debounce", period=float(debounce["period"]), max_wait=debounce.get("max_wait"))
        if throttle:
            limit, period = int(throttle["limit"]), float(throttle["period"])
            return cls("throttle", limit=limit, period=period, delay=throttle.get("overflow") == "delay")
        if concurrency:
            return cls("concurrency", limit=int(concurrency["limit"]))
        return None


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One entry of an app's append-only event log (what SSE streams send).

    Stores append events in the same transaction as the change they announce (see
    :meth:`graphflow.abc.Store.read_events`); ``seq`` is assigned by the store, strictly
    increasing in commit order, and is the SSE ``id`` a client resumes from.
    """

    seq: int
    app_id: str
    #: One of :data:`STREAM_EVENT_TYPES`.
    type: str
    #: When the store wrote it (UNIX seconds).
    at: float
    automation_id: str | None = None
    run_id: str | None = None
    config_id: str | None = None
    #: Small JSON: ``{"status": "failed", "error": "..."}``, ``{"key": step key}``…
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The API shape."""
        return {
            "seq": self.seq,
            "type": self.type,
            "at": iso(self.at),
            "app_id": self.app_id,
            "automation_id": self.automation_id,
            "run_id": self.run_id,
            "config_id": self.config_id,
            "data": self.data,
        }


@dataclass(slots=True)
class Wait:
    """A run parked until something outside it happens: a person's decision or an event.

    A **steering request** (``kind="steering"``, id ``str_…``) is raised by a
    ``WorkflowApproval`` node: a message, the ``choices`` a person may answer with, who may answer
    (``assignees``; ``None``: anyone of the app) and an expiry. An **event wait** (``kind="event"``,
    id ``wfe_…``) is registered by a ``WorkflowWaitForEvent`` node: the event name and a CEL
    ``condition`` over ``payload`` (the event's) and ``$`` (the node's ``input``). A run has at most
    one wait per node execution (``step_key``). ``resolution`` is ``{"choice", "note", "by"}`` for
    an answer and ``{"event_id", "event", "payload"}`` for a match.
    """

    id: str
    app_id: str
    automation_id: str
    run_id: str
    node_id: str
    step_key: str
    kind: WaitKind
    status: WaitStatus
    created_at: float
    expires_at: float | None = None
    message: str | None = None
    choices: list[str] = field(default_factory=list)
    assignees: list[str] | None = None
    event: str | None = None
    condition: str | None = None
    input: Any = None
    resolved_at: float | None = None
    resolution: dict[str, Any] | None = None
    #: The run's fence when the wait was resolved (internal: a run parking under this fence
    #: after its wait was resolved is claimable at once).
    resolved_fence: int | None = None

    @property
    def resolved(self) -> bool:
        """Whether a decision or an event ended the wait."""
        return self.status in ("answered", "matched")

    def to_dict(self) -> dict[str, Any]:
        """The API shape: a steering request, or an event wait."""
        data: dict[str, Any] = {
            "id": self.id,
            "app_id": self.app_id,
            "automation_id": self.automation_id,
            "run_id": self.run_id,
            "node_id": self.node_id,
            "status": self.status,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
        }
        resolution = self.resolution or {}
        if self.kind == "steering":
            data.update(
                message=self.message,
                choices=self.choices,
                assignees=self.assignees,
                answered_at=iso(self.resolved_at) if self.status == "answered" else None,
                choice=resolution.get("choice"),
                note=resolution.get("note"),
                answered_by=resolution.get("by"),
            )
        else:
            data.update(
                event=self.event,
                condition=self.condition,
                matched_at=iso(self.resolved_at) if self.status == "matched" else None,
                event_id=resolution.get("event_id"),
            )
        return data


@dataclass(slots=True)
class Offer:
    """An accepted event a store offered to pending event waits and has not resolved yet.

    A store that resolves the matched waits after the event's transaction (PostgreSQL) records
    the offer with it, so that, if the process dies in between, any engine can finish the job
    (:meth:`graphflow.abc.Store.leftover_offers`). ``waits`` are those still pending.
    """

    app_id: str
    event_id: str
    name: str
    payload: Any
    waits: list[Wait]
    created_at: float


@dataclass(slots=True)
class ApiKey:
    """An API key (``key_…``) of one app. The secret is shown once at creation; stores keep a hash."""

    id: str
    app_id: str
    name: str | None
    created_at: float
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked."""
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        """The API shape (never the secret nor its hash)."""
        return {
            "id": self.id,
            "app_id": self.app_id,
            "name": self.name,
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at),
        }


@dataclass(slots=True)
class Page:
    """One page of a cursor-paginated listing: ``{data, next_cursor}``."""

    data: list[Any]
    next_cursor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The API shape (items converted with their ``to_dict``)."""
        return {
            "data": [d.to_dict() if hasattr(d, "to_dict") else d for d in self.data],
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True, slots=True)
class WorkerSeen:
    """A worker process seen through the leases it holds (the store keeps no table of workers).

    A worker is seen while it executes runs: each run it claimed carries its ``lease_owner`` and a
    ``lease_expires_at`` its heartbeat pushes ``lease`` seconds ahead every ``lease / 3`` seconds.
    An idle worker holds no lease and is not seen; a worker whose leases all expired has stopped
    (its runs are recovered by another worker).

    Attributes:
        worker_id: the engine's ``worker_id`` (``host:pid:random`` by default).
        runs: the runs it holds.
        lease_expires_at: the latest expiry of its leases (UNIX seconds).
    """

    worker_id: str
    runs: int
    lease_expires_at: float


@dataclass(frozen=True, slots=True)
class LateSchedule:
    """A running scheduled automation whose next fire is overdue (no engine fired it)."""

    app_id: str
    automation_id: str
    next_run_at: float


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """What an operator asks of a database: its schema, its queue and the workers holding runs.

    Counts are capped (:attr:`cap`): a count that reads ``cap`` means "at least". Every figure
    is read from an index, so the cost is bounded by the cap, not by the size of the tables.

    Attributes:
        schema_version: the version the database was migrated to.
        expected_schema_version: the version this graphflow writes (equal when migrations are current).
        pending: runs a worker could claim now (new runs, and parked runs whose time came).
        parked: pending runs waiting for a time or an event (durable timers and waits).
        running: runs claimed by a worker.
        expired_leases: running runs whose worker stopped renewing its lease (recovered on the next claim).
        oldest_pending_at: when the oldest claimable run became claimable (``None``: none is).
        workers: the workers holding leases, latest heartbeat first.
        late_schedules: scheduled automations overdue by more than asked, most overdue first.
        cap: the cap of the counts.
    """

    schema_version: int
    expected_schema_version: int
    pending: int
    parked: int
    running: int
    expired_leases: int
    oldest_pending_at: float | None
    workers: tuple[WorkerSeen, ...] = ()
    late_schedules: tuple[LateSchedule, ...] = ()
    cap: int = 100_000
