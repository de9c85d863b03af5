"""Steering requests (``engine.steering``): list them, read one, answer one.

A ``WorkflowApproval`` node raises a request and parks its run (see
:mod:`graphflow.engine.waits`). :meth:`SteeringService.respond` answers it: the store ends the
request only if it is still pending and unexpired — a conditional write, so of two concurrent
answers exactly one wins and the other gets ``request_closed`` — and makes the run claimable at
once; the run continues on the edge for the choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphflow.automations.inputs import check_page
from graphflow.events import SteeringAnswered
from graphflow.exceptions import ForbiddenError, NotFoundError, Problem, ValidationError, WaitClosedError
from graphflow.ids import check_app, check_id
from graphflow.records import WAIT_STATUSES, Page, Wait

if TYPE_CHECKING:
    from graphflow.automations.host import ServiceHost

__all__ = ["MAX_NOTE_CHARS", "SteeringService"]

#: Longest note an answer may carry.
MAX_NOTE_CHARS = 2000
_MAX_BY_CHARS = 200
_KIND = "steering_request"


class SteeringService:
    """Lists, reads and answers an app's steering requests."""

    def __init__(self, host: ServiceHost) -> None:
        self._host = host

    async def list(
        self,
        app_id: str,
        *,
        run_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """The app's requests, newest first; ``status="pending"`` for those awaiting an answer.

        Raises:
            ValidationError: a malformed app id, status, cursor or limit.
        """
        check_app(app_id)
        check_page(limit, cursor)
        if status is not None and status not in WAIT_STATUSES:
            raise ValidationError(
                [Problem("$.status", f"unknown status {status!r}", "use pending, answered, expired or cancelled")],
                subject="request",
            )
        if run_id is not None:
            check_id("run", run_id)
        return await self._host.store.list_waits(
            app_id, kind="steering", run_id=run_id, status=status, cursor=cursor, limit=limit
        )

    async def get(self, app_id: str, request_id: str) -> Wait:
        """One request.

        Raises:
            NotFoundError: no such request in this app (another app's is not found either).
        """
        check_app(app_id)
        check_id(_KIND, request_id)
        wait = await self._host.store.get_wait(app_id, request_id)
        if wait is None or wait.kind != "steering":
            raise NotFoundError(_KIND, request_id)
        return wait

    async def respond(
        self, app_id: str, request_id: str, choice: str, *, note: str | None = None, by: str | None = None
    ) -> Wait:
        """Answer a pending request with one of its choices; its run continues on that choice's edge.

        Raises:
            NotFoundError: no such request in this app.
            ValidationError: ``choice`` is not one of the request's choices; a malformed note or ``by``.
            ForbiddenError: the request names assignees and ``by`` is not one of them.
            WaitClosedError: already answered, expired or cancelled (code ``request_closed``);
                nothing changed.
        """
        wait = await self.get(app_id, request_id)
        problems = _answer_problems(wait, choice, note, by)
        if problems:
            raise ValidationError(problems, subject=f"answer to {request_id!r}")
        if wait.assignees is not None and by not in wait.assignees:
            raise ForbiddenError(
                f"steering request {request_id!r} may be answered only by {', '.join(wait.assignees)}; "
                "pass by= one of them",
                details={"assignees": wait.assignees},
            )
        host = self._host
        now = host.clock.now()
        if wait.status != "pending":
            raise WaitClosedError(_KIND, request_id, wait.status)
        resolution: dict[str, Any] = {"choice": choice, "note": note, "by": by}
        answered = await host.store.resolve_wait(app_id, request_id, status="answered", resolution=resolution, now=now)
        if answered is None:  # lost a race with another answer, or it expired
            current = await self.get(app_id, request_id)
            raise WaitClosedError(_KIND, request_id, "expired" if current.status == "pending" else current.status)
        await host.woken([answered])
        if host.wants_events:
            host.announce(
                SteeringAnswered(
                    at=now,
                    app_id=app_id,
                    automation_id=answered.automation_id,
                    run_id=answered.run_id,
                    request_id=answered.id,
                    choice=choice,
                    by=by,
                )
            )
        return answered


def _answer_problems(wait: Wait, choice: Any, note: Any, by: Any) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(choice, str) or choice not in wait.choices:
        problems.append(
            Problem(
                "$.choice", f"{choice!r:.80} is not a choice of this request", f"use one of: {', '.join(wait.choices)}"
            )
        )
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS or "\x00" in note):
        problems.append(Problem("$.note", f"note must be text of at most {MAX_NOTE_CHARS} characters"))
    if by is not None and (not isinstance(by, str) or not 0 < len(by) <= _MAX_BY_CHARS or not by.isprintable()):
        problems.append(Problem("$.by", f"by must be a user id of 1 to {_MAX_BY_CHARS} printable characters"))
    return problems
