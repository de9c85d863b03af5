"""Frozen, past-tense events the engine announces. Subscribe with ``Engine.subscribe``/``Executor.subscribe``.

Each event is a keyword-only value object; ``at`` is a UNIX timestamp (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AutomationActivated",
    "AutomationCreated",
    "AutomationDeleted",
    "AutomationEvent",
    "AutomationPaused",
    "AutomationReset",
    "AutomationUpdated",
    "DeliveryAttempted",
    "EngineEvent",
    "EventAccepted",
    "NodeCompleted",
    "NodeEvent",
    "NodeFailed",
    "NodeStarted",
    "RunCancelled",
    "RunCompleted",
    "RunEvent",
    "RunFailed",
    "RunSkipped",
    "RunStarted",
    "RunSuspended",
    "SteeringAnswered",
    "SteeringRequested",
    "WaitMatched",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineEvent:
    """Base class of everything the engine announces."""

    at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class RunEvent(EngineEvent):
    """Something happened to a run."""

    run_id: str
    graph: str
    app_id: str | None = None
    automation_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted(RunEvent):
    """A run started executing."""

    trigger: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCompleted(RunEvent):
    """A run finished successfully; ``result`` is ``{payload, output}``."""

    result: dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFailed(RunEvent):
    """A run failed; ``error`` says why."""

    error: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCancelled(RunEvent):
    """A run was cancelled before it finished."""

    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSuspended(RunEvent):
    """A run parked itself (a durable timer or a wait); it resumes (``RunStarted`` again) after ``wake_at``.

    ``waiting_for`` says what it waits for (see :attr:`graphflow.records.AutomationRun.waiting_for`).
    """

    wake_at: float
    waiting_for: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeEvent(EngineEvent):
    """Something happened to a node of a run."""

    run_id: str
    node_id: str
    attempt: int
    scope: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeStarted(NodeEvent):
    """A node attempt started."""


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeCompleted(NodeEvent):
    """A node completed; ``duration`` in seconds."""

    duration: float


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeFailed(NodeEvent):
    """A node attempt failed; ``will_retry`` tells whether another attempt follows."""

    error: str
    code: str
    will_retry: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationEvent(EngineEvent):
    """Something happened to an automation."""

    app_id: str
    automation_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationCreated(AutomationEvent):
    """An automation was created (in ``draft``, or ``running`` when created enabled)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationUpdated(AutomationEvent):
    """An automation's fields changed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationActivated(AutomationEvent):
    """An automation moved to ``running``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationPaused(AutomationEvent):
    """An automation moved to ``paused``; ``reason`` as given."""

    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationReset(AutomationEvent):
    """An automation moved back to ``draft``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationDeleted(AutomationEvent):
    """An automation was deleted (its past runs remain)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EventAccepted(EngineEvent):
    """A published platform event was accepted; ``run_ids`` are the runs it created."""

    app_id: str
    event_id: str
    name: str
    run_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class CascadeStopped(EngineEvent):
    """A run's ``WorkflowEmitEvent`` was refused: the event would be ``depth`` emits deep, past the limit.

    ``origin_run_id`` is the run that started the chain (the first run not started by an emit).
    """

    app_id: str
    run_id: str
    origin_run_id: str
    event: str
    depth: int
    limit: int


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSkipped(EngineEvent):
    """A run that would have started did not; ``reason`` is ``overlap``, ``missed`` or ``paused``."""

    app_id: str
    automation_id: str
    reason: str
    scheduled_at: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SteeringRequested(EngineEvent):
    """A ``WorkflowApproval`` node raised a steering request; its run waits for an answer."""

    app_id: str
    automation_id: str
    run_id: str
    request_id: str
    node_id: str
    message: str
    choices: tuple[str, ...]
    expires_at: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SteeringAnswered(EngineEvent):
    """A steering request was answered; its run continues on the edge for ``choice``."""

    app_id: str
    automation_id: str
    run_id: str
    request_id: str
    choice: str
    by: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitMatched(EngineEvent):
    """An accepted event ended a ``WorkflowWaitForEvent`` wait; its run continues."""

    app_id: str
    automation_id: str
    run_id: str
    wait_id: str
    event: str
    event_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryAttempted(EngineEvent):
    """An attempt to deliver a finished run's result to its automation's sinks ended.

    ``status`` is the run's delivery status after it: ``delivered``, ``pending`` (another attempt
    is due at ``next_at``), ``failed`` (no attempt is left, or no retry can help: ``error`` says
    why) or ``skipped`` (no sink delivers the run's outcome any more). The run's own status never
    changes with its delivery.
    """

    app_id: str
    automation_id: str
    run_id: str
    attempt: int
    status: str
    error: str | None = None
    next_at: float | None = None
