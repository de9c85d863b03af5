"""Ids: prefix + 26 Crockford base32 characters, ordered by the millisecond they were made in."""

from __future__ import annotations

import re
import time

from graphflow.ids import new_id

ID = re.compile(r"aut_[0-9a-hjkmnp-tv-z]{26}")


def test_ids_have_the_prefix_and_26_lowercase_crockford_characters() -> None:
    assert all(ID.fullmatch(new_id("aut_")) for _ in range(2000))


def test_ids_are_unique() -> None:
    ids = [new_id("") for _ in range(50_000)]
    assert len(set(ids)) == len(ids)


def test_ids_of_a_later_millisecond_sort_after() -> None:
    first = new_id("x")
    time.sleep(0.002)
    assert new_id("x") > first


def test_the_first_ten_characters_are_the_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id("")[:10]
    after = time.time_ns() // 1_000_000
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    value = 0
    for char in made:
        value = value * 32 + alphabet.index(char)
    assert before <= value >> 2 <= after
