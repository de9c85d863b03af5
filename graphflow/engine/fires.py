"""Scheduled fires: what the scheduler's ``fire`` callback does with a due automation.

Repeat, overlap and the durable record of a fire live here; the scheduler
(:mod:`graphflow.triggers.scheduler`) decides only *when* and which missed instants to keep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from graphflow.engine.core import EngineCore, logger
from graphflow.events import RunSkipped
from graphflow.exceptions import ConflictError, StoreError
from graphflow.records import Automation, AutomationRun, iso

if TYPE_CHECKING:
    from graphflow.triggers.scheduler import ScheduleEntry

__all__ = ["Fires"]


class Fires(EngineCore):
    """Firing scheduled automations: repeat, overlap, buffered runs, retries after a store failure."""

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
            self.counters.store_errors += 1
            logger.warning(
                "automation %s: firing failed (%s); retrying",
                snapshot.id,
                exc,
                extra={"automation_id": snapshot.id, "app_id": snapshot.app_id},
            )
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
        ``"completed"``; a next fire past ``ends_at`` leaves it ``paused`` with ``"ended"`` (instants
        after ``ends_at`` never fire, even those an engine that was down catches up on).
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
        ends = automation.ends_at
        ended = ends is not None and following is not None and following > ends
        if ends is not None:  # the window: no fire after ends_at (an engine down past it fires what was due before)
            instants = [at for at in instants if at <= ends]
            following = None if ended else following
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
                self.counters.overlap_skipped += dropped
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
            automation.paused_reason = "ended" if ended else "completed"
            automation.next_run_at = None
        automation.revision += 1
        automation.updated_at = now
        try:
            stored = await store.record_fire(automation, expected_revision=revision, runs=runs)
        except ConflictError:  # another engine fired it or the host changed it: follow the store
            self._follow(automation.id, await store.get_automation(automation.app_id, automation.id))
            return
        self.track(automation)
        if fire and self.observer is not None:
            self.observer.fired(automation, fire, now)
        if buffer is not None:
            self.buffered[automation.id] = self._scheduled_run(automation, buffer, now)
        for run in stored:
            self.enqueue(run)

    def _scheduled_run(self, automation: Automation, at: float, now: float) -> AutomationRun:
        return automation.new_run(now, {"scheduled_at": iso(at)}, scheduled_at=at)
