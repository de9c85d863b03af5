"""Where a management command sends its operations: the database itself, or a graphflow server.

:class:`Client` is the one surface the management commands use; it speaks the API's JSON shapes
(``to_dict()`` in direct mode, the response bodies in server mode), so ``--json`` prints the same
thing in both modes. :func:`connect` picks the mode from the options and the environment:
``--server`` (or ``$GRAPHFLOW_SERVER`` when no ``--database-url`` is given) talks HTTP to a server
(:mod:`graphflow.cli.remote`); otherwise an :class:`~graphflow.engine.engine.Engine` on the
database publishes and reads without executing anything (:mod:`graphflow.cli.direct`).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from graphflow.cli.errors import UsageError

__all__ = ["Client", "Target", "connect", "resolve_target", "server_mode"]

Transition = Literal["activate", "pause", "reset"]


@dataclass(frozen=True, slots=True)
class Target:
    """One app, and either a database URL (direct mode) or a server URL and key (server mode)."""

    app: str
    database_url: str | None = None
    server: str | None = None
    key: str | None = None


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


class Client(ABC):
    """The management operations of one app, answered in the API's JSON shapes."""

    def __init__(self, app: str) -> None:
        self.app = app

    @abstractmethod
    async def list_automations(self, *, type: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
        """``{data, next_cursor}``: the app's automations, newest first."""

    @abstractmethod
    async def create_automation(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The created automation."""

    @abstractmethod
    async def get_automation(self, automation_id: str) -> dict[str, Any]:
        """The automation with ``recent_runs``."""

    @abstractmethod
    async def update_automation(self, automation_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The updated automation."""

    @abstractmethod
    async def delete_automation(self, automation_id: str) -> None:
        """Delete the automation."""

    @abstractmethod
    async def transition(self, automation_id: str, action: Transition, reason: str | None = None) -> dict[str, Any]:
        """Activate, pause (with ``reason``) or reset; the automation after it."""

    @abstractmethod
    async def trigger(self, automation_id: str, payload: Any) -> dict[str, Any]:
        """``{run_id}``: a run started now."""

    @abstractmethod
    async def list_runs(
        self, automation_id: str, *, status: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        """``{data, next_cursor}``: the automation's runs, newest first."""

    @abstractmethod
    async def get_run(self, run_id: str) -> dict[str, Any]:
        """The run with its journal."""

    @abstractmethod
    async def cancel_run(self, run_id: str) -> dict[str, Any]:
        """The run after cancelling it."""

    @abstractmethod
    async def wait_for_run(self, run_id: str) -> dict[str, Any]:
        """The run once it ended (completed, failed or cancelled); the caller bounds the wait."""

    @abstractmethod
    async def create_config(self, text: str, *, yaml: bool) -> dict[str, Any]:
        """The stored config (version 1), from JSON or YAML text."""

    @abstractmethod
    async def list_configs(self, *, cursor: str | None, limit: int) -> dict[str, Any]:
        """``{data, next_cursor}``: the app's configs."""

    @abstractmethod
    async def publish(self, name: str, payload: Any, event_id: str | None) -> dict[str, Any]:
        """``{duplicate, run_ids}``."""

    @abstractmethod
    def events(
        self, *, after: int | None, run_id: str | None, types: frozenset[str] | None
    ) -> AsyncIterator[dict[str, Any]]:
        """The app's (or one run's) events from after ``after`` on, live, as ``StreamEvent.to_dict()``."""

    async def create_key(self, name: str | None) -> dict[str, Any]:
        """``{key, secret}``: a new API key and its secret (shown once) (direct mode only: a key cannot mint keys)."""
        raise UsageError("API keys are managed on the database: give --database-url, not --server")

    async def list_keys(self) -> list[dict[str, Any]]:
        """The app's API keys (never their secrets) (direct mode only: a key cannot mint keys)."""
        raise UsageError("API keys are managed on the database: give --database-url, not --server")

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        """The revoked key (direct mode only: a key cannot mint keys)."""
        raise UsageError("API keys are managed on the database: give --database-url, not --server")


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
