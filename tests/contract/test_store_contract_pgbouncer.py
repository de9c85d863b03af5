"""The Store contract suite through PgBouncer in transaction pooling mode (``?pgbouncer=transaction``).

Skipped when the ``pgbouncer`` binary is missing (``tests/pgbouncer.py``). In transaction mode
the store prepares no statements, sets no ``search_path`` and listens to nothing: the suite shows
every obligation holds all the same (event streams wake by polling). Session mode changes nothing
in the store; a few contract tests run through it in ``tests/stores/test_postgres_pgbouncer.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from graphflow.abc import Store
from graphflow.testing.store_contract import *  # noqa: F403 - the contract's tests
from tests.pgbouncer import PgBouncer, bouncer_store, pgbouncer

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    with pgbouncer("transaction") as started:
        yield started


@pytest.fixture
async def store(bouncer: PgBouncer) -> AsyncIterator[Store]:
    async with bouncer_store(bouncer) as started:
        yield started
