"""The Engine: automations, events and schedules on top of the executor.

``async with Engine() as engine:`` starts the dispatcher (a fixed pool of worker tasks pulling
runs from one queue — the engine-wide concurrency limit, never a task per run) and the
scheduler. The way an event travels reads top to bottom in :meth:`Engine.publish` →
:meth:`Engine.enqueue` → :meth:`Engine._execute`.

Every execution starts with a **claim** (:meth:`graphflow.abc.Store.claim_runs`): the store
hands the run to this worker under a lease and a fence, so however many engines share a
database, one executes it. Runs this engine created are claimed by id (the fast path); on a
durable store a poller also claims pending runs of other processes, runs whose worker died
(lease expired) and durable timers that are due, woken by the store's notifications and by
polling. Durable stores get a checkpoint per completed node, lease heartbeats, and long
delays parked in the store instead of a task.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import secrets
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from graphflow.abc import Store
from graphflow.automations.host import ServiceHost
from graphflow.clock import Clock, SystemClock
from graphflow.engine.cascade import CascadeStep, explain_cascade
from graphflow.engine.executor import Executor
from graphflow.engine.notify import Listener, Subscription
from graphflow.events import CascadeStopped, EngineEvent, EventAccepted, RunSkipped
from graphflow.exceptions import (
    CascadeLimitError,
    ConflictError,
    EngineNotStartedError,
    LeaseLostError,
    NotFoundError,
    Problem,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from graphflow.graph.loader import build_graph
from graphflow.graph.model import WorkflowGraph
from graphflow.ids import check_app, check_id, new_id
from graphflow.records import TERMINAL_RUN_STATUSES, Automation, AutomationRun, iso
from graphflow.triggers.catalogue import INTERNAL_EVENTS, EventCatalogue
from graphflow.triggers.index import TriggerIndex

if TYPE_CHECKING:
    from graphflow.triggers.scheduler import ScheduleEntry

__all__ = ["Engine", "PublishResult"]

logger = logging.getLogger("graphflow")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What :meth:`Engine.publish` did.

    Attributes:
        event_id: the event's id (given or generated).
        run_ids: the runs created.
        duplicate: the id had already been accepted, so nothing was created.
    """

    event_id: str
    run_ids: tuple[str, ...]
    duplicate: bool = False


class Engine(ServiceHost):
    """An embeddable automation engine.

    Args:
        store: a :class:`~graphflow.abc.Store` or a URL (``memory://``, ``sqlite:///file.db``,
            ``postgresql://…``); default ``GRAPHFLOW_DATABASE_URL``, else ``sqlite:///graphflow.db``.
        env: host values visible to every run as ``env``.
        services: objects handed to custom nodes as ``ctx.services``.
        max_concurrent_runs: runs executing at once; more wait in the queue (or in the store).
            ``0`` on a durable store: this engine executes nothing (a web process that publishes,
            creates and reads); ``graphflow worker`` processes claim its runs.
        catalogue: the event catalogue (default: the built-in events).
        clock: the time source (inject a :class:`~graphflow.clock.FakeClock` in tests).
        graph_cache_size: compiled graphs kept in memory, by (config id, version).
        lease: seconds a claimed run stays this worker's without a heartbeat (durable stores).
        poll_interval: seconds between looks for claimable work when no notification comes.
        max_recoveries: times a run is reclaimed after its worker died before it fails.
        timer_threshold: waits at least this long become durable timers (durable stores).
        sync_interval: seconds between loads of automations changed by other processes.
        retention: prune finished runs older than this (seconds or a ``timedelta``), hourly.
        worker_id: this engine's name in leases (default ``host:pid:random``).
        max_event_depth: how deep a chain of events emitted by runs may go (an event published
            by a host is depth 0; a run it starts emits at depth 1…). An emit past it fails its
            node with :class:`~graphflow.exceptions.CascadeLimitError` and announces
            :class:`~graphflow.events.CascadeStopped`: an automation that triggers itself, or a
            cycle of automations across event types, stops there.
    """

    def __init__(
        self,
        store: Store | str | None = None,
        *,
        env: Mapping[str, Any] | None = None,
        services: Mapping[str, Any] | None = None,
        max_concurrent_runs: int = 64,
        catalogue: EventCatalogue | None = None,
        clock: Clock | None = None,
        graph_cache_size: int = 256,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        max_recoveries: int = 3,
        timer_threshold: float = 1.0,
        sync_interval: float = 2.0,
        retention: float | timedelta | None = None,
        worker_id: str | None = None,
        max_event_depth: int = 8,
    ) -> None:
        from graphflow.automations.service import AutomationService, ConfigService
        from graphflow.stores import default_database_url, store_from_url
        from graphflow.triggers.scheduler import Scheduler

        if store is None or isinstance(store, str):
            store = store_from_url(store or default_database_url())
        if max_concurrent_runs < 0 or (max_concurrent_runs == 0 and not store.durable):
            raise ValueError("max_concurrent_runs must be at least 1 (0 only on a durable store, with workers)")
        if lease <= 0 or poll_interval <= 0 or sync_interval <= 0:
            raise ValueError("lease, poll_interval and sync_interval must be positive")
        if isinstance(max_event_depth, bool) or not isinstance(max_event_depth, int) or max_event_depth < 0:
            raise ValueError("max_event_depth must be a whole number, 0 or more")
        self.max_event_depth = max_event_depth
        self.store: Store = store
        self.clock: Clock = clock or SystemClock()
        self.catalogue = catalogue or EventCatalogue()
        self.executor = Executor(env=env, services=services, emit=None, clock=self.clock.now)
        self.index = TriggerIndex()
        self.scheduler = Scheduler(fire=self.fire_scheduled, clock=self.clock, announce=self.announce)
        self.configs = ConfigService(self)
        self.automations = AutomationService(self)
        self.max_concurrent_runs = max_concurrent_runs
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_recoveries = max_recoveries
        self.timer_threshold = timer_threshold
        self.sync_interval = sync_interval
        self.retention = retention.total_seconds() if isinstance(retention, timedelta) else retention
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        #: (app id, config id, version) → compiled graph: the app is part of every key, so a config id
        #: named by another app can never reach a graph compiled for its owner.
        self._graphs: OrderedDict[tuple[str, str, int], WorkflowGraph] = OrderedDict()
        self._graph_cache_size = graph_cache_size
        self._send: MemoryObjectSendStream[tuple[AutomationRun, bool]] | None = None
        self._receive: MemoryObjectReceiveStream[tuple[AutomationRun, bool]] | None = None
        self._waiters: dict[str, anyio.Event] = {}
        #: automation id → {run id: started_at} of its executing runs.
        self.running: dict[str, dict[str, float]] = {}
        #: automation id → the one run buffered behind a running one (overlap ``buffer_one``);
        #: it is stored only when it is released, so no other worker starts it early.
        self.buffered: dict[str, AutomationRun] = {}
        #: automation id → runs queued or executing (what overlap policies look at).
        self.inflight: dict[str, int] = {}
        #: run id → fence of the runs this engine holds (what heartbeats renew).
        self._fences: dict[str, int] = {}
        #: runs whose lease was lost while executing: their outcome is not written.
        self._lost: set[str] = set()
        #: automation id → revision this engine tracks (to apply other processes' changes once).
        self._revisions: dict[str, int] = {}
        self._load = 0  # runs queued or executing here
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            await self.store.start()
            stack.push_async_callback(self.store.close)
            stack.push_async_callback(self._release_queued)  # after the workers stopped
            self._send, self._receive = anyio.create_memory_object_stream[tuple[AutomationRun, bool]](math.inf)
            stack.push_async_callback(self._send.aclose)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._tg.cancel_scope.cancel)
            for automation in await self.store.running_automations():
                self.track(automation)
            for _ in range(self.max_concurrent_runs):
                self._tg.start_soon(self._worker, name="graphflow-run-worker")
            self._tg.start_soon(self.scheduler.run, name="graphflow-scheduler")
            if self.store.durable:
                # Every engine on a shared database follows the automations other processes
                # change (a publishing engine too: its index decides which runs an event starts);
                # only an executing engine claims runs. A publishing engine claims nothing, so
                # starting or stopping it never takes a run from the workers.
                self._tg.start_soon(self._sync, name="graphflow-automation-sync")
                if self.max_concurrent_runs:
                    self._tg.start_soon(self._poll, name="graphflow-claim-poller")
                    self._tg.start_soon(self._heartbeat, name="graphflow-lease-heartbeat")
            else:  # one process owns a memory store: take over what is pending once
                for run in await self.store.claim_runs(self.worker_id, lease=self.lease, limit=1_000_000):
                    self.enqueue(run, claimed=True)
            if self.retention is not None:
                self._tg.start_soon(self._retain, name="graphflow-retention")
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        stack, self._stack = self._stack, None
        self._tg = None
        if stack is not None:
            return await stack.__aexit__(exc_type, exc, tb)
        return None

    @property
    def started(self) -> bool:
        """Whether the engine is running (inside ``async with``)."""
        return self._stack is not None

    def subscribe(self, listener: Listener, types: tuple[type[EngineEvent], ...] | None = None) -> Subscription:
        """Call ``listener`` with every engine event (or only those of ``types``)."""
        return self.executor.subscribe(listener, types)

    def announce(self, event: EngineEvent) -> None:
        """Deliver an engine event to listeners."""
        self.executor.notifier.publish(event)

    @property
    def wants_events(self) -> bool:
        """Whether anyone listens to engine events (build and announce them only then)."""
        return self.executor.notifier.wants_events

    def first_fire(self, automation: Automation) -> float | None:
        """A scheduled automation's next fire from now (what activation records as ``next_run_at``)."""
        return self.scheduler.first_fire(automation)

    def drop_buffered(self, automation_id: str) -> None:
        """Drop the run buffered behind a busy one (overlap ``buffer_one``), if any."""
        self.buffered.pop(automation_id, None)

    def running_since(self, automation_id: str) -> float | None:
        """When the oldest run of an automation executing here started (``None``: none is)."""
        active = self.running.get(automation_id)
        return min(active.values()) if active else None

    # -- automations in memory -------------------------------------------------------------

    def track(self, automation: Automation) -> None:
        """Keep the index and the scheduler in step with a stored automation."""
        self._revisions[automation.id] = automation.revision
        if automation.status == "running" and automation.type == "trigger":
            self.index.put(automation)
        else:
            self.index.discard(automation.id)
        if automation.status == "running" and automation.type == "scheduled":
            self.scheduler.put(automation)
        else:
            self.scheduler.discard(automation.id)

    def _follow(self, automation_id: str, automation: Automation | None) -> None:
        """Apply the stored state of an automation (``None``: deleted) changed behind this engine."""
        if automation is None:
            self.untrack(automation_id)
        elif automation.status == "running" or automation_id in self._revisions:
            self.track(automation)

    def untrack(self, automation_id: str) -> None:
        """Forget an automation: index, schedule and any run buffered behind a busy one."""
        self._revisions.pop(automation_id, None)
        self.index.discard(automation_id)
        self.scheduler.discard(automation_id)
        self.buffered.pop(automation_id, None)

    # -- events ----------------------------------------------------------------------------

    async def publish(self, app_id: str, name: str, payload: Any, id: str | None = None) -> PublishResult:
        """Publish a platform event for ``app_id``.

        The payload is checked against the event's schema (nothing is recorded when it fails);
        one run is created per running trigger automation of that app listening for ``name``,
        with input ``{"trigger": name, "payload": payload}``. Publishing an ``id`` that was
        already accepted creates nothing and returns ``duplicate=True``.

        Raises:
            ValidationError: unknown event, internal event, or a payload that fails the schema.
        """
        return await self._publish(app_id, name, payload, id, None)

    async def _publish(
        self, app_id: str, name: str, payload: Any, id: str | None, causation: dict[str, Any] | None
    ) -> PublishResult:
        """:meth:`publish`, with the causation of an event a run emitted (``None``: a host published it)."""
        if name in INTERNAL_EVENTS:
            raise ValidationError(
                [
                    Problem(
                        "$.name",
                        f"{name!r} is fired by graphflow itself and cannot be published",
                        "use automations.trigger() / invoke() to start a run directly",
                    )
                ],
                subject="event",
            )
        check_app(app_id)
        if not self.started:  # before anything is recorded: the runs could not be queued
            raise EngineNotStartedError()
        self.catalogue.validate(name, payload)
        event_id = id or new_id("evt_")
        now = self.clock.now()
        runs = [
            AutomationRun(
                id=new_id("atr_"),
                automation_id=a.id,
                app_id=app_id,
                trigger=name,
                payload=payload,
                status="pending",
                config_id=a.config_id,
                config_version=None,
                created_at=now,
                updated_at=now,
                event_id=event_id,
                run_as_user_id=a.run_as_user_id,
                causation=causation,
            )
            for a in self.index.matches(app_id, name)
        ]
        stored = await self.store.accept_event(app_id, event_id, name, payload, runs)
        if stored is None:
            return PublishResult(event_id, (), duplicate=True)
        runs = stored
        for run in runs:
            self.enqueue(run)
        run_ids = tuple(run.id for run in runs)
        if self.wants_events:
            self.announce(EventAccepted(at=now, app_id=app_id, event_id=event_id, name=name, run_ids=run_ids))
        return PublishResult(event_id, run_ids)

    async def explain(self, app_id: str, name: str, payload: Any = None) -> list[Automation]:
        """Which automations an event would start, without starting anything.

        Raises:
            ValidationError: unknown event or (when ``payload`` is given) an invalid payload.
        """
        check_app(app_id)
        if payload is not None:
            self.catalogue.validate(name, payload)
        else:
            self.catalogue.get(name)
        return sorted((a.snapshot() for a in self.index.matches(app_id, name)), key=lambda a: a.id)

    async def explain_cascade(self, app_id: str, name: str) -> list[CascadeStep]:
        """What publishing ``name`` would set off: the automations it starts, what their graphs emit, and on.

        A static reading of the running automations' configs (every ``WorkflowEmitEvent`` node
        counts, conditional or not); a loop shows as a step with ``stopped="cycle"``, and steps
        past ``max_event_depth`` as ``stopped="depth_limit"`` (at run time, such an emit fails).

        Raises:
            ValidationError: a malformed app id, or an unknown event.
        """
        check_app(app_id)
        self.catalogue.get(name)

        async def load(app: str, config_id: str) -> WorkflowGraph:
            return (await self.graph_for(app, config_id))[0]

        return await explain_cascade(self.index, load, app_id, name, self.max_event_depth)

    async def _emit_caused(self, run: AutomationRun, app_id: str | None, name: str, payload: Any) -> None:
        """Publish an event emitted by ``run`` (in its own app), one level deeper in its chain of causes.

        Raises:
            CascadeLimitError: the event would be deeper than ``max_event_depth``; nothing is published.
        """
        cause = run.causation
        depth = (cause["depth"] if cause else 0) + 1
        origin = cause["origin_run_id"] if cause else run.id
        if depth > self.max_event_depth:
            self.announce(
                CascadeStopped(
                    at=self.clock.now(),
                    app_id=run.app_id,
                    run_id=run.id,
                    origin_run_id=origin,
                    event=name,
                    depth=depth,
                    limit=self.max_event_depth,
                )
            )
            raise CascadeLimitError(
                f"emitting {name!r} would start a chain of events {depth} emits deep (limit "
                f"{self.max_event_depth}, started by run {origin!r}): an automation probably triggers "
                "itself, directly or through others; break the loop, or raise Engine(max_event_depth=...)"
            )
        await self._publish(
            run.app_id, name, payload, None, {"depth": depth, "run_id": run.id, "origin_run_id": origin}
        )

    # -- running ---------------------------------------------------------------------------

    def enqueue(self, run: AutomationRun, *, claimed: bool = False) -> None:
        """Queue a run for a worker (``claimed``: this engine already holds its lease)."""
        if self._send is None:
            raise EngineNotStartedError()
        if not self.max_concurrent_runs:
            return  # a publishing engine: the run waits in the store for a worker process
        self.inflight[run.automation_id] = self.inflight.get(run.automation_id, 0) + 1
        self._load += 1
        self._send.send_nowait((run, claimed))

    async def _done(self, automation_id: str) -> None:
        self._load -= 1
        left = self.inflight.get(automation_id, 1) - 1
        if left > 0:
            self.inflight[automation_id] = left
            return
        self.inflight.pop(automation_id, None)
        buffered = self.buffered.pop(automation_id, None)
        if buffered is not None:
            try:
                stored = await self.store.insert_runs([buffered])
            except StoreError:
                logger.exception("could not store the buffered run of automation %s", automation_id)
                return
            if stored:
                self.enqueue(buffered)

    async def fire_scheduled(
        self, snapshot: Automation | ScheduleEntry, instants: list[float], following: float | None
    ) -> None:
        """Fire a due automation (see :meth:`_fire`); a failing store never stops the scheduler.

        When the store fails, the fire is retried after ``poll_interval`` (at least 1 s) from the
        stored automation: nothing was committed, so nothing is lost or doubled.
        """
        try:
            await self._fire(snapshot, instants, following)
        except StoreError as exc:
            logger.warning("automation %s: firing failed (%s); retrying", snapshot.id, exc)
            if self._tg is not None:
                self._tg.start_soon(self._retrack_later, snapshot.app_id, snapshot.id)

    async def _retrack_later(self, app_id: str, automation_id: str) -> None:
        delay = max(1.0, self.poll_interval)
        while True:
            await anyio.sleep(delay)
            try:
                automation = await self.store.get_automation(app_id, automation_id)
            except StoreError:
                delay = min(delay * 2, 30.0)
                continue
            self._follow(automation_id, automation)
            return

    async def _fire(self, snapshot: Automation | ScheduleEntry, instants: list[float], following: float | None) -> None:
        """Create the runs of scheduled ``instants`` and record the next fire.

        Durability: the automation's ``next_run_at``/``repeat`` and the runs are written in one
        transaction (:meth:`~graphflow.abc.Store.record_fire`) guarded by the automation's
        revision, and each run's identity (automation, scheduled instant) is unique in the store:
        a crash cannot fire an occurrence twice, nor can several engines sharing a database.

        Overlap: ``skip`` drops instants while a run is queued or executing; ``buffer_one`` keeps
        one run waiting behind it (stored when it is released); ``allow`` starts them all. The
        instants of one catch-up batch (``catchup: all``) do not overlap each other: when nothing
        is busy, they all start. Overlap is judged by the runs of this engine. ``repeat.times``
        reached (or a one-shot done) leaves the automation ``paused`` with ``paused_reason``
        ``"completed"``.
        """
        store = self.store
        automation = await store.get_automation(snapshot.app_id, snapshot.id)
        if automation is None:
            self.untrack(snapshot.id)
            return
        if automation.status != "running" or automation.next_run_at != snapshot.next_run_at:
            self.track(automation)  # changed meanwhile (here or by another engine): follow the store
            return
        now = self.clock.now()
        if automation.repeat.times is not None:
            instants = instants[: max(0, automation.repeat.times - automation.repeat.completed)]
        busy = self.inflight.get(automation.id, 0) > 0
        fire: list[float] = []
        buffer: float | None = None
        if instants:
            if automation.overlap == "allow" or not busy:
                fire = instants  # a catch-up batch (catchup "all") is one fire, not an overlap
            elif automation.overlap == "buffer_one" and automation.id not in self.buffered:
                buffer = instants[-1]
            dropped = len(instants) - len(fire) - (buffer is not None)
            if dropped:
                self.announce(
                    RunSkipped(
                        at=now,
                        app_id=automation.app_id,
                        automation_id=automation.id,
                        reason="overlap",
                        scheduled_at=instants[0],
                    )
                )
        runs = [self._scheduled_run(automation, at, now) for at in fire]
        revision = automation.revision
        automation.repeat.completed += len(runs) + (buffer is not None)
        automation.next_run_at = following
        done = following is None or (
            automation.repeat.times is not None and automation.repeat.completed >= automation.repeat.times
        )
        if done:
            automation.status = "paused"
            automation.paused_reason = "completed"
            automation.next_run_at = None
        automation.revision += 1
        automation.updated_at = now
        try:
            stored = await store.record_fire(automation, expected_revision=revision, runs=runs)
        except ConflictError:  # another engine fired it or the host changed it: follow the store
            self._follow(automation.id, await store.get_automation(automation.app_id, automation.id))
            return
        self.track(automation)
        if buffer is not None:
            self.buffered[automation.id] = self._scheduled_run(automation, buffer, now)
        for run in stored:
            self.enqueue(run)

    def _scheduled_run(self, automation: Automation, at: float, now: float) -> AutomationRun:
        return AutomationRun(
            id=new_id("atr_"),
            automation_id=automation.id,
            app_id=automation.app_id,
            trigger="workflow.scheduled",
            payload={"scheduled_at": iso(at)},
            status="pending",
            config_id=automation.config_id,
            config_version=None,
            created_at=now,
            updated_at=now,
            scheduled_at=at,
            run_as_user_id=automation.run_as_user_id,
        )

    async def _worker(self) -> None:
        assert self._receive is not None
        async for run, claimed in self._receive:
            await self._execute(run, claimed)

    async def graph_for(self, app_id: str, config_id: str, version: int | None = None) -> tuple[WorkflowGraph, int]:
        """The compiled graph of a config version (latest by default), cached by (id, version).

        Raises:
            NotFoundError: the config (or version) does not exist in this app.
            ValidationError: the stored document no longer validates.
        """
        if version is not None:
            cached = self._graphs.get((app_id, config_id, version))
            if cached is not None:
                self._graphs.move_to_end((app_id, config_id, version))
                return cached, version
        record = await self.store.get_config(app_id, config_id, version)
        if record is None:
            raise NotFoundError("config", config_id)
        key = (app_id, config_id, record.version)
        graph = self._graphs.get(key)
        if graph is None:
            graph = build_graph(record.document)
            self._graphs[key] = graph
            if len(self._graphs) > self._graph_cache_size:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        return graph, record.version

    async def _execute(self, run: AutomationRun, claimed: bool) -> None:
        automation_id = run.automation_id
        try:
            if not claimed:
                got = await self.store.claim_runs(self.worker_id, lease=self.lease, limit=1, run_ids=[run.id])
                if not got:
                    return  # cancelled (paused, deleted) while it waited, or another worker has it
                run = got[0]
            self._fences[run.id] = run.fence
            try:
                await self._attempt(run)
            except LeaseLostError:
                logger.warning("run %s: lease lost; another worker or a cancel took it over", run.id)
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):  # shutting down: hand the run back
                    await self._release(run)
                raise
            finally:
                self._fences.pop(run.id, None)
                self._lost.discard(run.id)
                self._wake(run.id)
        except StoreError:
            logger.exception("run %s: the store failed; the run is retried when its lease expires", run.id)
        finally:
            await self._done(automation_id)

    async def _attempt(self, run: AutomationRun) -> None:
        """Execute one claimed run (from its checkpoints, if it ran before) and record the outcome."""
        store = self.store
        durable = store.durable
        fence = run.fence
        active = self.running.setdefault(run.automation_id, {})
        started = self.clock.now()
        active[run.id] = started
        try:
            run.status = "running"
            run.updated_at = started
            fresh = run.started_at is None
            if fresh:
                run.started_at = started
            if run.recoveries > self.max_recoveries:
                run.status = "failed"
                run.result = {
                    "error": (
                        f"the run's worker stopped {run.recoveries} times while executing it; gave up after "
                        f"{self.max_recoveries} recoveries (Engine(max_recoveries=...))"
                    )
                }
            else:
                try:
                    if run.config_id is None:
                        raise NotFoundError("config", "<none>")
                    graph, version = await self.graph_for(run.app_id, run.config_id, run.config_version)
                except (NotFoundError, ValidationError) as exc:
                    run.status = "failed"
                    run.result = {"error": f"cannot load the config: {exc.message}"}
                else:
                    pin = fresh or run.config_version != version  # written with the first checkpoint
                    run.config_version = version
                    steps = await self._retrying(store.load_steps, run.id) if durable and fence > 1 else None
                    try:
                        result = await self._run_graph(run, graph, steps, fence, pin)
                    except (LeaseLostError, StoreUnavailableError):
                        raise
                    except StoreError as exc:  # e.g. a node output that is not JSON
                        run.status = "failed"
                        run.result = {"error": f"the run's state could not be stored: {exc.message}"}
                    else:
                        if result is None:
                            return  # suspended on a durable timer, or the lease was lost
            run.finished_at = run.updated_at = self.clock.now()
            try:
                await self._retrying(store.update_run, run, fence=fence)  # also the automation's last run
            except (LeaseLostError, StoreUnavailableError):
                raise
            except StoreError as exc:  # a result that is not JSON: record why instead
                run.status = "failed"
                run.result = {"error": f"the run's result could not be stored: {exc.message}"}
                await self._retrying(store.update_run, run, fence=fence)
        finally:
            active.pop(run.id, None)
            if not active:
                self.running.pop(run.automation_id, None)

    async def _run_graph(
        self, run: AutomationRun, graph: WorkflowGraph, steps: dict[str, Any] | None, fence: int, pin: bool
    ) -> AutomationRun | None:
        """Run the graph for a claimed run; ``None`` when the run is parked or no longer ours.

        The config version (and start time) is pinned in the store with the first checkpoint,
        before any node's work is recorded; a run of pure nodes only pins it with its outcome.
        """
        store = self.store
        checkpoint = None
        if store.durable:

            async def checkpoint(key: str, data: Any) -> None:
                nonlocal pin
                if pin:
                    await self._retrying(store.update_run, run, fence=fence)
                    pin = False
                await self._retrying(store.save_step, run.id, fence, key, data)

        try:
            result = await self.executor.run(
                graph,
                run.envelope,
                run_id=run.id,
                app_id=run.app_id,
                automation_id=run.automation_id,
                steps=steps,
                checkpoint=checkpoint,
                timer_threshold=self.timer_threshold if store.durable else None,
                emit=functools.partial(self._emit_caused, run),
            )
        except ValidationError as exc:  # e.g. a config update dropped the trigger node
            run.status = "failed"
            run.result = {"error": exc.message}
            return run
        if run.id in self._lost:
            raise LeaseLostError(f"run {run.id!r} was taken over while it executed")
        if result.status == "suspended":
            await self._retrying(store.release_run, run.id, fence, wake_at=result.wake_at)
            return None
        run.status = result.status
        run.result = result.result
        run.journal = result.journal.to_list()
        return run

    async def _release_queued(self) -> None:
        """On stop, hand back the runs claimed for this engine that no worker started."""
        receive = self._receive
        if receive is None:
            return
        with anyio.CancelScope(shield=True):
            while True:
                try:
                    run, claimed = receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    return
                if claimed:
                    await self._release(run)

    async def _release(self, run: AutomationRun) -> None:
        """Hand a run back to the store (clean shutdown): pending again, its checkpoints kept."""
        try:
            await self.store.release_run(run.id, run.fence)
        except LeaseLostError:
            logger.debug("run %s: already finished or taken over; nothing to hand back", run.id)
        except Exception:
            logger.warning("run %s: could not hand the run back; it is recovered when its lease expires", run.id)

    async def _retrying(self, op: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Call a store operation, waiting out an unreachable database (work pauses, nothing is lost).

        Only :class:`~graphflow.exceptions.StoreUnavailableError` is retried, with backoff up to
        5 s; a lost lease or any other error propagates.
        """
        delay = 0.05
        while True:
            try:
                return await op(*args, **kwargs)
            except StoreUnavailableError as exc:
                logger.warning("the store is unreachable (%s); retrying in %.2fs", exc, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- background loops (durable stores) -----------------------------------------------------

    async def _poll(self) -> None:
        """Claim work this engine did not create: other processes' runs, dead workers', due timers."""
        store = self.store
        while True:
            free = self.max_concurrent_runs - self._load
            claimed: list[AutomationRun] = []
            if free > 0:
                try:
                    claimed = await store.claim_runs(self.worker_id, lease=self.lease, limit=free)
                except StoreError as exc:
                    logger.warning("claiming runs failed (%s); retrying", exc)
                for run in claimed:
                    self.enqueue(run, claimed=True)
            if claimed and len(claimed) == free:
                await anyio.lowlevel.checkpoint()  # the queue is full of work: look again once some finishes
                await anyio.sleep(min(0.05, self.poll_interval))
                continue
            await store.wait_for_work(self.poll_interval)

    async def _heartbeat(self) -> None:
        """Renew the leases of the runs executing here; stop the ones another worker took over."""
        while True:
            await anyio.sleep(self.lease / 3)
            if not self._fences:
                continue
            try:
                lost = await self.store.renew_leases(self.worker_id, dict(self._fences), lease=self.lease)
            except StoreError as exc:
                logger.warning("renewing leases failed (%s); retrying", exc)
                continue
            for run_id in lost:
                if run_id in self._fences:
                    self._lost.add(run_id)
                    self.executor.cancel(run_id)

    async def _sync(self) -> None:
        """Apply automations changed by other engines sharing the store (index and schedules)."""
        since = self.clock.now()
        while True:
            await anyio.sleep(self.sync_interval)
            now = self.clock.now()
            try:
                changed = await self.store.changed_automations(since - 5.0)  # overlap: clock skew
            except StoreError as exc:
                logger.warning("loading changed automations failed (%s); retrying", exc)
                continue
            since = now
            for automation in changed:
                if self._revisions.get(automation.id) != automation.revision:
                    self._follow(automation.id, automation)

    async def _retain(self) -> None:
        assert self.retention is not None
        while True:
            try:
                removed = await self.prune(self.retention)
                if removed:
                    logger.info("retention: pruned %d runs older than %ss", removed, self.retention)
            except StoreError as exc:
                logger.warning("retention: pruning failed (%s)", exc)
            await anyio.sleep(min(3600.0, max(1.0, self.retention / 10)))

    async def prune(self, older_than: float | timedelta) -> int:
        """Delete finished runs (and their journals) older than ``older_than``; return how many.

        Pending and running runs are never pruned. Accepted event ids older than that are
        forgotten too, so an event re-published after the retention window runs again.

        Raises:
            ValueError: a negative age.
        """
        seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
        if seconds < 0:
            raise ValueError("older_than must not be negative")
        return await self.store.prune(self.clock.now() - seconds)

    def _wake(self, run_id: str) -> None:
        """Wake the ``wait_for_run`` callers of a run that just ended."""
        waiter = self._waiters.pop(run_id, None)
        if waiter is not None:
            waiter.set()

    async def cancel_pending(self, app_id: str, automation_id: str) -> list[str]:
        """Cancel an automation's pending runs (it was paused or deleted) and wake their waiters."""
        cancelled = await self.store.cancel_pending_runs(app_id, automation_id, self.clock.now())
        for run_id in cancelled:
            self._wake(run_id)
        return cancelled

    async def wait_for_run(self, app_id: str, run_id: str, timeout: float | None = None) -> AutomationRun:
        """Wait until a run ends (completed, failed or cancelled) and return it.

        Raises:
            NotFoundError: no such run in this app.
            TimeoutError: ``timeout`` seconds passed first.
            ValidationError: a malformed ``app_id``.
        """
        check_app(app_id)
        check_id("run", run_id)
        with anyio.fail_after(timeout):
            while True:
                run = await self.store.get_run(app_id, run_id)
                if run is None:
                    raise NotFoundError("run", run_id)
                if run.status in TERMINAL_RUN_STATUSES:
                    return run
                waiter = self._waiters.setdefault(run_id, anyio.Event())
                with anyio.move_on_after(1.0):
                    await waiter.wait()

    async def cancel_run(self, app_id: str, run_id: str) -> AutomationRun:
        """Cancel a pending or executing run, here or on another worker.

        A finished run is returned unchanged. The store marks it ``cancelled`` at once and fences
        its worker off: an execution here is cancelled now, one elsewhere stops at its next
        checkpoint or heartbeat.

        Raises:
            NotFoundError: no such run in this app.
            ValidationError: a malformed ``app_id``.
        """
        check_app(app_id)
        check_id("run", run_id)
        now = self.clock.now()
        run = await self.store.cancel_run(app_id, run_id, now)
        if run is None:
            raise NotFoundError("run", run_id)
        started = run.started_at is not None or run_id in self._fences
        if run.status == "cancelled" and run.finished_at == now and started:
            run.started_at = run.started_at or self.running.get(run.automation_id, {}).get(run_id, now)
            await self.store.update_run(run)  # it had started: it becomes the automation's last run
        if run_id in self._fences:  # executing here: stop it and wait until it has stopped
            self._lost.add(run_id)
            waiter = self._waiters.setdefault(run_id, anyio.Event())
            self.executor.cancel(run_id)
            with anyio.move_on_after(30):
                await waiter.wait()
        self._wake(run_id)
        return run
