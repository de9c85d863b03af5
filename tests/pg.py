"""The PostgreSQL that tests use: one place decides whether it is there, and what to do if not.

``GRAPHFLOW_TEST_POSTGRES_DSN`` names the server (default: the local ``test`` database). When it
does not answer, PostgreSQL tests are skipped on a developer's machine and **fail** in CI
(``CI=true``), so a CI run can never pass without having run them. Each test gets a schema of its
own (``gf_test_<random>``), dropped afterwards.

    from tests.pg import postgres_store

    async with postgres_store() as store:  # started, in a fresh schema; closed and dropped after
        ...
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest

from graphflow.stores import redact_url

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_dsn() -> str:
    """The DSN PostgreSQL tests run against."""
    return os.environ.get("GRAPHFLOW_TEST_POSTGRES_DSN") or DEFAULT_DSN


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@functools.cache
def _unreachable(dsn: str) -> str | None:
    """Why the server cannot be used (``None`` when it can); asked once per process."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        with psycopg.connect(dsn, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def require_postgres() -> str:
    """The DSN when its server answers; otherwise skip the test, or fail it when ``CI=true``."""
    dsn = postgres_dsn()
    reason = _unreachable(dsn)
    if reason is not None:
        message = f"PostgreSQL at {redact_url(dsn)} (GRAPHFLOW_TEST_POSTGRES_DSN) is not usable: {reason}"
        if in_ci():
            pytest.fail(f"{message}; CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(message)
    return dsn


def new_schema() -> str:
    return f"gf_test_{secrets.token_hex(4)}"


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def postgres_url() -> Iterator[str]:
    """A store URL (``…?schema=gf_test_…``) on the test server, its schema dropped afterwards.

    Skips (or fails in CI) when the server does not answer.
    """
    dsn = require_postgres()
    schema = new_schema()
    try:
        yield f"{dsn}?schema={schema}"
    finally:
        drop_schema(dsn, schema)


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[tuple[str, str]]:
    """``(dsn, schema)`` for a schema name nobody uses; the schema is dropped afterwards."""
    dsn = require_postgres()
    schema = new_schema()
    try:
        yield dsn, schema
    finally:
        drop_schema(dsn, schema)


@asynccontextmanager
async def postgres_store(*_: Any, **options: Any) -> AsyncIterator[Any]:
    """A started :class:`~graphflow.stores.postgres.PostgresStore` in a fresh schema.

    Positional arguments are ignored (the contract suite's factories receive ``tmp_path``).
    """
    from graphflow.stores.postgres import PostgresStore

    async with fresh_schema() as (dsn, schema):
        options.setdefault("max_size", 4)
        store = PostgresStore(dsn, schema=schema, **options)
        await store.start()
        try:
            yield store
        finally:
            await store.close()
