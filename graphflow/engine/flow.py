"""Event flow control in the engine: keys, policies handed to the store, cancel_on, queue promotion, timers.

The decisions that must hold across processes (debounce, throttle, concurrency) are made by the
store, in the transaction that accepts the event (:meth:`graphflow.abc.Store.accept_event` with
``flow``; :mod:`graphflow.stores.flow`). The engine's part, here:

* **keys** — each policy's ``key`` is a script over the event's payload (``$``), compiled once
  and evaluated inline (bounded); its value becomes the run's ``flow_key``: a string as is,
  anything else as compact JSON, a value longer than 200 characters as its SHA-256. A payload
  the key cannot be read from (a missing field) is in the key ``""``, with the other such events.
* **counts** — ``flow_counts[(automation id, decision)]`` for ``filtered``, ``debounced``,
  ``throttled``, ``queued`` and ``cancelled`` (this process's decisions; the limits themselves
  never depend on a process-local count).
* **cancel_on** — an event named by an automation's ``cancel_on`` (and passing its ``filter``)
  cancels the automation's active runs whose key equals the entry's ``key`` read from the
  cancelling event (every active run when the entry has no key), through the same cancel as
  :meth:`~graphflow.engine.control.RunControl.cancel_run`: a run that finished first stays finished.
* **promotion** — a run of a concurrency-limited automation that ends (or is cancelled) lets the
  store promote the oldest queued run of its key, which this engine then executes; on a shared
  store a sweep every ``sync_interval`` also promotes what a process that died between a run's
  end and its promotion left queued.
* **timers** — stores with a poller (SQLite, PostgreSQL) claim due debounce and delayed-throttle
  runs themselves; on the memory store the engine keeps a heap of them, by its own clock (so a
  :class:`~graphflow.clock.FakeClock` drives debounces in tests).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import anyio

from graphflow.engine.core import EngineCore, logger
from graphflow.exceptions import GraphflowError, NotFoundError, StoreError
from graphflow.records import QUEUED_AT, Automation, AutomationRun, FlowPolicy

__all__ = ["FlowControl", "flow_key_of"]

#: payload → the key's value (text).
KeyFn = Callable[[Any], str]
_MAX_KEY_CHARS = 200
#: A limit no key reaches: what "no concurrency limit any more" promotes up to.
_UNLIMITED = 1_000_000_000


def flow_key_of(value: Any) -> str:
    """The text of a key's value (see the module docstring)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    if len(text) > _MAX_KEY_CHARS:
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text


def compile_key(source: str | None) -> KeyFn | None:
    """A function computing a key script's value for a payload (``None``: the policy has no key).

    Raises:
        GraphflowError: the script does not compile (automations refuse it when stored).
    """
    if not source:
        return None
    from graphflow.scripts import Script

    script = Script.compile(source)
    path = _PATH.fullmatch(source)

    def key(payload: Any) -> str:
        try:
            return flow_key_of(script.evaluate_inline(payload))
        except GraphflowError:
            return ""
        except (TypeError, ValueError):  # a value JSON cannot write
            return ""

    if path is not None:  # the usual key, ``$.a.b``: read in Python (a missing field is ``""``, as in CEL)
        return _path_key(tuple(path.group(1)[1:].split(".")), key)
    return key


_PATH = re.compile(r"\s*\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*")


def _path_key(keys: tuple[str, ...], script: KeyFn) -> KeyFn:
    """A key function reading ``$.a.b`` in Python.

    A value whose text CEL could write otherwise (a list, a map, an integer past 64 bits, which
    CEL reads as a double) is left to ``script``.
    """

    def key(payload: Any) -> str:
        value = payload
        for name in keys:
            if type(value) is not dict or name not in value:
                return ""  # CEL: no such key, an error: the key of payloads without one
            value = value[name]
        kind = type(value)
        if kind is str:
            return value if len(value) <= _MAX_KEY_CHARS else flow_key_of(value)
        if kind is bool or value is None or kind is float or (kind is int and -(2**63) <= value < 2**63):
            return flow_key_of(value)
        return script(payload)

    return key


class _Flow:
    """What the engine keeps of one automation's flow control."""

    __slots__ = ("app_id", "cancel_on", "key", "policy")

    def __init__(self, automation: Automation) -> None:
        self.app_id = automation.app_id
        self.policy = FlowPolicy.of(automation)
        spec = automation.debounce or automation.throttle or automation.concurrency or {}
        self.key = compile_key(spec.get("key"))
        self.cancel_on = [
            (entry["event"], compile_key(entry.get("key")), _compile_filter(entry.get("filter")))
            for entry in automation.cancel_on
        ]


def _compile_filter(source: str | None) -> Callable[[Any], bool] | None:
    if not source:
        return None
    from graphflow.engine.filters import compile_filter

    return compile_filter(source)


class FlowControl(EngineCore):
    """Flow policies of the tracked automations, cancel_on, promotion of queued runs and flow timers."""

    #: automation id → its flow control (only automations that have some).
    _flows: dict[str, _Flow]
    #: (app id, event) → ids of the running automations an event of that name may cancel runs of.
    _cancellers: dict[tuple[str, str], dict[str, None]]
    #: (app id, automation id) → the concurrency limit its queued runs may now be promoted up to: an
    #: automation whose limit was raised or removed (the next sweep promotes them).
    _flow_released: dict[tuple[str, str], int]
    #: Memory stores: (wake_at, run id, app id) of the flow timers this engine wakes.
    _flow_timers: list[tuple[float, str, str]]
    _flow_timer_set: anyio.Event | None

    async def release_queued(self, before: Automation, after: Automation) -> None:
        """Promote, now, what an update that raised or removed a concurrency limit no longer holds queued.

        (Engines that learn of the update from the store promote it with their next sweep.)
        """
        old = FlowPolicy.of(before)
        new = FlowPolicy.of(after) if after.type == "trigger" else None
        if old is None or old.kind != "concurrency":
            return
        limit = new.limit if new is not None and new.kind == "concurrency" else _UNLIMITED
        if limit <= old.limit:
            return
        self._flow_released.pop((after.app_id, after.id), None)
        try:
            self._enqueue_promoted(await self.store.promote_queued(after.app_id, after.id, None, limit))
        except StoreError as exc:
            logger.warning("automation %s: promoting queued runs failed (%s)", after.id, exc)
            self._flow_released[(after.app_id, after.id)] = limit

    def flow_track(self, automation: Automation | None, automation_id: str) -> None:
        """Keep the flow policies and the cancel_on index in step with an automation (``None``: gone)."""
        old = self._flows.pop(automation_id, None)
        if old is not None and old.policy is not None and old.policy.kind == "concurrency" and automation is not None:
            new = FlowPolicy.of(automation) if automation.type == "trigger" else None
            limit = new.limit if new is not None and new.kind == "concurrency" else _UNLIMITED
            if limit > old.policy.limit:  # what was queued behind the old limit may start
                self._flow_released[(automation.app_id, automation_id)] = limit
        if old is not None:
            for event, _key, _filter in old.cancel_on:
                bucket = self._cancellers.get((old.app_id, event))
                if bucket is not None:
                    bucket.pop(automation_id, None)
                    if not bucket:
                        del self._cancellers[(old.app_id, event)]
        if automation is None or automation.type != "trigger" or automation.status != "running":
            return
        if not (automation.debounce or automation.throttle or automation.concurrency or automation.cancel_on):
            return
        try:
            flow = _Flow(automation)
        except GraphflowError:  # refused when stored; a row written by hand starts nothing odd
            logger.warning("automation %s: its flow control does not compile; ignored", automation.id)
            return
        self._flows[automation_id] = flow
        for event, _key, _filter in flow.cancel_on:
            self._cancellers.setdefault((automation.app_id, event), {})[automation_id] = None

    def flow_policy(self, run: AutomationRun, payload: Any) -> FlowPolicy | None:
        """The policy deciding a new run of an event (its ``flow_key`` set), or ``None``."""
        flow = self._flows.get(run.automation_id)
        if flow is None or flow.policy is None:
            return None
        run.flow_key = flow.key(payload) if flow.key is not None else ""
        return flow.policy

    def count_flow(self, automation_id: str, decision: str, n: int = 1) -> None:
        """Count a flow decision of this process (``flow_counts``)."""
        key = (automation_id, decision)
        self.flow_counts[key] = self.flow_counts.get(key, 0) + n

    def flow_decided(
        self, requested: dict[str, FlowPolicy], created: Iterable[AutomationRun], stored: list[AutomationRun]
    ) -> None:
        """Count what the store decided for the flow-controlled runs of an event; arm memory timers."""
        kept = {run.id: run for run in stored}
        for run in created:
            policy = requested.get(run.id)
            if policy is None:
                continue
            got = kept.get(run.id)
            if policy.kind == "debounce":
                self.count_flow(run.automation_id, "debounced")
            elif policy.kind == "throttle":
                if got is None or got.wake_at is not None:
                    self.count_flow(run.automation_id, "throttled")
            elif got is not None and got.wake_at == QUEUED_AT:
                self.count_flow(run.automation_id, "queued")
        if not self.store.durable:
            for run in stored:
                if run.wake_at is not None and run.wake_at != QUEUED_AT:
                    self.arm_flow_timer(run)

    async def cancel_for_event(self, app_id: str, name: str, payload: Any, *, spare: Iterable[str] = ()) -> list[str]:
        """Cancel the active runs that an event cancels (``cancel_on``); return their ids.

        The runs the event itself started (``spare``) are left alone: an automation cancelling on
        its own trigger event keeps only the newest run per key.
        """
        spared = set(spare)
        bucket = self._cancellers.get((app_id, name))
        if not bucket:
            return []
        cancelled: list[str] = []
        for automation_id in list(bucket):
            flow = self._flows.get(automation_id)
            if flow is None:
                continue
            for event, key_fn, check in flow.cancel_on:
                if event != name or (check is not None and not check(payload)):
                    continue
                key = key_fn(payload) if key_fn is not None else None
                last: AutomationRun | None = None
                while ids := [r for r in await self.store.flow_runs(app_id, automation_id, key) if r not in spared]:
                    for run_id in ids:  # a page at a time, until none is left
                        spared.add(run_id)
                        try:
                            run = await self.stop_run(app_id, run_id)
                        except NotFoundError:
                            continue
                        if run.status == "cancelled":
                            cancelled.append(run_id)
                            self.count_flow(automation_id, "cancelled")
                            last = run
                if last is not None:  # once all are cancelled: what queued meanwhile may start
                    await self.flow_run_ended(last)
        return cancelled

    @abstractmethod
    async def stop_run(self, app_id: str, run_id: str) -> AutomationRun:
        """Cancel a run without waiting for an execution here to stop (see ``RunControl.cancel_run``)."""

    async def flow_run_ended(self, run: AutomationRun) -> None:
        """A run of a key ended: let the store promote the oldest queued run of the key, and execute it."""
        if run.flow_key is None:
            return
        automation = self._flows.get(run.automation_id)
        policy = automation.policy if automation is not None else None
        if policy is None or policy.kind != "concurrency":
            return
        try:
            promoted = await self.store.promote_queued(run.app_id, run.automation_id, run.flow_key, policy.limit)
        except StoreError as exc:  # the sweep (shared stores) promotes it later
            logger.warning("run %s: promoting the next queued run failed (%s)", run.id, exc)
            return
        self._enqueue_promoted(promoted)

    def _enqueue_promoted(self, promoted: list[AutomationRun]) -> None:
        if self.max_concurrent_runs:
            for queued in promoted:
                self.enqueue(queued)

    async def sweep_flows(self) -> None:
        """Every ``sync_interval``: :meth:`sweep_queues`."""
        while True:
            await anyio.sleep(self.sync_interval)
            await self.sweep_queues()

    async def sweep_queues(self) -> None:
        """Promote what no run's end promoted (a process died in between, or a limit was raised or removed)."""
        released, self._flow_released = self._flow_released, {}
        for (app_id, automation_id), limit in released.items():
            try:
                self._enqueue_promoted(await self.store.promote_queued(app_id, automation_id, None, limit))
            except StoreError as exc:
                logger.warning("automation %s: promoting queued runs failed (%s)", automation_id, exc)
                self._flow_released.setdefault((app_id, automation_id), limit)
        for automation_id, flow in list(self._flows.items()):
            policy = flow.policy
            if policy is None or policy.kind != "concurrency":
                continue
            automation = self.index.get(automation_id)
            if automation is None:
                continue
            try:
                promoted = await self.store.promote_queued(automation.app_id, automation_id, None, policy.limit)
            except StoreError as exc:
                logger.warning("automation %s: promoting queued runs failed (%s)", automation_id, exc)
                continue
            self._enqueue_promoted(promoted)

    # -- timers of a store without a poller (memory) ---------------------------------------

    def arm_flow_timer(self, run: AutomationRun) -> None:
        """Wake ``run`` at its ``wake_at`` by this engine's clock."""
        assert run.wake_at is not None
        heapq.heappush(self._flow_timers, (run.wake_at, run.id, run.app_id))
        if self._flow_timer_set is not None:
            self._flow_timer_set.set()

    async def run_flow_timers(self) -> None:
        """Claim each flow timer's run when it is due (a later wake_at — a debounce moved it — waits on)."""
        timers = self._flow_timers
        while True:
            changed = self._flow_timer_set = anyio.Event()
            until = timers[0][0] if timers else None
            await self.clock.wait(changed, until)
            now = self.clock.now()
            while timers and timers[0][0] <= now:
                _at, run_id, app_id = heapq.heappop(timers)
                try:
                    run = await self.store.wake_run(app_id, run_id, now)
                except StoreError as exc:
                    logger.warning("run %s: waking its timer failed (%s)", run_id, exc)
                    continue
                if run is not None:
                    self.enqueue(run)
