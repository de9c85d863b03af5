"""Publishing: an event's way in. Validate, match, store the runs with the event id, queue them.

:meth:`Publishing.publish` reads straight through: internal events refused → payload checked
against the catalogue → one dict lookup in the trigger index → one pending run per match, stored
atomically with the event id (a repeated id stores nothing) → queued. Events that runs emit come
back through the same path one level deeper in their chain of causes, bounded by
``max_event_depth``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphflow.abc import EventEmitter
from graphflow.engine.cascade import CascadeStep, explain_cascade
from graphflow.engine.filters import compile_filter
from graphflow.engine.flow import FlowControl
from graphflow.engine.waits import Waits
from graphflow.events import CascadeStopped, EventAccepted, WaitMatched
from graphflow.exceptions import CascadeLimitError, EngineNotStartedError, GraphflowError, Problem, ValidationError
from graphflow.graph.model import WorkflowGraph
from graphflow.ids import check_app, check_event_id, new_id
from graphflow.records import Automation, AutomationRun, FlowPolicy, Wait
from graphflow.triggers.catalogue import INTERNAL_EVENTS

__all__ = ["PublishResult", "Publishing"]


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What :meth:`Engine.publish` did.

    Attributes:
        event_id: the event's id (given or generated).
        run_ids: the runs created.
        duplicate: the id had already been accepted, so nothing was created.
        woken_run_ids: the waiting runs the event woke (``WorkflowWaitForEvent`` waits it matched).
    """

    event_id: str
    run_ids: tuple[str, ...]
    duplicate: bool = False
    woken_run_ids: tuple[str, ...] = ()


class Publishing(Waits, FlowControl):
    """Publishing events, explaining what they would start, and events emitted by runs."""

    async def publish(self, app_id: str, name: str, payload: Any, id: str | None = None) -> PublishResult:
        """Publish a platform event for ``app_id``.

        The payload is checked against the event's schema (nothing is recorded when it fails);
        one run is created per running trigger automation of that app listening for ``name``,
        with input ``{"trigger": name, "payload": payload}``. Publishing an ``id`` that was
        already accepted creates nothing and returns ``duplicate=True``.

        Raises:
            ValidationError: unknown event, internal event, or a payload that fails the schema.
        """
        tracing = self.executor.tracing
        if tracing is None:
            return await self._publish(app_id, name, payload, id, None)
        with tracing.publishing(app_id, name) as span:
            result = await self._publish(app_id, name, payload, id, None)
            tracing.published(span, result.event_id, len(result.run_ids))
            return result

    async def _publish(
        self, app_id: str, name: str, payload: Any, id: str | None, causation: dict[str, Any] | None
    ) -> PublishResult:
        """:meth:`publish`, with the causation of an event a run emitted (``None``: a host published it)."""
        if name in INTERNAL_EVENTS:
            raise ValidationError(
                [
                    Problem(
                        "$.name",
                        f"{name!r} is fired by graphflow itself and cannot be published",
                        "use automations.trigger() / invoke() to start a run directly",
                    )
                ],
                subject="event",
            )
        check_app(app_id)
        if not self.started:  # before anything is recorded: the runs could not be queued
            raise EngineNotStartedError()
        self.catalogue.validate(name, payload)
        event_id = new_id("evt_") if id is None else check_event_id(id)
        now = self.clock.now()
        runs = [
            a.new_run(now, payload, trigger=name, event_id=event_id, causation=causation)
            for a in self.index.matches(app_id, name)
            if a.filter is None or self._passes(a, payload)
        ]
        flow: dict[str, FlowPolicy] | None = None
        if self._flows:
            for run in runs:
                policy = self.flow_policy(run, payload)
                if policy is not None:
                    flow = flow or {}
                    flow[run.id] = policy
        tracing = self.executor.tracing
        if tracing is not None:  # the runs continue the publish span (or the emitting node's)
            trace = tracing.carrier()
            for run in runs:
                run.trace_context = trace
        matched: list[Wait] = []  # the waits the store resolved (not those another event won)
        wake = self.wake_matcher(event_id, name, payload)
        stored = await self.store.accept_event(
            app_id, event_id, name, payload, runs, wake=wake, woken=matched, flow=flow
        )
        if stored is None:
            return PublishResult(event_id, (), duplicate=True)
        if flow is not None:
            self.flow_decided(flow, runs, stored)
        runs = stored
        for run in runs:
            if run.wake_at is None:
                self.enqueue(run)
        run_ids = tuple(run.id for run in runs)
        if self._cancellers and (app_id, name) in self._cancellers:
            await self.cancel_for_event(app_id, name, payload, spare=run_ids)
        if matched:
            await self.woken(matched)
        if self.wants_events:
            self.announce(EventAccepted(at=now, app_id=app_id, event_id=event_id, name=name, run_ids=run_ids))
            for wait in matched:
                self.announce(
                    WaitMatched(
                        at=now,
                        app_id=app_id,
                        automation_id=wait.automation_id,
                        run_id=wait.run_id,
                        wait_id=wait.id,
                        event=name,
                        event_id=event_id,
                    )
                )
        return PublishResult(event_id, run_ids, woken_run_ids=tuple(w.run_id for w in matched) if matched else ())

    async def explain(self, app_id: str, name: str, payload: Any = None) -> list[Automation]:
        """Which automations an event would start, without starting anything.

        Raises:
            ValidationError: unknown event or (when ``payload`` is given) an invalid payload.
        """
        check_app(app_id)
        if payload is not None:
            self.catalogue.validate(name, payload)
        else:
            self.catalogue.get(name)
        matches = self.index.matches(app_id, name)
        if payload is not None:  # the filters decide too
            matches = [a for a in matches if a.filter is None or self._passes(a, payload, count=False)]
        return sorted((a.snapshot() for a in matches), key=lambda a: a.id)

    def _passes(self, automation: Automation, payload: Any, *, count: bool = True) -> bool:
        """Whether a trigger automation's ``filter`` holds for ``payload`` (see :mod:`graphflow.engine.filters`)."""
        source = automation.filter or ""
        cache = self._filters
        check = cache.get(source)
        if check is None:
            try:
                check = compile_filter(source)
            except GraphflowError:
                return False
            cache[source] = check
            if len(cache) > 1024:
                cache.pop(next(iter(cache)))
        held = check(payload)
        if not held and count:
            key = (automation.id, "filtered")
            self.flow_counts[key] = self.flow_counts.get(key, 0) + 1
        return held

    async def explain_cascade(self, app_id: str, name: str) -> list[CascadeStep]:
        """What publishing ``name`` would set off: the automations it starts, what their graphs emit, and on.

        A static reading of the running automations' configs (every ``WorkflowEmitEvent`` node
        counts, conditional or not); a loop shows as a step with ``stopped="cycle"``, and steps
        past ``max_event_depth`` as ``stopped="depth_limit"`` (at run time, such an emit fails).

        Raises:
            ValidationError: a malformed app id, or an unknown event.
        """
        check_app(app_id)
        self.catalogue.get(name)

        async def load(app: str, config_id: str) -> WorkflowGraph:
            return (await self.graph_for(app, config_id))[0]

        return await explain_cascade(self.index, load, app_id, name, self.max_event_depth)

    def _emitter(self, run: AutomationRun) -> EventEmitter:
        """How ``run``'s ``WorkflowEmitEvent`` nodes publish: in its own app, one level deeper, within its budget.

        A run heading a cascade (started by a host's event, a schedule or an invoke) has
        ``max_cascade_runs``; a run started by an emitted event has the share its causation
        records. An emit that starts ``k`` runs spends ``k`` and hands them half of what is left,
        split evenly; so the runs a cascade starts never exceed the head's budget, whatever the
        fan-out, and no process needs another's counter.
        """
        cause = run.causation
        depth = (cause["depth"] if cause else 0) + 1
        origin = cause["origin_run_id"] if cause else run.id
        remaining = int(cause.get("budget", self.max_cascade_runs)) if cause else self.max_cascade_runs

        async def emit(app_id: str | None, name: str, payload: Any) -> None:
            nonlocal remaining
            starts = len(self.index.matches(run.app_id, name))
            if depth > self.max_event_depth:
                why = (
                    f"emitting {name!r} would start a chain of events {depth} emits deep (limit "
                    f"{self.max_event_depth}, started by run {origin!r}): an automation probably triggers "
                    "itself, directly or through others; break the loop, or raise Engine(max_event_depth=...)"
                )
            elif starts > remaining:
                why = (
                    f"emitting {name!r} would start {starts} runs, and the cascade started by run {origin!r} has "
                    f"{remaining} left of its budget (Engine(max_cascade_runs={self.max_cascade_runs})): an emit "
                    "inside a map or a loop fans out; emit once with a list, or raise the budget"
                )
            else:
                share = (remaining - starts) // 2
                remaining -= starts + share
                causation = {
                    "depth": depth,
                    "run_id": run.id,
                    "origin_run_id": origin,
                    "budget": share // starts if starts else 0,
                }
                await self._publish(run.app_id, name, payload, None, causation)
                return
            self.announce(
                CascadeStopped(
                    at=self.clock.now(),
                    app_id=run.app_id,
                    run_id=run.id,
                    origin_run_id=origin,
                    event=name,
                    depth=depth,
                    limit=self.max_event_depth,
                )
            )
            raise CascadeLimitError(why)

        return emit
