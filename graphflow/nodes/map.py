"""WorkflowMap: run a sub-chain once per item of a list, with a concurrency limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from graphflow.abc import NodeContext
from graphflow.exceptions import NodeExecutionError
from graphflow.graph.model import GraphContext, Node

if TYPE_CHECKING:
    from graphflow.scripts import Template

__all__ = ["MapNode"]


class MapNode(Node, defer_build=True):
    """The loop construct: runs ``body`` for every item of ``items`` and outputs the results, in order.

    ``items`` is a template that must produce a list (``"{{$.orders}}"``). Each body run gets
    ``{"item": ..., "index": n, "input": <this node's input>}`` as ``$``. At most ``concurrency``
    items run at once, on that many tasks (not one task per item); ``concurrency: 1`` runs them
    one after another in this task.

    Example::

        - kind: WorkflowMap
          id: each_order
          items: "{{$.orders}}"
          body: charge
          concurrency: 5
          on_success: summary
    """

    kind: Literal["WorkflowMap"] = "WorkflowMap"
    __slots__ = ("_items",)
    if TYPE_CHECKING:
        _items: Template

    items: Any = Field(description="Template producing the list to iterate, e.g. '{{$.orders}}'.")
    body: str = Field(description="Entry node of the chain run for each item.")
    concurrency: int = Field(10, ge=1, le=1000, description="Items processed at once.")
    max_items: int = Field(10_000, ge=1, le=1_000_000, description="Refuse longer lists.")

    def children(self) -> Iterator[tuple[str, str]]:
        yield "body", self.body

    def prepare(self, graph: GraphContext) -> None:
        self.keep(_items=graph.compile_template("items", self.items))

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        items = ctx.evaluate_template(self._items, input)
        if not isinstance(items, list):
            raise NodeExecutionError(
                f"items must evaluate to a list, got {type(items).__name__}",
                code="script_error",
                retryable=False,
            )
        if len(items) > self.max_items:
            raise NodeExecutionError(
                f"items has {len(items)} entries; this node allows {self.max_items} (max_items)",
                code="limit_exceeded",
                retryable=False,
            )
        executor = ctx.run.executor
        results: list[Any] = [None] * len(items)

        async def one(index: int) -> None:
            value = {"item": items[index], "index": index, "input": input}
            results[index] = await executor.run_chain(self.body, value, ctx.child(f"{self.id}[{index}]"))

        workers = min(self.concurrency, len(items))
        if workers <= 1:
            for index in range(len(items)):
                await one(index)
            return results
        cursor = iter(range(len(items)))

        def worker() -> Any:
            async def loop() -> None:
                for index in cursor:
                    await one(index)

            return loop

        await executor.gather(worker() for _ in range(workers))
        return results
