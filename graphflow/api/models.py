"""The request and response shapes of the HTTP API, as pydantic models.

The routes validate query strings and small bodies with these models, and
:mod:`graphflow.api.openapi` builds ``/v1/openapi.json`` from the same classes. Automation
bodies are checked by the service itself (:class:`~graphflow.automations.inputs.AutomationFields`,
which lists every problem with its path); their schema is that model's. Response models describe
what the records' ``to_dict`` return; they allow extra fields, so a new field never breaks a client.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AutomationListQuery",
    "AutomationOut",
    "AutomationPage",
    "AutomationWithRuns",
    "CatalogueOut",
    "ConfigOut",
    "ConfigPage",
    "DeliveryOut",
    "ErrorOut",
    "EventIn",
    "ExplainIn",
    "ExplainOut",
    "HealthOut",
    "InvokeIn",
    "LiveOut",
    "MemoryOut",
    "OperatorStatusOut",
    "OperatorStatusQuery",
    "PageQuery",
    "PauseIn",
    "PublishOut",
    "ReadyOut",
    "RunListQuery",
    "RunOut",
    "RunPage",
    "StatusOut",
    "StatusQuery",
    "SteeringListQuery",
    "SteeringOut",
    "SteeringPage",
    "SteeringResponseIn",
    "StreamQuery",
    "TriggerIn",
    "TriggerOut",
    "VersionQuery",
]

_ID = r"^[A-Za-z0-9_.\-]{1,100}$"


class _Body(BaseModel):
    """A request body: unknown fields are refused, every problem is reported."""

    model_config = ConfigDict(extra="forbid")


class _Query(BaseModel):
    """A query string: an unknown parameter is refused (a typo never silently does nothing)."""

    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    """A response: fields may be added in later versions."""

    model_config = ConfigDict(extra="allow")


# -- query strings -------------------------------------------------------------------------


class PageQuery(_Query):
    """``?limit=&cursor=`` of every listing."""

    limit: int = Field(50, ge=1, le=100, description="page size, 1-100")
    cursor: str | None = Field(None, min_length=1, max_length=100, description="next_cursor of the previous page")


class AutomationListQuery(PageQuery):
    """``GET …/automations`` filters."""

    type: Literal["trigger", "scheduled", "invoked"] | None = None


class RunListQuery(PageQuery):
    """``GET …/automations/{id}/runs`` filters."""

    status: Literal["pending", "running", "completed", "failed", "cancelled"] | None = None


class SteeringListQuery(PageQuery):
    """``GET …/steering_requests`` filters: ``?status=pending`` for the ones awaiting an answer."""

    status: Literal["pending", "answered", "expired", "cancelled"] | None = None
    run_id: str | None = Field(None, min_length=1, max_length=100, description="one run's requests")


class StatusQuery(_Query):
    """``GET …/automations/status?automation_id=``: one automation's running runs."""

    automation_id: str | None = Field(None, min_length=1, max_length=100)


class OperatorStatusQuery(_Query):
    """``GET /v1/status?late_after=&limit=``."""

    late_after: float = Field(60.0, ge=0, le=10**9, description="list schedules overdue by more than this (seconds)")
    limit: int = Field(20, ge=1, le=1000, description="most workers and overdue schedules listed")


class VersionQuery(_Query):
    """``GET …/configs/{id}?version=``."""

    version: int | None = Field(None, ge=1, le=2**31 - 1)


class StreamQuery(_Query):
    """``GET …/stream?types=`` — a comma-separated list of event types (default: all)."""

    types: str | None = Field(None, max_length=2000, description="e.g. run.completed,run.failed")


# -- request bodies ------------------------------------------------------------------------


class PauseIn(_Body):
    """``POST …/pause``."""

    reason: str | None = Field(None, max_length=500)


class TriggerIn(_Body):
    """``POST …/trigger``: the run's payload (scheduled automations ignore it)."""

    payload: Any = None


class SteeringResponseIn(_Body):
    """``POST …/steering_requests/{id}``: the answer."""

    choice: str = Field(min_length=1, max_length=64, description="one of the request's choices")
    note: str | None = Field(None, max_length=2000)
    by: str | None = Field(None, min_length=1, max_length=200, description="who answers (a user id)")


class InvokeIn(_Body):
    """``POST …/invoke``: an invoked automation's run (the ``Idempotency-Key`` header works too)."""

    payload: Any = Field(default_factory=dict, description="checked against the automation's input_schema")
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=200, description="a repeat returns the first call's run"
    )
    wait: bool = Field(False, description="answer once the run ended (200) instead of at once (202)")
    timeout: float | None = Field(None, gt=0, le=300, description="with wait: seconds at most (default 30; then 504)")


class EventIn(_Body):
    """``POST …/events``: publish a platform event."""

    name: str = Field(min_length=1, max_length=200)
    payload: Any = Field(default_factory=dict)
    id: str | None = Field(None, pattern=_ID, description="idempotency id: a repeat creates nothing")


class ExplainIn(_Body):
    """``POST …/events/explain``: which automations an event would start (payload checked if given)."""

    name: str = Field(min_length=1, max_length=200)
    payload: Any = None


# -- responses -----------------------------------------------------------------------------


class ErrorBody(_Out):
    """The error itself."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorOut(BaseModel):
    """Every error: ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorBody


class HealthOut(_Out):
    """``GET /v1/health``."""

    status: Literal["ok"]
    version: str
    store: str


class LiveOut(_Out):
    """``GET /v1/health/live``."""

    status: Literal["ok"]
    version: str


class ReadyOut(_Out):
    """``GET /v1/health/ready`` (200 ready, 503 not): each check with ``ok`` and, when not, ``error``."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, dict[str, Any]]


class QueueOut(_Out):
    """The queue part of ``GET /v1/status`` (counts capped at ``cap``)."""

    pending: int
    oldest_pending_age: float | None
    parked: int
    running: int
    expired_leases: int
    cap: int


class WorkerOut(_Out):
    """A worker seen through its leases; ``alive``: its latest lease has not expired."""

    worker_id: str
    runs: int
    lease_expires_at: str
    alive: bool


class LateScheduleOut(_Out):
    """A scheduled automation whose next fire is overdue by ``late_by`` seconds."""

    app_id: str
    automation_id: str
    next_run_at: str
    late_by: float


class OperatorStatusOut(_Out):
    """``GET /v1/status``: the database's queue, the workers seen and overdue schedules."""

    schema_version: int
    expected_schema_version: int
    queue: QueueOut
    workers: list[WorkerOut]
    late_schedules: list[LateScheduleOut]


class AutomationOut(_Out):
    """An automation (``aut_…``)."""

    id: str
    app_id: str
    name: str
    type: Literal["trigger", "scheduled", "invoked"]
    status: Literal["draft", "running", "paused"]
    enabled: bool
    config_id: str | None
    trigger: str | None
    schedule: str | None
    created_at: str
    updated_at: str
    next_run_at: str | None
    last_run_at: str | None
    last_run_status: str | None
    paused_reason: str | None
    filter: str | None = None
    debounce: dict[str, Any] | None = Field(None, description="trigger: {period, max_wait, key}")
    throttle: dict[str, Any] | None = Field(None, description="trigger: {limit, period, key, overflow: drop|delay}")
    concurrency: dict[str, Any] | None = Field(None, description="trigger: {limit, key}")
    cancel_on: list[dict[str, Any]] = Field(default_factory=list, description="trigger: [{event, key, filter}]")
    deliver: list[dict[str, Any]] = Field(
        default_factory=list,
        description="where a finished run's result goes (webhook, emit, callback sinks); webhook secrets are redacted",
    )
    last_delivery_error: str | None = Field(
        None, description="the error of the last failed delivery; cleared by a delivered one"
    )


class DeliveryOut(_Out):
    """A run's result delivery, apart from the run's status (``delivery`` on a run)."""

    status: Literal["awaiting", "pending", "delivered", "failed", "skipped"]
    attempts: int
    last_error: str | None
    next_at: str | None = Field(None, description="when the next attempt is due (pending only)")
    delivered_at: str | None = None


class RunOut(_Out):
    """An automation run (``atr_…``); ``journal`` only on ``GET …/runs/{run_id}``."""

    id: str
    automation_id: str
    app_id: str
    trigger: str
    payload: Any
    status: Literal["pending", "running", "completed", "failed", "cancelled"]
    result: dict[str, Any] | None
    started_at: str | None
    finished_at: str | None
    created_at: str
    waiting_for: dict[str, Any] | None = Field(
        None,
        description="what a pending run waits for: a timer, a steering request, an event, or flow control "
        "(debounce, throttle, concurrency)",
    )
    flow_key: str | None = Field(None, description="the flow-control key of the event that started it")
    delivery: DeliveryOut | None = Field(
        None, description="its result's delivery (None: its automation delivers nowhere)"
    )
    journal: list[dict[str, Any]] | None = None


class AutomationWithRuns(AutomationOut):
    """``GET …/automations/{id}``: the automation and its most recent runs (newest first)."""

    recent_runs: list[RunOut]


class ConfigOut(_Out):
    """A config version (``cfg_…``): ``config`` is the WorkflowGraph document."""

    id: str
    app_id: str
    version: int
    name: str
    config: dict[str, Any]
    created_at: str
    updated_at: str


class SteeringOut(_Out):
    """A steering request (``str_…``) raised by a ``WorkflowApproval`` node."""

    id: str
    app_id: str
    automation_id: str
    run_id: str
    node_id: str
    status: Literal["pending", "answered", "expired", "cancelled"]
    message: str | None
    choices: list[str]
    assignees: list[str] | None
    created_at: str
    expires_at: str | None
    answered_at: str | None
    choice: str | None
    note: str | None
    answered_by: str | None


class MemoryOut(BaseModel):
    """``GET …/automations/{id}/memory``: ``null`` until a run remembered something."""

    memory: Any = None


class SteeringPage(BaseModel):
    """A page of steering requests, newest first."""

    data: list[SteeringOut]
    next_cursor: str | None


class AutomationPage(BaseModel):
    """A page of automations."""

    data: list[AutomationOut]
    next_cursor: str | None


class RunPage(BaseModel):
    """A page of runs, newest first."""

    data: list[RunOut]
    next_cursor: str | None


class ConfigPage(BaseModel):
    """A page of configs (latest versions)."""

    data: list[ConfigOut]
    next_cursor: str | None


class CatalogueEntry(_Out):
    """One event trigger automations can listen for."""

    name: str
    description: str
    category: str


class CatalogueOut(BaseModel):
    """``GET …/automations/events``."""

    data: list[CatalogueEntry]


class RunningRun(_Out):
    """One executing run and how long it has been running."""

    run_id: str
    automation_id: str
    started_at: str | None
    elapsed: float


class StatusOut(BaseModel):
    """``GET …/automations/status``: the running runs, oldest first."""

    data: list[RunningRun]


class TriggerOut(BaseModel):
    """``POST …/trigger``."""

    run_id: str


class PublishOut(BaseModel):
    """``POST …/events``: the runs started (none when ``duplicate``)."""

    event_id: str
    duplicate: bool
    run_ids: list[str]
    woken_run_ids: list[str] = Field(default_factory=list, description="waiting runs the event woke")


class ExplainOut(BaseModel):
    """``POST …/events/explain``: the automations the event would start."""

    data: list[AutomationOut]
