"""graphflow's pytest plugin: fixtures for testing workflows (registered as the ``graphflow`` plugin).

Installed with graphflow (entry point ``pytest11``), so any project that depends on graphflow
gets these fixtures without a ``conftest.py``. The tests that use the async ones run on AnyIO's
pytest plugin (part of ``anyio``, a graphflow dependency): mark them ``pytest.mark.anyio``.

Fixtures:

* ``graphflow_start`` — where the fake clock starts (override it: an aware ``datetime``, an
  ISO-8601 string with an offset, or UNIX seconds). Default ``2026-01-01T00:00:00Z``.
* ``graphflow_engine_options`` — keyword arguments for the ``Engine`` (override it to pass a
  ``catalogue``, ``env``, ``services``…). Default ``{}``.
* ``fake_clock`` — a :class:`~graphflow.testing.clock.SteppingClock` at ``graphflow_start``.
* ``graphflow_engine`` — a started ``Engine("memory://", clock=fake_clock, ...)``, stopped after the test.
* ``graphflow_harness`` — an :class:`~graphflow.testing.harness.EngineHarness` over both:
  ``add_automation``, ``publish_and_wait``, ``advance`` / ``advance_to``, ``runs``.

:func:`~graphflow.testing.harness.assert_path` is a plain function:
``from graphflow.testing import assert_path``.

Loading this module imports nothing but ``pytest``: graphflow's engine is imported when a
fixture is first used, and Hypothesis is not needed at all (only :mod:`graphflow.testing.strategies`
needs it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine
    from graphflow.testing.clock import SteppingClock
    from graphflow.testing.harness import EngineHarness

__all__ = [
    "fake_clock",
    "graphflow_engine",
    "graphflow_engine_options",
    "graphflow_harness",
    "graphflow_start",
]


@pytest.fixture
def graphflow_start() -> datetime | str | float:
    """Where :func:`fake_clock` starts: ``2026-01-01T00:00:00Z`` unless a test module overrides it."""
    return "2026-01-01T00:00:00Z"


@pytest.fixture
def graphflow_engine_options() -> dict[str, Any]:
    """Extra keyword arguments for the test engine (override to pass ``catalogue``, ``env``, ``services``…)."""
    return {}


@pytest.fixture
def fake_clock(graphflow_start: datetime | str | float) -> SteppingClock:
    """A stepping fake clock at ``graphflow_start``."""
    from graphflow.testing.clock import SteppingClock

    return SteppingClock(graphflow_start)


@pytest.fixture
async def graphflow_engine(
    fake_clock: SteppingClock, graphflow_engine_options: dict[str, Any]
) -> AsyncIterator[Engine]:
    """A started engine on the memory store, driven by ``fake_clock``."""
    from graphflow.engine.engine import Engine

    async with Engine("memory://", clock=fake_clock, **graphflow_engine_options) as engine:
        yield engine


@pytest.fixture
async def graphflow_harness(graphflow_engine: Engine, fake_clock: SteppingClock) -> AsyncIterator[EngineHarness]:
    """An :class:`~graphflow.testing.harness.EngineHarness` over ``graphflow_engine`` and ``fake_clock``."""
    from graphflow.testing.harness import EngineHarness

    harness = EngineHarness(graphflow_engine, fake_clock)
    try:
        yield harness
    finally:
        harness.close()
