"""Which :class:`~graphflow.cli.client.Client` a command gets, from its options and the environment.

``--server`` (or ``$GRAPHFLOW_SERVER`` when no ``--database-url`` is given) talks HTTP to a
server (:mod:`graphflow.cli.remote`); otherwise an :class:`~graphflow.engine.engine.Engine` on
the database publishes and reads without executing anything (:mod:`graphflow.cli.direct`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from graphflow.cli.client import Client, Target
from graphflow.cli.errors import UsageError

__all__ = ["connect", "resolve_target", "server_mode"]


def server_mode(database_url: str | None, server: str | None) -> bool:
    """Whether the options mean server mode: ``--server``, or ``$GRAPHFLOW_SERVER`` without ``--database-url``."""
    return bool(server or (not database_url and os.environ.get("GRAPHFLOW_SERVER")))


def resolve_target(
    app: str | None, database_url: str | None, server: str | None, key: str | None, *, must_exist: bool = True
) -> Target:
    """The :class:`Target` the options and environment name; a missing or conflicting part is a usage error.

    Args:
        app: ``--app`` (default ``$GRAPHFLOW_APP``).
        database_url: ``--database-url`` (default ``$GRAPHFLOW_DATABASE_URL``, else ``sqlite:///graphflow.db``).
        server: ``--server`` (default ``$GRAPHFLOW_SERVER`` when no ``--database-url`` is given).
        key: ``--key`` (default ``$GRAPHFLOW_API_KEY``).
        must_exist: refuse a SQLite file that does not exist yet (every command but the creating ones).

    Raises:
        UsageError: no app, a malformed app id, both modes at once, a server without a key, a bad
            URL, an in-memory database (it would be empty in every command).
    """
    from graphflow.exceptions import ValidationError
    from graphflow.ids import check_app

    app = app or os.environ.get("GRAPHFLOW_APP")
    if not app:
        raise UsageError("--app is required (or set GRAPHFLOW_APP), e.g. --app app_1")
    try:
        check_app(app)
    except ValidationError as exc:
        raise UsageError(f"--app: {exc.problems[0].message}") from None
    if server and database_url:
        raise UsageError("give --database-url (direct mode) or --server (server mode), not both")
    if server_mode(database_url, server):
        server = server or os.environ["GRAPHFLOW_SERVER"]
        if not server.startswith(("http://", "https://")) or len(server.split("://", 1)[1].strip("/")) == 0:
            raise UsageError(f"--server must be an http:// or https:// URL, got {server!r}")
        key = key or os.environ.get("GRAPHFLOW_API_KEY")
        if not key:
            raise UsageError(
                "--key is required with --server (or set GRAPHFLOW_API_KEY); 'graphflow keys create' makes one"
            )
        return Target(app, server=server.rstrip("/"), key=key)
    from graphflow.cli.database import store_at
    from graphflow.stores import default_database_url

    url = database_url or default_database_url()
    if not store_at(url, must_exist=must_exist).durable:
        raise UsageError(
            "--database-url memory:// holds nothing between commands; give sqlite:///FILE or postgresql://"
        )
    return Target(app, database_url=url)


@asynccontextmanager
async def connect(target: Target) -> AsyncIterator[Client]:
    """A :class:`Client` for ``target``, open for the ``async with`` block."""
    if target.server is not None:
        from graphflow.cli.remote import HttpClient

        async with HttpClient.open(target) as http:
            yield http
    else:
        from graphflow.cli.direct import DirectClient

        async with DirectClient.open(target) as direct:
            yield direct
