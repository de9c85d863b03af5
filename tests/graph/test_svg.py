"""The SVG renderer: well-formed, deterministic, escaped, layered; a run's path highlighted."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphflow.graph.loader import load_graph
from graphflow.graph.model import WorkflowGraph
from graphflow.graph.render import render_graph
from graphflow.graph.svg import node_states, render_svg
from graphflow.nodes.condition import ConditionNode
from graphflow.nodes.script import ScriptNode
from graphflow.nodes.trigger import TriggerNode
from graphflow.testing import graphs

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
NS = {"svg": "http://www.w3.org/2000/svg"}


def _graph(name: str = "Pictures") -> WorkflowGraph:
    return load_graph(
        {
            "kind": "WorkflowGraph",
            "version": 1,
            "name": name,
            "start_node": "start",
            "nodes": [
                {"kind": "WorkflowTrigger", "id": "start", "trigger": "thread.member_joined", "on_success": "check"},
                {"kind": "WorkflowCondition", "id": "check", "condition": "true", "on_true": "yes", "on_false": "no"},
                {"kind": "WorkflowScript", "id": "yes", "source": "1", "on_success": "after"},
                {"kind": "WorkflowScript", "id": "no", "source": "2"},
                {"kind": "WorkflowScript", "id": "after", "source": "3"},
            ],
        }
    )


def _loopy() -> WorkflowGraph:
    """A graph validation would refuse (a loop, an unreachable node): the renderer still draws it."""
    return WorkflowGraph(
        name="Loopy",
        start_node="start",
        nodes=(
            TriggerNode(id="start", trigger="thread.member_joined", on_success="check"),
            ConditionNode(id="check", condition="true", on_true="yes", on_false="no"),
            ScriptNode(id="yes", source="1", on_success="check"),
            ScriptNode(id="no", source="2"),
            ScriptNode(id="orphan", source="3"),
        ),
    )


def _nodes(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("data-node", ""): g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-node")}


def _y(group: ET.Element) -> float:
    shape = group.find("svg:rect", NS)
    if shape is not None:
        return float(shape.get("y", "nan"))
    polygon = group.find("svg:polygon", NS)
    assert polygon is not None
    return float(polygon.get("points", "").split()[0].split(",")[1])


@pytest.mark.parametrize("file", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_well_formed_and_deterministic(file: Path) -> None:
    graph = load_graph(file)
    svg = render_graph(graph, "svg")
    assert svg == render_svg(load_graph(file))  # same graph, same bytes
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert set(_nodes(svg)) == {node.id for node in graph.nodes}


def test_layers_follow_breadth_first_distance_and_unreachable_nodes_come_last() -> None:
    nodes = _nodes(render_svg(_loopy()))
    start, check, yes, no, orphan = (_y(nodes[n]) for n in ("start", "check", "yes", "no", "orphan"))
    assert start < check < yes == no < orphan  # the loop back from yes to check does not move check down


def test_every_text_from_the_graph_is_escaped() -> None:
    hostile = '<script>alert("x")</script> & </svg><svg onload=alert(1)>'
    graph = load_graph(
        {
            "kind": "WorkflowGraph",
            "version": 1,
            "name": hostile,
            "start_node": "t",
            "nodes": [
                {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.member_joined", "on_success": "a"},
                {"kind": "WorkflowScript", "id": "a", "name": hostile, "source": "1"},
            ],
        }
    )
    svg = render_svg(graph, title=hostile)
    root = ET.fromstring(svg)  # still one well-formed document
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert not [e for e in root.iter() if any(k.startswith("on") for k in e.attrib)]
    assert root.findtext("svg:title", namespaces=NS) == hostile
    assert "<script>" not in svg


def test_node_states_from_a_journal() -> None:
    journal = [
        {"type": "node_started", "node_id": "a"},
        {"type": "node_completed", "node_id": "a"},
        {"type": "node_started", "node_id": "b"},
        {"type": "node_failed", "node_id": "b", "will_retry": True},
        {"type": "node_started", "node_id": "b"},
        {"type": "node_completed", "node_id": "b"},
        {"type": "node_started", "node_id": "c"},
        {"type": "node_failed", "node_id": "c", "will_retry": False},
        {"type": "node_started", "node_id": "d"},
    ]
    assert node_states(journal, finished=False) == {"a": "completed", "b": "completed", "c": "failed", "d": "running"}
    assert node_states(journal, finished=True)["d"] == "failed"


def test_a_finished_run_shows_its_path_and_skipped_nodes() -> None:
    states = node_states(
        [
            {"type": "node_completed", "node_id": "start"},
            {"type": "node_completed", "node_id": "check"},
            {"type": "node_failed", "node_id": "no", "will_retry": False},
        ],
        finished=True,
    )
    svg = render_svg(_graph(), states=states, finished=True)
    nodes = _nodes(svg)
    assert nodes["check"].get("class") == "gf-node gf-completed"
    assert nodes["no"].get("class") == "gf-node gf-failed"
    assert nodes["yes"].get("class") == "gf-node gf-skipped"
    assert nodes["after"].get("class") == "gf-node gf-skipped"
    root = ET.fromstring(svg)
    taken = [p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("class") == "gf-edge gf-taken"]
    assert len(taken) == 2  # start → check → no; not check → yes nor yes → after
    assert root.find("svg:g[@class='gf-legend']", NS) is not None


def test_a_running_run_leaves_unreached_nodes_plain() -> None:
    svg = render_svg(_graph(), states={"start": "completed", "check": "running"})
    nodes = _nodes(svg)
    assert nodes["check"].get("class") == "gf-node gf-running"
    assert nodes["yes"].get("class") == "gf-node"


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(ValueError, match="mermaid, dot, svg"):
        render_graph(_graph(), "png")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(graph=graphs(max_nodes=8), data=st.data())
def test_any_valid_graph_draws_every_node_once_in_its_own_place(graph: WorkflowGraph, data: st.DataObject) -> None:
    ids = [node.id for node in graph.nodes]
    journal = [
        {"type": data.draw(st.sampled_from(["node_started", "node_completed", "node_failed"])), "node_id": node_id}
        for node_id in data.draw(st.lists(st.sampled_from(ids), max_size=12))
    ]
    finished = data.draw(st.booleans())
    svg = render_svg(graph, states=node_states(journal, finished=finished), finished=finished)
    nodes = _nodes(svg)
    assert sorted(nodes) == sorted(ids)
    places = set()
    for group in nodes.values():
        shape = group.find("svg:rect", NS)
        if shape is not None:
            places.add((float(shape.get("x", "nan")), float(shape.get("y", "nan"))))
        else:
            polygon = group.find("svg:polygon", NS)
            assert polygon is not None
            x, y = polygon.get("points", "").split()[0].split(",")
            places.add((float(x) - 14, float(y)))  # the hexagon's first point is 14 px in from its box
    assert len(places) == len(ids)
    if finished:
        assert all("gf-node gf-" in group.get("class", "") for group in nodes.values())  # every node has a state


def test_names_with_characters_xml_cannot_hold_still_give_a_readable_picture() -> None:
    graph = load_graph(
        {
            "kind": "WorkflowGraph",
            "version": 1,
            "name": "ctl \u0001 graph",
            "start_node": "t",
            "nodes": [
                {
                    "kind": "WorkflowTrigger",
                    "id": "t",
                    "name": "bell \u0007",
                    "trigger": "thread.created",
                    "on_success": "s",
                },
                {"kind": "WorkflowScript", "id": "s", "name": "esc \u001b[2J", "source": "1"},
            ],
        }
    )
    for states in (None, {"t": "completed", "s": "failed"}):
        ET.fromstring(render_graph(graph, "svg") if states is None else render_svg(graph, states=states))


def test_a_run_picture_is_wide_enough_for_its_legend() -> None:
    import re

    graph = load_graph(
        {
            "kind": "WorkflowGraph",
            "version": 1,
            "name": "chain",
            "start_node": "t",
            "nodes": [
                {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "s"},
                {"kind": "WorkflowScript", "id": "s", "source": "1"},
            ],
        }
    )
    svg = render_svg(graph, states={"t": "completed"})
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    legend_x = [float(x) for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+" font-size="12"', svg)]
    assert legend_x and max(legend_x) + 60 <= width
