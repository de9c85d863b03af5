"""WorkflowDelay: wait for a duration or until a time, then pass the input on."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from graphflow.abc import NodeContext
from graphflow.exceptions import NodeExecutionError
from graphflow.graph.durations import Duration
from graphflow.graph.model import GraphContext, Node

if TYPE_CHECKING:
    from graphflow.scripts import Template

__all__ = ["DelayNode"]


class DelayNode(Node, defer_build=True):
    """Waits, then outputs its input unchanged.

    Give ``duration`` (``"30s"``, ``"2h"``, seconds) or ``until`` (a template producing an
    ISO-8601 time; naive times are UTC; a time in the past does not wait).

    Example::

        - kind: WorkflowDelay
          id: cool_off
          duration: 15m
          on_success: follow_up
    """

    kind: Literal["WorkflowDelay"] = "WorkflowDelay"
    __slots__ = ("_until",)
    if TYPE_CHECKING:
        _until: Template

    duration: Duration | None = Field(None, description="How long to wait.")
    until: str | None = Field(None, description="Template producing an ISO-8601 time to wait for.")

    @model_validator(mode="after")
    def _one_of(self) -> DelayNode:
        if (self.duration is None) == (self.until is None):
            raise ValueError("give exactly one of 'duration' or 'until'")
        return self

    def prepare(self, graph: GraphContext) -> None:
        if self.until is not None:
            self.keep(_until=graph.compile_template("until", self.until))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        now = time.time()
        if self.duration is not None:
            await ctx.sleep_until(now + self.duration, now)
            return input
        value = ctx.evaluate_template(self._until, input)
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise NodeExecutionError(
                f"until must be an ISO-8601 time, got {value!r:.80}", code="script_error", retryable=False
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        await ctx.sleep_until(when.timestamp(), now)
        return input
