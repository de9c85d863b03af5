"""What a running node can see: its run's context, and nothing of other runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphflow.engine.executor import Executor
    from graphflow.engine.journal import Journal
    from graphflow.graph.model import WorkflowGraph

__all__ = ["Checkpointer", "EventEmitter", "NodeContext", "RunState", "Suspended"]

#: ``emit(app_id, event_name, payload)`` — publishes an event from a running graph.
EventEmitter = Callable[[str | None, str, Any], Awaitable[None]]
#: ``checkpoint(key, data)`` — persists one completed node of a run (durable stores only).
Checkpointer = Callable[[str, Any], Awaitable[None]]


class Suspended(Exception):
    """Raised through a run to park it until ``wake_at`` (a durable timer).

    The engine hands the run back to the store, claimable from ``wake_at`` on; no task waits.
    Completed nodes are checkpointed, so the run resumes where it stopped.
    """

    def __init__(self, wake_at: float) -> None:
        super().__init__(f"suspended until {wake_at}")
        self.wake_at = wake_at


class RunState:
    """State shared by every chain of one run: ids, env, outputs, println lines, journal."""

    __slots__ = (
        "app_id",
        "automation_id",
        "checkpoint",
        "emit",
        "env",
        "executor",
        "graph",
        "journal",
        "output",
        "outputs",
        "run_id",
        "services",
        "steps",
        "timer_threshold",
    )

    def __init__(
        self,
        *,
        run_id: str,
        graph: WorkflowGraph,
        executor: Executor,
        journal: Journal,
        env: Mapping[str, Any],
        app_id: str | None,
        automation_id: str | None,
        emit: EventEmitter | None,
        services: Mapping[str, Any],
    ) -> None:
        self.run_id = run_id
        self.graph = graph
        self.executor = executor
        self.journal = journal
        self.env = env
        self.app_id = app_id
        self.automation_id = automation_id
        self.emit = emit
        self.services = services
        self.outputs: dict[str, Any] = {}
        self.output: list[str] = []
        #: Checkpoints of an earlier attempt of this run, key → data (``None``: a fresh run).
        self.steps: dict[str, Any] | None = None
        #: Persists a completed node (``None`` when the run is not durable).
        self.checkpoint: Checkpointer | None = None
        #: Waits at least this long become durable timers (``None``: always sleep in-process).
        self.timer_threshold: float | None = None


class NodeContext:
    """The context a node runs in: one per chain (the main flow, a branch, a map item).

    Attributes:
        run_id: the run's id.
        app_id: the app the run belongs to (``None`` outside automations).
        automation_id: the automation that started the run (``None`` for direct runs).
        env: host-provided values (also ``env`` in scripts).
        outputs: outputs of the nodes completed so far, by node id (``nodes`` in scripts).
        output: the run's ``println`` lines; append to add your own.
        services: objects the host handed to the engine for custom nodes (clients, secrets…).
        scope: where this chain runs: ``""`` for the main flow, ``"fan/b1"`` for a branch,
            ``"loop[3]"`` for a map item.
        attempt: the current node's attempt number, from 1.
    """

    __slots__ = ("attempt", "node_id", "run", "scope")

    def __init__(self, run: RunState, scope: str = "") -> None:
        self.run = run
        self.scope = scope
        self.attempt = 1
        self.node_id = ""

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def app_id(self) -> str | None:
        return self.run.app_id

    @property
    def automation_id(self) -> str | None:
        return self.run.automation_id

    @property
    def env(self) -> Mapping[str, Any]:
        return self.run.env

    @property
    def outputs(self) -> dict[str, Any]:
        return self.run.outputs

    @property
    def output(self) -> list[str]:
        return self.run.output

    @property
    def services(self) -> Mapping[str, Any]:
        return self.run.services

    @property
    def idempotency_key(self) -> str:
        """A stable key for the current node execution: ``run_id:node_id`` (plus the scope).

        It does not change between attempts, so pass it to external systems to make side
        effects idempotent.
        """
        base = f"{self.run.run_id}:{self.node_id}"
        return f"{base}@{self.scope}" if self.scope else base

    @property
    def step_key(self) -> str:
        """The current node execution's key among the run's checkpoints (scope and node id)."""
        return f"{self.scope}/{self.node_id}" if self.scope else self.node_id

    async def sleep_until(self, wake_at: float, now: float) -> None:
        """Wait until UNIX time ``wake_at`` (``now`` is the current time).

        On a durable engine, a wait of at least its timer threshold becomes a **durable timer**:
        the wake time is checkpointed, the run is handed back to the store and no task waits; it
        resumes at this node after ``wake_at``, on this or another worker, even after a restart.
        Otherwise this sleeps in-process.
        """
        run = self.run
        key = f"{self.step_key}#timer"
        if run.steps is not None and key in run.steps:
            wake_at = float(run.steps[key])  # the timer set by an earlier attempt wins
        remaining = wake_at - now
        if remaining <= 0:
            return
        threshold = run.timer_threshold
        if threshold is None or run.checkpoint is None or remaining < threshold:
            import anyio

            await anyio.sleep(remaining)
            return
        await run.checkpoint(key, wake_at)
        if run.steps is None:
            run.steps = {}
        run.steps[key] = wake_at
        raise Suspended(wake_at)

    def child(self, scope: str) -> NodeContext:
        """Return a context for a sub-chain (a branch or a map item)."""
        return NodeContext(self.run, f"{self.scope}/{scope}" if self.scope else scope)

    async def emit(self, event: str, payload: Any) -> None:
        """Publish an event through the engine's bus.

        Raises:
            RuntimeError: the graph runs without an engine that can publish events.
        """
        if self.run.emit is None:
            raise RuntimeError("this run has no event bus: run the graph through an Engine to emit events")
        await self.run.emit(self.run.app_id, event, payload)

    def evaluate_template(self, template: Any, input: Any) -> Any:
        """Render a compiled :class:`~graphflow.scripts.Template` in this run's scope."""
        return template.render(input, env=self.run.env, nodes=self.run.outputs)
