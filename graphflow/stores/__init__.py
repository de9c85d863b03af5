"""Store backends, one module each; the contract is :class:`graphflow.abc.Store`.

A store is chosen by URL: ``memory://``, ``sqlite:///path/to/file.db`` (``sqlite:///:memory:`` for
a private in-memory database) or ``postgresql://user:pass@host/db``. With no URL the engine uses
``GRAPHFLOW_DATABASE_URL`` or, when that is unset, ``sqlite:///graphflow.db`` in the working
directory.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphflow.abc import Store

__all__ = ["DEFAULT_DATABASE_URL", "default_database_url", "redact_url", "store_from_url"]

#: The database an ``Engine()`` without a store uses when ``GRAPHFLOW_DATABASE_URL`` is unset.
DEFAULT_DATABASE_URL = "sqlite:///graphflow.db"


def default_database_url() -> str:
    """``GRAPHFLOW_DATABASE_URL`` when set, else :data:`DEFAULT_DATABASE_URL`."""
    return os.environ.get("GRAPHFLOW_DATABASE_URL") or DEFAULT_DATABASE_URL


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def store_from_url(url: str) -> Store:
    """Build a store from a URL (see the module docstring).

    Raises:
        ValueError: the URL's scheme is not supported.
    """
    if url.startswith("memory:"):
        from graphflow.stores.memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite:"):
        from graphflow.stores.sqlite import SQLiteStore

        store: Store = SQLiteStore(url)
        return store
    if url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        from graphflow.stores.postgres import PostgresStore

        pg_store: Store = PostgresStore(url)
        return pg_store
    scheme = url.split(":", 1)[0]
    raise ValueError(
        f"unsupported store URL scheme {scheme!r} in {redact_url(url)!r}; "
        "use memory://, sqlite:///path or postgresql://…"
    )
