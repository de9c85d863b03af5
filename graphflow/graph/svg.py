"""SVG pictures of a graph, drawn in pure Python: layered boxes and arrows, no network, no JavaScript.

The layout is a simple layered one: nodes are placed by their breadth-first distance from the
start node and the trigger nodes (unreachable nodes go in a last layer), in declaration order
within a layer. The same graph always gives the same bytes. Every text taken from the graph (ids,
names, kinds, triggers) is XML-escaped; the picture carries no script, no link and no style
sheet, so it is safe to show from an ``<img>`` and renders the same anywhere.

A run's path is drawn from its journal (:func:`node_states`): completed, failed, running and
skipped nodes each have their own colour, and the edges the run took are drawn thick.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from graphflow.graph.model import Node, WorkflowGraph

__all__ = ["NodeState", "node_states", "render_svg"]

#: What a run did with a node: ``completed``, ``failed``, ``running`` (started, not finished) or
#: ``skipped`` (never reached by a finished run). Nodes a running run has not reached yet are absent.
NodeState = Literal["completed", "failed", "running", "skipped"]

_BOX_W, _BOX_H = 196, 58
_GAP_X, _GAP_Y = 36, 64
_MARGIN = 24
_LEGEND_H = 28
_MAX_CHARS = 28  # what fits in a box at the sizes below

# Colours readable on white (WCAG AA contrast for the text on each fill).
_PLAIN = ("#ffffff", "#4b5563", "#111827")  # fill, stroke, text
_STATES: dict[str, tuple[str, str, str]] = {
    "completed": ("#dcfce7", "#15803d", "#14532d"),
    "failed": ("#fee2e2", "#b91c1c", "#7f1d1d"),
    "running": ("#dbeafe", "#1d4ed8", "#1e3a8a"),
    "skipped": ("#f3f4f6", "#9ca3af", "#4b5563"),
}
_EDGE = "#6b7280"
_TAKEN = "#15803d"


@dataclass(frozen=True, slots=True)
class _Box:
    node: Node
    layer: int
    x: float
    y: float

    @property
    def cx(self) -> float:
        return self.x + _BOX_W / 2


def node_states(journal: Iterable[Mapping[str, Any]], *, finished: bool) -> dict[str, NodeState]:
    """What a run did with each node, from its journal entries (the API's ``journal`` dicts).

    A node's last entry decides (a retried node that then completed is ``completed``; one whose
    final attempt failed is ``failed``). When ``finished`` is true, a node started but never
    completed is ``failed``; the caller marks unreached nodes ``skipped`` (:func:`render_svg` does).
    """
    states: dict[str, NodeState] = {}
    for entry in journal:
        node_id = entry.get("node_id")
        if not isinstance(node_id, str):
            continue
        kind = entry.get("type")
        if kind == "node_completed":
            states[node_id] = "completed"
        elif kind == "node_failed" and not entry.get("will_retry"):
            states[node_id] = "failed"
        elif kind == "node_started" and states.get(node_id) != "completed":
            states[node_id] = "running"
    if finished:
        for node_id, state in states.items():
            if state == "running":
                states[node_id] = "failed"
    return states


def _edges(node: Node) -> list[tuple[str, str]]:
    return [*node.edges(), *node.children()]


def _layers(graph: WorkflowGraph) -> dict[str, int]:
    """Breadth-first distance of each node from the start node and the triggers."""
    nodes = graph.node_map
    roots = [graph.start_node] if graph.start_node in nodes else []
    roots += [n.id for n in graph.nodes if n.is_trigger and n.id not in roots]
    layer = {node_id: 0 for node_id in roots}
    queue = list(roots)
    for node_id in queue:  # the list grows as it is walked: a FIFO without pops
        for _, target in _edges(nodes[node_id]):
            if target in nodes and target not in layer:
                layer[target] = layer[node_id] + 1
                queue.append(target)
    last = max(layer.values(), default=-1) + 1
    for node in graph.nodes:
        layer.setdefault(node.id, last)
    return layer


def _layout(graph: WorkflowGraph, top: float, min_width: float = 0.0) -> tuple[dict[str, _Box], float, float]:
    layer = _layers(graph)
    order = {node.id: index for index, node in enumerate(graph.nodes)}
    parents: dict[str, list[str]] = {}
    rows: dict[int, list[Node]] = {}
    for node in graph.nodes:
        rows.setdefault(layer[node.id], []).append(node)
        for _, target in _edges(node):
            parents.setdefault(target, []).append(node.id)
    widest = max((len(row) for row in rows.values()), default=1)
    width = max(2 * _MARGIN + widest * _BOX_W + (widest - 1) * _GAP_X, min_width)
    boxes: dict[str, _Box] = {}
    for index, number in enumerate(sorted(rows)):
        row = rows[number]

        def under_parents(node: Node) -> tuple[float, int]:
            # One barycentre pass: a node goes under the middle of its parents already placed,
            # which removes most crossings of a layered drawing; ties keep declaration order.
            placed = [boxes[p].cx for p in parents.get(node.id, ()) if p in boxes]
            return (sum(placed) / len(placed) if placed else float("inf"), order[node.id])

        if index:
            row.sort(key=under_parents)
        row_width = len(row) * _BOX_W + (len(row) - 1) * _GAP_X
        x = (width - row_width) / 2
        y = top + index * (_BOX_H + _GAP_Y)
        for node in row:
            boxes[node.id] = _Box(node, index, x, y)
            x += _BOX_W + _GAP_X
    height = top + len(rows) * (_BOX_H + _GAP_Y) - _GAP_Y + _MARGIN
    return boxes, width, height


#: Characters XML 1.0 forbids (even escaped): a name holding one would make the document unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml(text: str) -> str:
    """``text`` escaped for XML content, with the characters XML cannot hold replaced by U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", text))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _text(x: float, y: float, content: str, *, size: int, fill: str, weight: str = "normal") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" font-weight="{weight}" fill="{fill}" '
        f'text-anchor="middle">{_xml(content)}</text>'
    )


def _shape(box: _Box, fill: str, stroke: str, width: float) -> str:
    x, y, w, h = box.x, box.y, _BOX_W, _BOX_H
    common = f'fill="{fill}" stroke="{stroke}" stroke-width="{_num(width)}"'
    if box.node.kind == "WorkflowCondition":  # a hexagon: a decision
        points = [
            (x + 14, y),
            (x + w - 14, y),
            (x + w, y + h / 2),
            (x + w - 14, y + h),
            (x + 14, y + h),
            (x, y + h / 2),
        ]
        return f'<polygon points="{" ".join(f"{_num(px)},{_num(py)}" for px, py in points)}" {common}/>'
    radius = h / 2 if box.node.is_trigger else 6
    return f'<rect x="{_num(x)}" y="{_num(y)}" width="{w}" height="{h}" rx="{_num(radius)}" {common}/>'


def _node(box: _Box, state: str | None) -> str:
    node = box.node
    fill, stroke, ink = _STATES.get(state or "", _PLAIN)
    detail = getattr(node, "trigger", None) or node.name or ""
    title = f"{node.id} ({node.kind})" + (f": {detail}" if detail else "") + (f" — {state}" if state else "")
    cls = f"gf-node gf-{state}" if state else "gf-node"
    lines = [
        f'<g class="{cls}" data-node={quoteattr(node.id)}>',
        f"<title>{_xml(title)}</title>",
        _shape(box, fill, stroke, 2.5 if state in ("completed", "failed", "running") else 1.5),
        _text(box.cx, box.y + 20, _clip(node.id), size=13, fill=ink, weight="bold"),
        _text(box.cx, box.y + 36, _clip(node.kind), size=11, fill=ink),
    ]
    if detail:
        lines.append(_text(box.cx, box.y + 50, _clip(str(detail)), size=11, fill=ink))
    lines.append("</g>")
    return "".join(lines)


def _edge(source: _Box, target: _Box, field: str, taken: bool) -> str:
    colour, width = (_TAKEN, 2.5) if taken else (_EDGE, 1.3)
    dash = ' stroke-dasharray="6 4"' if field == "on_failure" else ""
    marker = "url(#gf-arrow-taken)" if taken else "url(#gf-arrow)"
    if target.layer > source.layer:
        x1, y1 = source.cx, source.y + _BOX_H
        x2, y2 = target.cx, target.y
        mid = (y1 + y2) / 2
        d = f"M{_num(x1)},{_num(y1)} C{_num(x1)},{_num(mid)} {_num(x2)},{_num(mid)} {_num(x2)},{_num(y2)}"
        lx, ly = (x1 + x2) / 2, mid
    else:  # a loop back (or a sideways jump): around the right-hand side of both boxes
        x1, y1 = source.x + _BOX_W, source.y + _BOX_H / 2
        x2, y2 = target.x + _BOX_W, target.y + _BOX_H / 2
        bulge = max(x1, x2) + _GAP_X * 0.9
        d = f"M{_num(x1)},{_num(y1)} C{_num(bulge)},{_num(y1)} {_num(bulge)},{_num(y2)} {_num(x2)},{_num(y2)}"
        lx, ly = bulge - 6, (y1 + y2) / 2
    cls = "gf-edge gf-taken" if taken else "gf-edge"
    parts = [f'<path class="{cls}" d="{d}" fill="none" stroke="{colour}" stroke-width="{_num(width)}"{dash} '
             f'marker-end="{marker}"/>']  # fmt: skip
    if field != "on_success":
        label = _xml(_clip(field))
        parts.append(
            f'<text x="{_num(lx)}" y="{_num(ly - 3)}" font-size="11" fill="#374151" text-anchor="middle" '
            f'paint-order="stroke" stroke="#ffffff" stroke-width="3">{label}</text>'
        )
    return "".join(parts)


#: The legend's four entries, 100 units apart: a picture with one is at least this wide.
_LEGEND_W = 2 * _MARGIN + 4 * 100


def _legend() -> str:
    items = []
    x = _MARGIN
    for state in ("completed", "failed", "running", "skipped"):
        fill, stroke, _ = _STATES[state]
        items.append(
            f'<rect x="{x}" y="{_MARGIN - 14}" width="14" height="14" rx="3" fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + 20}" y="{_MARGIN - 2}" font-size="12" fill="#111827">{state}</text>'
        )
        x += 100
    return f'<g class="gf-legend">{"".join(items)}</g>'


def render_svg(
    graph: WorkflowGraph,
    *,
    states: Mapping[str, NodeState] | None = None,
    finished: bool = False,
    title: str | None = None,
) -> str:
    """Return ``graph`` as a standalone SVG document (UTF-8 text).

    Args:
        graph: the graph to draw.
        states: a run's node states (:func:`node_states`): nodes are coloured by state, the edges
            between visited nodes drawn thick, and a legend added. ``None``: the plain graph.
        finished: the run has ended: nodes it never reached are drawn as ``skipped``.
        title: the picture's accessible title (default: the graph's name).
    """
    top = _MARGIN + (_LEGEND_H if states is not None else 0)
    boxes, width, height = _layout(graph, top, _LEGEND_W if states is not None else 0.0)
    if states is not None:
        states = dict(states)
        if finished:
            for node in graph.nodes:
                states.setdefault(node.id, "skipped")
    visited = {node_id for node_id, state in (states or {}).items() if state != "skipped"}
    label = title or graph.name
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" font-family="system-ui, sans-serif">',
        f"<title>{_xml(label)}</title>",
        "<defs>",
        *(
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
            f'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for name, colour in (("gf-arrow", _EDGE), ("gf-arrow-taken", _TAKEN))
        ),
        "</defs>",
        f'<rect width="{_num(width)}" height="{_num(height)}" fill="#ffffff"/>',
    ]
    if states is not None:
        out.append(_legend())
    for node in graph.nodes:
        for field, target in _edges(node):
            if target in boxes:
                taken = node.id in visited and target in visited
                out.append(_edge(boxes[node.id], boxes[target], field, taken))
    for node in graph.nodes:
        out.append(_node(boxes[node.id], (states or {}).get(node.id)))
    out.append("</svg>")
    return "\n".join(out) + "\n"
