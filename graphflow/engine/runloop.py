"""The run loop: a fixed pool of workers pulling runs from one queue, each execution under a claim.

Every execution starts with a **claim** (:meth:`graphflow.abc.Store.claim_runs`): the store hands
the run to this worker under a lease and a fence, so however many engines share a database, one
executes it. Runs this engine created are claimed by id (the fast path); on a durable store a
poller also claims pending runs of other processes, runs whose worker died (lease expired) and
durable timers that are due, and a heartbeat renews the leases of the runs executing here.
Durable stores get a checkpoint per completed node; on stop, queued and executing runs are
handed back.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel

from graphflow.engine.core import ids, logger
from graphflow.engine.flow import FlowControl
from graphflow.engine.memory import Memory
from graphflow.events import AutomationPaused
from graphflow.exceptions import (
    EngineNotStartedError,
    LeaseLostError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from graphflow.graph.model import WorkflowGraph
from graphflow.records import AutomationRun
from graphflow.stores.base import FAILURES_REASON

__all__ = ["RunLoop"]


class RunLoop(Memory, FlowControl):
    """Queue, workers, claims, attempts, checkpoints, leases, heartbeat, poller and hand-back."""

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
                self.counters.store_errors += 1
                logger.exception(
                    "could not store the buffered run of automation %s",
                    automation_id,
                    extra={"automation_id": automation_id, "run_id": buffered.id, "app_id": buffered.app_id},
                )
                return
            if stored:
                self.enqueue(buffered)

    async def _worker(self) -> None:
        assert self._receive is not None
        async for run, claimed in self._receive:
            await self._execute(run, claimed)

    async def _execute(self, run: AutomationRun, claimed: bool) -> None:
        automation_id = run.automation_id
        try:
            if not claimed:
                got = await self.store.claim_runs(self.worker_id, lease=self.lease, limit=1, run_ids=[run.id])
                if not got:
                    return  # cancelled (paused, deleted) while it waited, or another worker has it
                run = got[0]
            self._fences[run.id] = run.fence
            tracing = self.executor.tracing
            try:
                if tracing is None:
                    await self._attempt(run)
                else:
                    with tracing.executing(run, self.clock.now()):
                        await self._attempt(run)
            except LeaseLostError:
                self.counters.leases_lost += 1
                logger.warning("run %s: lease lost; another worker or a cancel took it over", run.id, extra=ids(run))
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):  # shutting down: hand the run back
                    await self._release(run)
                raise
            finally:
                self._fences.pop(run.id, None)
                self._lost.discard(run.id)
                self._wake(run.id)
        except StoreError:
            self.counters.store_errors += 1
            logger.exception(
                "run %s: the store failed; the run is retried when its lease expires", run.id, extra=ids(run)
            )
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
            # The first claim (fence 1) sets started_at by the store's clock; the engine's clock says when it started.
            fresh = run.fence == 1 or run.started_at is None
            if fresh:
                run.started_at = started
            observer = self.observer
            if observer is not None:
                observer.run_started(run, fresh)
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
            if run.delivery is not None:  # its first delivery attempt is written with its outcome
                self.delivery_due(run)
            try:
                await self._retrying(store.update_run, run, fence=fence)  # also the automation's last run
                if run.delivery is not None:
                    self.deliver_soon(run)
                if run.status == "failed":
                    await self._after_failure(run)
                if run.flow_key is not None:
                    await self.flow_run_ended(run)
            except (LeaseLostError, StoreUnavailableError):
                raise
            except StoreError as exc:  # a result that is not JSON: record why instead
                run.status = "failed"
                run.result = {"error": f"the run's result could not be stored: {exc.message}"}
                await self._retrying(store.update_run, run, fence=fence)
                if run.delivery is not None:
                    self.deliver_soon(run)
            if observer is not None:
                observer.run_ended(run)
        finally:
            active.pop(run.id, None)
            if not active:
                self.running.pop(run.automation_id, None)

    async def _after_failure(self, run: AutomationRun) -> None:
        """Follow a pause the store made with the failed run's outcome (``max_consecutive_failures``)."""
        known = self._revisions.get(run.automation_id)
        if known is None:
            return  # not an automation this engine runs on schedule or by event: nothing to stop here
        automation = await self.store.get_automation(run.app_id, run.automation_id)
        if automation is None or automation.revision == known or automation.paused_reason != FAILURES_REASON:
            return
        self.track(automation)
        if automation.status == "paused":  # as a pause does: its pending runs (queued ones too) are cancelled
            await self.cancel_pending(automation.app_id, automation.id)
        if self.wants_events and automation.status == "paused":
            self.announce(
                AutomationPaused(
                    at=automation.updated_at,
                    app_id=automation.app_id,
                    automation_id=automation.id,
                    reason=FAILURES_REASON,
                )
            )

    async def _run_graph(
        self, run: AutomationRun, graph: WorkflowGraph, steps: dict[str, Any] | None, fence: int, pin: bool
    ) -> AutomationRun | None:
        """Run the graph for a claimed run; ``None`` when the run is parked or no longer ours.

        The config version (and start time) is pinned in the store with the first checkpoint,
        before any node's work is recorded; a run of pure nodes only pins it with its outcome.
        """
        store = self.store
        checkpoint = None
        remembered: dict[str, Any] = {}  # step key → memory to write with that step's checkpoint
        if store.durable:

            async def checkpoint(key: str, data: Any) -> None:
                nonlocal pin
                if pin:
                    await self._retrying(store.update_run, run, fence=fence)
                    pin = False
                if key in remembered:
                    await self._retrying(store.save_memory, run.id, fence, remembered.pop(key), step=(key, data))
                else:
                    await self._retrying(store.save_step, run.id, fence, key, data)

        env = await self.memory_env(run) if graph.remembers else None

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
                emit=self._emitter(run),
                waiter=self.wait_in_run,
                remember=self.rememberer(run, fence, remembered),
                env=env,
            )
        except ValidationError as exc:  # e.g. a config update dropped the trigger node
            run.status = "failed"
            run.result = {"error": exc.message}
            return run
        if run.id in self._lost:
            raise LeaseLostError(f"run {run.id!r} was taken over while it executed")
        if result.status == "suspended":
            await self._retrying(
                store.release_run, run.id, fence, wake_at=result.wake_at, waiting_for=result.waiting_for
            )
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
            logger.debug("run %s: already finished or taken over; nothing to hand back", run.id, extra=ids(run))
        except Exception:
            logger.warning(
                "run %s: could not hand the run back; it is recovered when its lease expires", run.id, extra=ids(run)
            )

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
                    self.counters.store_errors += 1
                    logger.warning("claiming runs failed (%s); retrying", exc)
                for run in claimed:
                    if run.recoveries:
                        self.counters.recoveries += 1
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
                self.counters.store_errors += 1
                logger.warning("renewing leases failed (%s); retrying", exc)
                continue
            for run_id in lost:
                if run_id in self._fences:
                    self._lost.add(run_id)
                    self.executor.cancel(run_id)
