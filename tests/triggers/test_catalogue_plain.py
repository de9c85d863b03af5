"""Payloads hold plain JSON types only: subclasses are refused with a path (issue 9 item 6)."""

from __future__ import annotations

import enum
from collections import OrderedDict
from typing import Any

import pytest

from graphflow.exceptions import ValidationError
from graphflow.triggers.catalogue import EventCatalogue


class Tag(str):
    pass


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 1


@pytest.mark.parametrize(
    ("payload", "path", "fragment"),
    [
        ({"thread_id": Tag("thr_1")}, "$.payload.thread_id", "a Tag is not a plain str"),
        ({"thread_id": "thr_1", "x": [Colour.RED]}, "$.payload.x[0]", "a Colour is not a plain str"),
        ({"thread_id": "thr_1", "x": {"n": Size.BIG}}, "$.payload.x.n", "a Size is not a plain int"),
        ({"thread_id": "thr_1", "x": OrderedDict(a=1)}, "$.payload.x", "an OrderedDict"),
        ({"thread_id": "thr_1", Tag("k"): 1}, "$.payload", "a key is a Tag"),
        (OrderedDict(thread_id="thr_1"), "$.payload", "not a plain dict"),
    ],
    ids=["str-subclass", "str-enum", "int-enum", "dict-subclass", "key-subclass", "payload-subclass"],
)
def test_subclasses_of_json_types_are_refused_with_a_path(payload: Any, path: str, fragment: str) -> None:
    catalogue = EventCatalogue()
    with pytest.raises(ValidationError) as info:
        catalogue.validate("thread.member_joined", payload)
    (problem,) = info.value.problems
    assert info.value.code == "validation_error"
    assert problem.path == path
    assert fragment.removeprefix("an ").removeprefix("a ") in problem.message


def test_the_plain_values_pass() -> None:
    EventCatalogue().validate("thread.member_joined", {"thread_id": str(Tag("thr_1")), "x": [int(Size.BIG)]})
