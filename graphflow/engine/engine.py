"""The Engine: automations, events and schedules on top of the executor.

``async with Engine() as engine:`` starts the dispatcher (a fixed pool of worker tasks pulling
runs from one queue — the engine-wide concurrency limit, never a task per run) and the
scheduler. The engine is composed of one mixin per concern over a shared
:class:`~graphflow.engine.core.EngineCore`:

* :mod:`~graphflow.engine.publishing` — publish, explain, events emitted by runs (cascades);
* :mod:`~graphflow.engine.runloop` — queue, workers, claims, attempts, checkpoints, leases,
  heartbeat, poller, hand-back on stop;
* :mod:`~graphflow.engine.control` — wait for a run, cancel runs;
* :mod:`~graphflow.engine.fires` — scheduled fires (repeat, overlap, buffered runs);
* :mod:`~graphflow.engine.upkeep` — automations changed by other processes, retention;
* :mod:`~graphflow.engine.delivery` — finished runs' results sent to their automations' sinks.

This module holds the constructor and the lifecycle. The way an event travels reads top to
bottom in :meth:`Engine.publish` → :meth:`Engine.enqueue` → :meth:`Engine._execute`.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from graphflow.abc import Store
from graphflow.clock import Clock, SystemClock
from graphflow.engine.control import RunControl
from graphflow.engine.core import EngineCounters
from graphflow.engine.delivery import DELIVERY_WORKERS, Deliveries
from graphflow.engine.executor import Executor
from graphflow.engine.fires import Fires
from graphflow.engine.publishing import Publishing, PublishResult
from graphflow.engine.runloop import RunLoop
from graphflow.engine.upkeep import Upkeep
from graphflow.exceptions import Problem, ValidationError
from graphflow.observability.tracing import tracing_for
from graphflow.records import AutomationRun
from graphflow.triggers.catalogue import EventCatalogue
from graphflow.triggers.index import TriggerIndex

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from graphflow.automations.sinks import CallbackEntry

__all__ = ["Engine", "PublishResult"]


def _bad(argument: str, message: str) -> ValidationError:
    return ValidationError([Problem(f"$.{argument}", message)], subject="Engine arguments")


class Engine(Publishing, RunLoop, RunControl, Fires, Upkeep, Deliveries):
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
        max_cascade_runs: how many runs, in all, the events emitted downstream of one run may
            start (a run started by a host's event, a schedule or an invoke heads a cascade). Each
            emit spends from its run's budget the runs it starts and hands them half of what is
            left, to share; past the budget an emit fails with
            :class:`~graphflow.exceptions.CascadeLimitError`. This bounds fan-out (an emit inside
            a map) as the depth bounds loops, with no counter shared between processes.
        previous_runs: how many of an automation's last completed runs its scripts see as
            ``previous_runs`` (newest first; only graphs that read ``memory``/``previous_runs``
            load them).
        tracing: OpenTelemetry spans of publishes, runs and nodes (``pip install
            'graphflow[otel]'``; :mod:`graphflow.observability.tracing`). ``None`` (default):
            on when, as the engine starts, the host has set a global tracer provider; ``True``:
            always, with the global provider; a ``TracerProvider``: with that one; ``False``: never.
        delivery_callbacks: the host coroutines ``callback`` sinks name: ``{name: async fn(run)}``
            (see :mod:`graphflow.engine.delivery`); each call is bounded by ``delivery_timeout``.
            ``{name: (fn, {"app_1", ...})}`` offers a callback to those apps only: another app's
            automation naming it is refused at create (when this engine has callbacks) and never
            reaches it.
        delivery_attempts: attempts to deliver a run's result before its delivery ``failed``.
        delivery_timeout: seconds one sink may take (a webhook's whole exchange, a callback).
        delivery_backoff: seconds before the second attempt; each next waits twice as long (up
            to an hour), with jitter.
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
        max_cascade_runs: int = 1000,
        previous_runs: int = 5,
        tracing: bool | TracerProvider | None = None,
        delivery_callbacks: Mapping[str, CallbackEntry] | None = None,
        delivery_attempts: int = 5,
        delivery_timeout: float = 10.0,
        delivery_backoff: float = 2.0,
    ) -> None:
        from graphflow.automations.configs import ConfigService
        from graphflow.automations.keys import KeyService
        from graphflow.automations.service import AutomationService
        from graphflow.automations.steering import SteeringService
        from graphflow.automations.stream import StreamService
        from graphflow.stores import default_database_url, store_from_url
        from graphflow.triggers.scheduler import Scheduler

        if store is None or isinstance(store, str):
            store = store_from_url(store or default_database_url())
        if max_concurrent_runs < 0 or (max_concurrent_runs == 0 and not store.durable):
            raise _bad("max_concurrent_runs", "must be at least 1 (0 only on a durable store, with workers)")
        if lease <= 0 or poll_interval <= 0 or sync_interval <= 0:
            raise _bad("lease", "lease, poll_interval and sync_interval must be positive")
        if isinstance(max_event_depth, bool) or not isinstance(max_event_depth, int) or max_event_depth < 0:
            raise _bad("max_event_depth", "must be a whole number, 0 or more")
        self.max_event_depth = max_event_depth
        if isinstance(max_cascade_runs, bool) or not isinstance(max_cascade_runs, int) or max_cascade_runs < 0:
            raise _bad("max_cascade_runs", "must be a whole number, 0 or more")
        self.max_cascade_runs = max_cascade_runs
        if isinstance(previous_runs, bool) or not isinstance(previous_runs, int) or not 0 <= previous_runs <= 100:
            raise _bad("previous_runs", "must be a whole number from 0 to 100")
        self.previous_runs = previous_runs
        if not (tracing is None or isinstance(tracing, bool) or callable(getattr(tracing, "get_tracer", None))):
            raise _bad("tracing", "must be True, False, None or an OpenTelemetry TracerProvider")
        self._tracing = tracing
        if isinstance(delivery_attempts, bool) or not isinstance(delivery_attempts, int) or delivery_attempts < 1:
            raise _bad("delivery_attempts", "must be a whole number, 1 or more")
        if not delivery_timeout > 0 or not delivery_backoff > 0:
            raise _bad("delivery_timeout", "delivery_timeout and delivery_backoff must be positive")
        self.delivery_callbacks = dict(delivery_callbacks or {})
        self.delivery_attempts = delivery_attempts
        self.delivery_timeout = float(delivery_timeout)
        self.delivery_backoff = float(delivery_backoff)
        self.store: Store = store
        self.clock: Clock = clock or SystemClock()
        self.catalogue = catalogue or EventCatalogue()
        # tracing=None is decided as the engine starts: the host may set its provider until then
        self.executor = Executor(
            env=env, services=services, emit=None, clock=self.clock.now, tracing=False if tracing is None else tracing
        )
        self.index = TriggerIndex()
        self.scheduler = Scheduler(fire=self.fire_scheduled, clock=self.clock, announce=self.announce)
        self.configs = ConfigService(self)
        self.automations = AutomationService(self)
        self.keys = KeyService(self)
        self.stream = StreamService(self)
        self.steering = SteeringService(self)
        self.max_concurrent_runs = max_concurrent_runs
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_recoveries = max_recoveries
        self.timer_threshold = timer_threshold
        self.sync_interval = sync_interval
        self.retention = retention.total_seconds() if isinstance(retention, timedelta) else retention
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # The shared state every part reads (declared and documented on EngineCore).
        self._graphs = OrderedDict()
        self._graph_cache_size = graph_cache_size
        self._send = self._receive = None
        self._waiters = {}
        self._wait_wakers = {}
        self._waiting_here = {}
        self.flow_counts = {}
        self._filters = {}
        self._flows = {}
        self._cancellers = {}
        self._flow_timers = []
        self._flow_released = {}
        self._flow_timer_set = None
        self._conditions = OrderedDict()
        self.running = {}
        self.buffered = {}
        self.inflight = {}
        self._fences = {}
        self._lost = set()
        self._revisions = {}
        self._load = 0
        self.counters = EngineCounters()
        self.observer = None
        self._stack = None
        self._tg = None

    async def __aenter__(self) -> Engine:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            if self._tracing is None:
                self.executor.tracing = tracing_for(None)
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
            if self.max_concurrent_runs:  # an executing engine delivers results (see graphflow.engine.delivery)
                # Not closed on stop: the task group cancels its workers and poller; an attempt
                # under way stays pending until its lease ends, for any engine to take.
                self._delivery_send, deliveries = anyio.create_memory_object_stream[AutomationRun](math.inf)
                for _ in range(DELIVERY_WORKERS):
                    self._tg.start_soon(self._delivery_worker, deliveries.clone(), name="graphflow-delivery-worker")
                deliveries.close()
                self._tg.start_soon(self._delivery_poll, name="graphflow-delivery-poller")
            self._tg.start_soon(self.scheduler.run, name="graphflow-scheduler")
            if self.store.durable:
                # Every engine on a shared database follows the automations other processes
                # change (a publishing engine too: its index decides which runs an event starts);
                # only an executing engine claims runs. A publishing engine claims nothing, so
                # starting or stopping it never takes a run from the workers.
                self._tg.start_soon(self._sync, name="graphflow-automation-sync")
                self._tg.start_soon(self.sweep_offers, name="graphflow-offer-sweep")
                if self.max_concurrent_runs:
                    self._tg.start_soon(self._poll, name="graphflow-claim-poller")
                    self._tg.start_soon(self._heartbeat, name="graphflow-lease-heartbeat")
            else:  # one process owns a memory store: take over what is pending once; wake flow timers here
                self._tg.start_soon(self.run_flow_timers, name="graphflow-flow-timers")
                for run in await self.store.claim_runs(self.worker_id, lease=self.lease, limit=1_000_000):
                    self.enqueue(run, claimed=True)
            if self.max_concurrent_runs:
                self._tg.start_soon(self.sweep_flows, name="graphflow-flow-sweep")
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
