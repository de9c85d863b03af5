"""The database a command names with ``--database-url``: checked before anything starts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from graphflow.cli.errors import UsageError

if TYPE_CHECKING:
    from graphflow.abc import Store

__all__ = ["store_at"]


def store_at(url: str, *, must_exist: bool) -> Store:
    """The (unstarted) store at ``url``; a bad URL, or with ``must_exist`` a missing SQLite file, is refused.

    Raises:
        UsageError: the URL is not a store URL, or names a SQLite file that does not exist.
    """
    from graphflow.stores import redact_url, store_from_url
    from graphflow.stores.sqlite import SQLiteStore

    try:
        store = store_from_url(url)
    except ValueError as exc:
        raise UsageError(f"--database-url: {exc}") from None
    if must_exist and isinstance(store, SQLiteStore) and store.durable and not Path(store.path).is_file():
        raise UsageError(
            f"no database at {store.path!r} ({redact_url(url)}); "
            "give the --database-url your engine or workers use (or set GRAPHFLOW_DATABASE_URL)"
        )
    return store
