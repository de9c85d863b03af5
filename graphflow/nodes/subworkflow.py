"""WorkflowSubWorkflow: run another graph as one node."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from graphflow.abc import NodeContext
from graphflow.exceptions import NodeExecutionError, ValidationError
from graphflow.graph.model import GraphContext, Node
from graphflow.nodes.trigger import EVENT_NAME_PATTERN

if TYPE_CHECKING:
    from graphflow.graph.model import WorkflowGraph
    from graphflow.scripts import Template

__all__ = ["SubWorkflowNode"]

#: Kinds that act on the automation's run (park it, write its memory): not in a sub-workflow's graph.
_RUN_ONLY_KINDS = frozenset({"WorkflowApproval", "WorkflowWaitForEvent", "WorkflowRemember"})


class SubWorkflowNode(Node, defer_build=True):
    """Runs ``workflow`` (an inline WorkflowGraph) with ``input`` and outputs its final payload.

    The child starts at its trigger node for ``trigger`` (default ``workflow.invoked``); its
    ``println`` lines join the parent's output; its failure fails this node (with its message).
    Inline sub-workflows nest at most ``GraphLimits.max_subworkflow_depth`` deep.

    Example::

        - kind: WorkflowSubWorkflow
          id: enrich
          input: {user_id: "{{$.user_id}}"}
          workflow:
            kind: WorkflowGraph
            version: 1
            name: enrich-user
            start_node: t
            nodes:
              - {kind: WorkflowTrigger, id: t, trigger: workflow.invoked, on_success: s}
              - {kind: WorkflowScript, id: s, source: "{'user': $.user_id, 'vip': true}"}
    """

    kind: Literal["WorkflowSubWorkflow"] = "WorkflowSubWorkflow"
    __slots__ = ("_graph", "_input")
    if TYPE_CHECKING:
        _graph: WorkflowGraph
        _input: Template

    workflow: dict[str, Any] = Field(description="The child graph, inline.")
    input: Any = Field("{{$}}", description="Template producing the child's payload.")
    trigger: str = Field(
        "workflow.invoked", pattern=EVENT_NAME_PATTERN, description="The event the child is started with."
    )

    def prepare(self, graph: GraphContext) -> None:
        from graphflow.graph.loader import DEFAULT_GRAPH_LIMITS, build_graph

        limits = graph.limits or DEFAULT_GRAPH_LIMITS
        self.keep(_graph=None, _input=graph.compile_template("input", self.input))
        if graph.depth + 1 > limits.max_subworkflow_depth:
            graph.problem("workflow", f"sub-workflows nest deeper than {limits.max_subworkflow_depth}")
            return
        try:
            child = build_graph(
                self.workflow, registry=graph.registry, limits=limits, depth=graph.depth + 1, budget=graph.budget
            )
        except ValidationError as exc:
            for problem in exc.problems:
                graph.problem("workflow" + problem.path.removeprefix("$"), problem.message, problem.hint)
            return
        if child.trigger_for(self.trigger) is None:
            graph.problem(
                "trigger",
                f"the sub-workflow has no trigger node for {self.trigger!r}",
                "add a WorkflowTrigger node with that trigger to the child graph",
            )
            return
        for index, node in enumerate(child.nodes):
            if node.kind in _RUN_ONLY_KINDS:  # they park or remember for the automation's run itself
                graph.problem(
                    f"workflow.nodes[{index}]",
                    f"a {node.kind} node cannot run inside a sub-workflow",
                    "move it to the parent graph (the run it waits or remembers for)",
                )
        self.keep(_graph=child)

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        assert self._graph is not None, "graph was not prepared"
        payload = ctx.evaluate_template(self._input, input)
        run = ctx.run
        result = await run.executor.run(
            self._graph,
            {"trigger": self.trigger, "payload": payload},
            run_id=f"{run.run_id}.{self.id}",
            app_id=run.app_id,
            automation_id=run.automation_id,
            env=run.env,
        )
        run.output.extend(result.output)
        if result.status != "completed":
            raise NodeExecutionError(
                f"sub-workflow {self._graph.name!r} {result.status}: {result.error}",
                code="subworkflow_failed",
            )
        return result.payload
