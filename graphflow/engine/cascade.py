"""What an event would set off: the automations it starts, the events their graphs emit, and so on.

A static reading of the running automations and their configs' ``WorkflowEmitEvent`` nodes (a
conditional emit counts as if it always fires), so a host can see a loop before it runs — the
engine stops one at run time anyway (``Engine(max_event_depth=...)``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from graphflow.exceptions import GraphflowError
from graphflow.graph.model import WorkflowGraph
from graphflow.records import Automation
from graphflow.triggers.index import TriggerIndex

__all__ = ["CascadeStep", "explain_cascade"]

#: Loads an automation's compiled graph: ``(app_id, config_id) → graph``.
GraphLoader = Callable[[str, str], Awaitable[WorkflowGraph]]


@dataclass(frozen=True, slots=True)
class CascadeStep:
    """One automation an event would start, and what its run would emit in turn.

    Attributes:
        event: the event that starts the automation.
        depth: 0 for the published event, 1 for an event its runs emit, and so on.
        automation_id: the automation started.
        automation_name: its name.
        emits: the events its graph emits, in node order.
        then: the steps those events start.
        stopped: why the walk stops here: ``"cycle"`` (this automation is already upstream: at
            run time the chain would go on until the depth limit), ``"depth_limit"`` (its emits
            would be refused), or ``None``.
    """

    event: str
    depth: int
    automation_id: str
    automation_name: str
    emits: tuple[str, ...]
    then: tuple[CascadeStep, ...]
    stopped: Literal["cycle", "depth_limit"] | None = None


async def explain_cascade(
    index: TriggerIndex, load: GraphLoader, app_id: str, event: str, max_depth: int
) -> list[CascadeStep]:
    """The cascade ``event`` would set off in ``app_id`` (see :class:`CascadeStep`)."""
    emitted: dict[str, tuple[str, ...]] = {}

    async def emits_of(automation: Automation) -> tuple[str, ...]:
        if automation.id not in emitted:
            found: tuple[str, ...] = ()
            if automation.config_id is not None:
                try:
                    graph = await load(app_id, automation.config_id)
                except GraphflowError:
                    pass  # a config that cannot load runs nothing
                else:
                    found = tuple(
                        getattr(node, "event", "") for node in graph.nodes if node.kind == "WorkflowEmitEvent"
                    )
            emitted[automation.id] = found
        return emitted[automation.id]

    async def walk(name: str, depth: int, upstream: frozenset[str]) -> tuple[CascadeStep, ...]:
        steps = []
        for automation in sorted(index.matches(app_id, name), key=lambda a: a.id):
            emits = await emits_of(automation)
            stopped: Literal["cycle", "depth_limit"] | None = None
            then: tuple[CascadeStep, ...] = ()
            if emits and automation.id in upstream:
                stopped = "cycle"
            elif emits and depth + 1 > max_depth:
                stopped = "depth_limit"
            else:
                inner = upstream | {automation.id}
                for emit in emits:
                    then += await walk(emit, depth + 1, inner)
            steps.append(CascadeStep(name, depth, automation.id, automation.name, emits, then, stopped))
        return tuple(steps)

    return list(await walk(event, 0, frozenset()))
