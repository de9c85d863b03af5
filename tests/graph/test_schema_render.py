from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

import graphflow

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_the_generated_one() -> None:
    committed = json.loads((ROOT / "schemas" / "workflow-graph.v1.schema.json").read_text())
    regenerate = "regenerate with: graphflow schema > schemas/workflow-graph.v1.schema.json"
    assert committed == graphflow.graph_schema(), regenerate
    jsonschema.Draft202012Validator.check_schema(committed)
    assert committed["$id"].endswith("workflow-graph.v1.schema.json")


def test_schema_lists_every_builtin_kind() -> None:
    schema = graphflow.graph_schema()
    kinds = {
        d["properties"]["kind"]["const"]
        for d in schema["$defs"].values()
        if "kind" in d.get("properties", {}) and "const" in d["properties"]["kind"]
    }
    assert {
        "WorkflowTrigger",
        "WorkflowScript",
        "WorkflowCondition",
        "WorkflowParallel",
        "WorkflowMap",
        "WorkflowDelay",
        "WorkflowSubWorkflow",
        "WorkflowEmitEvent",
        "WorkflowEnd",
    } <= kinds


def test_durations_accept_strings_in_the_schema() -> None:
    doc: dict[str, Any] = {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": "d",
        "start_node": "t",
        "nodes": [
            {"kind": "WorkflowTrigger", "id": "t", "trigger": "a.b", "on_success": "d"},
            {"kind": "WorkflowDelay", "id": "d", "duration": "1h30m", "timeout": 5},
        ],
    }
    jsonschema.validate(doc, graphflow.graph_schema())
    assert graphflow.load_graph(doc).node("d").duration == 5400  # type: ignore[attr-defined]


def test_render_mermaid_and_dot() -> None:
    graph = graphflow.load_graph(
        {
            "kind": "WorkflowGraph",
            "version": 1,
            "name": "r",
            "start_node": "t",
            "nodes": [
                {"kind": "WorkflowTrigger", "id": "t", "trigger": "a.b", "on_success": "c"},
                {"kind": "WorkflowCondition", "id": "c", "condition": "true", "on_true": "p", "on_false": "e"},
                {"kind": "WorkflowParallel", "id": "p", "branches": ["x"], "on_success": "e", "on_failure": "f"},
                {"kind": "WorkflowScript", "id": "x", "source": "1"},
                {"kind": "WorkflowEnd", "id": "f"},
                {"kind": "WorkflowEnd", "id": "e"},
            ],
        }
    )
    mermaid = graphflow.render_graph(graph)
    assert mermaid.startswith("flowchart TD")
    assert "-->|on_true|" in mermaid and "-.->|on_failure|" in mermaid and "-->|branches[0]|" in mermaid
    dot = graphflow.render_graph(graph, "dot")
    assert dot.startswith('digraph "r"') and '"p" -> "f" [label="on_failure", style=dashed];' in dot
