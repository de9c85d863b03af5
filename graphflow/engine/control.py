"""Runs seen from outside the run loop: wait for one to end, cancel one, cancel an automation's pending ones."""

from __future__ import annotations

import anyio

from graphflow.engine.flow import FlowControl
from graphflow.exceptions import NotFoundError, Problem, ValidationError
from graphflow.ids import check_app, check_id
from graphflow.records import TERMINAL_RUN_STATUSES, AutomationRun

__all__ = ["RunControl"]


class RunControl(FlowControl):
    """Waiting for and cancelling runs, here or on another worker."""

    async def cancel_pending(self, app_id: str, automation_id: str) -> list[str]:
        """Cancel an automation's pending runs (it was paused or deleted) and wake their waiters."""
        cancelled = await self.store.cancel_pending_runs(app_id, automation_id, self.clock.now())
        for run_id in cancelled:
            self._wake(run_id)
        # A run waiting in-process (memory store) is what a parked run is on a durable one: pending.
        for run_id in [r for r, a in self._waiting_here.items() if a == automation_id]:
            await self.cancel_run(app_id, run_id)
            cancelled.append(run_id)
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
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
        ):
            raise ValidationError(
                [Problem("$.timeout", f"timeout must be a number of seconds, 0 or more, or None; got {timeout!r}")],
                subject="request",
            )
        with anyio.fail_after(timeout):
            while True:
                with self._woken_by_end(run_id) as waiter:
                    run = await self.store.get_run(app_id, run_id)
                    if run is None:
                        raise NotFoundError("run", run_id)
                    if run.status in TERMINAL_RUN_STATUSES:
                        return run
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
        run = await self.stop_run(app_id, run_id)
        if run_id in self._fences:  # executing here: wait until it has stopped
            with self._woken_by_end(run_id) as waiter:
                with anyio.move_on_after(30):
                    await waiter.wait()
        await self.flow_run_ended(run)
        return run

    async def stop_run(self, app_id: str, run_id: str) -> AutomationRun:
        """:meth:`cancel_run`, without waiting for an execution here to stop (nor promoting a queued run)."""
        now = self.clock.now()
        run = await self.store.cancel_run(app_id, run_id, now)
        if run is None:
            raise NotFoundError("run", run_id)
        started = run.started_at is not None or run_id in self._fences
        if run.status == "cancelled" and run.finished_at == now and started:
            run.started_at = run.started_at or self.running.get(run.automation_id, {}).get(run_id, now)
            await self.store.update_run(run)  # it had started: it becomes the automation's last run
        if run_id in self._fences:  # executing here: stop it
            self._lost.add(run_id)
            self.executor.cancel(run_id)
        self._wake(run_id)
        return run
