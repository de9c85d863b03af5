"""WorkflowCondition: branch on a boolean expression."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from graphflow.abc import Goto, NodeContext
from graphflow.exceptions import NodeExecutionError
from graphflow.graph.model import GraphContext, Node

if TYPE_CHECKING:
    from graphflow.scripts import Script

__all__ = ["ConditionNode"]


class ConditionNode(Node, defer_build=True):
    """Evaluates ``condition`` and continues at ``on_true`` or ``on_false``; passes its input on.

    A missing branch ends the chain there. The condition must evaluate to a boolean.

    Example::

        - kind: WorkflowCondition
          id: big_order
          condition: $.amount > 500
          on_true: ask_manager
          on_false: approve
    """

    kind: Literal["WorkflowCondition"] = "WorkflowCondition"
    checkpointed = False  # pure: recomputed after a crash
    __slots__ = ("_compiled",)
    if TYPE_CHECKING:
        _compiled: Script

    condition: str = Field(description="A script that evaluates to true or false.")
    on_true: str | None = Field(None, description="Node to run when the condition is true.")
    on_false: str | None = Field(None, description="Node to run when the condition is false.")

    @model_validator(mode="after")
    def _no_on_success(self) -> ConditionNode:
        if self.on_success is not None:
            raise ValueError("a condition continues with on_true/on_false, not on_success")
        return self

    def edges(self) -> Iterator[tuple[str, str]]:
        if self.on_true is not None:
            yield "on_true", self.on_true
        if self.on_false is not None:
            yield "on_false", self.on_false
        yield from super().edges()

    def prepare(self, graph: GraphContext) -> None:
        self.keep(_compiled=graph.compile_script("condition", self.condition))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        run = ctx.run
        value = await self._compiled.evaluate_async(input, env=run.env, nodes=run.outputs, output=run.output)
        if value is True:
            return Goto(self.on_true, input)
        if value is False:
            return Goto(self.on_false, input)
        raise NodeExecutionError(
            f"condition must be true or false, got {type(value).__name__} {value!r:.80}",
            code="script_error",
            retryable=False,
        )
