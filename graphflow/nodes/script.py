"""WorkflowScript: evaluate a script; its value is the node's output, ``println`` lines go to the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from graphflow.abc import NodeContext
from graphflow.graph.model import GraphContext, Node

if TYPE_CHECKING:
    from graphflow.scripts import Script

__all__ = ["ScriptNode"]


class ScriptNode(Node, defer_build=True):
    """Runs a script from ``data[]`` (``script: <data id>``) or inline (``source: <script>``).

    Example::

        - kind: WorkflowScript
          id: score
          source: |
            let total = $.items.map(i, i.price).sum()
            println("total", total)
            {"total": total, "big": total > 500}
    """

    kind: Literal["WorkflowScript"] = "WorkflowScript"
    checkpointed = False  # pure: recomputed after a crash
    __slots__ = ("_compiled",)
    if TYPE_CHECKING:
        _compiled: Script

    script: str | None = Field(None, description="Id of a `kind: Script` resource in data[].")
    source: str | None = Field(None, description="The script itself, inline.")

    @model_validator(mode="after")
    def _one_source(self) -> ScriptNode:
        if (self.script is None) == (self.source is None):
            raise ValueError("give exactly one of 'script' (a data[] id) or 'source' (inline)")
        return self

    def prepare(self, graph: GraphContext) -> None:
        if self.script is not None:
            resource = graph.data.get(self.script)
            if resource is None:
                known = ", ".join(sorted(graph.data)) or "none"
                graph.problem(
                    "script",
                    f"no data resource with id {self.script!r}",
                    f"data[] ids are: {known}; or write the script inline as 'source'",
                )
                return
            self.keep(_compiled=graph.compile_script("script", resource.script))
        else:
            assert self.source is not None
            self.keep(_compiled=graph.compile_script("source", self.source))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        run = ctx.run
        return await self._compiled.evaluate_async(input, env=run.env, nodes=run.outputs, output=run.output)
