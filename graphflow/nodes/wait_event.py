"""WorkflowWaitForEvent: park the run until an event of a named type, whose payload matches, arrives.

The wait is registered (durably, on SQL stores) when the node starts; an event accepted by
``publish`` afterwards is offered to every pending wait for its name in the same transaction
that stores it, so no event is lost between a run starting to wait and its wait being visible
(see :meth:`graphflow.abc.Store.accept_event`). One event can wake many runs; each wakes once.

The condition is CEL over ``payload`` (the event's) and ``$`` (the node's input), e.g.
``payload.thread_id == $.thread_id``. It runs on the publish path, inline: a condition that
fails (a missing key) or would need the isolated worker does not match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from graphflow.abc import Goto, NodeContext
from graphflow.exceptions import NodeExecutionError
from graphflow.graph.durations import Duration
from graphflow.graph.model import GraphContext, Node
from graphflow.nodes.approval import check_expiry, pending_wait, wait_outcome

if TYPE_CHECKING:
    from graphflow.scripts import Script

__all__ = ["EVENT_KEY", "MAX_WAIT_INPUT_CHARS", "WaitForEventNode", "condition_script"]

#: The largest input (``$``) a wait with a condition keeps: its condition reads it on every
#: publish of the event, once per waiting run, so its cost is bounded by construction.
MAX_WAIT_INPUT_CHARS = 16 * 1024

#: The ``env`` key the event's payload is read from while a condition is evaluated (``payload``
#: in the condition is bound to it).
EVENT_KEY = "__graphflow_event_payload__"
_PAYLOAD = f"env.{EVENT_KEY}"
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def _bind_payload(source: str) -> str:
    """``source`` with the name ``payload`` read from ``env`` (``payload.a`` → ``env.<key>.a``).

    A rewrite of the name, not a ``let``: the condition stays one statement, whose field chains
    the script language resolves in Python — a condition is evaluated once per pending wait on
    every publish of its event, so it must stay in the fast path (~2 µs). Field names, strings and
    comments are left alone; text the lexer refuses is returned unchanged (compiling it reports why).
    """
    from graphflow.scripts.lexer import LexError, tokenize

    try:
        tokens = tokenize(source)
    except LexError:
        return source
    out: list[str] = []
    last = 0
    previous = ""
    for tok in tokens:
        if tok.kind == "ident" and tok.text == "payload" and previous != ".":
            out.append(source[last : tok.pos])
            out.append(_PAYLOAD)
            last = tok.pos + len(tok.text)
        previous = tok.text
    out.append(source[last:])
    return "".join(out)


def condition_script(source: str, graph: GraphContext | None = None, field: str = "condition") -> Script | None:
    """Compile a wait condition (``payload`` and ``$`` in scope); with ``graph``, problems are reported there.

    Raises:
        ScriptError: without ``graph``, when the condition does not compile.
    """
    text = _bind_payload(source)
    if graph is not None:
        return graph.compile_script(field, text)
    from graphflow.scripts import Script

    return Script.compile(text)


class WaitForEventNode(Node, defer_build=True):
    """Waits for an event named ``event`` whose payload matches ``condition``, then continues.

    The output is ``{"wait_id", "event", "event_id", "payload", "input"}``. ``expires_after``
    bounds the wait: then the run continues at ``on_timeout`` (without one, the node fails with
    code ``wait_expired``).

    Example::

        - kind: WorkflowWaitForEvent
          id: wait_for_reply
          event: thread.message_created
          condition: payload.thread_id == $.thread_id
          expires_after: 2d
          on_success: thank
          on_timeout: nudge
    """

    kind: Literal["WorkflowWaitForEvent"] = "WorkflowWaitForEvent"
    __slots__ = ("_condition",)
    if TYPE_CHECKING:
        _condition: Script | None

    event: str = Field(min_length=3, max_length=200, description="The event name to wait for.")
    condition: str | None = Field(None, max_length=4000, description="CEL over payload and $; default: any.")
    expires_after: Duration | None = Field(None, description="How long to wait.")
    on_timeout: str | None = Field(None, description="Node to continue at when the wait expires.")

    @model_validator(mode="after")
    def _consistent(self) -> WaitForEventNode:
        if not _EVENT_NAME.match(self.event):
            raise ValueError(f"event must be a dotted event name like 'thread.message_created', got {self.event!r:.80}")
        check_expiry(self.timeout, self.expires_after, self.on_timeout, "a wait for an event", "wait")
        return self

    def edges(self) -> Iterator[tuple[str, str]]:
        if self.on_timeout is not None:
            yield "on_timeout", self.on_timeout
        yield from super().edges()

    def prepare(self, graph: GraphContext) -> None:
        self.keep(_condition=None if self.condition is None else condition_script(self.condition, graph))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        if self.condition is not None:  # the condition reads it on every publish of the event: keep it small
            size = len(json.dumps(input, default=str))
            if size > MAX_WAIT_INPUT_CHARS:
                raise NodeExecutionError(
                    f"a wait's input is {size:,} characters of JSON; the limit is {MAX_WAIT_INPUT_CHARS:,}: put a "
                    "WorkflowScript before it that keeps what the condition reads (e.g. {'thread_id': $.thread_id})",
                    code="limit_exceeded",
                    retryable=False,
                )
        wait = pending_wait(
            ctx, self.id, "event", self.expires_after, event=self.event, condition=self.condition, input=input
        )
        ended = await ctx.wait(wait)
        output = wait_outcome(ended, input)
        if ended.status == "expired":
            if self.on_timeout is None:
                raise NodeExecutionError(
                    f"no {self.event} event matched before the wait expired", code="wait_expired", retryable=False
                )
            return Goto(self.on_timeout, output)
        return output
