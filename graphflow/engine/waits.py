"""Runs that wait for a person or an event: the waiter nodes call, and waking a parked run.

:meth:`Waits.wait_in_run` is the :data:`~graphflow.abc.Waiter` every run gets. It registers the
node's wait (once per node execution: a re-executed node finds its earlier one), returns it at
once if it has ended, and otherwise parks the run: on a durable store the run is handed back with
``wake_at`` = the wait's expiry (no worker, task or connection is held) and resumes at the node
when the wait is resolved or expires; on the memory store it waits in-process.

A wait is resolved by :meth:`resolve` (a steering answer) or by an accepted event
(:meth:`wake_matcher`, called by the store inside the event's transaction). Either makes a
parked run claimable at once; this engine then claims it by id (no poll interval to wait out).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from graphflow.abc import NodeContext, Suspended, WakeMatcher
from graphflow.engine.core import EngineCore, logger
from graphflow.events import SteeringRequested
from graphflow.exceptions import GraphflowError, LeaseLostError, NodeExecutionError, StoreError
from graphflow.records import Wait

if TYPE_CHECKING:
    from graphflow.scripts import Script

__all__ = ["NO_EXPIRY", "Waits"]

#: The wake time of a parked run whose wait never expires (9999-12-31): claimable only when woken.
NO_EXPIRY = 253_402_300_799.0
#: Compiled wait conditions kept, by source text.
_CONDITIONS = 256


class Waits(EngineCore):
    """Parking runs on waits and waking them."""

    #: wait id → the event an in-process wait (memory store) sleeps on.
    _wait_wakers: dict[str, anyio.Event]
    #: condition source → compiled script (bounded).
    _conditions: OrderedDict[str, Script | None]

    async def wait_in_run(self, ctx: NodeContext, wait: Wait) -> Wait:
        """The run's waiter (see :meth:`graphflow.abc.NodeContext.wait`)."""
        store = self.store
        fence = self._fences.get(ctx.run_id)
        if fence is None or not wait.app_id or not wait.automation_id:
            raise NodeExecutionError(
                f"{wait.kind} waits need a run of an automation (this run has no claim)",
                code="no_waiter",
                retryable=False,
            )
        stored = await self._retrying(store.register_wait, wait, fence)
        if stored.id == wait.id and stored.kind == "steering" and self.wants_events:
            self.announce(
                SteeringRequested(
                    at=stored.created_at,
                    app_id=stored.app_id,
                    automation_id=stored.automation_id,
                    run_id=stored.run_id,
                    request_id=stored.id,
                    node_id=stored.node_id,
                    message=stored.message or "",
                    choices=tuple(stored.choices),
                    expires_at=stored.expires_at,
                )
            )
        while True:
            if stored.status != "pending":
                return stored
            now = self.clock.now()
            if stored.expires_at is not None and stored.expires_at <= now:
                return await self._retrying(store.expire_wait, stored.app_id, stored.id, now) or stored
            near = stored.expires_at is not None and stored.expires_at - now < self.timer_threshold
            if store.durable and not near:
                raise Suspended(stored.expires_at or NO_EXPIRY, _waiting_for(stored))
            # In-process: the memory store keeps nothing to park in; and an expiry closer than the
            # timer threshold is waited out here (parking it would spin if this clock is behind
            # the database's, which decides when a parked run is due).
            waker = self._wait_wakers.setdefault(stored.id, anyio.Event())
            self._waiting_here[stored.run_id] = stored.automation_id
            try:
                await self.clock.wait(waker, stored.expires_at)
            finally:
                self._wait_wakers.pop(stored.id, None)
                self._waiting_here.pop(stored.run_id, None)
            stored = await store.get_wait(stored.app_id, stored.id) or stored

    def wake_matcher(self, event_id: str, name: str, payload: Any) -> WakeMatcher:
        """What ``accept_event`` offers the pending waits of ``name`` to: the ones ``payload`` matches.

        A condition runs inline (it is on the publish path, inside the store's transaction); one
        that fails — a missing key, a type error, more work than the inline bound — does not match.
        """

        def wake(waits: Sequence[Wait]) -> Iterator[tuple[Wait, dict[str, Any]]]:
            resolution = {"event_id": event_id, "event": name, "payload": payload}
            for wait in waits:
                if wait.condition is not None and not self._condition_holds(wait, payload):
                    continue
                yield wait, resolution

        return wake

    def _condition_holds(self, wait: Wait, payload: Any) -> bool:
        from graphflow.nodes.wait_event import EVENT_KEY, condition_script

        source = wait.condition or ""
        cache = self._conditions
        if source in cache:
            cache.move_to_end(source)
            script = cache[source]
        else:
            try:
                script = condition_script(source)
            except GraphflowError:
                script = None  # stored before a change of the language: never matches
            cache[source] = script
            if len(cache) > _CONDITIONS:
                cache.popitem(last=False)
        if script is None:
            return False
        try:
            return script.evaluate_inline(wait.input, env={EVENT_KEY: payload}) is True
        except GraphflowError as exc:
            logger.debug(
                "wait %s: its condition did not hold for this event (%s)",
                wait.id,
                exc,
                extra={"run_id": wait.run_id, "automation_id": wait.automation_id, "app_id": wait.app_id},
            )
            return False

    async def sweep_offers(self) -> None:
        """Resolve the offers publishers left behind (they died between an event and its waits), forever.

        Every engine on a durable store runs it, every ``sync_interval``; an offer is resolved once
        (the store locks it), by whichever engine comes first.
        """
        store = self.store
        while True:
            await anyio.sleep(self.sync_interval)
            try:
                offers = await store.leftover_offers(self.clock.now() - OFFER_GRACE)
                for offer in offers:
                    matches = list(self.wake_matcher(offer.event_id, offer.name, offer.payload)(offer.waits))
                    resolved = await store.resolve_offer(offer.app_id, offer.event_id, matches, self.clock.now())
                    if resolved:
                        logger.info(
                            "resolved %d waits of event %s left by a publisher that stopped",
                            len(resolved),
                            offer.event_id,
                            extra={"app_id": offer.app_id, "event_id": offer.event_id},
                        )
                        await self.woken(resolved)
            except StoreError as exc:
                self.counters.store_errors += 1
                logger.warning("resolving leftover event offers failed (%s); retrying", exc)

    async def woken(self, waits: Iterable[Wait]) -> None:
        """Resume the runs of resolved waits: in-process waiters now; parked runs claimed here if we execute."""
        claim: list[str] = []
        free = self.max_concurrent_runs - self._load  # more would wait in the queue with leases nobody renews
        for wait in waits:
            waker = self._wait_wakers.get(wait.id)
            if waker is not None:
                waker.set()
            elif self.store.durable and self._send is not None and len(claim) < free:
                claim.append(wait.run_id)
        if not claim:
            return  # the rest are claimable in the store: the poller (here or elsewhere) takes them
        try:
            runs = await self.store.claim_runs(self.worker_id, lease=self.lease, limit=len(claim), run_ids=claim)
        except (StoreError, LeaseLostError) as exc:  # the poller (here or elsewhere) claims them later
            logger.debug("claiming woken runs failed (%s); the poller will", exc)
            return
        for run in runs:
            self.enqueue(run, claimed=True)


#: An offer older than this (seconds) is taken to have been left by a process that died.
OFFER_GRACE = 10.0


def _waiting_for(wait: Wait) -> dict[str, Any]:
    if wait.kind == "steering":
        return {"kind": "steering", "steering_request_id": wait.id, "node_id": wait.node_id, "until": wait.expires_at}
    return {"kind": "event", "event": wait.event, "wait_id": wait.id, "node_id": wait.node_id, "until": wait.expires_at}
