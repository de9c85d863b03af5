"""The graphflow error tree.

Every error raised on purpose by graphflow derives from :class:`GraphflowError`, carries a stable
``code`` (what the HTTP layer maps to a status and what hosts match on) and a message that says what
to do about it. Each subclass also inherits the builtin it resembles, so ``except ValueError`` keeps
working for code that does not know graphflow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "AlreadyRunningError",
    "CancelledRunError",
    "ConflictError",
    "ForbiddenError",
    "GraphflowError",
    "InvalidTransitionError",
    "LeaseLostError",
    "LimitExceededError",
    "NodeExecutionError",
    "NotFoundError",
    "Problem",
    "SchemaVersionError",
    "ScriptError",
    "ScriptLimitError",
    "StoreError",
    "StoreUnavailableError",
    "ValidationError",
    "WaitClosedError",
    "json_path",
]


class GraphflowError(Exception):
    """Root of every error graphflow raises on purpose.

    Attributes:
        code: a stable, machine-readable identifier such as ``validation_error``.
        message: the human-readable message (also ``str(error)``).
        details: JSON-able extra data (problem lists, allowed moves…).
    """

    code: ClassVar[str] = "graphflow_error"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """Return the error as the ``{"error": {"code", "message", ...}}`` body used by the API."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*", re.ASCII)


def json_path(parts: Iterable[str | int], root: str = "$") -> str:
    """The path of a :class:`Problem`: ``$.nodes[0].body``; odd keys JSON-escaped and cut short (``$["a b"]``)."""
    out = [root]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.fullmatch(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part if len(part) <= 60 else part[:60] + '…')}]")
    return "".join(out)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located by a JSON path.

    Attributes:
        path: where the problem is, e.g. ``$.nodes[2].on_success``.
        message: what is wrong.
        hint: how to fix it (may be empty).
        node_id: the node the problem belongs to, when there is one.
    """

    path: str
    message: str
    hint: str = ""
    node_id: str | None = field(default=None)

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as a JSON-able dict."""
        return {"path": self.path, "message": self.message, "hint": self.hint, "node_id": self.node_id}


class ValidationError(GraphflowError, ValueError):
    """An input (graph config, payload, schedule, request body) is not valid.

    It lists *every* problem found, each with its JSON path, so one round trip fixes them all.
    """

    code = "validation_error"

    def __init__(self, problems: Iterable[Problem] | str, *, subject: str = "input") -> None:
        if isinstance(problems, str):
            problems = [Problem("$", problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{subject} is not valid ({count} {noun}):\n{lines}",
            details={"problems": [p.to_dict() for p in self.problems]},
        )


class LimitExceededError(ValidationError):
    """An input is larger or deeper than a documented limit allows."""

    code = "limit_exceeded"


class NotFoundError(GraphflowError, LookupError):
    """The thing asked for does not exist (or belongs to another app: the answer is the same)."""

    code = "not_found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found", details={"kind": kind, "id": ident})


class ConflictError(GraphflowError, ValueError):
    """The request conflicts with existing state (for example a duplicate ``lookup_key``)."""

    code = "conflict"


class InvalidTransitionError(GraphflowError, ValueError):
    """A lifecycle move that the state machine does not allow from the current state."""

    code = "invalid_transition"

    def __init__(self, subject: str, current: str, action: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"cannot {action} {subject}: it is {current!r}; allowed from {current!r}: {allowed_text}",
            details={"current": current, "action": action, "allowed": list(allowed)},
        )


class WaitClosedError(GraphflowError, ValueError):
    """A steering request (or event wait) that is no longer pending: answered, expired or cancelled."""

    code = "request_closed"

    def __init__(self, kind: str, ident: str, status: str) -> None:
        hint = {
            "answered": "it was already answered; read it to see the decision",
            "matched": "an event already matched it",
            "expired": "its time ran out and the run went on without it",
            "cancelled": "its run ended first",
        }.get(status, "it is not pending")
        super().__init__(f"{kind} {ident!r} is {status}: {hint}", details={"id": ident, "status": status})


class ForbiddenError(GraphflowError, PermissionError):
    """The caller may see the object but not do this to it (e.g. answer a request assigned to others)."""

    code = "forbidden"


class AlreadyRunningError(GraphflowError, RuntimeError):
    """A run was refused because the automation is already running (overlap policy ``skip``)."""

    code = "already_running"

    def __init__(self, automation_id: str, elapsed: float) -> None:
        super().__init__(
            f"automation {automation_id!r} is already running ({elapsed:.1f}s elapsed); "
            "wait for it to finish or set overlap='allow'",
            details={"automation_id": automation_id, "elapsed": elapsed},
        )


class ScriptError(GraphflowError, ValueError):
    """A script or template failed to compile or to evaluate."""

    code = "script_error"


class ScriptLimitError(ScriptError):
    """A script exceeded a size, depth or cost bound and was stopped before running away."""

    code = "script_limit"


class NodeExecutionError(GraphflowError, RuntimeError):
    """A node failed. Custom nodes raise this (or any exception) to fail their node.

    Args:
        message: what went wrong.
        retryable: ``False`` stops the retry policy from trying again.
        code: a stable code for the failure, matched by ``retry.non_retryable``.
    """

    code = "node_failed"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retryable = retryable
        if code is not None:
            self.code = code  # type: ignore[misc]


class CancelledRunError(GraphflowError, RuntimeError):
    """The run was cancelled (by the host, a pause, or a run-level timeout)."""

    code = "cancelled"


class CascadeLimitError(GraphflowError, RuntimeError):
    """A run emitted an event too deep in a chain of events emitted by runs (a loop, most often).

    The emitting node fails (``on_failure`` and ``retry`` apply as for any failure); nothing is
    published. The limit is ``Engine(max_event_depth=...)``.
    """

    code = "cascade_limit"


class EngineNotStartedError(GraphflowError, RuntimeError):
    """An operation that needs a running engine was called before ``async with Engine()`` (or after it)."""

    code = "engine_not_started"

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "the engine is not started: use 'async with Engine() as engine:' (or 'with SyncEngine() as engine:')"
        )


class StoreError(GraphflowError, RuntimeError):
    """A storage backend failed; the backend's own error is the ``__cause__``."""

    code = "store_error"


class StoreUnavailableError(StoreError):
    """The database cannot be reached (the message names the URL with its password hidden)."""

    code = "store_unavailable"


class SchemaVersionError(StoreError):
    """The database was written by a newer graphflow (its schema version is unknown here)."""

    code = "schema_too_new"


class LeaseLostError(StoreError):
    """A worker wrote to a run it no longer holds (its lease expired or the run was cancelled).

    The worker must stop executing the run: another worker has it now, or nobody should.
    """

    code = "lease_lost"
