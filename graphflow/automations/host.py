"""What the services (``engine.configs``, ``engine.automations``) need from the engine that hosts them.

The services sit below the engine: they are written against this small, named surface, and the
:class:`~graphflow.engine.engine.Engine` implements it and builds the services (it imports
them, downwards). Nothing here is part of the public API; it is the one door between the
records' lifecycle and the run machinery.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from graphflow.abc import Store
    from graphflow.clock import Clock
    from graphflow.events import EngineEvent
    from graphflow.graph.model import WorkflowGraph
    from graphflow.nodes.egress import EgressPolicy
    from graphflow.records import Automation, AutomationRun, Wait
    from graphflow.triggers.catalogue import EventCatalogue

__all__ = ["ServiceHost"]

T = TypeVar("T")


class ServiceHost(ABC):
    """The engine as its services see it.

    Attributes:
        store: where configs, automations and runs live.
        clock: the time source of every record time.
        catalogue: the events automations may listen for.
    """

    store: Store
    clock: Clock
    catalogue: EventCatalogue

    @property
    @abstractmethod
    def wants_events(self) -> bool:
        """Whether anyone listens to engine events (build and :meth:`announce` them only then)."""

    @abstractmethod
    def announce(self, event: EngineEvent) -> None:
        """Deliver an engine event to listeners."""

    @property
    @abstractmethod
    def egress_policy(self) -> EgressPolicy:
        """What HTTP nodes and webhook deliveries may reach (the host's ``services["egress_policy"]``)."""

    @abstractmethod
    async def off_loop(self, build: Callable[[], T]) -> T:
        """Run ``build`` (parsing and compiling a tenant's graph) in a worker thread, one at a time.

        Loading a config near its size limit takes up to seconds of CPU; the event loop, and every
        other run, must not wait for it.
        """

    @abstractmethod
    async def graph_for(self, app_id: str, config_id: str, version: int | None = None) -> tuple[WorkflowGraph, int]:
        """The compiled graph of a config version (latest by default) and that version."""

    @abstractmethod
    def first_fire(self, automation: Automation) -> float | None:
        """A scheduled automation's next fire from now (``None``: its schedule never fires again)."""

    @abstractmethod
    def track(self, automation: Automation) -> None:
        """Follow a stored automation: index it, schedule it or forget it as its status says."""

    @abstractmethod
    def untrack(self, automation_id: str) -> None:
        """Forget an automation (deleted): index, schedule and any run buffered behind a busy one."""

    @abstractmethod
    def trace_context(self) -> dict[str, str] | None:
        """The current span's W3C trace context, to store with a new run (``None``: tracing is off, or no span)."""

    @abstractmethod
    def enqueue(self, run: AutomationRun) -> None:
        """Queue a stored pending run for execution."""

    @abstractmethod
    async def cancel_pending(self, app_id: str, automation_id: str) -> list[str]:
        """Cancel an automation's pending runs (paused or deleted); return their ids."""

    @abstractmethod
    def drop_buffered(self, automation_id: str) -> None:
        """Drop the run buffered behind a busy one (overlap ``buffer_one``), if any."""

    @abstractmethod
    def running_since(self, automation_id: str) -> float | None:
        """When the oldest executing run of an automation started here (``None``: none is executing)."""

    @abstractmethod
    async def wait_for_run(self, app_id: str, run_id: str, timeout: float | None = None) -> AutomationRun:
        """Wait until a run ends and return it (see :meth:`graphflow.engine.engine.Engine.wait_for_run`)."""

    @abstractmethod
    async def woken(self, waits: Iterable[Wait]) -> None:
        """Resume the runs whose waits were just resolved (claim them here, or wake in-process waiters)."""

    @abstractmethod
    async def release_queued(self, before: Automation, after: Automation) -> None:
        """Start what a concurrency limit raised or removed by an update no longer holds queued."""

    @abstractmethod
    async def cancel_run(self, app_id: str, run_id: str) -> AutomationRun:
        """Cancel a pending or executing run (see :meth:`graphflow.engine.engine.Engine.cancel_run`)."""
