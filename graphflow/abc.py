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
* **Time.** Record times (``created_at``, ``finished_at``…) are UNIX seconds from the engine's
  clock; lease expiries are computed by the store from the database's own clock.
* **Errors.** Backend failures are raised as :class:`~graphflow.exceptions.StoreError` with the
  driver's error as ``__cause__``; constraint violations the contract names raise the error it
  names (``ConflictError``), never a driver exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphflow.records import Automation, AutomationRun, ConfigRecord, Page

__all__ = ["Store"]


class Store(ABC):
    """Persistence for configs, automations, runs and accepted events."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections and migrate the schema; called once by the engine before use."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once when the engine stops. Must be idempotent."""

    async def wait_for_work(self, timeout: float) -> None:
        """Return when new work may be claimable (a hint), or after ``timeout`` seconds.

        The default sleeps. PostgreSQL returns early on ``LISTEN/NOTIFY``; correctness never
        depends on it — the engine polls :meth:`claim_runs` after every wake-up either way.
        """
        import anyio

        await anyio.sleep(timeout)

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
    async def list_automations(self, app_id: str, *, type: str | None, cursor: str | None, limit: int) -> Page:
        """Return the app's automations (optionally of one ``type``), newest first, one page."""

    @abstractmethod
    async def update_automation(self, automation: Automation, *, expected_revision: int) -> None:
        """Replace an automation whose stored ``revision`` equals ``expected_revision``.

        ``last_run_at`` and ``last_run_status`` are kept as stored: run outcomes own them (see
        :meth:`update_run`), so a host's concurrent edit never erases a newer outcome.

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
    ) -> list[AutomationRun] | None:
        """Record an accepted event and the runs it creates, atomically; return the runs stored.

        Returns ``None`` and stores nothing when ``(app_id, event_id)`` was already accepted:
        publishing the same event id twice creates no second run (a unique constraint, not a
        check-then-insert). A run whose automation is not ``running`` in the store at commit time
        (another process paused or deleted it) is left out. Durable stores commit before
        returning; the event and its runs become visible together or not at all.
        """

    # -- runs ------------------------------------------------------------------------------

    @abstractmethod
    async def insert_runs(self, runs: Iterable[AutomationRun]) -> list[AutomationRun]:
        """Store new runs atomically and return the ones stored.

        A run whose ``(automation_id, scheduled_at)`` already exists (a scheduled occurrence
        that was already fired) is skipped silently — this uniqueness is what makes each
        occurrence fire once. Runs without ``scheduled_at`` are always stored.

        Like every method that stores new runs (:meth:`accept_event`, :meth:`record_fire`), a run
        whose ``config_version`` is ``None`` is stored with its config's latest version, read in
        the same transaction: a run executes the config version current when it was created.
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
    async def update_run(self, run: AutomationRun, *, fence: int | None = None) -> None:
        """Write a run's status, timing, config version, result and journal.

        With ``fence``, the write happens only if the stored run's ``fence`` still equals it
        (its worker still holds the lease); otherwise ``LeaseLostError`` is raised and nothing
        changes. The lease columns (``lease_owner``, ``lease_expires_at``, ``fence``,
        ``recoveries``, ``wake_at``) are never written here — only by the lease methods below. A
        run written in a terminal status loses its lease and its steps (its journal holds them)
        and, when it has a ``started_at``, becomes its automation's last run in the same
        transaction (``last_run_at = started_at``, ``last_run_status = status``) unless a run
        that started later already is. Missing → ``NotFoundError``.
        """

    @abstractmethod
    async def cancel_pending_runs(self, app_id: str, automation_id: str, now: float) -> list[str]:
        """Mark the automation's ``pending`` runs ``cancelled``; return their ids."""

    @abstractmethod
    async def pending_runs(self, limit: int) -> list[AutomationRun]:
        """Up to ``limit`` pending runs across all apps, oldest first (for inspection)."""

    @abstractmethod
    async def cancel_run(self, app_id: str, run_id: str, now: float) -> AutomationRun | None:
        """Cancel a ``pending`` or ``running`` run, atomically; return the run as stored after.

        The run becomes ``cancelled`` with ``result = {"error": "run cancelled"}``, loses its lease,
        and its ``fence`` is incremented, so a worker executing it elsewhere can no longer write
        (its next checkpoint raises ``LeaseLostError``, and it stops). A finished run is returned
        unchanged; a missing one (or another app's) gives ``None``.
        """

    # -- scheduling --------------------------------------------------------------------------

    @abstractmethod
    async def record_fire(
        self, automation: Automation, *, expected_revision: int, runs: Sequence[AutomationRun]
    ) -> list[AutomationRun]:
        """Persist a scheduler fire in one transaction and return the runs stored.

        The fire is the automation (its new ``next_run_at``, ``repeat``, status) and the
        occurrence runs.

        The automation write follows :meth:`update_automation` (a revision mismatch raises
        ``ConflictError`` and stores nothing — another process fired first); runs follow
        :meth:`insert_runs` (an ``(automation_id, scheduled_at)`` already stored is skipped).
        Either both are committed or neither is: the next fire is recorded with the run, so a
        crash can neither lose an occurrence nor fire one twice.
        """

    @abstractmethod
    async def changed_automations(self, since: float) -> list[Automation]:
        """Every automation of every app whose ``updated_at`` is at or after ``since``.

        Engines sharing a database call this every few seconds to keep their trigger index and
        schedule heap in step with changes made by other processes.
        """

    # -- leases and checkpoints (durable execution) ---------------------------------------------
    #
    # A worker *claims* a run: the store sets it ``running``, records the worker and a lease
    # expiry computed from the **database's** clock (never a worker's), and increments the run's
    # ``fence``. Every later write of that worker passes the fence; a stale fence means another
    # worker (or a cancel) took the run over, and the write raises ``LeaseLostError``.

    #: Whether runs survive the process (``False`` for the memory store: the engine then skips
    #: checkpoints, heartbeats and durable timers).
    durable: bool = True

    @abstractmethod
    async def claim_runs(
        self,
        worker_id: str,
        *,
        lease: float,
        limit: int,
        run_ids: Sequence[str] | None = None,
    ) -> list[AutomationRun]:
        """Claim up to ``limit`` runs for ``worker_id``, atomically; return them as claimed.

        Claimable: ``pending`` runs whose ``wake_at`` is unset or due, and ``running`` runs whose
        lease has expired (their worker died); the latter get ``recoveries`` incremented. With
        ``run_ids``, only those runs are considered (the engine's fast path for runs it just
        created); otherwise the oldest claimable runs first. Each claimed run becomes
        ``running`` with ``lease_owner = worker_id``, ``lease_expires_at = db_now + lease`` and
        ``fence`` incremented. Two concurrent claims never return the same run (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: one writer).
        """

    @abstractmethod
    async def renew_leases(self, worker_id: str, fences: Mapping[str, int], *, lease: float) -> set[str]:
        """Extend the leases of the runs in ``fences`` (run id → fence) held by ``worker_id``.

        Returns the ids whose lease is lost (fence changed, run finished, cancelled or claimed by
        another worker); the engine stops executing those.
        """

    @abstractmethod
    async def release_run(self, run_id: str, fence: int, *, wake_at: float | None = None) -> None:
        """Hand a claimed run back: ``pending`` again, lease cleared, steps kept.

        ``wake_at`` (UNIX seconds) makes it claimable only from then on: a durable timer (a long
        ``WorkflowDelay``) that holds no task. Used on clean shutdown too (``recoveries`` is not
        incremented). A stale fence raises ``LeaseLostError``.
        """

    @abstractmethod
    async def save_step(self, run_id: str, fence: int, key: str, data: Any) -> None:
        """Checkpoint one completed node of a run: ``data`` (JSON) under ``key``, upserted.

        ``key`` identifies the node execution within the run (scope and node id). A stale fence
        raises ``LeaseLostError`` and stores nothing. Durable stores commit before returning.
        """

    @abstractmethod
    async def load_steps(self, run_id: str) -> dict[str, Any]:
        """The checkpoints of a run, key → data (empty for a fresh run)."""

    # -- retention -------------------------------------------------------------------------

    @abstractmethod
    async def prune(self, before: float) -> int:
        """Delete finished runs older than ``before``; return how many were deleted.

        Finished means completed, failed or cancelled, judged by ``finished_at``; their steps go
        too, and so do accepted event ids recorded before ``before``. Pending and running runs
        are never pruned.
        """
