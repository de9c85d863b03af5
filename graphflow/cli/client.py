"""What a management command talks to: :class:`Client`, the operations of one app.

It speaks the API's JSON shapes (``to_dict()`` in direct mode, the response bodies in server
mode), so ``--json`` prints the same thing in both modes. :mod:`graphflow.cli.direct` answers on
the database, :mod:`graphflow.cli.remote` through a server; :mod:`graphflow.cli.connection`
picks one from the options and the environment.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from graphflow.cli.errors import UsageError

__all__ = ["Client", "Target", "Transition"]

Transition = Literal["activate", "pause", "reset"]


@dataclass(frozen=True, slots=True)
class Target:
    """One app, and either a database URL (direct mode) or a server URL and key (server mode)."""

    app: str
    database_url: str | None = None
    server: str | None = None
    key: str | None = None


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

    @abstractmethod
    async def invoke(
        self, automation_id: str, payload: Any, *, idempotency_key: str | None, wait: bool, timeout: float | None
    ) -> dict[str, Any]:
        """Invoke an invoked automation; the run (finished when ``wait``)."""

    @abstractmethod
    async def list_steering(
        self, *, status: str | None, run_id: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        """``{data, next_cursor}``: the app's steering requests, newest first."""

    @abstractmethod
    async def get_steering(self, request_id: str) -> dict[str, Any]:
        """One steering request."""

    @abstractmethod
    async def steer(self, request_id: str, choice: str, *, note: str | None, by: str | None) -> dict[str, Any]:
        """Answer a steering request; the request as answered."""

    async def create_key(self, name: str | None) -> dict[str, Any]:
        """``{key, secret}``: a new API key and its secret (shown once) (direct mode only: a key cannot mint keys)."""
        raise UsageError("API keys are managed on the database: give --database-url, not --server")

    async def list_keys(self) -> list[dict[str, Any]]:
        """The app's API keys (never their secrets) (direct mode only: a key cannot mint keys)."""
        raise UsageError("API keys are managed on the database: give --database-url, not --server")

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        """The revoked key (direct mode only: a key cannot mint keys)."""
        raise UsageError("API keys are managed on the database: give --database-url, not --server")
