"""Drive an engine from a test: add automations, publish and wait, travel in time, check paths.

:class:`EngineHarness` wraps a started :class:`~graphflow.Engine` on the memory store and the
:class:`~graphflow.testing.clock.SteppingClock` it was built with. Every helper returns only once
the engine has *settled*: the scheduler has recorded everything due by the clock's time and
every run it or an event started has ended (runs buffered behind a busy one included), so what
a test asserts did not happen really did not. No helper waits for the real clock to reach an
instant (a ``WorkflowDelay`` node still does: on the memory store a delay is an in-process sleep).

The pytest plugin (:mod:`graphflow.testing.plugin`) hands one out as the ``graphflow_harness``
fixture; building one by hand works the same::

    clock = SteppingClock("2027-01-01T00:00:00Z")
    async with Engine("memory://", clock=clock) as engine:
        harness = EngineHarness(engine, clock)
        await harness.add_automation(graph, type="scheduled", schedule="weekdays at 9am")
        runs = await harness.advance_to("2027-01-08T00:00:00Z")
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from graphflow.events import RunStarted
from graphflow.records import Automation, AutomationRun, ConfigRecord, Wait
from graphflow.testing.clock import SteppingClock, instant
from graphflow.triggers.catalogue import INTERNAL_EVENTS

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine
    from graphflow.engine.executor import RunResult
    from graphflow.graph.model import WorkflowGraph

__all__ = ["EngineHarness", "assert_path", "run_path"]

#: The app a harness works in unless told otherwise.
DEFAULT_APP = "app_test"


def run_path(run: AutomationRun | RunResult | Mapping[str, Any], scope: str = "") -> list[str]:
    """The ids of the nodes a run started in ``scope`` (``""``: the main flow), in order, once each.

    A retried node counts once; a node that failed counts (its ``on_failure`` target follows it).
    ``run`` is an :class:`~graphflow.records.AutomationRun`, a :class:`~graphflow.RunResult` or
    a run's ``to_dict()``.
    """
    journal = run["journal"] if isinstance(run, Mapping) else run.journal
    path: list[str] = []
    for entry in journal:
        kind, node, attempt, where = (
            (entry["type"], entry["node_id"], entry["attempt"], entry.get("scope", ""))
            if isinstance(entry, Mapping)
            else (entry.type, entry.node_id, entry.attempt, entry.scope)
        )
        if kind == "node_started" and attempt == 1 and where == scope:
            path.append(node)
    return path


def assert_path(run: AutomationRun | RunResult | Mapping[str, Any], expected: Sequence[str], scope: str = "") -> None:
    """Fail unless the run went through exactly the nodes ``expected``, in that order.

    Example:
        ``assert_path(run, ["t", "s1", "end"])``; a branch of a parallel node ``fan``:
        ``assert_path(run, ["a1", "a2"], scope="fan/a1")``.

    Raises:
        AssertionError: the path differs; the message shows both paths and the run's status and error.
    """
    actual = run_path(run, scope)
    if actual != list(expected):
        data = run if isinstance(run, Mapping) else {"status": run.status, "result": run.result}
        result = data.get("result") or {}
        error = result.get("error") if isinstance(result, Mapping) else None
        where = f" in scope {scope!r}" if scope else ""
        raise AssertionError(
            f"the run took {actual}{where}, expected {list(expected)} (status {data.get('status')!r}"
            + (f", error {error!r})" if error else ")")
        )


class EngineHarness:
    """A started memory-store engine and its stepping clock, with helpers that wait until it settles.

    Args:
        engine: a started :class:`~graphflow.Engine` built with ``clock=clock`` on ``memory://``.
        clock: the engine's :class:`~graphflow.testing.clock.SteppingClock`.
        app_id: the app the helpers use when not given one.
        timeout: real seconds any helper may wait before it fails (a run that never ends).
    """

    def __init__(self, engine: Engine, clock: SteppingClock, *, app_id: str = DEFAULT_APP, timeout: float = 30.0):
        if engine.clock is not clock:
            raise ValueError("the engine must be built with this clock: Engine('memory://', clock=clock)")
        if engine.store.durable:
            # On a database, parked runs and durable timers go back to the store and the poller
            # claims them on the real clock: settling could not be known from this process.
            raise ValueError("EngineHarness drives an engine on the memory store: Engine('memory://', clock=clock)")
        self.engine = engine
        self.clock = clock
        self.app_id = app_id
        self.timeout = timeout
        self._apps = {app_id}
        self._started: list[tuple[str, str]] = []
        self._subscription = engine.subscribe(self._on_started, (RunStarted,))

    def _on_started(self, event: Any) -> None:
        if event.app_id is not None:
            self._apps.add(event.app_id)
            self._started.append((event.app_id, event.run_id))

    def close(self) -> None:
        """Stop listening to the engine (the fixture does this at teardown)."""
        self._subscription.close()

    # --- building -------------------------------------------------------------------------------

    async def add_config(
        self, source: WorkflowGraph | Mapping[str, Any] | str | os.PathLike[str], *, app_id: str | None = None
    ) -> ConfigRecord:
        """Store a graph as a config: a ``WorkflowGraph``, a dict, JSON/YAML text or a ``Path``."""
        app = self._app(app_id)
        if isinstance(source, os.PathLike):
            return await self.engine.configs.create(app, path=Path(source))
        if isinstance(source, str):
            return await self.engine.configs.create(app, text=source)
        return await self.engine.configs.create(app, source)

    async def add_automation(
        self,
        config: ConfigRecord | WorkflowGraph | Mapping[str, Any] | str | os.PathLike[str],
        *,
        app_id: str | None = None,
        enabled: bool = True,
        **fields: Any,
    ) -> Automation:
        """Create an automation (running by default) on ``config``: a stored config or a graph to store.

        ``fields`` are those of ``engine.automations.create``
        (``type``, ``trigger``, ``schedule``, ``timezone``…); ``name`` defaults to the graph's name,
        ``type`` to ``trigger`` and ``trigger`` to the event of the graph's trigger node (when it
        has one for a platform event). A config id string is text, not an id: pass the record.
        """
        app = self._app(app_id)
        record = config if isinstance(config, ConfigRecord) else await self.add_config(config, app_id=app)
        fields.setdefault("name", record.name)
        fields.setdefault("type", "trigger")
        if fields["type"] == "trigger" and "trigger" not in fields:
            events = sorted(
                {
                    node.get("trigger")
                    for node in record.document.get("nodes", ())
                    if node.get("kind") == "WorkflowTrigger" and node.get("trigger") not in INTERNAL_EVENTS
                }
            )
            if len(events) == 1:
                fields["trigger"] = events[0]
        automation = await self.engine.automations.create(app, config_id=record.id, enabled=enabled, **fields)
        await self.settle()
        return automation

    # --- events ---------------------------------------------------------------------------------

    async def publish_and_wait(
        self, event: str, payload: Any, *, app_id: str | None = None, id: str | None = None
    ) -> list[AutomationRun]:
        """Publish an event, wait until the engine settled, and return the runs the event started.

        Each run has ended, or is parked on a wait (a ``WorkflowApproval`` awaiting an answer, a
        ``WorkflowWaitForEvent``): answer it with :meth:`respond`. Runs started further down
        (events the runs emitted) have settled too; find them with :meth:`runs`.
        """
        app = self._app(app_id)
        published = await self.engine.publish(app, event, payload, id=id)
        await self.settle()
        return [await self._current(app, run_id) for run_id in published.run_ids]

    async def trigger_and_wait(self, automation: Automation, payload: Any = None) -> AutomationRun:
        """Run an automation now (``engine.automations.trigger``) and return its run once settled."""
        run_id = await self.engine.automations.trigger(automation.app_id, automation.id, payload)
        await self.settle()
        return await self._current(automation.app_id, run_id)

    async def runs(self, automation: Automation, *, status: str | None = None) -> list[AutomationRun]:
        """Every run of an automation, oldest first (optionally of one ``status``)."""
        found: list[AutomationRun] = []
        cursor: str | None = None
        while True:
            page = await self.engine.automations.runs(
                automation.app_id, automation.id, status=status, cursor=cursor, limit=100
            )
            found.extend(page.data)
            cursor = page.next_cursor
            if cursor is None:
                return found[::-1]

    # --- time -----------------------------------------------------------------------------------

    async def advance(self, seconds: float) -> list[AutomationRun]:
        """Move the clock forward by ``seconds``; see :meth:`advance_to`."""
        if not seconds >= 0 or seconds == float("inf"):  # NaN fails the first test
            raise ValueError(f"time moves forward by finite seconds; got {seconds}")
        return await self.advance_to(self.clock.now() + seconds)

    async def advance_to(self, when: datetime | str | float) -> list[AutomationRun]:
        """Move the clock to ``when``, firing what is due on the way, in order; return the runs that started.

        The clock stops at every instant something waits for (a schedule's next fire), lets the
        engine settle, then goes on: a year of a weekday schedule is ~260 stops, not a year of
        ticks. The runs come back oldest first, ended or parked on a wait; a wait's expiry is a
        deadline like a fire, so advancing past it lets the run go on (``on_timeout``).

        Raises:
            ValueError: ``when`` is earlier than the clock, or has no time zone.
        """
        target = instant(when)
        if target < self.clock.now():
            raise ValueError(f"time moves forward only: {when!r} is before the clock ({self.clock.utcnow()})")
        first = len(self._started)
        await self.settle()
        while (due := self.clock.next_deadline()) is not None and due <= target:
            await self.clock.set(due)
            await self.settle()
        if self.clock.now() < target:
            await self.clock.set(target)
            await self.settle()
        return [await self._current(app, run_id) for app, run_id in self._started[first:]]

    async def steering_requests(self, *, app_id: str | None = None, run: AutomationRun | None = None) -> list[Wait]:
        """The pending steering requests of the app (or of one run), newest first."""
        app = run.app_id if run is not None else self._app(app_id)
        page = await self.engine.steering.list(app, run_id=run.id if run else None, status="pending", limit=100)
        return list(page.data)

    async def respond(
        self, request: Wait, choice: str, *, note: str | None = None, by: str | None = None
    ) -> AutomationRun:
        """Answer a steering request, let the engine settle, and return the request's run."""
        await self.engine.steering.respond(request.app_id, request.id, choice, note=note, by=by)
        await self.settle()
        return await self._current(request.app_id, request.run_id)

    async def settle(self) -> None:
        """Return once nothing is due, and no run is queued, executing (unless parked on a wait) or buffered.

        Raises:
            TimeoutError: the engine did not settle within ``timeout`` real seconds.
        """
        with anyio.fail_after(self.timeout):
            while True:
                await self.clock.wait_until_parked(1)  # the scheduler: every fire due by now is stored
                open_runs, parked = await self._open_runs()
                if open_runs:
                    # Until it ends, or parks on a wait (then it is no longer open): look again soon.
                    app, run_id = open_runs[0]
                    with anyio.move_on_after(0.05):
                        await self.engine.wait_for_run(app, run_id)
                    continue
                if self._busy(parked):
                    # A run between two states (a buffered run being stored, a run of an app this
                    # harness has not seen executing): give it a moment of real time, then look again.
                    await anyio.sleep(0.001)
                    continue
                for _ in range(10):  # let what the last change woke take its turns
                    await anyio.lowlevel.checkpoint()
                open_runs, parked = await self._open_runs()
                if self.clock.parked and not open_runs and not self._busy(parked):
                    return

    # --- internals ------------------------------------------------------------------------------

    def _app(self, app_id: str | None) -> str:
        app = app_id or self.app_id
        self._apps.add(app)
        return app

    async def _open_runs(self) -> tuple[list[tuple[str, str]], Counter[str]]:
        """Runs pending or executing, except those parked on a wait; and the parked ones per automation."""
        store = self.engine.store
        now = self.clock.now()
        found = [  # not those on a timer still ahead (a debounce, a throttle's delay) or queued (concurrency)
            (run.app_id, run.id)
            for run in await store.pending_runs(1_000_000)
            if run.wake_at is None or run.wake_at <= now
        ]
        parked: Counter[str] = Counter()
        for automation_id, runs in list(self.engine.running.items()):
            for run_id in sorted(runs):
                for app in sorted(self._apps):
                    if await store.get_run(app, run_id) is None:
                        continue
                    waits = await store.list_waits(app, run_id=run_id, status="pending", cursor=None, limit=1)
                    if waits.data:
                        parked[automation_id] += 1
                    else:
                        found.append((app, run_id))
                    break
        return found, parked

    def _busy(self, parked: Counter[str]) -> bool:
        """Whether runs are queued or moving that no listing shows yet (parked ones do not count)."""
        inflight, buffered = self.engine.inflight, self.engine.buffered
        return any(count > parked[automation] for automation, count in inflight.items()) or any(
            not inflight.get(automation) for automation in buffered
        )

    async def _current(self, app_id: str, run_id: str) -> AutomationRun:
        """A run as it is once the engine settled: ended, or parked on a wait."""
        run = await self.engine.store.get_run(app_id, run_id)
        if run is None:  # pruned or deleted meanwhile
            raise LookupError(f"run {run_id!r} of app {app_id!r} is gone")
        return run
