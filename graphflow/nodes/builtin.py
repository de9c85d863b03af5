"""The node kinds graphflow ships, in the order the docs list them.

A built-in kind's module is imported the first time a registry looks the kind up, so loading a
graph pays only for the kinds it uses (each module costs ~0.5 ms to import; the HTTP kind also
brings the egress policy's address tables).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphflow.graph.model import Node

__all__ = ["KINDS", "load_kind"]

#: Built-in kind name → ``module:Class``.
KINDS: dict[str, str] = {
    "WorkflowTrigger": "graphflow.nodes.trigger:TriggerNode",
    "WorkflowScript": "graphflow.nodes.script:ScriptNode",
    "WorkflowCondition": "graphflow.nodes.condition:ConditionNode",
    "WorkflowParallel": "graphflow.nodes.parallel:ParallelNode",
    "WorkflowMap": "graphflow.nodes.map:MapNode",
    "WorkflowHttpRequest": "graphflow.nodes.http:HttpRequestNode",
    "WorkflowDelay": "graphflow.nodes.delay:DelayNode",
    "WorkflowApproval": "graphflow.nodes.approval:ApprovalNode",
    "WorkflowWaitForEvent": "graphflow.nodes.wait_event:WaitForEventNode",
    "WorkflowRemember": "graphflow.nodes.remember:RememberNode",
    "WorkflowSubWorkflow": "graphflow.nodes.subworkflow:SubWorkflowNode",
    "WorkflowEmitEvent": "graphflow.nodes.emit:EmitEventNode",
    "WorkflowEnd": "graphflow.nodes.end:EndNode",
}


def load_kind(kind: str) -> type[Node]:
    """Import and return the class of the built-in kind ``kind`` (a key of :data:`KINDS`)."""
    module, _, name = KINDS[kind].partition(":")
    cls: type[Node] = getattr(importlib.import_module(module), name)
    return cls
