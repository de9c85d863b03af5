"""graphflow: an embeddable, event-driven workflow-graph engine.

Load a graph, run it::

    import anyio, graphflow

    graph = graphflow.load_graph("workflow.yaml")
    result = anyio.run(graphflow.run_graph, graph, {"trigger": "workflow.scheduled", "payload": {}})
    print(result.status, result.result)

Names are imported on first use (PEP 562), so ``import graphflow`` costs a few milliseconds and
hosts pay only for what they touch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # graphs
    "WorkflowGraph": "graphflow.graph.model",
    "Node": "graphflow.graph.model",
    "RetryPolicy": "graphflow.graph.model",
    "DataResource": "graphflow.graph.model",
    "GraphContext": "graphflow.graph.model",
    "load_graph": "graphflow.graph.loader",
    "GraphLimits": "graphflow.graph.loader",
    "graph_schema": "graphflow.graph.schema",
    "require_trigger": "graphflow.graph.validation",
    "render_graph": "graphflow.graph.render",
    # running
    "Executor": "graphflow.engine.executor",
    "RunResult": "graphflow.engine.executor",
    "Goto": "graphflow.abc",
    "NodeContext": "graphflow.abc",
    "JournalEntry": "graphflow.engine.journal",
    "Subscription": "graphflow.engine.notify",
    "run_graph": "graphflow.engine.run",
    "run_graph_sync": "graphflow.engine.run",
    # automations
    "Engine": "graphflow.engine.engine",
    "PublishResult": "graphflow.engine.engine",
    "SyncEngine": "graphflow.engine.sync",
    "Automation": "graphflow.records",
    "AutomationRun": "graphflow.records",
    "ConfigRecord": "graphflow.records",
    "Page": "graphflow.records",
    "Store": "graphflow.abc",
    "MemoryStore": "graphflow.stores.memory",
    "PostgresStore": "graphflow.stores.postgres",
    "SQLiteStore": "graphflow.stores.sqlite",
    "Clock": "graphflow.clock",
    "SystemClock": "graphflow.clock",
    "FakeClock": "graphflow.clock",
    "EventCatalogue": "graphflow.triggers.catalogue",
    "EventType": "graphflow.triggers.catalogue",
    "Schedule": "graphflow.triggers.schedules",
    "parse_schedule": "graphflow.triggers.schedules",
    "describe_schedule": "graphflow.triggers.schedules",
    "explain_schedule": "graphflow.triggers.schedules",
    # nodes
    "EgressPolicy": "graphflow.nodes.egress",
    "EgressClient": "graphflow.nodes.http",
    "node": "graphflow.nodes.registry",
    "register_node": "graphflow.nodes.registry",
    "NodeRegistry": "graphflow.nodes.registry",
    # scripts
    "Script": "graphflow.scripts",
    "Template": "graphflow.scripts",
    "ScriptLimits": "graphflow.scripts",
    "compile_script": "graphflow.scripts",
    "compile_template": "graphflow.scripts",
    # errors
    "GraphflowError": "graphflow.exceptions",
    "ValidationError": "graphflow.exceptions",
    "LimitExceededError": "graphflow.exceptions",
    "NotFoundError": "graphflow.exceptions",
    "ConflictError": "graphflow.exceptions",
    "InvalidTransitionError": "graphflow.exceptions",
    "AlreadyRunningError": "graphflow.exceptions",
    "ScriptError": "graphflow.exceptions",
    "ScriptLimitError": "graphflow.exceptions",
    "NodeExecutionError": "graphflow.exceptions",
    "StoreError": "graphflow.exceptions",
    "StoreUnavailableError": "graphflow.exceptions",
    "LeaseLostError": "graphflow.exceptions",
    "EngineNotStartedError": "graphflow.exceptions",
    "CascadeLimitError": "graphflow.exceptions",
    "Problem": "graphflow.exceptions",
    # engine events
    "EngineEvent": "graphflow.events",
    "RunStarted": "graphflow.events",
    "RunSuspended": "graphflow.events",
    "RunCompleted": "graphflow.events",
    "RunFailed": "graphflow.events",
    "RunCancelled": "graphflow.events",
    "NodeStarted": "graphflow.events",
    "NodeCompleted": "graphflow.events",
    "NodeFailed": "graphflow.events",
    "AutomationCreated": "graphflow.events",
    "AutomationUpdated": "graphflow.events",
    "AutomationActivated": "graphflow.events",
    "AutomationPaused": "graphflow.events",
    "AutomationReset": "graphflow.events",
    "AutomationDeleted": "graphflow.events",
    "EventAccepted": "graphflow.events",
    "RunSkipped": "graphflow.events",
    "CascadeStopped": "graphflow.events",
    "DeliveryAttempted": "graphflow.events",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'graphflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from graphflow.abc import Goto, NodeContext, Store
    from graphflow.clock import Clock, FakeClock, SystemClock
    from graphflow.engine.engine import Engine, PublishResult
    from graphflow.engine.executor import Executor, RunResult
    from graphflow.engine.journal import JournalEntry
    from graphflow.engine.notify import Subscription
    from graphflow.engine.run import run_graph, run_graph_sync
    from graphflow.engine.sync import SyncEngine
    from graphflow.events import (
        AutomationActivated,
        AutomationCreated,
        AutomationDeleted,
        AutomationPaused,
        AutomationReset,
        AutomationUpdated,
        CascadeStopped,
        DeliveryAttempted,
        EngineEvent,
        EventAccepted,
        NodeCompleted,
        NodeFailed,
        NodeStarted,
        RunCancelled,
        RunCompleted,
        RunFailed,
        RunSkipped,
        RunStarted,
        RunSuspended,
    )
    from graphflow.exceptions import (
        AlreadyRunningError,
        CascadeLimitError,
        ConflictError,
        EngineNotStartedError,
        GraphflowError,
        InvalidTransitionError,
        LeaseLostError,
        LimitExceededError,
        NodeExecutionError,
        NotFoundError,
        Problem,
        ScriptError,
        ScriptLimitError,
        StoreError,
        StoreUnavailableError,
        ValidationError,
    )
    from graphflow.graph.loader import GraphLimits, load_graph
    from graphflow.graph.model import DataResource, GraphContext, Node, RetryPolicy, WorkflowGraph
    from graphflow.graph.render import render_graph
    from graphflow.graph.schema import graph_schema
    from graphflow.graph.validation import require_trigger
    from graphflow.nodes.egress import EgressPolicy
    from graphflow.nodes.http import EgressClient
    from graphflow.nodes.registry import NodeRegistry, node, register_node
    from graphflow.records import Automation, AutomationRun, ConfigRecord, Page
    from graphflow.scripts import Script, ScriptLimits, Template, compile_script, compile_template
    from graphflow.stores.memory import MemoryStore
    from graphflow.stores.postgres import PostgresStore
    from graphflow.stores.sqlite import SQLiteStore
    from graphflow.triggers.catalogue import EventCatalogue, EventType
    from graphflow.triggers.schedules import Schedule, describe_schedule, explain_schedule, parse_schedule
