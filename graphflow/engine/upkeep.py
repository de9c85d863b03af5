"""Upkeep on a shared store: follow automations other processes change; prune old runs."""

from __future__ import annotations

from datetime import timedelta

import anyio

from graphflow.engine.core import EngineCore, logger
from graphflow.exceptions import Problem, StoreError, ValidationError

__all__ = ["Upkeep"]


class Upkeep(EngineCore):
    """The sync loop (automations changed elsewhere) and retention."""

    async def _sync(self) -> None:
        """Apply automations changed by other engines sharing the store (index and schedules)."""
        since = self.clock.now()
        while True:
            await anyio.sleep(self.sync_interval)
            now = self.clock.now()
            try:
                changed = await self.store.changed_automations(since - 5.0)  # overlap: clock skew
            except StoreError as exc:
                self.counters.store_errors += 1
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
            ValidationError: a negative age (nothing is pruned).
        """
        seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
        if seconds < 0:
            raise ValidationError([Problem("$.older_than", "must not be negative")], subject="prune")
        return await self.store.prune(self.clock.now() - seconds)
