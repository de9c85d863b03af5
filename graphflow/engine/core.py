"""The state every part of the :class:`~graphflow.engine.engine.Engine` shares, and the small helpers they all use.

The engine is composed of mixins, one per concern (:mod:`~graphflow.engine.publishing`,
:mod:`~graphflow.engine.runloop`, :mod:`~graphflow.engine.control`, :mod:`~graphflow.engine.fires`,
:mod:`~graphflow.engine.upkeep`), all over this one base: its attributes are declared here once
(the :class:`~graphflow.engine.engine.Engine` constructor sets them), so each part reads the same
state with plain attribute access and no extra indirection on the hot path. It is also where the
engine implements the :class:`~graphflow.automations.host.ServiceHost` surface its services use.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from graphflow.automations.host import ServiceHost
from graphflow.engine.executor import Executor
from graphflow.engine.notify import Listener, Subscription
from graphflow.events import EngineEvent
from graphflow.exceptions import NotFoundError, StoreUnavailableError
from graphflow.graph.loader import build_graph
from graphflow.graph.model import WorkflowGraph
from graphflow.records import Automation, AutomationRun, Wait
from graphflow.triggers.index import TriggerIndex

if TYPE_CHECKING:
    from graphflow.abc import EventEmitter, NodeContext
    from graphflow.nodes.egress import EgressPolicy
    from graphflow.triggers.scheduler import Scheduler

__all__ = ["EngineCore", "EngineCounters", "RunObserver", "ids", "logger"]

logger = logging.getLogger("graphflow.engine")
T = TypeVar("T")


def ids(run: AutomationRun) -> dict[str, str]:
    """A run's ids, for a log record's ``extra`` (structured logs write them as fields)."""
    return {"run_id": run.id, "automation_id": run.automation_id, "app_id": run.app_id}


class EngineCounters:
    """Totals of rare things an engine did, as plain integers (read by metrics; free otherwise).

    Attributes:
        duplicate_events: events refused at publish because their id was already accepted.
        store_errors: store operations that failed and were logged (a run, a claim, a heartbeat, a fire).
        store_retries: store operations retried because the database was unreachable.
        overlap_skipped: scheduled fires dropped because a run of the automation was busy (overlap ``skip``).
        leases_lost: runs this engine was executing when another worker or a cancel took them over.
        recoveries: runs this engine claimed after their worker stopped renewing the lease (a run
            recovered once counts again each time it wakes from a durable timer).
    """

    __slots__ = ("duplicate_events", "leases_lost", "overlap_skipped", "recoveries", "store_errors", "store_retries")

    def __init__(self) -> None:
        self.duplicate_events = self.store_errors = self.store_retries = 0
        self.leases_lost = self.recoveries = self.overlap_skipped = 0


class RunObserver(Protocol):
    """What the engine tells an observer (metrics) of runs and fires; one call per run, never per node.

    Set as ``engine.observer``; ``None`` (the default) costs one attribute test per run.
    """

    def run_started(self, run: AutomationRun, fresh: bool) -> None:
        """A claimed run starts executing here (``fresh``: its first execution, not a resumption)."""

    def run_ended(self, run: AutomationRun) -> None:
        """A run's outcome (``completed`` or ``failed``, with ``started_at``/``finished_at``) was stored."""

    def runs_cancelled(self, automation_id: str, count: int) -> None:
        """``count`` runs of an automation were cancelled (by a caller, or its pause or deletion)."""

    def fired(self, automation: Automation, instants: Sequence[float], now: float) -> None:
        """A scheduled automation's runs for ``instants`` were stored at ``now`` (lateness: ``now - instant``)."""


class EngineCore(ServiceHost):
    """The engine's shared state and helpers (see the module docstring); not used on its own."""

    executor: Executor
    index: TriggerIndex
    scheduler: Scheduler
    max_concurrent_runs: int
    max_event_depth: int
    max_cascade_runs: int
    lease: float
    poll_interval: float
    max_recoveries: int
    #: ``Engine(tracing=...)``: decided as the engine starts (see :mod:`graphflow.observability.tracing`).
    _tracing: Any
    timer_threshold: float
    sync_interval: float
    retention: float | None
    worker_id: str
    #: automation id → {run id: started_at} of its executing runs.
    running: dict[str, dict[str, float]]
    #: automation id → the one run buffered behind a running one (overlap ``buffer_one``);
    #: it is stored only when it is released, so no other worker starts it early.
    buffered: dict[str, AutomationRun]
    #: automation id → runs queued or executing (what overlap policies look at).
    inflight: dict[str, int]
    #: (app id, config id, version) → compiled graph: the app is part of every key, so a config id
    #: named by another app can never reach a graph compiled for its owner.
    _graphs: OrderedDict[tuple[str, str, int], WorkflowGraph]
    _graph_cache_size: int
    _send: MemoryObjectSendStream[tuple[AutomationRun, bool]] | None
    _receive: MemoryObjectReceiveStream[tuple[AutomationRun, bool]] | None
    #: run id → the events of the ``wait_for_run`` callers waiting for it (one each).
    _waiters: dict[str, set[anyio.Event]]
    #: run id → automation id of the runs waiting in-process on a steering request or an event.
    _waiting_here: dict[str, str]
    #: (automation id, decision) → how many events this process decided so (``filtered``…).
    flow_counts: dict[tuple[str, str], int]
    #: filter source → compiled script (bounded).
    _filters: dict[str, Any]
    #: run id → fence of the runs this engine holds (what heartbeats renew).
    _fences: dict[str, int]
    #: runs whose lease was lost while executing: their outcome is not written.
    _lost: set[str]
    #: automation id → revision this engine tracks (to apply other processes' changes once).
    _revisions: dict[str, int]
    _load: int  # runs queued or executing here
    #: Totals of rare events (duplicates, store errors and retries, lost and recovered leases).
    counters: EngineCounters
    #: Told of each run and fire when set (see :class:`RunObserver`; metrics set it).
    observer: RunObserver | None
    _stack: AsyncExitStack | None
    #: Graph builds run in a worker thread, one at a time (see :meth:`off_loop`).
    _builder: anyio.CapacityLimiter | None = None
    _tg: TaskGroup | None

    @abstractmethod
    def enqueue(self, run: AutomationRun, *, claimed: bool = False) -> None:
        """Queue a run for a worker (``claimed``: this engine already holds its lease)."""

    @abstractmethod
    async def wait_in_run(self, ctx: NodeContext, wait: Wait) -> Wait:
        """Park the run on ``wait`` (see :mod:`graphflow.engine.waits`)."""

    @abstractmethod
    def flow_track(self, automation: Automation | None, automation_id: str) -> None:
        """Keep flow control in step with an automation (see :mod:`graphflow.engine.flow`)."""

    @abstractmethod
    def delivery_due(self, run: AutomationRun) -> None:
        """Turn a finishing run's awaiting delivery into its first attempt (see :mod:`graphflow.engine.delivery`)."""

    @abstractmethod
    def deliver_soon(self, run: AutomationRun) -> None:
        """Hand a run whose first delivery attempt was just stored to the delivery workers."""

    @property
    def egress_policy(self) -> EgressPolicy:
        """What HTTP nodes and webhook deliveries may reach: the host's ``services["egress_policy"]``.

        The policy of ``services["http_client"]`` when only that is given; the default policy
        (public addresses only) when neither is.
        """
        from graphflow.nodes.egress import DEFAULT_EGRESS_POLICY, EgressPolicy

        services = self.executor.services
        policy = services.get("egress_policy")
        if isinstance(policy, EgressPolicy):
            return policy
        client_policy = getattr(services.get("http_client"), "policy", None)
        return client_policy if isinstance(client_policy, EgressPolicy) else DEFAULT_EGRESS_POLICY

    @abstractmethod
    def _emitter(self, run: AutomationRun) -> EventEmitter:
        """How ``run``'s ``WorkflowEmitEvent`` nodes publish (see :mod:`graphflow.engine.publishing`)."""

    def trace_context(self) -> dict[str, str] | None:
        """The current span's W3C trace context, to store with a run (``None``: tracing is off, or no span)."""
        tracing = self.executor.tracing
        return None if tracing is None else tracing.carrier()

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
        """A scheduled automation's next fire from now, within its window (``next_run_at`` on activation)."""
        first = self.scheduler.first_fire(automation)
        starts, ends = automation.starts_at, automation.ends_at
        if first is not None and starts is not None and first < starts:
            from graphflow.triggers.scheduler import next_after

            anchor = starts if automation.schedule_kind == "interval" else None
            first = next_after(automation, starts - 1e-6, anchor=anchor)
        if first is not None and ends is not None and first > ends:
            return None
        return first

    def drop_buffered(self, automation_id: str) -> None:
        """Drop the run buffered behind a busy one (overlap ``buffer_one``), if any."""
        self.buffered.pop(automation_id, None)

    def running_since(self, automation_id: str) -> float | None:
        """When the oldest run of an automation executing here started (``None``: none is)."""
        active = self.running.get(automation_id)
        return min(active.values()) if active else None

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
        self.flow_track(automation, automation.id)

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
        self.flow_track(None, automation_id)

    async def graph_for(self, app_id: str, config_id: str, version: int | None = None) -> tuple[WorkflowGraph, int]:
        """The compiled graph of a config version (latest by default), cached by (id, version).

        Raises:
            NotFoundError: the config (or version) does not exist in this app.
            ValidationError: the stored document no longer validates.
        """
        if version is None:  # the latest: its number is enough to find a graph compiled before
            version = await self.store.latest_config_version(app_id, config_id)
            if version is None:
                raise NotFoundError("config", config_id)
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
            document = record.document
            graph = await self.off_loop(lambda: build_graph(document))
            self._graphs[key] = graph
            if len(self._graphs) > self._graph_cache_size:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        return graph, record.version

    async def off_loop(self, build: Callable[[], T]) -> T:
        if self._builder is None:  # made on first use, inside the running event loop
            self._builder = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(build, limiter=self._builder)

    @contextmanager
    def _woken_by_end(self, run_id: str) -> Iterator[anyio.Event]:
        """An event set when the run ends here; registered before the caller reads the run, so no end is missed.

        Each caller has its own and removes it when done, so a run that ends in another process
        (whose end this engine never sees) leaves nothing behind.
        """
        waiter = anyio.Event()
        waiting = self._waiters.setdefault(run_id, set())
        waiting.add(waiter)
        try:
            yield waiter
        finally:
            waiting.discard(waiter)
            if not waiting and self._waiters.get(run_id) is waiting:
                del self._waiters[run_id]

    def _wake(self, run_id: str) -> None:
        """Wake the ``wait_for_run`` callers of a run that just ended."""
        for waiter in self._waiters.pop(run_id, ()):
            waiter.set()

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
                self.counters.store_retries += 1
                logger.warning("the store is unreachable (%s); retrying in %.2fs", exc, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
