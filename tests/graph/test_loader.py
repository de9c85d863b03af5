from __future__ import annotations

import json
from pathlib import Path

import pytest

import graphflow
from graphflow.exceptions import LimitExceededError, ValidationError
from graphflow.graph.loader import GraphLimits, parse_document
from tests.conftest import graph_dict


def test_examples_load_unchanged(examples_dir: Path) -> None:
    from_json = graphflow.load_graph(examples_dir / "archastro-sample.json")
    from_yaml = graphflow.load_graph(str(examples_dir / "archastro-sample.yaml"))
    assert from_json.to_dict() == from_yaml.to_dict()
    assert from_json.name == "My Workflow"
    assert [n.kind for n in from_json.nodes] == ["WorkflowTrigger", "WorkflowScript"]
    assert from_json.trigger_for("workflow.scheduled") is from_json.node("trigger_1")


def test_load_from_dict_json_and_yaml_text(examples_dir: Path) -> None:
    text = (examples_dir / "archastro-sample.json").read_text()
    as_dict = json.loads(text)
    yaml_text = (examples_dir / "archastro-sample.yaml").read_text()
    for source in (as_dict, text, yaml_text):
        assert graphflow.load_graph(source).start_node == "trigger_1"


def test_graphs_are_frozen(examples_dir: Path) -> None:
    graph = graphflow.load_graph(examples_dir / "archastro-sample.json")
    with pytest.raises(Exception, match="frozen"):
        graph.name = "x"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        graph.nodes[0].on_success = "t"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"kind": "WorkflowGraph", "kind": "x"}', "duplicate key 'kind'"),
        ("kind: WorkflowGraph\nkind: other\n", "duplicate key 'kind'"),
        ("{not json", "malformed JSON"),
        ("a: [1, 2\n", "malformed YAML at line 2, column 1"),
        ("x: !!python/object/apply:os.system ['echo hi']\n", "YAML tags"),
        ("x: !!binary aGVsbG8=\n", "not allowed"),
        ('{"x": NaN}', "malformed"),
    ],
)
def test_malformed_documents_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_document(text)
    assert fragment in str(info.value)
    assert info.value.code == "validation_error"


def test_yaml_alias_bomb_is_bounded() -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 13):  # 9 ** 12 references if expanded; 108 aliases
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(ValidationError, match="aliases"):
        parse_document("\n".join(lines))


def test_yaml_timestamps_stay_strings() -> None:
    assert parse_document("when: 2026-01-01T09:00:00Z\n") == {"when": "2026-01-01T09:00:00Z"}


def test_limits_are_enforced() -> None:
    with pytest.raises(LimitExceededError, match="bytes"):
        parse_document("x" * 100, limits=GraphLimits(max_bytes=10))
    deep: dict = {}
    cursor = deep
    for _ in range(40):
        cursor["x"] = {}
        cursor = cursor["x"]
    with pytest.raises(LimitExceededError, match="deeper"):
        graphflow.load_graph({**graph_dict(), "description": None, "nodes": [deep]})
    many = graph_dict(*({"kind": "WorkflowEnd", "id": f"e{i}"} for i in range(5)))
    with pytest.raises(LimitExceededError, match="limit is 3"):
        graphflow.load_graph(many, limits=GraphLimits(max_nodes=3))


def test_unreadable_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        graphflow.load_graph(tmp_path / "missing.yaml")


def test_newer_version_is_refused_with_a_message() -> None:
    doc = graph_dict()
    doc["version"] = 2
    with pytest.raises(ValidationError, match="newer graphflow"):
        graphflow.load_graph(doc)


def test_to_dict_round_trips(examples_dir: Path) -> None:
    graph = graphflow.load_graph(examples_dir / "archastro-sample.yaml")
    again = graphflow.load_graph(graph.to_dict())
    assert again.to_dict() == graph.to_dict()
