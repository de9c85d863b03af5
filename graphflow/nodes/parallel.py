"""WorkflowParallel: run branches concurrently, then join their outputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from graphflow.abc import NodeContext
from graphflow.graph.model import Node

__all__ = ["ParallelNode"]


class ParallelNode(Node, defer_build=True):
    """Fans out to every branch with the same input and waits for all of them (the join).

    Each branch is a chain that starts at the named node and ends at a node without a successor.
    The output is ``{branch_id: last output of that branch}``. The first branch to fail cancels
    the others and fails this node (its ``on_failure`` edge applies).

    Example::

        - kind: WorkflowParallel
          id: fan
          branches: [fetch_user, fetch_orders]
          on_success: combine     # $.fetch_user and $.fetch_orders hold the branch outputs
    """

    kind: Literal["WorkflowParallel"] = "WorkflowParallel"
    branches: list[str] = Field(min_length=1, max_length=1000, description="Entry node of each branch.")

    def children(self) -> Iterator[tuple[str, str]]:
        for index, entry in enumerate(self.branches):
            yield f"branches[{index}]", entry

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        executor = ctx.run.executor
        results: dict[str, Any] = {}

        def job(entry: str) -> Any:
            async def branch() -> None:
                results[entry] = await executor.run_chain(entry, input, ctx.child(f"{self.id}/{entry}"))

            return branch

        await executor.gather(job(entry) for entry in self.branches)
        return {entry: results[entry] for entry in self.branches}
