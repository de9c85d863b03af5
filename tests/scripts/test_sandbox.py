"""Attacks on the script sandbox: every one is refused or bounded, none reaches Python."""

from __future__ import annotations

import contextlib
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphflow
from graphflow.exceptions import GraphflowError, ScriptError, ScriptLimitError
from graphflow.scripts import compile_script


@pytest.mark.parametrize(
    "source",
    [
        "$.__class__",
        "$.__class__.__mro__",
        "$['__globals__']",
        "$.items.__len__",
        "import('os')",
        "__import__('os').system('id')",
        "open('/etc/passwd')",
        "eval('1')",
        "exec('x=1')",
        "getattr($, 'keys')",
        "$.get('items')",
        "$.__dict__.keys()",
        "type($).__subclasses__()",
        "println.__globals__",
        "env.__dict__",
    ],
)
def test_no_path_to_python_objects(source: str) -> None:
    with pytest.raises(ScriptError):
        compile_script(source).evaluate({"items": [1]}, env={"A": "b"}, output=[])


def test_no_eval_or_exec_in_the_package() -> None:
    root = pathlib.Path(graphflow.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "eval(" not in text.replace(".evaluate(", "").replace("_evaluate", "").replace("evaluate_", ""), path
        assert "exec(" not in text.replace("exec_module(", ""), path


def test_nested_comprehension_bomb_is_refused_before_running() -> None:
    bomb = compile_script("$.xs.map(a, $.xs.map(b, a * b)).size()")
    with pytest.raises(ScriptLimitError, match="estimated"):
        bomb.evaluate({"xs": list(range(5000))})
    assert bomb.evaluate({"xs": list(range(10))}) == 10


def test_literal_list_bomb_is_refused() -> None:
    big = "[" + ",".join(["0"] * 300) + "]"
    with pytest.raises(ScriptLimitError):
        compile_script(f"{big}.map(a, {big}.map(b, {big}.map(c, 1)))").evaluate({})


def test_comprehension_nesting_is_capped_at_compile_time() -> None:
    with pytest.raises(ScriptLimitError, match="nest 3 deep"):
        compile_script("[1].map(a, [1].map(b, [1].map(c, 1)))")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(ScriptLimitError, match="nest"):
        compile_script("(" * 40 + "1" + ")" * 40)
    with pytest.raises(ScriptError):
        compile_script("[" * 200 + "]" * 200)


def test_giant_source_is_refused() -> None:
    with pytest.raises(ScriptLimitError, match="characters long"):
        compile_script("'" + "a" * 20000 + "'")


def test_string_doubling_is_bounded() -> None:
    lines = ["let s0 = 'aaaaaaaaaaaaaaaa'"]
    lines += [f"let s{i} = s{i - 1} + s{i - 1}" for i in range(1, 40)]
    lines.append("size(s39)")
    with pytest.raises(ScriptLimitError, match="grew past"):
        compile_script("\n".join(lines)).evaluate({})


def test_concatenation_of_large_inputs_is_bounded() -> None:
    source = " + ".join(["$.s"] * 30)
    with pytest.raises(ScriptLimitError, match="concatenations"):
        compile_script(source).evaluate({"s": "x" * 100_000})


def test_regex_is_linear_time() -> None:
    # RE2 semantics: a pattern that backtracks catastrophically elsewhere finishes here.
    assert compile_script("$.s.matches('^(a+)+$')").evaluate({"s": "a" * 5000 + "b"}) is False


def test_overflow_is_an_error_not_a_crash() -> None:
    with pytest.raises(ScriptError):
        compile_script("9223372036854775807 + $.one").evaluate({"one": 1})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_script_errors(source: str) -> None:
    try:
        script = compile_script(source)
    except ScriptError:
        return
    with contextlib.suppress(GraphflowError):
        script.evaluate({"a": 1, "s": "x", "l": [1, 2]}, env={"E": "v"}, output=[])


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
        max_leaves=30,
    )
)
def test_any_json_payload_round_trips(payload: object) -> None:
    assert compile_script("$").evaluate(payload) == payload
