"""The node kinds graphflow ships, in the order the docs list them."""

from __future__ import annotations

from graphflow.graph.model import Node
from graphflow.nodes.condition import ConditionNode
from graphflow.nodes.delay import DelayNode
from graphflow.nodes.emit import EmitEventNode
from graphflow.nodes.end import EndNode
from graphflow.nodes.http import HttpRequestNode
from graphflow.nodes.map import MapNode
from graphflow.nodes.parallel import ParallelNode
from graphflow.nodes.script import ScriptNode
from graphflow.nodes.subworkflow import SubWorkflowNode
from graphflow.nodes.trigger import TriggerNode

__all__ = ["KINDS"]

KINDS: tuple[type[Node], ...] = (
    TriggerNode,
    ScriptNode,
    ConditionNode,
    ParallelNode,
    MapNode,
    HttpRequestNode,
    DelayNode,
    SubWorkflowNode,
    EmitEventNode,
    EndNode,
)
