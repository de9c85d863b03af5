"""The JSON Schema of WorkflowGraph configs, generated from the node models.

The committed file ``schemas/workflow-graph.v1.schema.json`` is this function's output (a test
keeps them equal); point editors at it with ``$schema`` (JSON) or
``# yaml-language-server: $schema=...`` (YAML) for completion.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from graphflow.graph.model import DataResource

__all__ = ["SCHEMA_ID", "graph_schema"]

SCHEMA_ID = "https://graphflow.dev/schemas/workflow-graph.v1.schema.json"


def graph_schema(registry: Any = None, *, builtin_only: bool = True) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a WorkflowGraph config.

    Args:
        registry: the node registry (default: the global one).
        builtin_only: describe only graphflow's own node kinds (the published schema); pass
            ``False`` to include the host's custom kinds.
    """
    if registry is None:
        from graphflow.nodes.registry import default_registry

        registry = default_registry
    kinds = registry.builtin_kinds() if builtin_only else registry.kinds()
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [(cls, "validation") for cls in kinds.values()]
    models.append((DataResource, "validation"))
    refs, defs = models_json_schema(models, ref_template="#/$defs/{model}")
    definitions: dict[str, Any] = defs.get("$defs", {})
    for cls in kinds.values():
        node_schema = definitions[cls.__name__]
        node_schema["required"] = sorted({"kind", "id", *node_schema.get("required", [])})
    node_refs = [refs[(cls, "validation")] for cls in kinds.values()]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "WorkflowGraph",
        "description": "A graphflow workflow graph (kind WorkflowGraph, version 1).",
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "version", "name", "start_node", "nodes"],
        "properties": {
            "$schema": {"type": "string"},
            "kind": {"const": "WorkflowGraph"},
            "version": {"const": 1},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": ["string", "null"], "maxLength": 2000},
            "start_node": {"type": "string", "description": "Id of the trigger node to start at."},
            "nodes": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1000,
                "items": {"oneOf": node_refs},
            },
            "data": {"type": "array", "items": refs[(DataResource, "validation")]},
        },
        "$defs": definitions,
    }
