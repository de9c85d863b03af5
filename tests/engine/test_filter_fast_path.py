"""The filter fast path decides exactly as CEL does (a property test against the script language)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from graphflow.engine.filters import compile_filter
from graphflow.exceptions import GraphflowError
from graphflow.scripts import Script

KEYS = st.sampled_from(["a", "b", "kind", "priority"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False), st.sampled_from(["x", "y", ""])
)
PAYLOADS = st.recursive(
    st.dictionaries(KEYS, SCALARS, max_size=4),
    lambda inner: st.dictionaries(KEYS, st.one_of(SCALARS, inner, st.lists(SCALARS, max_size=2)), max_size=4),
    max_leaves=8,
)
LITERALS = st.sampled_from(["'x'", "'y'", "''", '"x"', "true", "false"])


def by_cel(source: str, payload: Any) -> bool:
    try:
        return Script.compile(source).evaluate_inline(payload) is True
    except GraphflowError:
        return False


@settings(max_examples=400, deadline=None)
@given(
    path=st.lists(KEYS, min_size=1, max_size=3),
    op=st.sampled_from(["==", "!="]),
    literal=LITERALS,
    payload=PAYLOADS,
)
def test_the_fast_path_agrees_with_cel(path: list[str], op: str, literal: str, payload: Any) -> None:
    source = f"$.{'.'.join(path)} {op} {literal}"
    assert compile_filter(source)(payload) is by_cel(source, payload), (source, payload)


def test_other_filters_go_to_the_script_language() -> None:
    check = compile_filter("$.n > 2 && $.kind != 'bot'")
    assert check({"n": 3, "kind": "user"}) is True
    assert check({"n": 3}) is False  # a missing key is an error: holds for nothing
