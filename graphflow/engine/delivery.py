"""Result delivery: a finished run's result sent to its automation's sinks, apart from the run.

The sinks are an automation's ``deliver`` list (see :mod:`graphflow.automations.sinks`). How a
result travels:

1. A run of an automation with sinks is created with ``delivery = {"status": "awaiting", "on"}``
   (:meth:`~graphflow.records.Automation.new_run`): the outcomes its sinks deliver.
2. When the run finishes, :meth:`Deliveries.delivery_due` turns that into the first attempt,
   ``{"status": "pending", "attempts": 1, "next_at": now + lease}`` (or ``skipped`` when no sink
   delivers this outcome), and the run loop writes it **with the outcome** (one
   :meth:`~graphflow.abc.Store.update_run`): an outcome is never stored without its delivery.
   The attempt is this engine's until ``next_at`` (its lease); the run worker hands the run to
   the delivery workers and moves on — a webhook that retries never holds a run worker.
3. A delivery worker sends the result to each sink whose ``on`` holds the run's status and that
   an earlier attempt has not delivered (``done``), reading the automation's sinks afresh. It
   records the attempt with :meth:`~graphflow.abc.Store.finish_delivery`, a compare-and-set on
   the attempt's number: ``delivered``; ``failed`` (the last attempt, or an error no retry can
   fix: the egress policy, an unknown event, a cascade limit, a ``410 Gone``); or ``pending``
   again with ``next_at`` after an exponential backoff with jitter. ``failed`` sets the
   automation's ``last_delivery_error``, ``delivered`` clears it; the run's status and result
   never change.
4. A poller claims due deliveries (:meth:`~graphflow.abc.Store.claim_deliveries`): retries whose
   time has come and, on a shared database, attempts whose engine died (their lease ran out).
   A claim counts an attempt, so a delivery that kills its engine still ends after
   ``delivery_attempts``. Delivery is at least once: a receiver dedupes by the delivery id.

Sinks: **webhook** (:mod:`graphflow.engine.webhooks`: signed POST under the egress policy);
**emit** (an event in the run's app, published as a ``WorkflowEmitEvent`` node of the run would
be, one level deeper in its chain, within its cascade budget: a delivery that triggers its own
automation stops at ``max_event_depth``); **callback** (``Engine(delivery_callbacks={name: fn})``:
``await fn(run)`` with the finished run, bounded by ``delivery_timeout``; what it raises fails
the attempt and is logged, never more).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from graphflow.engine.core import EngineCore, logger
from graphflow.events import DeliveryAttempted
from graphflow.exceptions import CascadeLimitError, GraphflowError, StoreError, ValidationError
from graphflow.records import AutomationRun, iso

if TYPE_CHECKING:
    from graphflow.automations.sinks import CallbackEntry

__all__ = ["Deliveries", "DeliveryCallback", "delivery_body"]

#: ``await callback(run)``: a host coroutine a ``callback`` sink names (``Engine(delivery_callbacks=...)``).
DeliveryCallback = Callable[[AutomationRun], Awaitable[None]]


#: Delivery workers per engine: attempts under way at once.
DELIVERY_WORKERS = 4
_MAX_BACKOFF = 3600.0
_ERROR_CHARS = 1000


def delivery_body(run: AutomationRun, attempt: int) -> dict[str, Any]:
    """What a webhook POSTs and an emit publishes: the run's outcome (the same on every attempt but ``attempt``)."""
    return {
        "run_id": run.id,
        "automation_id": run.automation_id,
        "app_id": run.app_id,
        "status": run.status,
        "trigger": run.trigger,
        "event_id": run.event_id,
        "result": run.result,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "attempt": attempt,
    }


class Deliveries(EngineCore):
    """Delivery of finished runs' results to their automations' sinks (see the module docstring)."""

    delivery_callbacks: dict[str, CallbackEntry]
    delivery_attempts: int
    delivery_timeout: float
    delivery_backoff: float
    _delivery_send: MemoryObjectSendStream[AutomationRun] | None = None
    _delivery_load: int = 0

    @property
    def delivery_lease(self) -> float:
        """How long an attempt is its engine's: every sink's timeout, and a margin."""
        return 4 * self.delivery_timeout + 60.0

    def delivery_due(self, run: AutomationRun) -> None:
        """Turn a finishing run's awaiting delivery into its first attempt (written with its outcome)."""
        delivery = run.delivery
        if delivery is None or delivery.get("status") != "awaiting":
            return
        if run.status in delivery.get("on", ()):
            now = self.clock.now()
            run.delivery = {
                "status": "pending",
                "attempts": 1,
                "last_error": None,
                "next_at": now + self.delivery_lease,
            }
        else:
            run.delivery = {"status": "skipped", "attempts": 0, "last_error": None}

    def deliver_soon(self, run: AutomationRun) -> None:
        """Hand a run whose first attempt was just stored to the delivery workers."""
        delivery = run.delivery
        send = self._delivery_send
        if delivery is None or delivery.get("status") != "pending" or send is None:
            return  # no worker here: the attempt's lease runs out and the poller takes it
        try:
            send.send_nowait(run)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # stopping: the attempt's lease runs out and an engine's poller takes it
        self._delivery_load += 1

    async def _delivery_worker(self, receive: MemoryObjectReceiveStream[AutomationRun]) -> None:
        async for run in receive:
            try:
                await self._deliver(run)
            except StoreError as exc:
                logger.warning("run %s: recording its delivery failed (%s); retried when its lease ends", run.id, exc)
            finally:
                self._delivery_load -= 1

    async def _delivery_poll(self) -> None:
        """Claim due deliveries: retries whose time has come, attempts whose engine died."""
        assert self._delivery_send is not None
        while True:
            free = 2 * DELIVERY_WORKERS - self._delivery_load
            if free > 0:
                try:
                    claimed = await self.store.claim_deliveries(self.clock.now(), lease=self.delivery_lease, limit=free)
                except StoreError as exc:
                    logger.warning("claiming deliveries failed (%s); retrying", exc)
                    claimed = []
                for run in claimed:
                    self._delivery_load += 1
                    self._delivery_send.send_nowait(run)
            # Retries are due by the engine's clock (a test's fake one too): look every poll interval.
            await anyio.sleep(self.poll_interval)

    async def _deliver(self, run: AutomationRun) -> None:
        """Make one attempt (the run's ``delivery.attempts``) and record how it went."""
        delivery = run.delivery or {}
        attempt = int(delivery.get("attempts", 1))
        done: list[str] = list(delivery.get("done", ()))
        automation = await self._retrying(self.store.get_automation, run.app_id, run.automation_id)
        errors: list[str] = []
        final = False
        sent = False
        for index, sink in enumerate(automation.deliver if automation is not None else ()):
            key = sink_key(sink)
            if key in done or run.status not in sink.get("on", ()):
                continue
            try:
                await self._deliver_to(run, key, sink, attempt)
            except Exception as exc:  # a host callback may raise anything: the attempt fails, never more
                retryable = getattr(exc, "retryable", True) and not isinstance(exc, CascadeLimitError | ValidationError)
                final = final or not retryable
                message = exc.message if isinstance(exc, GraphflowError) else f"{type(exc).__name__}: {exc}"
                errors.append(f"{sink['kind']} sink {index}: {message}")
                if not isinstance(exc, GraphflowError):
                    logger.warning("run %s: delivery to %s sink %d failed", run.id, sink["kind"], index, exc_info=exc)
            else:
                done.append(key)
                sent = True
        now = self.clock.now()
        outcome: dict[str, Any] = {"attempts": attempt, "done": done, "last_error": None}
        if errors:
            outcome["last_error"] = "; ".join(errors)[:_ERROR_CHARS]
            if final or attempt >= self.delivery_attempts:
                outcome["status"] = "failed"
            else:
                outcome.update(status="pending", next_at=now + self._backoff(attempt))
        elif sent or done:
            outcome.update(status="delivered", delivered_at=now)
        else:
            outcome["status"] = "skipped"  # no sink delivers this outcome any more
        recorded = await self._retrying(self.store.finish_delivery, run.app_id, run.id, attempt, outcome)
        if not recorded:
            logger.info("run %s: delivery attempt %d was taken over; its outcome is not recorded", run.id, attempt)
            return
        if self.wants_events:
            self.announce(
                DeliveryAttempted(
                    at=now,
                    app_id=run.app_id,
                    automation_id=run.automation_id,
                    run_id=run.id,
                    attempt=attempt,
                    status=outcome["status"],
                    error=outcome["last_error"],
                    next_at=outcome.get("next_at"),
                )
            )

    def _backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: exponential, with jitter (half to all of it)."""
        delay: float = min(_MAX_BACKOFF, self.delivery_backoff * 2.0 ** min(attempt - 1, 40))
        return delay * (0.5 + random.random() / 2)

    async def _deliver_to(self, run: AutomationRun, key: str, sink: dict[str, Any], attempt: int) -> None:
        """Deliver to one sink (raises why it could not)."""
        kind = sink["kind"]
        if kind == "webhook":
            from graphflow.engine.webhooks import post_webhook

            body = json.dumps(delivery_body(run, attempt), separators=(",", ":"), ensure_ascii=False).encode()
            await post_webhook(
                sink,
                body,
                delivery_id=f"{run.id}.{key}",
                timestamp=int(self.clock.now()),
                services=self.executor.services,
                timeout=self.delivery_timeout,
            )
        elif kind == "emit":
            await self._emitter(run)(run.app_id, sink["event"], delivery_body(run, attempt))
        else:
            from graphflow.automations.sinks import callback_for

            callback = callback_for(self.delivery_callbacks, sink["name"], run.app_id)
            if callback is None:
                raise GraphflowError(
                    f"no delivery callback named {sink['name']!r} on this engine for this app "
                    "(Engine(delivery_callbacks={name: coroutine function or (function, apps)}))"
                )
            try:
                with anyio.fail_after(self.delivery_timeout):
                    await callback(_copy(run))
            except TimeoutError:
                raise GraphflowError(
                    f"the callback {sink['name']!r} did not return within {self.delivery_timeout:g}s"
                ) from None


def sink_key(sink: dict[str, Any]) -> str:
    """A sink's identity across edits of the list (its kind and where it goes), 12 hex characters.

    What an attempt delivered is remembered by it (``delivery.done``), so a sink added, removed or
    moved between two attempts never takes another's place; it ends each ``Graphflow-Delivery-Id``.
    """
    target = sink.get("url") or sink.get("event") or sink.get("name") or ""
    return hashlib.sha256(f"{sink.get('kind')}\n{target}".encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _copy(run: AutomationRun) -> AutomationRun:
    """A copy of the run a host callback may keep or change."""
    import copy

    return copy.deepcopy(run)
