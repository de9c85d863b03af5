"""Pictures of a graph: Mermaid flowcharts, Graphviz DOT and SVG (:mod:`graphflow.graph.svg`)."""

from __future__ import annotations

import json
from typing import Literal

from graphflow.graph.model import Node, WorkflowGraph

__all__ = ["FORMATS", "render_graph"]


_MERMAID_SHAPES = {"oval": ('(["', '"])'), "diamond": ('{"', '"}'), "box": ('["', '"]')}


def _shape(node: Node) -> str:
    if node.is_trigger:
        return "oval"
    return "diamond" if node.kind == "WorkflowCondition" else "box"


def _label(node: Node) -> str:
    detail = getattr(node, "trigger", None) or node.name or ""
    return f"{node.id}\\n{node.kind}" + (f"\\n{detail}" if detail else "")


#: The formats :func:`render_graph` draws.
FORMATS = ("mermaid", "dot", "svg")


def render_graph(graph: WorkflowGraph, format: Literal["mermaid", "dot", "svg"] = "mermaid") -> str:
    """Return ``graph`` as Mermaid (``flowchart TD``), DOT or SVG text.

    Edges are labelled with their field (``on_failure``, ``on_true``, ``branches[0]``…);
    ``on_success`` edges are unlabelled and failure edges are dashed.
    """
    if format == "mermaid":
        return _mermaid(graph)
    if format == "dot":
        return _dot(graph)
    if format == "svg":
        from graphflow.graph.svg import render_svg

        return render_svg(graph)
    raise ValueError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")


def _edges(node: Node) -> list[tuple[str, str]]:
    return [*node.edges(), *node.children()]


def _mermaid(graph: WorkflowGraph) -> str:
    ids = {node.id: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["flowchart TD"]
    for node in graph.nodes:
        text = _label(node).replace("\\n", "<br/>").replace('"', "#quot;")
        opening, closing = _MERMAID_SHAPES[_shape(node)]
        lines.append(f"    {ids[node.id]}{opening}{text}{closing}")
    for node in graph.nodes:
        for field, target in _edges(node):
            if target not in ids:
                continue
            arrow = "-.->" if field == "on_failure" else "-->"
            label = "" if field == "on_success" else f"|{field}|"
            lines.append(f"    {ids[node.id]} {arrow}{label} {ids[target]}")
    return "\n".join(lines) + "\n"


def _dot(graph: WorkflowGraph) -> str:
    lines = [f"digraph {json.dumps(graph.name)} {{", "    rankdir=TB;", "    node [shape=box];"]
    for node in graph.nodes:
        label = json.dumps(_label(node)).replace("\\\\", "\\")
        lines.append(f"    {json.dumps(node.id)} [label={label}, shape={_shape(node)}];")
    for node in graph.nodes:
        for field, target in _edges(node):
            attrs = [] if field == "on_success" else [f"label={json.dumps(field)}"]
            if field == "on_failure":
                attrs.append("style=dashed")
            suffix = f" [{', '.join(attrs)}]" if attrs else ""
            lines.append(f"    {json.dumps(node.id)} -> {json.dumps(target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"
