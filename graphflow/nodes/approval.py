"""WorkflowApproval: stop before a consequential step and ask a person (a steering request).

The node raises a ``steering_request`` (``str_…``): a templated message, the choices a person
may answer with, who may answer, and an expiry. The run parks until it is answered or expires —
on a durable engine it holds no worker, task or connection — then continues on the edge for the
choice (``routes``), or ``on_timeout`` when the request expired.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from graphflow.abc import Goto, NodeContext
from graphflow.exceptions import NodeExecutionError
from graphflow.graph.durations import Duration
from graphflow.graph.model import GraphContext, Node
from graphflow.ids import new_id
from graphflow.records import Wait

if TYPE_CHECKING:
    from graphflow.scripts import Template

__all__ = ["ApprovalNode", "check_expiry", "pending_wait", "wait_outcome"]

#: The longest a message may render to (characters).
MAX_MESSAGE_CHARS = 4000


class ApprovalNode(Node, defer_build=True):
    """Asks a person to decide, then continues on the edge for their choice.

    ``choices`` default to ``[approve, reject]``. A choice follows its entry in ``routes`` (a node
    id, or ``null`` to end the chain there); without one, ``reject`` ends the chain and any other
    choice continues at ``on_success``. ``expires_after`` bounds the wait: an expired request
    continues at ``on_timeout`` (without one, the node fails with code ``steering_expired``).
    ``assignees`` (user ids) limits who may answer. The output is ``{"request_id", "choice",
    "note", "by", "input"}`` (``input``: what the node received).

    Example::

        - kind: WorkflowApproval
          id: review_post
          message: "Publish '{{ $.title }}' to the company account?"
          expires_after: 24h
          routes: {reject: discard}
          on_success: publish
          on_timeout: remind_owner
    """

    kind: Literal["WorkflowApproval"] = "WorkflowApproval"
    __slots__ = ("_message",)
    if TYPE_CHECKING:
        _message: Template

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS, description="Template: what to decide.")
    choices: list[str] = Field(
        default_factory=lambda: ["approve", "reject"], min_length=1, max_length=20, description="The answers."
    )
    routes: dict[str, str | None] = Field(default_factory=dict, description="Choice → the node to continue at.")
    assignees: list[str] | None = Field(
        None, min_length=1, max_length=100, description="User ids who may answer (default: anyone of the app)."
    )
    expires_after: Duration | None = Field(None, description="How long the request stays open.")
    on_timeout: str | None = Field(None, description="Node to continue at when the request expires.")

    @field_validator("choices")
    @classmethod
    def _choices(cls, choices: list[str]) -> list[str]:
        for choice in choices:
            if not 1 <= len(choice) <= 64 or not choice.isprintable():
                raise ValueError(f"a choice is 1 to 64 printable characters, got {choice!r:.80}")
        if len(set(choices)) != len(choices):
            raise ValueError("choices must be distinct")
        return choices

    @field_validator("assignees")
    @classmethod
    def _assignees(cls, assignees: list[str] | None) -> list[str] | None:
        for who in assignees or ():
            if not 1 <= len(who) <= 200 or not who.isprintable():
                raise ValueError(f"an assignee is 1 to 200 printable characters, got {who!r:.80}")
        return assignees

    @model_validator(mode="after")
    def _consistent(self) -> ApprovalNode:
        unknown = sorted(set(self.routes) - set(self.choices))
        if unknown:
            raise ValueError(f"routes name choices that are not in choices: {', '.join(map(repr, unknown))}")
        check_expiry(self.timeout, self.expires_after, self.on_timeout, "an approval", "request")
        return self

    def edges(self) -> Iterator[tuple[str, str]]:
        for choice, target in self.routes.items():
            if target is not None:
                yield f"routes.{choice}", target
        if self.on_timeout is not None:
            yield "on_timeout", self.on_timeout
        yield from super().edges()

    def prepare(self, graph: GraphContext) -> None:
        self.keep(_message=graph.compile_template("message", self.message))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        message = ctx.evaluate_template(self._message, input)
        text = message if isinstance(message, str) else str(message)
        wait = pending_wait(
            ctx,
            self.id,
            "steering",
            self.expires_after,
            message=text[:MAX_MESSAGE_CHARS],
            choices=list(self.choices),
            assignees=None if self.assignees is None else list(self.assignees),
        )
        ended = await ctx.wait(wait)
        if ended.status == "expired":
            if self.on_timeout is None:
                raise NodeExecutionError(
                    f"steering request {ended.id} expired unanswered", code="steering_expired", retryable=False
                )
            return Goto(self.on_timeout, wait_outcome(ended, input))
        choice = (ended.resolution or {}).get("choice")
        output = wait_outcome(ended, input)
        if choice in self.routes:
            return Goto(self.routes[choice], output)
        if choice == "reject":
            return Goto(None, output)
        return output


def check_expiry(
    timeout: float | None, expires_after: float | None, on_timeout: str | None, what: str, thing: str
) -> None:
    """The expiry rules of a node that parks its run (``what``: "an approval"; ``thing``: "request").

    Raises:
        ValueError: ``timeout`` set (it waits with ``expires_after``), ``on_timeout`` without
            ``expires_after``, or a ``expires_after`` that is not positive.
    """
    if timeout is not None:
        raise ValueError(f"{what} waits with expires_after (and on_timeout), not timeout")
    if on_timeout is not None and expires_after is None:
        raise ValueError(f"on_timeout needs expires_after: without it the {thing} never expires")
    if expires_after is not None and expires_after <= 0:
        raise ValueError("expires_after must be positive")


def pending_wait(ctx: NodeContext, node_id: str, kind: Any, expires_after: float | None, **fields: Any) -> Wait:
    """A new pending wait of ``kind`` for the node executing in ``ctx`` (expiring ``expires_after`` from now)."""
    now = ctx.now()
    return Wait(
        id=new_id("str_" if kind == "steering" else "wfe_"),
        app_id=ctx.app_id or "",
        automation_id=ctx.automation_id or "",
        run_id=ctx.run_id,
        node_id=node_id,
        step_key=ctx.step_key,
        kind=kind,
        status="pending",
        created_at=now,
        expires_at=None if expires_after is None else now + expires_after,
        **fields,
    )


def wait_outcome(wait: Wait, input: Any) -> dict[str, Any]:
    """What a waiting node outputs: the request (or wait) id, how it ended, and the node's input."""
    resolution = wait.resolution or {}
    if wait.kind == "steering":
        return {
            "request_id": wait.id,
            "choice": resolution.get("choice"),
            "note": resolution.get("note"),
            "by": resolution.get("by"),
            "input": input,
        }
    return {
        "wait_id": wait.id,
        "event": wait.event,
        "event_id": resolution.get("event_id"),
        "payload": resolution.get("payload"),
        "input": input,
    }
