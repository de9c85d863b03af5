"""The guard's bound holds: no value a statement builds is larger than the guard says it can be.

The guard decides what runs inline from ``value_bound``/``cost_bound``; if a statement could
build more than the bound, a "cheap" statement could stall the event loop. Generated statements
over ``$`` (the operations that grow values: concatenation, nesting, comprehensions, ``split``,
``join``, ``replace``, ``flatten``) with generated inputs must never exceed it.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from graphflow.exceptions import ScriptError
from graphflow.scripts import compile_script
from graphflow.scripts.guard import SCALAR_CHARS, cost_bound, measure, value_bound

_CAP = 10**12

_expressions = st.recursive(
    st.sampled_from(["$", "'ab'", "[1, 2]", "[$]"]),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} + {b})", inner, inner),
        st.builds(lambda a, b: f"[{a}, {b}]", inner, inner),
        st.builds("{a}.map(v, [v, v])".format_map, st.fixed_dictionaries({"a": inner})),
        st.builds("{a}.filter(v, true)".format_map, st.fixed_dictionaries({"a": inner})),
        st.builds("{a}.split('')".format_map, st.fixed_dictionaries({"a": inner})),
        st.builds("{a}.join('--')".format_map, st.fixed_dictionaries({"a": inner})),
        st.builds("{a}.replace('', 'xy')".format_map, st.fixed_dictionaries({"a": inner})),
        st.builds("{a}.flatten()".format_map, st.fixed_dictionaries({"a": inner})),
    ),
    max_leaves=4,
)
_inputs = st.text(alphabet="ab", max_size=6) | st.lists(st.text(alphabet="ab", max_size=3), max_size=4)


@settings(max_examples=400, deadline=None)
@given(_expressions, _inputs)
def test_nothing_a_statement_builds_exceeds_the_guards_bound(source: str, payload: object) -> None:
    script = compile_script(source)
    statement = script._statements[0]
    shape = statement.shape
    uses = dict(statement.main.uses).get("_in_", 0)
    inputs = uses * measure(payload, _CAP)[0]
    with contextlib.suppress(ScriptError):  # type errors, and values past the 1 MiB limit
        value = script.evaluate(payload)
        bound = value_bound(inputs, statement.chars, shape.calls, shape.growths, _CAP)
        assert measure(value, _CAP)[0] <= bound, (source, payload)


def test_the_bound_grows_with_inputs_and_is_capped() -> None:
    small = cost_bound(SCALAR_CHARS, 7, 3, 0, 0, 10**6)
    assert small < cost_bound(10_000, 7, 3, 0, 0, 10**6) <= 10**6 + 1
    assert cost_bound(100, 10, 10, 0, 5, 10**6) == 10**6 + 1
    assert value_bound(10, 0, 0, 3, 10**100) == 10**8
