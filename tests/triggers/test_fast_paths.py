"""The fast paths behind publish and registration decide exactly as the slow paths they skip."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphflow.exceptions import ValidationError
from graphflow.triggers.catalogue import EventCatalogue, _surely_fits
from graphflow.triggers.schedules import parse_schedule

# --- payload limits: the conservative verdict never passes what the exact walk refuses ---------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["\ud800", "é", "\x00\x01", "a" * 300, (1, 2), frozenset({1, 2}), b"x"]),
    st.builds(lambda: 10**5000),  # too long to print (CVE-2020-10735)
)
KEYS = st.one_of(st.text(max_size=8), st.sampled_from([1, None, 2.5, "é", "\ud800"]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=30,
)


def exact_verdict(catalogue: EventCatalogue, payload: dict[Any, Any]) -> bool:
    try:
        catalogue._check_limits_exactly(payload)
    except ValidationError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(KEYS, VALUES, max_size=6),
    st.integers(min_value=2, max_value=6),
    st.integers(min_value=20, max_value=4000),
)
def test_the_fast_verdict_never_passes_what_the_exact_walk_refuses(
    payload: dict[Any, Any], depth: int, size: int
) -> None:
    catalogue = EventCatalogue(max_payload_bytes=size, max_depth=depth)
    if _surely_fits(payload, 1, depth, size) >= 0:
        assert exact_verdict(catalogue, payload), payload


def test_the_fast_verdict_passes_ordinary_payloads() -> None:
    payload = {
        "thread_id": "thr_1",
        "count": 3,
        "ok": True,
        "none": None,
        "score": 0.5,
        "tags": ["a", "b"],
        "user": {"id": "usr_9", "roles": [{"name": "admin"}]},
    }
    assert _surely_fits(payload, 1, 32, 256 * 1024) >= 0


@pytest.mark.parametrize(
    "payload",
    [
        {"a": float("nan")},
        {"a": 10**20},
        {1: "x"},
        {None: "x"},
        {"a": "\ud800"},
        {"a": (1,)},
        {"a": [[[[{}]]]]},
        {"a": "x" * 1000},
    ],
)
def test_the_fast_verdict_defers_what_it_cannot_be_sure_of(payload: dict[Any, Any]) -> None:
    assert _surely_fits(payload, 1, 4, 1000) == -1


def test_check_limits_still_names_the_path_when_the_fast_path_defers() -> None:
    catalogue = EventCatalogue()
    with pytest.raises(ValidationError, match=r"\$\.payload\.a\[1\]"):
        catalogue.check_limits({"a": [1, math.inf]})


# --- schedule parses: recurring ones are shared, one-shots follow the clock ------------------


def test_a_recurring_schedule_is_parsed_once_per_text_and_zone() -> None:
    first = parse_schedule("0 9 * * 1-5", timezone="Europe/Paris")
    assert parse_schedule("0 9 * * 1-5", timezone="Europe/Paris") is first
    assert parse_schedule("0 9 * * 1-5").timezone == "UTC"
    assert parse_schedule("every 30m") is parse_schedule("every 30m")


def test_one_shots_are_never_cached() -> None:
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    first = parse_schedule("in 30m", now=now)
    later = parse_schedule("in 30m", now=now + timedelta(hours=1))
    assert later.at is not None and first.at is not None and later.at - first.at == timedelta(hours=1)
    with pytest.raises(ValidationError, match="in the past"):
        parse_schedule("2026-03-01T08:00Z", now=now)
    assert parse_schedule("2026-03-01T10:00Z", now=now).kind == "once"


def test_an_invalid_text_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValidationError, match="out of range"):
            parse_schedule("61 9 * * *")
