"""WorkflowEnd: finish the chain with a final payload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from graphflow.abc import Goto, NodeContext
from graphflow.graph.model import GraphContext, Node

if TYPE_CHECKING:
    from graphflow.scripts import Template

__all__ = ["EndNode"]


class EndNode(Node, defer_build=True):
    """Ends its chain; ``payload`` (a template, default the input) becomes the chain's output.

    Example::

        - kind: WorkflowEnd
          id: done
          payload: {status: ok, user: "{{$.user_id}}"}
    """

    kind: Literal["WorkflowEnd"] = "WorkflowEnd"
    checkpointed = False  # pure: recomputed after a crash
    __slots__ = ("_payload",)
    if TYPE_CHECKING:
        _payload: Template

    payload: Any = Field(None, description="Template for the final payload; omitted = the input.")

    is_terminal = True

    @model_validator(mode="after")
    def _no_successor(self) -> EndNode:
        if self.on_success is not None:
            raise ValueError("an end node has no on_success")
        return self

    def prepare(self, graph: GraphContext) -> None:
        self.keep(_payload=None if self.payload is None else graph.compile_template("payload", self.payload))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        value = input if self._payload is None else ctx.evaluate_template(self._payload, input)
        return Goto(None, value)
