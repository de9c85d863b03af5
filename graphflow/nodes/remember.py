"""WorkflowRemember: replace the automation's memory document, committed with the node's checkpoint.

Scripts of later runs read it as ``memory`` (and the results of the automation's last completed
runs as ``previous_runs``). On a durable store the new document and this node's checkpoint are
written in one transaction, so a run that dies before the checkpoint leaves the memory as it was,
and a run resumed after it does not write it twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from graphflow.abc import NodeContext
from graphflow.graph.model import GraphContext, Node

if TYPE_CHECKING:
    from graphflow.scripts import Script

__all__ = ["RememberNode"]


class RememberNode(Node, defer_build=True):
    """Evaluates ``value`` and stores it as the automation's memory; passes its input on.

    The whole document is replaced: merge in the script (``memory`` is the current one, null
    before the first write). At most 64 KiB of JSON; larger fails the node (``limit_exceeded``).

    Example::

        - kind: WorkflowRemember
          id: note_sent
          value: "{'sent': unwrap(memory.sent, []) + [$.topic]}"
          on_success: done
    """

    kind: Literal["WorkflowRemember"] = "WorkflowRemember"
    __slots__ = ("_value",)
    if TYPE_CHECKING:
        _value: Script

    value: str = Field(min_length=1, max_length=4000, description="A script producing the new memory document.")

    def prepare(self, graph: GraphContext) -> None:
        self.keep(_value=graph.compile_script("value", self.value))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        run = ctx.run
        document = await self._value.evaluate_async(input, env=run.env, nodes=run.outputs, output=run.output)
        await ctx.remember(document)
        return input
