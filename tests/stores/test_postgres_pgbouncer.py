"""PostgresStore behind PgBouncer: the ``pgbouncer`` option, what it refuses, what it detects.

The whole Store contract runs through PgBouncer in transaction mode in
``tests/contract/test_store_contract_pgbouncer.py``; here a few of its tests run in session mode
too. Tests needing PgBouncer skip when its binary is missing (``tests/pgbouncer.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from graphflow.abc import Store
from graphflow.exceptions import StoreError
from graphflow.stores.postgres import PostgresStore
from graphflow.testing.store_contract import (
    automation,
    run,
    test_a_reader_following_concurrent_writers_sees_every_event_once_in_order,
    test_concurrent_answers_have_exactly_one_winner,
    test_concurrent_claims_never_return_the_same_run,
    test_wait_for_events_wakes_on_an_append,
)
from tests.pg import fresh_schema, postgres_dsn
from tests.pgbouncer import PgBouncer, bouncer_store, pgbouncer

__all__ = [
    "test_a_reader_following_concurrent_writers_sees_every_event_once_in_order",
    "test_concurrent_answers_have_exactly_one_winner",
    "test_concurrent_claims_never_return_the_same_run",
    "test_wait_for_events_wakes_on_an_append",
]

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture(scope="module")
def session_bouncer() -> Iterator[PgBouncer]:
    with pgbouncer("session") as started:
        yield started


@pytest.fixture
async def store(session_bouncer: PgBouncer) -> AsyncIterator[Store]:
    """The contract tests imported above, through PgBouncer in session mode."""
    async with bouncer_store(session_bouncer) as started:
        yield started


def test_statement_pooling_and_unknown_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="statement pooling cannot run graphflow"):
        PostgresStore("postgresql://app@db/app?pgbouncer=statement")
    with pytest.raises(ValueError, match="'session' or 'transaction'"):
        PostgresStore("postgresql://app@db/app", pgbouncer="yes")


def test_the_option_is_read_from_the_url_and_not_passed_to_libpq() -> None:
    store = PostgresStore("postgresql://app@db/app?sslmode=disable&pgbouncer=transaction&schema=gf")
    assert (store.pgbouncer, store.schema) == ("transaction", "gf")
    assert store._conninfo == "postgresql://app@db/app?sslmode=disable"
    assert PostgresStore("postgresql://app@db/app?pgbouncer=transaction", pgbouncer="session").pgbouncer == "session"


async def test_transaction_pooling_without_the_option_fails_saying_what_to_add() -> None:
    # One server connection for every client: the second store's prepared statement clashes.
    with pgbouncer("transaction", pool_size=1) as bouncer:
        async with fresh_schema() as (_, schema):
            with bouncer.schema_url(schema) as url:
                undeclared = url.replace("pgbouncer=transaction&", "")
                stores = [PostgresStore(undeclared, max_size=1) for _ in range(2)]
                for store in stores:
                    await store.start()
                try:
                    record = automation()
                    await stores[0].insert_automation(record)
                    with pytest.raises(StoreError, match=r"add \?pgbouncer=transaction to the URL"):
                        for store in stores:
                            for _ in range(10):  # psycopg prepares a statement on its 6th run
                                await store.get_automation(record.app_id, record.id)
                finally:
                    for store in stores:
                        await store.close()


async def test_with_the_option_the_same_load_works() -> None:
    with pgbouncer("transaction", pool_size=1) as bouncer:
        async with fresh_schema() as (_, schema):
            with bouncer.schema_url(schema) as url:
                stores = [PostgresStore(url, max_size=1) for _ in range(2)]
                for store in stores:
                    await store.start()
                try:
                    record = automation()
                    await stores[0].insert_automation(record)
                    for store in stores:
                        for _ in range(10):
                            assert await store.get_automation(record.app_id, record.id) == record
                    await stores[1].insert_runs([run(record.id)])
                    assert len(await stores[0].claim_runs("w1", limit=5, lease=30)) == 1
                finally:
                    for store in stores:
                        await store.close()


async def test_a_schema_the_pooled_connections_do_not_use_is_refused() -> None:
    with pgbouncer("transaction") as bouncer:
        async with fresh_schema() as (_, schema):
            store = PostgresStore(bouncer.url(schema))  # the plain entry: its search_path is the default
            with pytest.raises(StoreError, match="connect_query") as raised:
                await store.start()
            assert f"use schema 'public', not '{schema}'" in str(raised.value)
            await store.close()


async def test_an_undeclared_pooler_is_warned_about(
    session_bouncer: PgBouncer, caplog: pytest.LogCaptureFixture
) -> None:
    async with fresh_schema() as (_, schema):
        urls = {
            "undeclared": session_bouncer.url(schema).replace("pgbouncer=session&", ""),
            "declared": session_bouncer.url(schema),
            "direct": f"{postgres_dsn()}?schema={schema}",
        }
        warned = {}
        for name, url in urls.items():
            caplog.clear()
            store = PostgresStore(url)
            with caplog.at_level(logging.WARNING, logger="graphflow.stores.postgres"):
                await store.start()
            await store.close()
            warned[name] = any("connection pooler" in record.getMessage() for record in caplog.records)
    assert warned == {"undeclared": True, "declared": False, "direct": False}
