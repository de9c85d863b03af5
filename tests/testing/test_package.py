"""graphflow.testing's public names resolve lazily and match its __all__."""

from __future__ import annotations

import pytest

import graphflow.testing


def test_every_public_name_resolves() -> None:
    assert sorted(graphflow.testing.__all__) == graphflow.testing.__all__
    assert set(dir(graphflow.testing)) == set(graphflow.testing.__all__)
    for name in graphflow.testing.__all__:
        assert getattr(graphflow.testing, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="nope"):
        graphflow.testing.nope  # type: ignore[attr-defined]  # noqa: B018
