"""The Store contract suite (:mod:`graphflow.testing.store_contract`) against every built-in store.

``store`` is parametrised over ``FACTORIES``: a name → async context manager yielding a started
store and closing it. ``postgres`` uses a fresh schema on the server named by
``GRAPHFLOW_TEST_POSTGRES_DSN`` (``tests/pg.py``: skipped when unreachable, failed when ``CI=true``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from graphflow.abc import Store
from graphflow.stores.memory import MemoryStore
from graphflow.stores.sqlite import SQLiteStore
from graphflow.testing.store_contract import *  # noqa: F403 - the contract's tests
from tests.pg import postgres_store

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def memory_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = MemoryStore()
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = SQLiteStore(tmp_path / "contract.db")
    await store.start()
    try:
        yield store
    finally:
        await store.close()


StoreFactory = Callable[[Path], AbstractAsyncContextManager[Store]]
FACTORIES: dict[str, StoreFactory] = {"memory": memory_store, "sqlite": sqlite_store, "postgres": postgres_store}
MARKS = {"postgres": pytest.mark.postgres}


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, ())) for name in sorted(FACTORIES)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with FACTORIES[request.param](tmp_path) as started:
        yield started
