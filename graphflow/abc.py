"""Every plug-in contract in one place: what a store must guarantee, what a node receives.

* **Stores** implement :class:`Store`. The engine talks to storage only through it.
  ``MemoryStore`` implements it for tests and ephemeral use; SQLite and PostgreSQL stores
  implement the same contract (one contract test suite, :mod:`graphflow.testing.store_contract`,
  runs against all of them). Each method's docstring states its obligations: what must be atomic,
  what must be unique, and what an implementation must never do.
* **Node authors** subclass :class:`~graphflow.graph.model.Node` (or decorate a function with
  :func:`~graphflow.nodes.registry.node`), receive a :class:`NodeContext` in ``run`` and may
  return a :class:`Goto` to choose their successor. :class:`RunState`, :class:`Suspended` and the
  :data:`EventEmitter` / :data:`Checkpointer` hooks are what the engine hands a running graph.

This module imports nothing above the records at run time, so a node kind or a store depends on
the contracts without depending on the engine.

Common rules for every :class:`Store` method:

* **Tenancy.** Every read and write is scoped by ``app_id``. A record of another app is reported
  exactly like a missing one (``None`` or :class:`~graphflow.exceptions.NotFoundError`), never
  as a permission error, so ids cannot be probed across apps.
* **Isolation of values.** A store returns copies: mutating a returned record must not change
  the stored one, and a record passed in may be kept by reference only if the caller will not
  mutate it (the engine never does).
* **Time.** Record times (``created_at``, ``finished_at``…) are UNIX seconds from the engine's
  clock; lease expiries are computed by the store from the database's own clock.
* **The event log.** Every write that changes a config, an automation or a run appends its
  :class:`~graphflow.records.StreamEvent` (s) to the app's event log **in the same transaction**:
  no event for a change that rolled back, no change without its event (see :meth:`Store.read_events`
  for the events each write appends).
* **Errors.** Backend failures are raised as :class:`~graphflow.exceptions.StoreError` with the
  driver's error as ``__cause__``; constraint violations the contract names raise the error it
  names (``ConflictError``), never a driver exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graphflow.records import (
    ApiKey,
    Automation,
    AutomationRun,
    ConfigRecord,
    FlowPolicy,
    Offer,
    Page,
    StoreStatus,
    StreamEvent,
    Wait,
)

if TYPE_CHECKING:
    from graphflow.engine.executor import Executor
    from graphflow.engine.journal import Journal
    from graphflow.graph.model import WorkflowGraph

#: ``wake(waits)`` — given the pending event waits an accepted event could end, returns
#: ``(wait, resolution)`` for each it matches (see :meth:`Store.accept_event`).
WakeMatcher = Callable[[Sequence[Wait]], Iterable[tuple[Wait, dict[str, Any]]]]

__all__ = [
    "Checkpointer",
    "EventEmitter",
    "Goto",
    "NodeContext",
    "Rememberer",
    "RunState",
    "Store",
    "Suspended",
    "Waiter",
    "WakeMatcher",
]


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

    async def latest_config_version(self, app_id: str, config_id: str) -> int | None:
        """The number of a config's latest version, or ``None`` (no such config in this app).

        What :meth:`get_config` would return the version of, without reading the document: the
        engine asks it before using a compiled graph it holds for that version. The default
        reads the config; stores override it with something cheaper.
        """
        record = await self.get_config(app_id, config_id)
        return None if record is None else record.version

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

        ``last_run_at``, ``last_run_status`` and ``last_error`` are kept as stored: run outcomes
        own them (see :meth:`update_run`), so a host's concurrent edit never erases a newer outcome;
        so is ``last_delivery_error`` (delivery outcomes own it: see :meth:`finish_delivery`).

        Appends one event, chosen from the stored → new status: ``draft``/``paused`` →
        ``running`` is ``automation.activated``, ``running`` → ``paused`` ``automation.paused``,
        ``paused`` → ``draft`` ``automation.reset``, anything else ``automation.updated``.

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
        self,
        app_id: str,
        event_id: str,
        name: str,
        payload: Any,
        runs: Sequence[AutomationRun],
        *,
        wake: WakeMatcher | None = None,
        woken: list[Wait] | None = None,
        flow: Mapping[str, FlowPolicy] | None = None,
    ) -> list[AutomationRun] | None:
        """Record an accepted event and the runs it creates, atomically; return the runs stored.

        Returns ``None`` and stores nothing when ``(app_id, event_id)`` was already accepted:
        publishing the same event id twice creates no second run (a unique constraint, not a
        check-then-insert). A run whose automation is not ``running`` in the store at commit time
        (another process paused or deleted it) is left out. Durable stores commit before
        returning; the event and its runs become visible together or not at all.

        ``wake``, when given, is offered the app's pending, unexpired event waits for ``name``
        (see :meth:`register_wait`) and returns ``(wait, resolution)`` for each the event
        matches; each is resolved (``matched``) as by :meth:`resolve_wait`, and appended to
        ``woken`` if it was (not if another event won it). Every wait committed before the event
        is offered it — a registration racing the event either commits first (and is offered) or
        after (and the event was before it) — so an event is never lost between a run starting
        to wait and its wait becoming visible. The resolution is in the event's transaction, or
        (PostgreSQL) right after it with the offer recorded in it, so that a process dying in
        between leaves an :class:`~graphflow.records.Offer` for :meth:`leftover_offers`.

        ``flow`` maps the id of a run whose automation has a flow policy (its ``flow_key`` set) to
        that policy; each such run is decided in the event's transaction, serialised per
        ``(automation_id, flow_key)`` across processes, as :mod:`graphflow.stores.flow` describes:
        a debounced run is stored as a new holder or merged into the key's holder (the holder,
        updated, is returned in its place); a throttled run is stored (now, or as a timer) or
        dropped (not returned); a run over a concurrency limit is stored queued. A duplicate
        event decides nothing.
        """

    @abstractmethod
    async def promote_queued(self, app_id: str, automation_id: str, key: str | None, limit: int) -> list[AutomationRun]:
        """Make the oldest queued runs of a key claimable while fewer than ``limit`` are active.

        Serialised with :meth:`accept_event`'s concurrency decisions for the same key (so the
        limit holds across processes); ``key=None`` does it for every key of the automation (a
        sweep after a limit was raised, or after a process died between a run's end and its
        promotion). Nothing is promoted while the automation is not ``running``. Returns the runs
        promoted (pending, ``wake_at`` cleared).
        """

    @abstractmethod
    async def flow_runs(self, app_id: str, automation_id: str, key: str | None, *, limit: int = 1000) -> list[str]:
        """The ids of an automation's active (pending or running) runs of a flow key (``None``: any), oldest first."""

    @abstractmethod
    async def wake_run(self, app_id: str, run_id: str, due: float) -> AutomationRun | None:
        """Make a pending run whose timer is due by ``due`` claimable now (``wake_at`` cleared); return it.

        ``None`` (nothing changes) when the run is not pending, has no timer, or its timer is later
        than ``due`` (a debounce moved it). Engines on a store without a poller (memory) wake their
        own flow timers with it.
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
    async def run_for_event(self, app_id: str, event_id: str) -> AutomationRun | None:
        """The app's oldest run created by the accepted event ``event_id`` (``None``: none, or another app's).

        An idempotent invoke stores its run under an event id made of the automation and the key:
        a repeat finds the first call's run here (the event id's uniqueness made it the only one).
        """

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
        """Write a run's status, timing, config version, result, journal and ``delivery``.

        With ``fence``, the write happens only if the stored run's ``fence`` still equals it
        (its worker still holds the lease); otherwise ``LeaseLostError`` is raised and nothing
        changes. The lease columns (``lease_owner``, ``lease_expires_at``, ``fence``,
        ``recoveries``, ``wake_at``) are never written here — only by the lease methods below. A
        run written in a terminal status loses its lease and its steps (its journal holds them)
        and, when it has a ``started_at``, becomes its automation's last run in the same
        transaction (``last_run_at = started_at``, ``last_run_status = status``, ``last_error`` =
        the result's ``error``, ``None`` for a completed run) unless a run that started later
        already is. Missing → ``NotFoundError``.
        """

    @abstractmethod
    async def cancel_pending_runs(self, app_id: str, automation_id: str, now: float) -> list[str]:
        """Mark the automation's ``pending`` runs ``cancelled``; return their ids."""

    @abstractmethod
    async def pending_runs(self, limit: int) -> list[AutomationRun]:
        """Up to ``limit`` pending runs across all apps, oldest first (for inspection)."""

    @abstractmethod
    async def status(self, now: float, *, late_after: float | None = None, limit: int = 20) -> StoreStatus:
        """The database's schema version, queue and workers, across all apps (for operators).

        Every count is capped at :attr:`~graphflow.records.StoreStatus.cap` and read from an
        index, so the cost does not grow with the tables. ``workers`` lists at most ``limit``
        lease owners of running runs. With ``late_after`` (seconds), ``late_schedules`` lists at
        most ``limit`` running scheduled automations whose ``next_run_at`` is older than
        ``now - late_after`` (this reads every running scheduled automation: for ``graphflow
        status``, not for every metrics scrape).
        """

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
        ``fence`` incremented, and ``started_at`` set to the claim's time when it is ``None`` (so a
        running run's elapsed time is known on every store). Two concurrent claims never return
        the same run (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: one writer). Each claimed
        run appends ``run.started``.
        """

    @abstractmethod
    async def renew_leases(self, worker_id: str, fences: Mapping[str, int], *, lease: float) -> set[str]:
        """Extend the leases of the runs in ``fences`` (run id → fence) held by ``worker_id``.

        Returns the ids whose lease is lost (fence changed, run finished, cancelled or claimed by
        another worker); the engine stops executing those.
        """

    @abstractmethod
    async def release_run(
        self, run_id: str, fence: int, *, wake_at: float | None = None, waiting_for: dict[str, Any] | None = None
    ) -> None:
        """Hand a claimed run back: ``pending`` again, lease cleared, steps kept.

        ``wake_at`` (UNIX seconds) makes it claimable only from then on: a durable timer (a long
        ``WorkflowDelay``) or a wait's expiry, holding no task. ``waiting_for`` is stored on the
        run (shown while it is parked; a claim clears it). If a wait of the run was resolved while
        this claim (``fence``) held it, the run is claimable at once instead. Used on clean
        shutdown too (``recoveries`` is not incremented). A stale fence raises ``LeaseLostError``.
        """

    @abstractmethod
    async def save_step(self, run_id: str, fence: int, key: str, data: Any) -> None:
        """Checkpoint one completed node of a run: ``data`` (JSON) under ``key``, upserted.

        ``key`` identifies the node execution within the run (scope and node id). A stale fence
        raises ``LeaseLostError`` and stores nothing. Durable stores commit before returning.
        """

    @abstractmethod
    async def save_memory(self, run_id: str, fence: int, memory: Any, *, step: tuple[str, Any] | None = None) -> None:
        """Replace the memory of the run's automation with ``memory`` (JSON); with ``step``, checkpoint it too.

        Atomically: the step ``(key, data)`` (as :meth:`save_step`) and the memory commit together
        or not at all, so a run that dies before its checkpoint leaves no half of it. A stale
        fence raises ``LeaseLostError`` and writes nothing.
        """

    @abstractmethod
    async def get_memory(self, app_id: str, automation_id: str) -> Any:
        """The automation's memory document (``None``: none yet, or another app's automation)."""

    @abstractmethod
    async def load_steps(self, run_id: str) -> dict[str, Any]:
        """The checkpoints of a run, key → data (empty for a fresh run)."""

    # -- waits (steering requests, event waits) ----------------------------------------------

    @abstractmethod
    async def register_wait(self, wait: Wait, fence: int) -> Wait:
        """Store ``wait`` for its run, claimed under ``fence``; return the wait as stored.

        A run has one wait per ``step_key``: when one exists (an earlier attempt of the node
        registered it), it is returned unchanged and nothing is written — so a re-executed node
        finds its request, answered or not, instead of raising a second one. A stale fence
        raises ``LeaseLostError`` and stores nothing. Durable stores commit before returning.
        """

    @abstractmethod
    async def resolve_wait(
        self, app_id: str, wait_id: str, *, status: str, resolution: dict[str, Any], now: float
    ) -> Wait | None:
        """End a pending, unexpired wait with ``status`` (``answered`` or ``matched``).

        Atomically, only if the wait is the app's, ``pending`` and ``expires_at`` is after
        ``now``: set ``status``, ``resolution``, ``resolved_at = now`` and ``resolved_fence`` (the
        run's fence), and make the run claimable at once if it is parked. Returns the wait as
        stored after, or ``None`` when nothing changed (unknown, another app's, not pending or
        expired: read it to say which). Of concurrent calls, exactly one succeeds.
        """

    @abstractmethod
    async def expire_wait(self, app_id: str, wait_id: str, now: float) -> Wait | None:
        """Mark a pending wait whose ``expires_at`` is at or before ``now`` as ``expired``.

        Returns the wait as stored after — ``expired``, or resolved when a decision won the race —
        or ``None`` when the app has no such wait.
        """

    async def leftover_offers(self, older_than: float, limit: int = 100) -> list[Offer]:
        """Offers recorded before ``older_than`` (UNIX seconds) and not resolved: their publisher died.

        Stores that resolve the matched waits inside the event's transaction never leave one
        (the default: none).
        """
        return []

    async def resolve_offer(
        self, app_id: str, event_id: str, matches: Sequence[tuple[Wait, dict[str, Any]]], now: float
    ) -> list[Wait]:
        """Resolve an offer's ``matches`` (``matched``) and drop the offer; return the waits resolved.

        Nothing when another process resolved the offer first.
        """
        return []

    @abstractmethod
    async def get_wait(self, app_id: str, wait_id: str) -> Wait | None:
        """One of the app's waits, or ``None`` (also for another app's)."""

    @abstractmethod
    async def list_waits(
        self,
        app_id: str,
        *,
        kind: str | None = None,
        run_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """The app's waits, newest first, filtered by kind, run and status."""

    # -- result delivery ---------------------------------------------------------------------
    #
    # A run of an automation with ``deliver`` sinks is stored with ``delivery = {"status":
    # "awaiting", ...}``; :meth:`update_run` writes its terminal status together with its first
    # delivery attempt (``{"status": "pending", "attempts": 1, "next_at": now + lease, ...}``),
    # so an outcome is never stored without its delivery. An attempt is identified by the run
    # and its ``attempts`` number: whoever set that number holds the attempt until ``next_at``.
    # Delivery writes change ``delivery`` (and an automation's ``last_delivery_error``) only:
    # never a run's status, result or event log.

    @abstractmethod
    async def claim_deliveries(self, now: float, *, lease: float, limit: int) -> list[AutomationRun]:
        """Claim up to ``limit`` due deliveries, atomically; return their runs as claimed.

        Due: ``delivery.status == "pending"`` and ``delivery.next_at <= now`` (a retry whose time
        has come, or an attempt whose holder died: its lease ran out), earliest ``next_at``
        first. Each claimed run's ``delivery.attempts`` is incremented and ``delivery.next_at``
        set to ``now + lease``, the rest of ``delivery`` kept, as one compare-and-set per run:
        two concurrent claims never return the same attempt (PostgreSQL: ``FOR UPDATE SKIP
        LOCKED``; SQLite: one writer). ``now`` is the engine's clock (backoff is the engine's).
        Across all apps: the engine delivers for every app it runs.
        """

    @abstractmethod
    async def finish_delivery(self, app_id: str, run_id: str, attempt: int, delivery: dict[str, Any]) -> bool:
        """Record the end of delivery attempt ``attempt`` of a run; return whether it was recorded.

        Writes ``delivery`` (the whole new value) only if the stored delivery is still
        ``pending`` with ``attempts == attempt`` (a compare-and-set: an attempt another engine
        took over after this one's lease ran out, or a run of another app, records nothing).
        When ``delivery["status"]`` is ``failed``, the run's automation gets
        ``last_delivery_error = delivery["last_error"]``; when it is ``delivered``, ``None``; in
        the same transaction. Nothing else changes: the run's status and result stay as they
        are, and :meth:`update_automation` keeps ``last_delivery_error`` as stored (delivery
        outcomes own it, as run outcomes own ``last_error``).
        """

    # -- retention -------------------------------------------------------------------------

    @abstractmethod
    async def prune(self, before: float) -> int:
        """Delete finished runs older than ``before``; return how many were deleted.

        Finished means completed, failed or cancelled, judged by ``finished_at``; their steps go
        too, and so do accepted event ids recorded before ``before`` and event-log entries whose
        ``at`` is before ``before``. Pending and running runs are never pruned.
        """

    # -- the event log ---------------------------------------------------------------------
    #
    # What each write appends (all in the write's own transaction; ``at`` is the store's time):
    #
    # * ``put_config``: ``config.created`` (version 1) or ``config.updated`` {"version"};
    #   ``delete_config``: one ``config.deleted``.
    # * ``insert_automation``: ``automation.created`` {"status"}; ``update_automation`` and
    #   ``record_fire``: the status transition (see :meth:`update_automation`) {"status",
    #   "previous_status"}; ``delete_automation``: ``automation.deleted``.
    # * every stored run (``accept_event``, ``insert_runs``, ``record_fire``): ``run.created``.
    # * a run becoming ``running`` (a claim, or ``update_run`` from ``pending``): ``run.started``;
    #   ``release_run``: ``run.waiting`` {"wake_at"}; ``save_step``: ``run.node_completed``
    #   {"key"}; a run reaching a terminal status (``update_run``, ``cancel_run``,
    #   ``cancel_pending_runs``): ``run.completed`` / ``run.failed`` / ``run.cancelled`` with
    #   {"error"} unless it completed. A write that does not change the status appends nothing.
    #
    # One relaxation, for the cost of a checkpoint: a store may log ``run.node_completed`` events
    # in batches, later than their ``save_step`` (re-saves of one key before then make one event)
    # but never lost and never after the run's next status event, and before a ``read_events``
    # with that ``run_id`` returns. SQLite does (every checkpoint would otherwise write a second
    # row); memory and PostgreSQL log each checkpoint's event in its own transaction.
    #
    # Run events carry ``data["status"]`` (the run's status after the write) and the run's
    # ``automation_id``.

    @abstractmethod
    async def read_events(
        self,
        app_id: str,
        *,
        after: int,
        limit: int,
        run_id: str | None = None,
        types: frozenset[str] | None = None,
    ) -> list[StreamEvent]:
        """The app's events with ``seq > after``, ascending, up to ``limit``.

        ``seq`` is strictly increasing in commit order across the store: once an event with
        sequence ``n`` is visible, no event with a smaller sequence can appear later, so a reader
        that resumes from the last ``seq`` it saw loses nothing and sees nothing twice (within
        retention). Only ``app_id``'s events are returned, whatever ``after`` is (a sequence of
        another app simply yields nothing of theirs); ``run_id`` and ``types`` filter further.
        """

    @abstractmethod
    async def last_event_seq(self, app_id: str) -> int:
        """The newest ``seq`` of the app's events (``0`` when it has none)."""

    async def wait_for_events(self, timeout: float) -> None:
        """Return when new events may have been appended (a hint), or after ``timeout`` seconds.

        The default sleeps. The built-in stores wake early: PostgreSQL on ``LISTEN/NOTIFY`` from
        any process, memory and SQLite when this process appended. It may return early (the
        first call on PostgreSQL does, as it starts listening). Correctness never depends on it:
        readers call :meth:`read_events` after every wake-up.
        """
        import anyio

        await anyio.sleep(timeout)

    # -- API keys ----------------------------------------------------------------------------

    @abstractmethod
    async def create_api_key(self, key: ApiKey, secret_hash: str) -> None:
        """Store a new key with the hash of its secret (``secret_hash`` is unique: ``ConflictError``)."""

    @abstractmethod
    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        """The key whose secret hashes to ``secret_hash`` (revoked ones too), or ``None``."""

    @abstractmethod
    async def list_api_keys(self, app_id: str) -> list[ApiKey]:
        """The app's keys (revoked ones too), oldest first."""

    @abstractmethod
    async def revoke_api_key(self, app_id: str, key_id: str, now: float) -> ApiKey | None:
        """Set ``revoked_at = now`` unless already revoked; return the key as stored after.

        ``None`` when the app has no such key (also for another app's key).
        """


# -- the node contract ---------------------------------------------------------------------

#: ``emit(app_id, event_name, payload)`` — publishes an event from a running graph.
EventEmitter = Callable[[str | None, str, Any], Awaitable[None]]
#: ``checkpoint(key, data)`` — persists one completed node of a run (durable stores only).
Checkpointer = Callable[[str, Any], Awaitable[None]]


#: ``remember(step_key, document)`` — replaces the automation's memory (see :meth:`NodeContext.remember`).
Rememberer = Callable[[str, Any], Awaitable[None]]
#: ``waiter(ctx, wait)`` — parks the run until ``wait`` is resolved or expires; returns the wait
#: as it ended (see :meth:`NodeContext.wait`).
Waiter = Callable[["NodeContext", Wait], Awaitable[Wait]]


class Suspended(Exception):
    """Raised through a run to park it until ``wake_at`` (a durable timer, or a wait's expiry).

    The engine hands the run back to the store, claimable from ``wake_at`` on; no task waits.
    Completed nodes are checkpointed, so the run resumes where it stopped. ``waiting_for`` says
    what the run waits for (stored on the run while it is parked).
    """

    def __init__(self, wake_at: float, waiting_for: dict[str, Any] | None = None) -> None:
        super().__init__(f"suspended until {wake_at}")
        self.wake_at = wake_at
        self.waiting_for = waiting_for


class RunState:
    """State shared by every chain of one run: ids, env, outputs, println lines, journal."""

    __slots__ = (
        "app_id",
        "automation_id",
        "checkpoint",
        "emit",
        "env",
        "executor",
        "graph",
        "journal",
        "output",
        "outputs",
        "remember",
        "run_id",
        "services",
        "steps",
        "timer_threshold",
        "waiter",
    )

    def __init__(
        self,
        *,
        run_id: str,
        graph: WorkflowGraph,
        executor: Executor,
        journal: Journal,
        env: Mapping[str, Any],
        app_id: str | None,
        automation_id: str | None,
        emit: EventEmitter | None,
        services: Mapping[str, Any],
    ) -> None:
        self.run_id = run_id
        self.graph = graph
        self.executor = executor
        self.journal = journal
        self.env = env
        self.app_id = app_id
        self.automation_id = automation_id
        self.emit = emit
        self.services = services
        self.outputs: dict[str, Any] = {}
        self.output: list[str] = []
        #: Checkpoints of an earlier attempt of this run, key → data (``None``: a fresh run).
        self.steps: dict[str, Any] | None = None
        #: Persists a completed node (``None`` when the run is not durable).
        self.checkpoint: Checkpointer | None = None
        #: Waits at least this long become durable timers (``None``: always sleep in-process).
        self.timer_threshold: float | None = None
        #: Parks the run on a steering request or an event wait (``None``: no engine to wait with).
        self.waiter: Waiter | None = None
        #: Writes the automation's memory (``None``: the run belongs to no automation).
        self.remember: Rememberer | None = None


class NodeContext:
    """The context a node runs in: one per chain (the main flow, a branch, a map item).

    Attributes:
        run_id: the run's id.
        app_id: the app the run belongs to (``None`` outside automations).
        automation_id: the automation that started the run (``None`` for direct runs).
        env: host-provided values (also ``env`` in scripts).
        outputs: outputs of the nodes completed so far, by node id (``nodes`` in scripts).
        output: the run's ``println`` lines; append to add your own.
        services: objects the host handed to the engine for custom nodes (clients, secrets…).
        scope: where this chain runs: ``""`` for the main flow, ``"fan/b1"`` for a branch,
            ``"loop[3]"`` for a map item.
        attempt: the current node's attempt number, from 1.
    """

    __slots__ = ("attempt", "node_id", "run", "scope")

    def __init__(self, run: RunState, scope: str = "") -> None:
        self.run = run
        self.scope = scope
        self.attempt = 1
        self.node_id = ""

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def app_id(self) -> str | None:
        return self.run.app_id

    @property
    def automation_id(self) -> str | None:
        return self.run.automation_id

    @property
    def env(self) -> Mapping[str, Any]:
        return self.run.env

    @property
    def outputs(self) -> dict[str, Any]:
        return self.run.outputs

    @property
    def output(self) -> list[str]:
        return self.run.output

    @property
    def services(self) -> Mapping[str, Any]:
        return self.run.services

    @property
    def idempotency_key(self) -> str:
        """A stable key for the current node execution: ``run_id:node_id`` (plus the scope).

        It does not change between attempts, so pass it to external systems to make side
        effects idempotent.
        """
        base = f"{self.run.run_id}:{self.node_id}"
        return f"{base}@{self.scope}" if self.scope else base

    @property
    def step_key(self) -> str:
        """The current node execution's key among the run's checkpoints (scope and node id)."""
        return f"{self.scope}/{self.node_id}" if self.scope else self.node_id

    async def sleep_until(self, wake_at: float, now: float) -> None:
        """Wait until UNIX time ``wake_at`` (``now`` is the current time).

        On a durable engine, a wait of at least its timer threshold becomes a **durable timer**:
        the wake time is checkpointed, the run is handed back to the store and no task waits; it
        resumes at this node after ``wake_at``, on this or another worker, even after a restart.
        Otherwise this sleeps in-process.
        """
        run = self.run
        key = f"{self.step_key}#timer"
        if run.steps is not None and key in run.steps:
            wake_at = float(run.steps[key])  # the timer set by an earlier attempt wins
        remaining = wake_at - now
        if remaining <= 0:
            return
        threshold = run.timer_threshold
        if threshold is None or run.checkpoint is None or remaining < threshold:
            import anyio

            await anyio.sleep(remaining)
            return
        await run.checkpoint(key, wake_at)
        if run.steps is None:
            run.steps = {}
        run.steps[key] = wake_at
        raise Suspended(wake_at, {"kind": "timer", "node_id": self.node_id, "until": wake_at})

    async def wait(self, wait: Wait) -> Wait:
        """Park the run until ``wait`` (a steering request or an event wait) ends; return it ended.

        The wait is registered once per node execution (a re-executed node finds its earlier
        one, answered or not). On a durable engine the run is handed back to the store and no
        task waits: it resumes at this node when the wait is resolved or expires, on any worker,
        even after a restart — this call then returns the ended wait. Otherwise it waits
        in-process. The returned wait's ``status`` is ``answered``, ``matched`` or ``expired``.

        Raises:
            NodeExecutionError: the run has no engine to wait with (e.g. ``graphflow run``).
        """
        if self.run.waiter is None:
            from graphflow.exceptions import NodeExecutionError

            raise NodeExecutionError(
                f"{wait.kind} waits need an engine with a store: run this graph through an automation",
                code="no_waiter",
                retryable=False,
            )
        return await self.run.waiter(self, wait)

    async def remember(self, document: Any) -> None:
        """Replace the automation's memory with ``document`` (JSON), committed with this node's checkpoint.

        Raises:
            NodeExecutionError: the run belongs to no automation (``limit_exceeded``: over 64 KiB).
        """
        if self.run.remember is None:
            from graphflow.exceptions import NodeExecutionError

            raise NodeExecutionError(
                "memory belongs to an automation: run this graph through one to remember",
                code="no_memory",
                retryable=False,
            )
        await self.run.remember(self.step_key, document)

    def now(self) -> float:
        """The current UNIX time by the engine's clock (a fake clock in tests moves it)."""
        return self.run.executor.now()

    def child(self, scope: str) -> NodeContext:
        """Return a context for a sub-chain (a branch or a map item)."""
        return NodeContext(self.run, f"{self.scope}/{scope}" if self.scope else scope)

    async def emit(self, event: str, payload: Any) -> None:
        """Publish an event through the engine's bus.

        Raises:
            RuntimeError: the graph runs without an engine that can publish events.
        """
        if self.run.emit is None:
            raise RuntimeError("this run has no event bus: run the graph through an Engine to emit events")
        await self.run.emit(self.run.app_id, event, payload)

    def evaluate_template(self, template: Any, input: Any) -> Any:
        """Render a compiled :class:`~graphflow.scripts.Template` in this run's scope."""
        return template.render(input, env=self.run.env, nodes=self.run.outputs)


class Goto:
    """Returned by a node to choose its successor: ``Goto(target, value)``.

    ``target`` is the id of the next node (``None`` ends the chain) and ``value`` its input.
    """

    __slots__ = ("target", "value")

    def __init__(self, target: str | None, value: Any) -> None:
        self.target = target
        self.value = value
