"""What a running node can see: its run's context, and nothing of other runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphflow.engine.executor import Executor
    from graphflow.engine.journal import Journal
    from graphflow.graph.model import WorkflowGraph

__all__ = ["EventEmitter", "NodeContext", "RunState"]

#: ``emit(app_id, event_name, payload)`` — publishes an event from a running graph.
EventEmitter = Callable[[str | None, str, Any], Awaitable[None]]


class RunState:
    """State shared by every chain of one run: ids, env, outputs, println lines, journal."""

    __slots__ = (
        "app_id",
        "automation_id",
        "emit",
        "env",
        "executor",
        "graph",
        "journal",
        "output",
        "outputs",
        "run_id",
        "services",
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

    def child(self, scope: str) -> NodeContext:
        """Return a context for a sub-chain (a branch or a map item)."""
        return NodeContext(self.run, f"{self.scope}/{scope}" if self.scope else scope)

    async def emit(self, event: str, payload: Any) -> None:
        """Publish an event through the engine's bus.

        Raises:
            RuntimeError: the graph runs without an engine that can publish events.
        """
        if self.run.emit is None:
            raise RuntimeError(
                "this run has no event bus: run the graph through an Engine to emit events"
            )
        await self.run.emit(self.run.app_id, event, payload)

    def evaluate_template(self, template: Any, input: Any) -> Any:
        """Render a compiled :class:`~graphflow.scripts.Template` in this run's scope."""
        return template.render(input, env=self.run.env, nodes=self.run.outputs)
