"""WorkflowTrigger: the entry point of a graph for one event; unwraps the input envelope."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from graphflow.abc import NodeContext
from graphflow.graph.model import Node

__all__ = ["TriggerNode"]

EVENT_NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class TriggerNode(Node, defer_build=True):
    """Starts the graph when its event fires; its output (``$`` downstream) is the event payload.

    Example::

        - kind: WorkflowTrigger
          id: trigger_1
          trigger: thread.member_joined
          on_success: greet
    """

    kind: Literal["WorkflowTrigger"] = "WorkflowTrigger"
    trigger: str = Field(
        pattern=EVENT_NAME_PATTERN,
        max_length=100,
        description="The event that starts the graph, e.g. 'workflow.scheduled' or 'thread.created'.",
    )

    is_trigger = True
    checkpointed = False  # pure: recomputed after a crash

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        if isinstance(input, dict) and "trigger" in input:
            return input.get("payload", {})
        return input
