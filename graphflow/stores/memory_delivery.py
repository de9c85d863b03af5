"""MemoryStore's result deliveries: due deliveries claimed, attempts finished (see :class:`~graphflow.abc.Store`).

A mixin of :class:`~graphflow.stores.memory.MemoryStore`. The runs whose delivery is pending are
indexed (``_deliveries``), so a claim looks at them only; the store keeps the index in step in
:meth:`~graphflow.stores.memory.MemoryStore.update_run` through :meth:`MemoryDeliveries._track_delivery`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from graphflow.abc import Store
from graphflow.records import Automation, AutomationRun
from graphflow.stores.base import json_copy

__all__ = ["MemoryDeliveries"]

_NAMES = [f.name for f in dataclasses.fields(Automation)]
_APP, _LAST_DELIVERY_ERROR = _NAMES.index("app_id"), _NAMES.index("last_delivery_error")


class MemoryDeliveries(Store):
    """The deliveries half of :class:`~graphflow.stores.memory.MemoryStore`."""

    _runs: dict[str, AutomationRun]
    _automations: dict[str, tuple[Any, ...]]
    #: Ids of the runs whose delivery is pending.
    _deliveries: dict[str, None]

    @staticmethod
    def _copy_run(run: AutomationRun) -> AutomationRun:
        """A copy of a stored run that its caller may mutate (the store's own copying)."""
        raise NotImplementedError

    def _track_delivery(self, run: AutomationRun) -> None:
        """Index (or drop from the index) a run just written, by its delivery status."""
        delivery = run.delivery
        if delivery is not None and delivery.get("status") == "pending":
            self._deliveries[run.id] = None
        else:
            self._deliveries.pop(run.id, None)

    async def claim_deliveries(self, now: float, *, lease: float, limit: int) -> list[AutomationRun]:
        due = []
        for run_id in self._deliveries:
            delivery = self._runs[run_id].delivery
            assert delivery is not None
            if delivery.get("next_at", 0.0) <= now:
                due.append((delivery.get("next_at", 0.0), run_id))
        claimed = []
        for _, run_id in sorted(due)[:limit]:
            run = self._runs[run_id]
            delivery = dict(run.delivery or {})
            delivery.update(attempts=delivery.get("attempts", 0) + 1, next_at=now + lease)
            run.delivery = delivery
            claimed.append(self._copy_run(run))
        return claimed

    async def finish_delivery(self, app_id: str, run_id: str, attempt: int, delivery: dict[str, Any]) -> bool:
        run = self._runs.get(run_id)
        stored = run.delivery if run is not None and run.app_id == app_id else None
        if run is None or stored is None or stored.get("status") != "pending" or stored.get("attempts") != attempt:
            return False
        run.delivery = json_copy(delivery, f"run {run_id!r} delivery")
        self._track_delivery(run)
        status = delivery.get("status")
        row = self._automations.get(run.automation_id)
        if row is not None and row[_APP] == app_id and status in ("delivered", "failed"):
            updated = list(row)
            updated[_LAST_DELIVERY_ERROR] = delivery.get("last_error") if status == "failed" else None
            self._automations[run.automation_id] = tuple(updated)
        return True
