"""Tools for testing what is built on graphflow.

* :mod:`graphflow.testing.harness` — :class:`EngineHarness` (an engine on the memory store
  driven by a fake clock: publish and wait, advance time firing what is due) and
  :func:`assert_path`;
* :mod:`graphflow.testing.clock` — :class:`SteppingClock`, the fake clock that knows its next deadline;
* :mod:`graphflow.testing.plugin` — the pytest fixtures (``graphflow_harness``, ``graphflow_engine``,
  ``fake_clock``), registered automatically through the ``pytest11`` entry point;
* :mod:`graphflow.testing.strategies` — Hypothesis strategies: ``payloads``, ``inputs``,
  ``graphs``, ``schedules`` (``pip install 'graphflow[testing]'``);
* :mod:`graphflow.testing.store_contract` — the Store contract suite for store authors.

Importing this package imports nothing heavy: the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphflow.testing.clock import SteppingClock
    from graphflow.testing.harness import EngineHarness, assert_path, run_path
    from graphflow.testing.strategies import graphs, inputs, payloads, schedules

__all__ = [
    "EngineHarness",
    "SteppingClock",
    "assert_path",
    "graphs",
    "inputs",
    "payloads",
    "run_path",
    "schedules",
]

_HOMES = {
    "EngineHarness": "harness",
    "assert_path": "harness",
    "run_path": "harness",
    "SteppingClock": "clock",
    "graphs": "strategies",
    "inputs": "strategies",
    "payloads": "strategies",
    "schedules": "strategies",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'graphflow.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"graphflow.testing.{home}"), name)


def __dir__() -> list[str]:
    return __all__
