"""The Engine: automations, events and schedules on top of the executor.

``async with Engine() as engine:`` starts the dispatcher (a fixed pool of worker tasks pulling
pending runs from one queue — the engine-wide concurrency limit, never a task per run) and the
scheduler, and recovers pending runs from the store. The way an event travels reads top to
bottom in :meth:`Engine.publish` → :meth:`Engine._dispatch` → :meth:`Engine._execute`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from graphflow.abc import Store
from graphflow.automations.model import TERMINAL_RUN_STATUSES, Automation, AutomationRun, iso
from graphflow.clock import Clock, SystemClock
from graphflow.engine.executor import Executor
from graphflow.engine.notify import Listener, Subscription
from graphflow.events import EngineEvent, EventAccepted, RunSkipped
from graphflow.exceptions import NotFoundError, Problem, ValidationError
from graphflow.graph.loader import build_graph
from graphflow.graph.model import WorkflowGraph
from graphflow.ids import new_id
from graphflow.triggers.catalogue import EventCatalogue
from graphflow.triggers.index import TriggerIndex

__all__ = ["Engine", "PublishResult"]

INTERNAL_EVENTS = frozenset({"workflow.scheduled", "workflow.invoked"})


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


class Engine:
    """An embeddable automation engine.

    Args:
        store: a :class:`~graphflow.abc.Store` or a URL (``memory://``); default in memory.
        env: host values visible to every run as ``env``.
        services: objects handed to custom nodes as ``ctx.services``.
        max_concurrent_runs: runs executing at once; more wait in the queue.
        catalogue: the event catalogue (default: the built-in events).
        clock: the time source (inject a :class:`~graphflow.clock.FakeClock` in tests).
        graph_cache_size: compiled graphs kept in memory, by (config id, version).
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
    ) -> None:
        from graphflow.automations.service import AutomationService, ConfigService
        from graphflow.stores import store_from_url
        from graphflow.triggers.scheduler import Scheduler

        if store is None or isinstance(store, str):
            store = store_from_url(store or "memory://")
        if max_concurrent_runs < 1:
            raise ValueError("max_concurrent_runs must be at least 1")
        self.store: Store = store
        self.clock: Clock = clock or SystemClock()
        self.catalogue = catalogue or EventCatalogue()
        self.executor = Executor(env=env, services=services, emit=None, clock=self.clock.now)
        self.executor.emit = self._emit_from_run
        self.index = TriggerIndex()
        self.scheduler = Scheduler(self)
        self.configs = ConfigService(self)
        self.automations = AutomationService(self)
        self.max_concurrent_runs = max_concurrent_runs
        self._graphs: OrderedDict[tuple[str, int], WorkflowGraph] = OrderedDict()
        self._graph_cache_size = graph_cache_size
        self._send: MemoryObjectSendStream[AutomationRun] | None = None
        self._receive: MemoryObjectReceiveStream[AutomationRun] | None = None
        self._waiters: dict[str, anyio.Event] = {}
        #: automation id → {run id: started_at} of its executing runs.
        self.running: dict[str, dict[str, float]] = {}
        #: automation id → the one run buffered behind a running one (overlap ``buffer_one``).
        self.buffered: dict[str, AutomationRun] = {}
        #: automation id → runs queued or executing (what overlap policies look at).
        self.inflight: dict[str, int] = {}
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            await self.store.start()
            stack.push_async_callback(self.store.close)
            self._send, self._receive = anyio.create_memory_object_stream[AutomationRun](math.inf)
            stack.push_async_callback(self._send.aclose)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._tg.cancel_scope.cancel)
            for automation in await self.store.running_automations():
                self._track(automation)
            for _ in range(self.max_concurrent_runs):
                self._tg.start_soon(self._worker, name="graphflow-run-worker")
            self._tg.start_soon(self.scheduler.run, name="graphflow-scheduler")
            for run in await self.store.pending_runs(limit=100_000):
                self._enqueue(run)
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

    # -- automations in memory -------------------------------------------------------------

    def _track(self, automation: Automation) -> None:
        """Keep the index and the scheduler in step with a stored automation."""
        if automation.status == "running" and automation.type == "trigger":
            self.index.put(automation)
        else:
            self.index.discard(automation.id)
        if automation.status == "running" and automation.type == "scheduled":
            self.scheduler.put(automation)
        else:
            self.scheduler.discard(automation.id)

    def _untrack(self, automation_id: str) -> None:
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
        if name in INTERNAL_EVENTS:
            raise ValidationError(
                [Problem("$.name", f"{name!r} is fired by graphflow itself and cannot be published",
                         "use automations.trigger() / invoke() to start a run directly")],
                subject="event",
            )
        check_app(app_id)
        if not self.started:  # before anything is recorded: the runs could not be queued
            raise RuntimeError("the engine is not started: use 'async with Engine() as engine:'")
        self.catalogue.validate(name, payload)
        event_id = id or new_id("evt_")
        now = self.clock.now()
        runs = [
            AutomationRun(
                id=new_id("atr_"), automation_id=a.id, app_id=app_id, trigger=name, payload=payload,
                status="pending", config_id=a.config_id, config_version=None, created_at=now,
                updated_at=now, event_id=event_id, run_as_user_id=a.run_as_user_id,
            )
            for a in self.index.matches(app_id, name)
        ]
        stored = await self.store.accept_event(app_id, event_id, name, payload, runs)
        if stored is None:
            return PublishResult(event_id, (), duplicate=True)
        runs = stored
        for run in runs:
            self._enqueue(run)
        run_ids = tuple(run.id for run in runs)
        if self.executor.notifier.wants_events:
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
        return sorted(self.index.matches(app_id, name), key=lambda a: a.id)

    async def _emit_from_run(self, app_id: str | None, name: str, payload: Any) -> None:
        if app_id is None:
            raise RuntimeError("this run belongs to no app: only automation runs can emit events")
        await self.publish(app_id, name, payload)

    # -- running ---------------------------------------------------------------------------

    def _enqueue(self, run: AutomationRun) -> None:
        if self._send is None:
            raise RuntimeError("the engine is not started: use 'async with Engine() as engine:'")
        self.inflight[run.automation_id] = self.inflight.get(run.automation_id, 0) + 1
        self._send.send_nowait(run)

    def _done(self, automation_id: str) -> None:
        left = self.inflight.get(automation_id, 1) - 1
        if left > 0:
            self.inflight[automation_id] = left
        else:
            self.inflight.pop(automation_id, None)
            buffered = self.buffered.pop(automation_id, None)
            if buffered is not None:
                self._enqueue(buffered)

    async def fire_scheduled(self, snapshot: Automation, instants: list[float], following: float | None) -> None:
        """Create the runs of scheduled ``instants`` and record the next fire.

        Order of durability: the automation's ``next_run_at``/``repeat`` are written *before* its runs are
        stored, so a crash in between cannot fire an occurrence twice; each run's identity
        (automation, scheduled instant) is unique in the store, so a repeat cannot either.

        Overlap: ``skip`` drops instants while a run is queued or executing; ``buffer_one`` keeps
        one run waiting behind it; ``allow`` starts them all. The instants of one catch-up batch
        (``catchup: all``) do not overlap each other: when nothing is busy, they all start.
        ``repeat.times`` reached (or a one-shot done) leaves the automation ``paused`` with
        ``paused_reason`` ``"completed"``.
        """
        store = self.store
        automation = await store.get_automation(snapshot.app_id, snapshot.id)
        if automation is None or automation.status != "running":
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
                self.announce(RunSkipped(at=now, app_id=automation.app_id, automation_id=automation.id,
                                         reason="overlap", scheduled_at=instants[0]))
        runs = [self._scheduled_run(automation, at, now) for at in [*fire, *([buffer] if buffer else [])]]
        revision = automation.revision
        automation.repeat.completed += len(runs)
        automation.next_run_at = following
        if runs:
            automation.last_run_at = now
        done = following is None or (
            automation.repeat.times is not None and automation.repeat.completed >= automation.repeat.times
        )
        if done:
            automation.status = "paused"
            automation.paused_reason = "completed"
            automation.next_run_at = None
        automation.revision += 1
        automation.updated_at = now
        await store.update_automation(automation, expected_revision=revision)
        self._track(automation)
        stored = {run.id for run in await store.insert_runs(runs)}
        for run in runs:
            if run.id not in stored:
                continue
            if buffer is not None and run.scheduled_at == buffer:
                self.buffered[automation.id] = run
            else:
                self._enqueue(run)

    def _scheduled_run(self, automation: Automation, at: float, now: float) -> AutomationRun:
        return AutomationRun(
            id=new_id("atr_"), automation_id=automation.id, app_id=automation.app_id,
            trigger="workflow.scheduled", payload={"scheduled_at": iso(at)}, status="pending",
            config_id=automation.config_id, config_version=None, created_at=now, updated_at=now,
            scheduled_at=at, run_as_user_id=automation.run_as_user_id,
        )

    async def _worker(self) -> None:
        assert self._receive is not None
        async for run in self._receive:
            await self._execute(run)

    async def graph_for(self, app_id: str, config_id: str, version: int | None = None) -> tuple[WorkflowGraph, int]:
        """The compiled graph of a config version (latest by default), cached by (id, version).

        Raises:
            NotFoundError: the config (or version) does not exist in this app.
            ValidationError: the stored document no longer validates.
        """
        record = await self.store.get_config(app_id, config_id, version)
        if record is None:
            raise NotFoundError("config", config_id)
        key = (config_id, record.version)
        graph = self._graphs.get(key)
        if graph is None:
            graph = build_graph(record.document)
            self._graphs[key] = graph
            if len(self._graphs) > self._graph_cache_size:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        return graph, record.version

    async def _execute(self, run: AutomationRun) -> None:
        current = await self.store.get_run(run.app_id, run.id)
        if current is None or current.status != "pending":
            self._done(run.automation_id)
            return  # cancelled (paused, deleted) while it waited
        run = current
        clock = self.clock
        active = self.running.setdefault(run.automation_id, {})
        started = clock.now()
        active[run.id] = started
        try:
            run.status = "running"
            run.started_at = run.updated_at = started
            try:
                if run.config_id is None:
                    raise NotFoundError("config", "<none>")
                graph, version = await self.graph_for(run.app_id, run.config_id, run.config_version)
            except (NotFoundError, ValidationError) as exc:
                run.status = "failed"
                run.result = {"error": f"cannot load the config: {exc.message}"}
            else:
                run.config_version = version
                await self.store.update_run(run)
                try:
                    result = await self.executor.run(
                        graph, run.envelope, run_id=run.id, app_id=run.app_id, automation_id=run.automation_id,
                    )
                except ValidationError as exc:  # e.g. a config update dropped the trigger node
                    run.status = "failed"
                    run.result = {"error": exc.message}
                else:
                    run.status = result.status
                    run.result = result.result
                    run.journal = result.journal.to_list()
            run.finished_at = run.updated_at = clock.now()
            await self.store.update_run(run)
            await self._record_outcome(run)
        finally:
            active.pop(run.id, None)
            if not active:
                self.running.pop(run.automation_id, None)
            self._wake(run.id)
            self._done(run.automation_id)

    def _wake(self, run_id: str) -> None:
        """Wake the ``wait_for_run`` callers of a run that just ended."""
        waiter = self._waiters.pop(run_id, None)
        if waiter is not None:
            waiter.set()

    async def _cancel_pending(self, app_id: str, automation_id: str) -> list[str]:
        """Cancel an automation's pending runs (it was paused or deleted) and wake their waiters."""
        cancelled = await self.store.cancel_pending_runs(app_id, automation_id, self.clock.now())
        for run_id in cancelled:
            self._wake(run_id)
        return cancelled

    async def _record_outcome(self, run: AutomationRun) -> None:
        for _ in range(5):
            automation = await self.store.get_automation(run.app_id, run.automation_id)
            if automation is None:
                return
            revision = automation.revision
            automation.last_run_at = run.started_at
            automation.last_run_status = run.status
            automation.revision += 1
            try:
                await self.store.update_automation(automation, expected_revision=revision)
                return
            except Exception:
                continue

    async def wait_for_run(self, app_id: str, run_id: str, timeout: float | None = None) -> AutomationRun:
        """Wait until a run ends (completed, failed or cancelled) and return it.

        Raises:
            NotFoundError: no such run in this app.
            TimeoutError: ``timeout`` seconds passed first.
        """
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
        """Cancel a pending or executing run; a finished run is returned unchanged.

        Raises:
            NotFoundError: no such run in this app.
        """
        run = await self.store.get_run(app_id, run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        if run.status == "pending":
            now = self.clock.now()
            run.status = "cancelled"
            run.finished_at = run.updated_at = now
            run.result = {"error": "run cancelled"}
            await self.store.update_run(run)
            self._wake(run_id)
        elif run.status == "running":
            self.executor.cancel(run_id)
            return await self.wait_for_run(app_id, run_id)
        return run


def check_app(app_id: str) -> None:
    """Refuse a missing or malformed app id: there is never a default app to fall back to.

    Raises:
        ValidationError: with path ``$.app_id``.
    """
    if not isinstance(app_id, str) or not app_id or len(app_id) > 100:
        raise ValidationError([Problem("$.app_id", "app_id must be a non-empty string of at most 100 characters")],
                              subject="request")
