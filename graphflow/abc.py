"""Every plug-in contract in one place: what a store must guarantee.

The engine talks to storage only through :class:`Store`. ``MemoryStore`` implements it for tests
and ephemeral use; SQLite and PostgreSQL stores implement the same contract (one contract test
suite runs against all of them). Each method's docstring states its obligations: what must be
atomic, what must be unique, and what an implementation must never do.

Common rules for every method:

* **Tenancy.** Every read and write is scoped by ``app_id``. A record of another app is reported
  exactly like a missing one (``None`` or :class:`~graphflow.exceptions.NotFoundError`), never
  as a permission error, so ids cannot be probed across apps.
* **Isolation of values.** A store returns copies: mutating a returned record must not change
  the stored one, and a record passed in may be kept by reference only if the caller will not
  mutate it (the engine never does).
* **Errors.** Backend failures are raised as :class:`~graphflow.exceptions.StoreError` with the
  driver's error as ``__cause__``; constraint violations the contract names raise the error it
  names (``ConflictError``), never a driver exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from graphflow.automations.model import Automation, AutomationRun, ConfigRecord, Page

__all__ = ["Store"]


class Store(ABC):
    """Persistence for configs, automations, runs and accepted events."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections and migrate the schema; called once by the engine before use."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once when the engine stops. Must be idempotent."""

    # -- configs ---------------------------------------------------------------------------

    @abstractmethod
    async def put_config(self, record: ConfigRecord) -> None:
        """Store a new config version.

        ``(record.id, record.version)`` is unique: storing an existing pair raises
        ``ConflictError`` (two concurrent updates cannot both create version N).
        """

    @abstractmethod
    async def get_config(self, app_id: str, config_id: str, version: int | None = None) -> ConfigRecord | None:
        """Return one version of a config (the latest when ``version`` is ``None``), or ``None``."""

    @abstractmethod
    async def list_configs(self, app_id: str, *, cursor: str | None, limit: int) -> Page:
        """Return the latest version of each of the app's configs, newest first, one page."""

    @abstractmethod
    async def delete_config(self, app_id: str, config_id: str) -> bool:
        """Delete every version of a config; return whether it existed.

        Runs keep the config version they started with only if the store still has it, so the
        engine refuses to delete a config that an automation references.
        """

    # -- automations -------------------------------------------------------------------------

    @abstractmethod
    async def insert_automation(self, automation: Automation) -> None:
        """Store a new automation.

        ``(app_id, lookup_key)`` is unique when ``lookup_key`` is set: a duplicate raises
        ``ConflictError`` and stores nothing (a unique constraint, not check-then-insert).
        """

    @abstractmethod
    async def get_automation(self, app_id: str, automation_id: str) -> Automation | None:
        """Return the automation or ``None`` (also for another app's id)."""

    @abstractmethod
    async def get_automation_by_lookup_key(self, app_id: str, lookup_key: str) -> Automation | None:
        """Return the app's automation with this ``lookup_key``, or ``None``."""

    @abstractmethod
    async def list_automations(
        self, app_id: str, *, type: str | None, cursor: str | None, limit: int
    ) -> Page:
        """Return the app's automations (optionally of one ``type``), newest first, one page."""

    @abstractmethod
    async def update_automation(self, automation: Automation, *, expected_revision: int) -> None:
        """Replace an automation whose stored ``revision`` equals ``expected_revision``.

        The stored revision becomes ``automation.revision`` (the caller increments it). A
        mismatch (a concurrent write won) raises ``ConflictError`` and changes nothing; a missing
        automation raises ``NotFoundError``. ``lookup_key`` uniqueness holds as on insert.
        """

    @abstractmethod
    async def delete_automation(self, app_id: str, automation_id: str) -> bool:
        """Delete an automation (its runs stay); return whether it existed."""

    @abstractmethod
    async def running_automations(self, *, type: str | None = None) -> list[Automation]:
        """Every running automation of every app (optionally of one ``type``).

        The engine loads these at start to build its (app, event) index and its schedule heap;
        afterwards it keeps them current itself, so this is not on any hot path.
        """

    # -- events ----------------------------------------------------------------------------

    @abstractmethod
    async def accept_event(
        self, app_id: str, event_id: str, name: str, payload: Any, runs: Sequence[AutomationRun]
    ) -> bool:
        """Record an accepted event and the runs it creates, atomically.

        Returns ``False`` and stores nothing when ``(app_id, event_id)`` was already accepted:
        publishing the same event id twice creates no second run. Durable stores commit before
        returning; the event and its runs become visible together or not at all.
        """

    # -- runs ------------------------------------------------------------------------------

    @abstractmethod
    async def insert_runs(self, runs: Iterable[AutomationRun]) -> list[AutomationRun]:
        """Store new runs atomically and return the ones stored.

        A run whose ``(automation_id, scheduled_at)`` already exists (a scheduled occurrence
        that was already fired) is skipped silently — this uniqueness is what makes each
        occurrence fire once. Runs without ``scheduled_at`` are always stored.
        """

    @abstractmethod
    async def get_run(self, app_id: str, run_id: str) -> AutomationRun | None:
        """Return the run or ``None`` (also for another app's id)."""

    @abstractmethod
    async def list_runs(
        self,
        app_id: str,
        automation_id: str,
        *,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        """Return an automation's runs, newest first, optionally of one ``status``, one page.

        Items in the page omit nothing but may share storage with the store; the cursor is
        opaque and stable under concurrent inserts (ids are time-ordered).
        """

    @abstractmethod
    async def update_run(self, run: AutomationRun) -> None:
        """Replace a stored run (status, timing, result, journal). Missing → ``NotFoundError``."""

    @abstractmethod
    async def cancel_pending_runs(self, app_id: str, automation_id: str, now: float) -> list[str]:
        """Mark the automation's ``pending`` runs ``cancelled``; return their ids."""

    @abstractmethod
    async def pending_runs(self, limit: int) -> list[AutomationRun]:
        """Up to ``limit`` pending runs across all apps, oldest first (for recovery at start)."""
