"""The loader reports, never raises: odd YAML/JSON values, sizes, budgets and messages (issues 9, 10)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

import graphflow
from graphflow.exceptions import LimitExceededError, ValidationError
from graphflow.graph.loader import GraphLimits, parse_document
from tests.conftest import graph_dict

HEADER = (
    "kind: WorkflowGraph\nversion: 1\nname: g\nstart_node: t\n"
    "nodes:\n  - {kind: WorkflowTrigger, id: t, trigger: a.b}\n"
)


def refusal(source: Any, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        graphflow.load_graph(source, **kwargs)
    return info.value


def paths(error: ValidationError) -> list[str]:
    return [p.path for p in error.problems]


@pytest.mark.parametrize(
    ("line", "path", "fragment"),
    [
        ("description: 0x" + "f" * 5000, "$.description", "too long (line 7)"),
        ("description: " + ":".join(["59"] * 3000), "$.description", "too long (line 7)"),
        ("description: " + "9" * 5000, "$.description", "too long (line 7)"),
        ("description: 0b" + "1" * 70, "$.description", "too long"),
        ("description: 0x" + "f" * 20, "$.description", "outside the 64-bit range"),
        ("description: .inf", "$.description", "not a finite number"),
        ("? [a, b]\n: 1", "$", "a key must be a string, not a list (line 7)"),
        ("description: {? [a, b] : 1}", "$.description", "a key must be a string, not a list"),
        ("description: {1: x}", "$.description", "key 1 is not a string"),
        ('description: "\\ud800"', "$.description", "lone surrogate"),
    ],
    ids=[
        "hex",
        "sexagesimal",
        "decimal",
        "binary",
        "int65",
        "inf",
        "complex-key",
        "nested-complex-key",
        "int-key",
        "surrogate",
    ],
)
def test_odd_yaml_values_are_problems_with_paths(line: str, path: str, fragment: str) -> None:
    error = refusal(HEADER + line + "\n")
    assert error.code == "validation_error"
    assert (path, True) in [(p.path, fragment in p.message) for p in error.problems], error.problems


def test_a_huge_integer_in_the_version_is_a_problem_not_a_traceback() -> None:
    error = refusal(HEADER.replace("version: 1", "version: 0x" + "f" * 5000))
    assert paths(error) == ["$.version"]


@pytest.mark.parametrize("text", ['x: !!int ""\n', "x: !!bool maybe\n", "x: !!float abc\n", "x: !!int 0xZZ\n"])
def test_bad_explicit_yaml_scalars_are_malformed(text: str) -> None:
    error = refusal(text)
    assert paths(error) == ["$"] and "malformed YAML" in error.problems[0].message


def test_json_values_are_checked_too() -> None:
    doc = graph_dict(name="\ud800")
    error = refusal(json.dumps(doc))
    assert paths(error) == ["$.name"]
    doc = graph_dict()
    doc["description"] = 10**70
    assert paths(refusal(json.dumps(doc))) == ["$.description"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({1, 2}, "a set is not a JSON value"),
        (b"x", "a bytes is not a JSON value"),
        (datetime.date(2026, 1, 1), "a date is not a JSON value"),
        (float("nan"), "nan is not a finite number"),
        ("a\udc80", "lone surrogate"),
    ],
)
def test_dicts_must_hold_plain_json(value: Any, fragment: str) -> None:
    doc = graph_dict({"kind": "WorkflowEnd", "id": "e", "payload": {"x": [1, value]}})
    error = refusal(doc)
    assert [(p.path, fragment in p.message) for p in error.problems] == [("$.nodes[1].payload.x[1]", True)]


def test_a_surrogate_in_a_dict_key_is_refused_with_an_escaped_path() -> None:
    doc = graph_dict({"kind": "WorkflowEnd", "id": "e", "payload": {"\ud800": 1}})
    error = refusal(doc)
    assert paths(error) == ["$.nodes[1].payload"]
    str(error).encode("utf-8")  # the message itself can be printed


def test_the_size_limit_counts_utf8_bytes() -> None:
    limits = GraphLimits(max_bytes=1000)
    text = HEADER + "description: " + "é" * 600 + "\n"  # ~700 characters, ~1300 bytes
    assert len(text) < 1000 < len(text.encode())
    with pytest.raises(LimitExceededError, match="bytes; the limit is 1000"):
        parse_document(text, limits=limits)
    with pytest.raises(LimitExceededError):
        parse_document(text.encode(), limits=limits)
    with pytest.raises(ValidationError):  # a lone surrogate is counted, not a crash
        parse_document(HEADER + "description: \ud800\n")


@pytest.mark.parametrize("version", ["true", "1.0", "'1'", "0x1"])
def test_version_is_the_integer_1(version: str) -> None:
    text = HEADER.replace("version: 1", f"version: {version}")
    if version == "0x1":  # YAML's own spelling of the integer 1
        assert graphflow.load_graph(text).version == 1
        return
    error = refusal(text)
    assert paths(error) == ["$.version"] and "the integer 1" in error.problems[0].message


def test_a_syntax_error_names_the_file_and_gives_the_syntax_hint(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1, 2\n")
    (problem,) = refusal(path).problems
    assert str(path) in problem.message and "<unicode string>" not in problem.message
    assert "line 2, column 1" in problem.message
    assert "indentation" in problem.hint and "unique" not in problem.hint
    (dup,) = refusal("a: 1\na: 2\n").problems
    assert "duplicate key 'a' at line 2" in dup.message and "unique" in dup.hint


def test_an_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    for text in ("", "   \n", "# only a comment\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        (problem,) = refusal(path).problems
        assert "is empty" in problem.message and "NoneType" not in problem.message


@pytest.mark.parametrize(
    ("kind", "suggestion"),
    [
        ("WorkflowFrobnicate", None),
        ("WorkflowSript", "WorkflowScript"),
        ("workflowscript", "WorkflowScript"),
        ("WorkflowHttp", "WorkflowHttpRequest"),
        ("Delay", "WorkflowDelay"),
    ],
)
def test_did_you_mean_only_for_close_matches(kind: str, suggestion: str | None) -> None:
    (problem,) = refusal(graph_dict({"kind": kind, "id": "x"})).problems
    if suggestion is None:
        assert "did you mean" not in problem.hint and "known kinds" in problem.hint
    else:
        assert problem.hint == f"did you mean {suggestion!r}?"


def test_a_duplicated_id_does_not_shift_later_paths() -> None:
    doc = graph_dict(
        {"kind": "WorkflowDelay", "id": "bad", "duration": "soon"},  # fails its own checks
        {"kind": "WorkflowScript", "id": "a", "source": "$"},
        {"kind": "WorkflowScript", "id": "a", "source": "$.x +"},
    )
    found = {(p.path, p.message.split(":")[0]) for p in refusal(doc).problems}
    assert ("$.nodes[3].id", "duplicate node id 'a'") in found
    assert ("$.nodes[3].source", "script does not compile") in found
    assert not any(path.startswith("$.nodes[2].source") for path, _ in found)


# --- the compile budget -------------------------------------------------------------------------


def test_template_holes_are_budgeted_across_the_config() -> None:
    limits = GraphLimits(max_template_holes=10)
    body = {"a": "{{$.a}}" * 6, "b": ["{{$.b}}"] * 3}
    doc = graph_dict(
        {"kind": "WorkflowEnd", "id": "e", "payload": body},
    )
    graphflow.load_graph(doc, limits=limits)  # 9 holes
    doc["nodes"].insert(1, {"kind": "WorkflowEmitEvent", "id": "m", "event": "x.y", "payload": "{{$}}{{$}}"})
    doc["nodes"][0]["on_success"] = "m"
    doc["nodes"][1]["on_success"] = "e"
    (problem,) = refusal(doc, limits=limits).problems
    assert problem.path == "$.nodes[2].payload" and "more than 10 template holes" in problem.message
    assert "GraphLimits" in problem.hint


def test_script_source_is_budgeted_and_each_distinct_source_counted_once() -> None:
    limits = GraphLimits(max_script_chars=100)
    same = [{"kind": "WorkflowScript", "id": f"s{i}", "source": "$.x + 1" + " " * 73} for i in range(50)]
    for i, node in enumerate(same[:-1]):
        node["on_success"] = f"s{i + 1}"
    graphflow.load_graph(graph_dict(*same), limits=limits)  # 80 characters, compiled once
    other = [dict(node, source=f"$.x + {i}" + " " * 20) for i, node in enumerate(same)]
    error = refusal(graph_dict(*other), limits=limits)
    (problem,) = error.problems  # reported once, where the budget ran out
    assert problem.path == "$.nodes[4].source" and "more than 100 characters" in problem.message


def test_inline_sub_workflows_share_the_budget() -> None:
    child = graph_dict({"kind": "WorkflowEnd", "id": "e", "payload": "{{$}}" * 6}, trigger="workflow.invoked")
    doc = graph_dict(
        {"kind": "WorkflowSubWorkflow", "id": "sub", "workflow": child, "input": "{{$}}" * 5},
    )
    graphflow.load_graph(doc, limits=GraphLimits(max_template_holes=11))
    (problem,) = refusal(doc, limits=GraphLimits(max_template_holes=10)).problems
    assert "more than 10 template holes" in problem.message


def test_an_invalid_idna_host_is_a_problem_of_the_url() -> None:
    doc = graph_dict({"kind": "WorkflowHttpRequest", "id": "h", "url": "http://xn--a/"})
    (problem,) = refusal(doc).problems
    assert problem.path == "$.nodes[1].url" and "not a valid URL" in problem.message


@pytest.mark.parametrize(
    ("word", "choices", "expected"),
    [
        ("abc", ["ab", "x"], "ab"),
        ("a", ["ab"], None),
        ("WorkflowE", ["WorkflowEnd", "WorkflowEmitEvent"], None),  # ambiguous
        ("descripton", ["description", "data"], "description"),
        ("x" * 300, ["x" * 300], None),  # difflib is quadratic: long words get no suggestion
    ],
)
def test_close_match_edges(word: str, choices: list[str], expected: str | None) -> None:
    from graphflow.graph.suggest import close_match

    assert close_match(word, choices) == expected
