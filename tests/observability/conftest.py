"""The ``engine`` fixture of the engine tests (memory, SQLite, PostgreSQL), for the metrics tests."""

from tests.engine.conftest import engine, engine_options

__all__ = ["engine", "engine_options"]
