"""WorkflowEmitEvent: publish an event through the engine's bus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from graphflow.abc import NodeContext
from graphflow.graph.model import GraphContext, Node
from graphflow.nodes.trigger import EVENT_NAME_PATTERN

if TYPE_CHECKING:
    from graphflow.scripts import Template

__all__ = ["EmitEventNode"]


class EmitEventNode(Node, defer_build=True):
    """Publishes ``event`` with ``payload`` (a template, default the input); outputs its input.

    Example::

        - kind: WorkflowEmitEvent
          id: notify
          event: order.flagged
          payload: {order_id: "{{$.id}}", reason: "{{$.reason}}"}
    """

    kind: Literal["WorkflowEmitEvent"] = "WorkflowEmitEvent"
    __slots__ = ("_payload",)
    if TYPE_CHECKING:
        _payload: Template

    event: str = Field(pattern=EVENT_NAME_PATTERN, max_length=100, description="Event name.")
    payload: Any = Field("{{$}}", description="Template producing the event payload (an object).")

    def prepare(self, graph: GraphContext) -> None:
        self.keep(_payload=graph.compile_template("payload", self.payload))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        await ctx.emit(self.event, ctx.evaluate_template(self._payload, input))
        return input
