"""``engine``: an engine on each store — memory, SQLite (a file of the test's own) and PostgreSQL.

A test module tunes it by overriding ``engine_options`` (keyword arguments of ``Engine``).
PostgreSQL runs in a schema of the test's own (``tests/pg.py``: it fails, not skips, in CI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graphflow.engine.engine import Engine
from tests.pg import postgres_url


@pytest.fixture
def engine_options() -> dict[str, Any]:
    """Keyword arguments of the test engines (a short poll: parked runs resume promptly)."""
    return {"poll_interval": 0.05}


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, engine_options: dict[str, Any]
) -> AsyncIterator[Engine]:
    if request.param == "postgres":
        with postgres_url() as url:
            async with Engine(url, **engine_options) as started:
                yield started
        return
    url = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path / 'engine.db'}"}[request.param]
    async with Engine(url, **engine_options) as started:
        yield started
