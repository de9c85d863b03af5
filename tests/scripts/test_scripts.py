from __future__ import annotations

import pytest

from graphflow.exceptions import ScriptError, ScriptLimitError
from graphflow.scripts import Script, ScriptLimits, compile_script, compile_template


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("true", {}, True),
        ("$.a + 1", {"a": 1}, 2),
        ("$.user.name", {"user": {"name": "ada"}}, "ada"),
        ("$['odd key']", {"odd key": 3}, 3),
        ("$.items.map(i, i * 2)", {"items": [1, 2]}, [2, 4]),
        ("$.items.filter(i, i > 1).size()", {"items": [1, 2, 3]}, 2),
        ("{'total': $.a * 2, 'ok': true}", {"a": 2}, {"total": 4, "ok": True}),
        ("$.name.startsWith('gr')", {"name": "graphflow"}, True),
        ("$ == null", None, True),
        ("has($.a) ? $.a.b : $.c", {"c": 5}, 5),
        ("has($.a) ? $.a.b : $.c", {"a": {"b": 3}}, 3),
        ("$.kind == 'x' ? $.x_only : 'no'", {"kind": "y"}, "no"),
        ("unwrap($.a.b, 'd')", {}, "d"),
        ("unwrap($.a.b, 'd')", {"a": None}, "d"),
        ("unwrap($.a.b, 'd')", {"a": 7}, "d"),
        ("unwrap($.a.b, 'd')", {"a": {"b": None}}, "d"),
        ("unwrap($.a.b, 'd')", {"a": {"b": 0}}, 0),
        ("unwrap($.a)", {}, None),
        ("unwrap(size($.l) > 0 ? $.l[0] : null, 9)", {"l": []}, 9),
        ("let x = $.a * 2\nlet y = x + 1\ny", {"a": 2}, 5),
        ("let x = $.a; x * 10", {"a": 2}, 20),
        ("$.a\n  + $.b", {"a": 1, "b": 2}, 3),
        ("[\n 1,\n 2\n].size()", {}, 2),
        ("// comment\n$.a // trailing\n", {"a": 4}, 4),
        ("timestamp('2026-01-01T00:00:00Z') < timestamp($.when)", {"when": "2026-06-01T00:00:00Z"}, True),
    ],
)
def test_evaluates(source: str, data: object, expected: object) -> None:
    assert compile_script(source).evaluate(data) == expected


def test_env_and_nodes() -> None:
    script = compile_script("env.GREETING + ' ' + nodes.fetch.name")
    assert script.evaluate({}, env={"GREETING": "hi"}, nodes={"fetch": {"name": "ada"}}) == "hi ada"


def test_println_appends_lines_and_returns_its_argument() -> None:
    lines: list[str] = []
    value = compile_script("println('a', 1)\nprintln({'k': [1]})\nprintln($.x)").evaluate({"x": "v"}, output=lines)
    assert lines == ["a 1", '{"k":[1]}', "v"]
    assert value == "v"


def test_errors_are_script_errors_with_dollar_not_internal_names() -> None:
    with pytest.raises(ScriptError, match="no such key: 'missing'"):
        compile_script("$.missing + 1").evaluate({})
    with pytest.raises(ScriptError) as info:
        compile_script("$.a + 'x'").evaluate({"a": 1})
    assert ("_in_" not in str(info.value) and "_p0" not in str(info.value)) or "$" in str(info.value)
    with pytest.raises(ScriptError, match="division by zero"):
        compile_script("1 / $.z").evaluate({"z": 0})


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("", "empty"),
        ("1 +", "line 1"),
        ("foo + 1", "unknown name 'foo'"),
        ("let x = 1", "must end with an expression"),
        ("let $ = 1\n1", "let name = expression"),
        ("let env = 1\nenv", "reserved"),
        ("(1", "missing ')'"),
        ("1)", "unbalanced"),
        ("#", "unexpected character"),
        ("unwrap()", "one or two arguments"),
    ],
)
def test_compile_errors(source: str, fragment: str) -> None:
    with pytest.raises(ScriptError) as info:
        compile_script(source)
    assert fragment in str(info.value)


def test_compiled_once_evaluated_many_times() -> None:
    script = Script.compile("$.n * 2")
    assert [script.evaluate({"n": n}) for n in range(5)] == [0, 2, 4, 6, 8]
    assert script.references_input


def test_templates() -> None:
    assert compile_template("https://x/{{$.id}}/y").render({"id": 7}) == "https://x/7/y"
    assert compile_template("{{$.items}}").render({"items": [1]}) == [1]
    assert compile_template("n={{ $.n }} m={{$.m}}").render({"n": None, "m": {"a": 1}}) == 'n= m={"a":1}'
    assert compile_template("{{ {'a': {'b': 1}}.a.b }}").render({}) == 1
    assert compile_template("no holes").static
    nested = compile_template({"a": ["{{$.x}}", 2], "b": "lit"})
    assert nested.render({"x": "v"}) == {"a": ["v", 2], "b": "lit"}
    assert compile_template({"k": 1}).render(None) == {"k": 1}
    assert compile_template("{{ env.K }}").render({}, env={"K": "v"}) == "v"


@pytest.mark.parametrize("bad", ["{{ $.a ", "{{}}", "{{ 1 + }}"])
def test_bad_templates(bad: str) -> None:
    with pytest.raises(ScriptError):
        compile_template(bad)


def test_limits_are_configurable() -> None:
    tight = ScriptLimits(max_source_chars=5)
    with pytest.raises(ScriptLimitError, match="limit is 5"):
        compile_script("1 + 2 + 3", limits=tight)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'a, b'.split(',').map(x, x.trim()).join('+')", "a+b"),
        ("split('a b  c')", ["a", "b", "c"]),
        ("'abc'.split('')", ["a", "b", "c"]),
        ("[1, 2, 3].sum() + [].sum()", 6),
        ("[3, 1, 2].sort().reverse()", [3, 2, 1]),
        ("[3, 1].min() + [3, 1].max()", 4),
        ("[].max() == null", True),
        ("[[1], [2, 3], 4].flatten()", [1, 2, 3, 4]),
        ("[1, 1, {'a': 1}, {'a': 1}].distinct()", [1, {"a": 1}]),
        ("[1, 2, 3].slice(1).first() + [1, 2, 3].last()", 5),
        ("{'a': 1, 'b': 2}.keys().sort().join(',') + string({'a': 1}.values()[0])", "a,b1"),
        ("'Hello'.lowerAscii() + 'x'.upperAscii() + 'hello'.substring(1, 3)", "helloXel"),
        ("'a-b-c'.replace('-', '+', 1) + string('abc'.indexOf('c')) + string([5, 6].indexOf(6))", "a+b-c21"),
        ("[1, 'x'].join(',')", "1,x"),
    ],
)
def test_helper_functions(source: str, expected: object) -> None:
    assert compile_script(source).evaluate({}) == expected


def test_helper_misuse_is_a_script_error_and_output_is_bounded() -> None:
    with pytest.raises(ScriptError, match=r"sum\(\) needs a list, got str"):
        compile_script("$.x.sum()").evaluate({"x": "s"})
    with pytest.raises(ScriptLimitError, match="replace"):
        compile_script("$.s.replace('a', $.big)").evaluate({"s": "a" * 2000, "big": "b" * 1000})
    with pytest.raises(ScriptLimitError):
        compile_script("$.l.flatten()").evaluate({"l": [list(range(1000))] * 1100})
