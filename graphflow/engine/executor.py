"""The executor: runs a validated graph for one input envelope and returns a :class:`RunResult`.

Speed is a design goal: a sequential chain runs inline in the caller's task — no task, copy or
lock per node — and the only per-node work is the node itself, two journal entries and (when
someone listens) two events. Retries and timeouts cost only on nodes that declare them.
Parallel branches and map items get real tasks; on asyncio (3.11+) they use
``asyncio.TaskGroup`` (~4 µs per task) rather than an AnyIO task group (~22 µs in anyio ≥ 4.14),
and AnyIO's own group on other backends (trio). Cancellation and timeouts use AnyIO cancel scopes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from graphflow.abc import Checkpointer, EventEmitter, Goto, NodeContext, Rememberer, RunState, Suspended, Waiter
from graphflow.engine.journal import Journal
from graphflow.engine.notify import Listener, Notifier, Subscription
from graphflow.events import (
    EngineEvent,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunSuspended,
)
from graphflow.exceptions import GraphflowError, NodeExecutionError, Problem, ValidationError
from graphflow.graph.model import Node, WorkflowGraph
from graphflow.graph.validation import no_trigger_problem
from graphflow.ids import new_id
from graphflow.observability.tracing import Tracing, tracing_for

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["ExecutionStatus", "Executor", "Goto", "NodeFailure", "RunResult", "failure_input"]

#: How one execution of a graph ended (``running`` while it runs). Not a run record's status
#: (:data:`graphflow.records.RunStatus`): ``suspended`` means parked on a durable timer.
ExecutionStatus = Literal["running", "completed", "failed", "cancelled", "suspended"]


class NodeFailure(Exception):
    """A node failed after its retries and had no ``on_failure`` edge: the chain stops."""

    def __init__(self, node_id: str, message: str, code: str) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.message = message
        self.code = code


@dataclass(slots=True)
class RunResult:
    """The outcome of one run.

    Attributes:
        run_id: the run's id.
        status: ``completed``, ``failed`` or ``cancelled``.
        payload: the final payload (the last node's output) when completed.
        output: the ``println`` lines, in order.
        error: why the run failed or was cancelled.
        failed_node: the node whose failure failed the run.
        journal: per-node entries.
        started_at: UNIX timestamp.
        finished_at: UNIX timestamp.
        wake_at: when a ``suspended`` run (a durable timer) is due again.
        waiting_for: what a ``suspended`` run waits for (a timer, a steering request, an event).
    """

    run_id: str
    status: ExecutionStatus
    payload: Any = None
    output: list[str] = field(default_factory=list)
    error: str | None = None
    failed_node: str | None = None
    journal: Journal = field(default_factory=Journal)
    started_at: float = 0.0
    finished_at: float = 0.0
    wake_at: float | None = None
    waiting_for: dict[str, Any] | None = None

    @property
    def result(self) -> dict[str, Any]:
        """The AutomationRun ``result``: ``{payload, output}`` or ``{error}``."""
        if self.status == "completed":
            return {"payload": self.payload, "output": self.output}
        return {"error": self.error}

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-able data."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "result": self.result,
            "failed_node": self.failed_node,
            "journal": self.journal.to_list(),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class Executor:
    """Runs graphs. One executor serves any number of concurrent runs.

    Args:
        env: host values visible to every run as ``env`` (a run may add its own).
        services: objects handed to custom nodes as ``ctx.services``.
        emit: how ``WorkflowEmitEvent`` nodes publish (the engine provides it).
        rand: the random source for retry jitter (injectable for tests).
        clock: the wall clock for journal times (injectable for tests).
        tracing: OpenTelemetry spans of nodes, retries and timeouts, as ``Engine(tracing=...)``
            takes it (:func:`~graphflow.observability.tracing.tracing_for`; ``None``: when a
            global tracer provider is set).
    """

    def __init__(
        self,
        *,
        env: Mapping[str, Any] | None = None,
        services: Mapping[str, Any] | None = None,
        emit: EventEmitter | None = None,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        tracing: bool | TracerProvider | None = None,
    ) -> None:
        self.env: Mapping[str, Any] = dict(env or {})
        self.services: Mapping[str, Any] = dict(services or {})
        self.emit = emit
        self.notifier = Notifier()
        self._rand = rand
        self._clock = clock
        self._active: dict[str, anyio.CancelScope] = {}
        #: Spans of nodes, retries and timeouts (``None``: off); an engine decides again as it starts.
        self.tracing: Tracing | None = tracing_for(tracing)

    def now(self) -> float:
        """The current time by the executor's clock (the engine's; a fake one in tests)."""
        return self._clock()

    def subscribe(self, listener: Listener, types: tuple[type[EngineEvent], ...] | None = None) -> Subscription:
        """Call ``listener`` with every engine event (or those of ``types``)."""
        return self.notifier.subscribe(listener, types)

    @property
    def active_runs(self) -> list[str]:
        """Ids of the runs executing now."""
        return list(self._active)

    def cancel(self, run_id: str) -> bool:
        """Cancel a run executing in this executor; return whether it was found."""
        scope = self._active.get(run_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    async def run(
        self,
        graph: WorkflowGraph,
        envelope: Mapping[str, Any],
        *,
        run_id: str | None = None,
        app_id: str | None = None,
        automation_id: str | None = None,
        env: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        steps: dict[str, Any] | None = None,
        checkpoint: Checkpointer | None = None,
        timer_threshold: float | None = None,
        emit: EventEmitter | None = None,
        waiter: Waiter | None = None,
        remember: Rememberer | None = None,
    ) -> RunResult:
        """Run ``graph`` for ``envelope`` (``{"trigger": EVENT, "payload": {...}}``).

        A node failure, a run timeout or :meth:`cancel` ends the run with status ``failed`` or
        ``cancelled``; they are reported in the result, not raised. Cancelling the *calling*
        task cancels the run too and propagates, as structured concurrency requires.

        Durable execution (the engine passes these for durable stores): ``checkpoint(key,
        data)`` is awaited after each node completes; ``steps`` holds the checkpoints of an
        earlier attempt, whose nodes are not run again (their output, route, journal entries and
        ``println`` lines are restored); waits of at least ``timer_threshold`` seconds end the
        attempt with status ``suspended`` and ``wake_at`` set. ``emit`` replaces the executor's
        emitter for this run (the engine passes one that knows the run's causation). ``waiter``
        parks the run on steering requests and event waits (:meth:`NodeContext.wait`);
        ``remember`` writes the automation's memory (:meth:`NodeContext.remember`).

        Raises:
            ValidationError: the envelope is malformed or no trigger node matches its event;
                nothing ran.
        """
        trigger = envelope.get("trigger") if isinstance(envelope, Mapping) else None
        if not isinstance(trigger, str):
            raise ValidationError(
                [
                    Problem(
                        "$.trigger",
                        "the envelope needs a 'trigger' event name",
                        'pass {"trigger": "workflow.scheduled", "payload": {...}}',
                    )
                ],
                subject="run input",
            )
        start = graph.trigger_for(trigger)
        if start is None:
            raise ValidationError([no_trigger_problem(graph, trigger)], subject=f"run input for graph {graph.name!r}")
        run_id = run_id or new_id("atr_")
        merged_env = {**self.env, **env} if env else self.env
        state = RunState(
            run_id=run_id,
            graph=graph,
            executor=self,
            journal=Journal(),
            env=merged_env,
            app_id=app_id,
            automation_id=automation_id,
            emit=emit or self.emit,
            services=self.services,
        )
        state.steps = steps
        state.checkpoint = checkpoint
        state.timer_threshold = timer_threshold
        state.waiter = waiter
        state.remember = remember
        result = RunResult(run_id, "running", journal=state.journal, output=state.output)
        result.started_at = self._clock()
        notifier = self.notifier
        if notifier.wants_events:
            notifier.publish(
                RunStarted(
                    at=result.started_at,
                    run_id=run_id,
                    graph=graph.name,
                    app_id=app_id,
                    automation_id=automation_id,
                    trigger=trigger,
                )
            )
        scope = anyio.CancelScope()
        if timeout is not None:
            scope.deadline = anyio.current_time() + timeout
        self._active[run_id] = scope
        try:
            with scope:
                try:
                    result.payload = await self.run_chain(start.id, envelope, NodeContext(state))
                    result.status = "completed"
                except NodeFailure as failure:
                    result.status = "failed"
                    result.error = failure.message
                    result.failed_node = failure.node_id
                except Suspended as suspended:
                    result.status = "suspended"
                    result.wake_at = suspended.wake_at
                    result.waiting_for = suspended.waiting_for
            if scope.cancelled_caught:
                if timeout is not None and scope.deadline <= anyio.current_time():
                    result.status = "failed"
                    result.error = f"run timed out after {timeout:g}s"
                    if self.tracing is not None:
                        self.tracing.timed_out(timeout)
                else:
                    result.status = "cancelled"
                    result.error = "run cancelled"
        except BaseException:
            result.status = "cancelled"
            result.error = "run cancelled by its caller"
            raise
        finally:
            self._active.pop(run_id, None)
            result.finished_at = self._clock()
            if notifier.wants_events:
                notifier.publish(self._final_event(result, graph, app_id, automation_id))
        return result

    def _final_event(
        self, result: RunResult, graph: WorkflowGraph, app_id: str | None, automation_id: str | None
    ) -> EngineEvent:
        common: dict[str, Any] = {
            "at": result.finished_at,
            "run_id": result.run_id,
            "graph": graph.name,
            "app_id": app_id,
            "automation_id": automation_id,
        }
        if result.status == "completed":
            return RunCompleted(**common, result=result.result)
        if result.status == "failed":
            return RunFailed(**common, error=result.error or "")
        if result.status == "suspended":
            return RunSuspended(**common, wake_at=result.wake_at or result.finished_at, waiting_for=result.waiting_for)
        return RunCancelled(**common, reason=result.error or "")

    async def run_chain(self, node_id: str | None, value: Any, ctx: NodeContext) -> Any:
        """Run nodes from ``node_id`` until one has no successor; return the last output.

        Raises:
            NodeFailure: a node failed and had no ``on_failure`` edge.
        """
        run = ctx.run
        nodes = run.graph.node_map
        outputs = run.outputs
        journal = run.journal
        clock = self._clock
        notifier = self.notifier
        scope = ctx.scope
        checkpoint = run.checkpoint
        tracing = self.tracing
        while node_id is not None:
            node = nodes[node_id]
            ctx.node_id = node_id
            ctx.attempt = 1
            durable = checkpoint is not None and node.checkpointed
            if durable:
                key = f"{scope}/{node_id}" if scope else node_id
                if run.steps is not None and key in run.steps:
                    value, node_id = self._restore(run, node, run.steps[key])
                    continue
                marks = (len(journal), len(run.output))
            started = clock()
            journal.add("node_started", node_id, 1, started, scope)
            if notifier.wants_node_events:
                notifier.publish(NodeStarted(at=started, run_id=run.run_id, node_id=node_id, attempt=1, scope=scope))
            failed = False
            traced = None if tracing is None else tracing.node_started(node_id, node.kind, run.run_id, scope)
            try:
                if node.retry is None and node.timeout is None:
                    try:
                        out = await node.run(value, ctx)
                    except Suspended:
                        raise
                    except Exception as exc:
                        failure = self._failed(node, ctx, exc, will_retry=False)
                        if node.on_failure is None:
                            raise failure from exc
                        out = Goto(node.on_failure, failure_input(failure, value))
                        failed = True
                else:
                    try:
                        out = await self._run_with_policy(node, value, ctx)
                    except NodeFailure as error:
                        if node.on_failure is None:
                            raise
                        failure = error
                        out = Goto(node.on_failure, failure_input(failure, value))
                        failed = True
            except BaseException as exc:
                if traced is not None:
                    traced.end(ctx.attempt, exc)
                raise
            if traced is not None:
                traced.end(ctx.attempt, failure if failed else None)
            if not failed:
                finished = clock()
                journal.add("node_completed", node_id, ctx.attempt, finished, scope)
                if notifier.wants_node_events:
                    notifier.publish(
                        NodeCompleted(
                            at=finished,
                            run_id=run.run_id,
                            node_id=node_id,
                            attempt=ctx.attempt,
                            scope=scope,
                            duration=finished - started,
                        )
                    )
            if type(out) is Goto:
                node_id = out.target
                value = out.value
            else:
                node_id = node.on_success
                value = out
            if not failed:
                outputs[node.id] = value
            if durable:
                assert checkpoint is not None
                await checkpoint(
                    key,
                    {
                        "value": value,
                        "next": node_id,
                        "failed": failed,
                        "journal": _own_entries(journal[marks[0] :], node.id, scope),
                        "output": run.output[marks[1] :],
                    },
                )
        return value

    @staticmethod
    def _restore(run: RunState, node: Node, step: dict[str, Any]) -> tuple[Any, str | None]:
        """Replay a checkpointed node: its journal lines, println lines and route."""
        for entry in step.get("journal", ()):
            run.journal.add(*entry)
        run.output.extend(step.get("output", ()))
        value = step.get("value")
        if not step.get("failed"):
            run.outputs[node.id] = value
        return value, step.get("next")

    async def _run_with_policy(self, node: Node, value: Any, ctx: NodeContext) -> Any:
        policy = node.retry
        attempts = policy.max_attempts if policy is not None else 1
        timeout = node.timeout
        attempt = 1
        while True:
            ctx.attempt = attempt
            try:
                if timeout is not None:
                    with anyio.fail_after(timeout):
                        return await node.run(value, ctx)
                return await node.run(value, ctx)
            except Suspended:
                raise
            except Exception as exc:
                if isinstance(exc, TimeoutError) and timeout is not None:
                    exc = NodeExecutionError(f"node {node.id!r} timed out after {timeout:g}s", code="timeout")
                    if self.tracing is not None:
                        self.tracing.timed_out(timeout, attempt)
                retry = policy is not None and attempt < attempts and _retryable(exc, policy.non_retryable)
                failure = self._failed(node, ctx, exc, will_retry=retry)
                if not retry:
                    raise failure from exc
                assert policy is not None
                delay = policy.delay(attempt, self._rand())
                if self.tracing is not None:
                    self.tracing.retrying(attempt, failure, delay)
                await anyio.sleep(delay)
                attempt += 1
                ctx.attempt = attempt
                now = self._clock()
                ctx.run.journal.add("node_started", node.id, attempt, now, ctx.scope)
                if self.notifier.wants_node_events:
                    self.notifier.publish(
                        NodeStarted(at=now, run_id=ctx.run_id, node_id=node.id, attempt=attempt, scope=ctx.scope)
                    )

    def _failed(self, node: Node, ctx: NodeContext, exc: BaseException, *, will_retry: bool) -> NodeFailure:
        if isinstance(exc, NodeFailure):
            message, code = exc.message, exc.code
        else:
            message = str(exc) or type(exc).__name__
            code = exc.code if isinstance(exc, GraphflowError) else type(exc).__name__
        now = self._clock()
        ctx.run.journal.add("node_failed", node.id, ctx.attempt, now, ctx.scope, message, code, will_retry)
        if self.notifier.wants_node_events:
            self.notifier.publish(
                NodeFailed(
                    at=now,
                    run_id=ctx.run_id,
                    node_id=node.id,
                    attempt=ctx.attempt,
                    scope=ctx.scope,
                    error=message,
                    code=code,
                    will_retry=will_retry,
                )
            )
        text = message if isinstance(exc, NodeFailure) else f"node {node.id!r} failed: {message}"
        return NodeFailure(node.id, text, code)

    async def gather(self, jobs: Iterable[Callable[[], Coroutine[Any, Any, None]]]) -> None:
        """Run ``jobs`` concurrently and wait for all; the first failure cancels the rest.

        Raises:
            NodeFailure: the first node failure among the jobs.
        """
        try:
            if _on_asyncio():
                async with asyncio.TaskGroup() as tg:
                    for job in jobs:
                        tg.create_task(job())
            else:
                async with anyio.create_task_group() as group:
                    for job in jobs:
                        group.start_soon(job)
        except BaseExceptionGroup as group_error:
            raise _first_failure(group_error) from None


def _own_entries(entries: list[Any], node_id: str, scope: str) -> list[list[Any]]:
    """The journal entries of one node execution, with those of its branches or map items.

    Entries of concurrent chains elsewhere in the run interleave; they are left out.
    """
    inner = f"{scope}/{node_id}" if scope else node_id
    return [
        list(e[1:])
        for e in entries
        if (e.scope == scope and e.node_id == node_id) or e.scope.startswith((inner + "/", inner + "["))
    ]


def failure_input(failure: NodeFailure, value: Any) -> dict[str, Any]:
    """The input an ``on_failure`` node receives."""
    return {"error": failure.message, "code": failure.code, "node_id": failure.node_id, "input": value}


def _retryable(exc: BaseException, non_retryable: tuple[str, ...]) -> bool:
    if isinstance(exc, NodeExecutionError) and not exc.retryable:
        return False
    code = exc.code if isinstance(exc, GraphflowError) else type(exc).__name__
    return code not in non_retryable


def _on_asyncio() -> bool:
    # Under trio there is no running asyncio loop; under asyncio there always is.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _first_failure(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first :class:`NodeFailure` in ``group`` (depth first), else its first exception."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    for exc in leaves:
        if isinstance(exc, NodeFailure):
            return exc
    timers = [exc for exc in leaves if isinstance(exc, Suspended)]
    if timers:  # every branch that parked itself resumes; the run wakes at the earliest timer
        return min(timers, key=lambda t: t.wake_at)
    return leaves[0] if leaves else group
