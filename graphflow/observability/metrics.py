"""Engine metrics: runs, fires, queue, leases and store health, in a :class:`.registry.Registry`.

``EngineMetrics(engine)`` installs itself as the engine's run observer (one method call per run
and per scheduled fire, never per node) and reads the rest when collected: the engine's plain
integer counters, its flow-control decisions, its scheduler, and one bounded status read of the
store (:meth:`graphflow.abc.Store.status`). Nothing is recorded when no ``EngineMetrics`` exists.

Per-node durations need the engine's node events, which cost a little on every node; they are
on only with ``node_durations=True``.

The metric names are listed in ``docs/howto/operate.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from graphflow.events import EngineEvent, NodeCompleted, NodeFailed
from graphflow.exceptions import GraphflowError
from graphflow.observability.registry import BoundedLabel, Registry
from graphflow.records import Automation, AutomationRun, StoreStatus

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine
    from graphflow.engine.notify import Subscription

__all__ = ["DURATION_BUCKETS", "LATENESS_BUCKETS", "EngineMetrics"]

#: Run and node durations (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: How late scheduled fires start (seconds after their instant).
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


class EngineMetrics:
    """The metrics of one engine, recorded while it runs and rendered on demand.

    Args:
        engine: the engine to observe (its ``observer`` is set to this object).
        max_automations: automation ids that get a label of their own, the first ones seen;
            runs of later automations count under ``automation="other"``.
        node_durations: also record ``graphflow_node_duration_seconds`` and node retries
            (subscribes to the engine's events, which it then builds for every node and run:
            about 30% more instructions per run of three short nodes).
        status_timeout: seconds a collection waits for the store's status before it reports
            ``graphflow_store_up 0`` and leaves the store's gauges out.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_automations: int = 100,
        node_durations: bool = False,
        status_timeout: float = 2.0,
    ) -> None:
        self.engine = engine
        self.automation = BoundedLabel(max_automations)
        self.status_timeout = status_timeout
        self.registry = registry = Registry()
        self._status: StoreStatus | None = None
        self._store_up = 0.0
        self._scrape_seconds = 0.0
        self.runs_started = registry.counter(
            "graphflow_runs_started", "Runs that started executing for the first time.", ["automation"]
        )
        self.runs_resumed = registry.counter(
            "graphflow_runs_resumed",
            "Executions of runs that ran before (woken from a timer or a wait, or recovered).",
            ["automation"],
        )
        self.runs_finished = registry.counter(
            "graphflow_runs_finished",
            "Runs that ended, by status (completed, failed, cancelled).",
            ["automation", "status"],
        )
        self.run_duration = registry.histogram(
            "graphflow_run_duration_seconds",
            "From a run's first start to its end (time parked included), by status.",
            DURATION_BUCKETS,
            ["status"],
        )
        self.node_duration = registry.histogram(
            "graphflow_node_duration_seconds", "Node attempts that completed (node_durations=True).", DURATION_BUCKETS
        )
        self.node_retries = registry.counter(
            "graphflow_node_retries", "Node attempts that failed and were retried (node_durations=True)."
        )
        self.fires = registry.counter(
            "graphflow_schedule_fires", "Runs started by schedules (catch-up runs included).", ["automation"]
        )
        self.catchup = registry.counter(
            "graphflow_schedule_catchup_runs",
            "Scheduled runs for instants later than misfire_grace, kept by the catch-up policy.",
            ["automation"],
        )
        self.lateness = registry.histogram(
            "graphflow_schedule_lateness_seconds",
            "How long after its instant a scheduled run was stored.",
            LATENESS_BUCKETS,
        )
        self._engine_counters()
        self._gauges()
        self._subscription: Subscription | None = None
        engine.observer = self
        if node_durations:
            self._subscription = engine.subscribe(self._node_event, (NodeCompleted, NodeFailed))

    def close(self) -> None:
        """Stop observing the engine (its observer is cleared)."""
        if self.engine.observer is self:
            self.engine.observer = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    # -- the engine's calls (RunObserver) ---------------------------------------------------

    def run_started(self, run: AutomationRun, fresh: bool) -> None:
        """A claimed run starts executing here."""
        (self.runs_started if fresh else self.runs_resumed).inc((self.automation(run.automation_id),))

    def run_ended(self, run: AutomationRun) -> None:
        """A run's outcome was stored."""
        status = run.status
        self.runs_finished.inc((self.automation(run.automation_id), status))
        if run.started_at is not None and run.finished_at is not None:
            self.run_duration.observe(max(0.0, run.finished_at - run.started_at), (status,))

    def runs_cancelled(self, automation_id: str, count: int) -> None:
        """Runs were cancelled (by a caller, or because their automation was paused or deleted)."""
        self.runs_finished.inc((self.automation(automation_id), "cancelled"), count)

    def fired(self, automation: Automation, instants: Sequence[float], now: float) -> None:
        """A scheduled automation's runs were stored."""
        label = (self.automation(automation.id),)
        self.fires.inc(label, len(instants))
        grace = automation.misfire_grace
        late = 0
        for at in instants:
            self.lateness.observe(max(0.0, now - at))
            late += now - at > grace
        if late:
            self.catchup.inc(label, late)

    def _node_event(self, event: EngineEvent) -> None:
        if isinstance(event, NodeCompleted):
            self.node_duration.observe(event.duration)
        elif isinstance(event, NodeFailed) and event.will_retry:
            self.node_retries.inc()

    # -- read at collection -----------------------------------------------------------------

    def _engine_counters(self) -> None:
        engine = self.engine
        counters = engine.counters
        registry = self.registry

        def total(name: str, help: str, read: str) -> None:
            registry.total(name, help, lambda: {(): float(getattr(counters, read))})

        registry.total(
            "graphflow_schedule_missed_fires",
            "Scheduled instants dropped by the catch-up policy (later than misfire_grace).",
            lambda: {(): float(engine.scheduler.missed)},
        )
        total(
            "graphflow_schedule_overlap_skipped",
            "Scheduled fires dropped because a run of the automation was busy.",
            "overlap_skipped",
        )
        total(
            "graphflow_events_duplicate",
            "Events refused at publish: their id was already accepted.",
            "duplicate_events",
        )
        total("graphflow_leases_lost", "Runs executing here that another worker or a cancel took over.", "leases_lost")
        total("graphflow_runs_recovered", "Runs claimed after their worker stopped renewing its lease.", "recoveries")
        total("graphflow_store_errors", "Store operations that failed (logged; retried later).", "store_errors")
        total(
            "graphflow_store_retries", "Store operations retried while the database was unreachable.", "store_retries"
        )

        def decisions() -> dict[tuple[str, ...], float]:
            out: dict[tuple[str, ...], float] = {}
            for (automation_id, decision), count in list(engine.flow_counts.items()):
                key = (self.automation(automation_id), decision)
                out[key] = out.get(key, 0) + count
            return out

        registry.total(
            "graphflow_flow_decisions",
            "Events decided by flow control (filtered, debounced, throttled, queued, cancelled).",
            decisions,
            ["automation", "decision"],
        )

    def _gauges(self) -> None:
        engine = self.engine
        registry = self.registry

        def of_status(read: str) -> dict[tuple[str, ...], float]:
            status = self._status
            return {} if status is None else {(): float(getattr(status, read))}

        registry.gauge(
            "graphflow_store_up", "1 when the store answered the last collection, else 0.", lambda: {(): self._store_up}
        )
        registry.gauge(
            "graphflow_queue_depth", "Runs a worker could claim now (capped at 100000).", lambda: of_status("pending")
        )
        registry.gauge(
            "graphflow_queue_oldest_age_seconds", "How long the oldest claimable run has waited.", self._oldest_age
        )
        registry.gauge(
            "graphflow_runs_parked", "Runs waiting for a time or an event (capped).", lambda: of_status("parked")
        )
        registry.gauge(
            "graphflow_runs_running",
            "Runs claimed by a worker, on every worker (capped).",
            lambda: of_status("running"),
        )
        registry.gauge(
            "graphflow_leases_expired",
            "Running runs whose worker stopped renewing its lease.",
            lambda: of_status("expired_leases"),
        )
        registry.gauge(
            "graphflow_workers_seen",
            "Workers holding leases on the database.",
            lambda: {} if self._status is None else {(): float(len(self._status.workers))},
        )
        registry.gauge(
            "graphflow_executing", "Runs queued or executing in this process.", lambda: {(): float(engine._load)}
        )
        registry.gauge(
            "graphflow_schedules_tracked",
            "Scheduled automations this process's scheduler tracks.",
            lambda: {(): float(len(engine.scheduler))},
        )
        registry.gauge(
            "graphflow_scheduler_lag_seconds",
            "How overdue this process's next scheduled fire is (0: on time).",
            lambda: {(): scheduler_lag(engine)},
        )
        registry.gauge(
            "graphflow_automation_labels",
            "Automation ids with a label of their own (the rest are 'other').",
            lambda: {(): float(len(self.automation))},
        )
        registry.total(
            "graphflow_metrics_dropped",
            "Observations an exporter failed to take (lost; runs are never affected).",
            lambda: {(): float(sum(getattr(f, "dropped", 0) for f in registry.families.values()))},
        )
        registry.gauge(
            "graphflow_metrics_collect_seconds",
            "How long the last collection's store read took.",
            lambda: {(): self._scrape_seconds},
        )

    def _oldest_age(self) -> dict[tuple[str, ...], float]:
        status = self._status
        if status is None:
            return {}
        oldest = status.oldest_pending_at
        return {(): 0.0 if oldest is None else max(0.0, self.engine.clock.now() - oldest)}

    async def collect(self) -> str:
        """Read the store's status (bounded by ``status_timeout``) and render the Prometheus text."""
        await self.refresh()
        return self.registry.render()

    async def refresh(self) -> None:
        """Read the store's status (the queue and worker gauges), within ``status_timeout``; never raises."""
        begun = time.perf_counter()
        self._status = None
        self._store_up = 0.0
        with anyio.move_on_after(self.status_timeout):
            try:
                self._status = await self.engine.store.status(self.engine.clock.now())
                self._store_up = 1.0
            except GraphflowError:
                pass  # reported as graphflow_store_up 0
        self._scrape_seconds = time.perf_counter() - begun


def scheduler_lag(engine: Engine) -> float:
    """Seconds the engine's earliest tracked scheduled fire is overdue (0 when none is)."""
    due = engine.scheduler.earliest()
    return 0.0 if due is None else max(0.0, engine.clock.now() - due)
