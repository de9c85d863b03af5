"""Crash tests for parked runs, with real processes: ``kill -9`` workers while runs wait, restart, answer.

Runs park on a steering request, on an event wait and on a durable 2 s delay (see
``parked_app.py``); one more run is killed in the middle of a node before it parks, and again in
the node after its answered request. The workers are killed twice while the runs are parked;
requests are answered and events published both while no worker is alive and while a new one
runs. Every run completes exactly once, each node's work is logged once (the nodes in flight at a
kill excepted), each request is answered once and each wait matched once, and nothing is left
pending.

The answer race: two processes answer the same request at the same moment; exactly one wins,
the other gets ``request_closed``, and the run follows the winner's choice.

Nothing here sleeps to synchronise: the tests poll the store (and the work log) with a bound, and
read what the processes print.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from graphflow.engine.engine import Engine
from graphflow.records import AutomationRun, Wait
from graphflow.stores import store_from_url
from graphflow.stores.memory import MemoryStore
from tests.conftest import eventually, quiescent
from tests.durable.app import engine
from tests.durable.parked_app import APP, STEPS, WORK, thread
from tests.pg import postgres_url

pytestmark = [pytest.mark.slow]

APP_SCRIPT = Path(__file__).with_name("parked_app.py")
ROOT = APP_SCRIPT.parents[2]
THREADS = 4
#: Bound on every wait for a process or a state (seconds).
BOUND = 60.0
TERMINAL = ("completed", "failed", "cancelled")


class Process:
    """A ``parked_app.py`` process whose output lines are read by a thread (so reads have a bound)."""

    def __init__(self, mode: str, url: str, log: Path, release: Path, *extra: str) -> None:
        env = {**os.environ, "CRASH_LOG": str(log), "CRASH_RELEASE": str(release), "PYTHONPATH": str(ROOT)}
        self.popen = subprocess.Popen(
            [sys.executable, str(APP_SCRIPT), mode, url, *extra],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.popen.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def line(self) -> str:
        """The next line it prints; fails when it exits first or prints nothing within the bound."""
        try:
            line = self._lines.get(timeout=BOUND)
        except queue.Empty:
            raise AssertionError(f"process {self.pid} printed nothing within {BOUND}s") from None
        assert line is not None, f"process {self.pid} exited: {self.errors()}"
        return line

    def ready(self) -> Process:
        line = self.line()
        assert line == "ready", f"process did not start: {line!r}"
        return self

    def send(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text)
        self.popen.stdin.flush()

    def kill(self) -> int:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=BOUND)
        return self.pid

    def stop(self) -> None:
        """SIGTERM (a clean stop) and check it exited cleanly."""
        self.popen.send_signal(signal.SIGTERM)
        assert self.popen.wait(timeout=BOUND) == 0, self.errors()

    def finish(self) -> str:
        """Close its input, wait for it to exit cleanly, and return the rest of its output."""
        assert self.popen.stdin is not None
        self.popen.stdin.close()
        assert self.popen.wait(timeout=BOUND) == 0, self.errors()
        rest = []
        while (line := self._lines.get(timeout=BOUND)) is not None:
            rest.append(line)
        return "\n".join(rest)

    def errors(self) -> str:
        if self.popen.poll() is None:
            return "(still running)"
        return self.popen.stderr.read() if self.popen.stderr else ""

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=BOUND)
        self._reader.join(timeout=BOUND)  # it reads to the end of the output before the pipe closes
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def processes() -> Iterator[Callable[..., Process]]:
    """Start processes through the yielded function; any still alive at the end are killed."""
    started: list[Process] = []

    def start(*args: Any) -> Process:
        started.append(Process(*args))
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            process.close()


@dataclass
class State:
    """What the store holds for the app: runs by automation name, and every wait."""

    runs: dict[str, list[AutomationRun]] = field(default_factory=dict)
    waits: list[Wait] = field(default_factory=list)

    def parked(self, name: str, kind: str) -> bool:
        """Every run of ``name`` is pending, parked on a wait of ``kind``."""
        runs = self.runs[name]
        return all(r.status == "pending" and (r.waiting_for or {}).get("kind") == kind for r in runs)

    def run(self, name: str) -> AutomationRun:
        (only,) = self.runs[name]
        return only

    def all_runs(self) -> list[AutomationRun]:
        return [r for runs in self.runs.values() for r in runs]


async def _read_state(url: str, automations: dict[str, str]) -> State:
    store = store_from_url(url)
    await store.start()
    try:
        state = State()
        for name, automation_id in automations.items():
            page = await store.list_runs(APP, automation_id, status=None, cursor=None, limit=100)
            state.runs[name] = sorted(page.data, key=lambda r: r.id)
        state.waits = list((await store.list_waits(APP, limit=100)).data)
        return state
    finally:
        await store.close()


def read_state(url: str, automations: dict[str, str]) -> State:
    return anyio.run(_read_state, url, automations)


def poll(url: str, automations: dict[str, str], check: Callable[[State], bool], what: str) -> State:
    """Read the store until ``check(state)`` holds; fail after :data:`BOUND` seconds saying ``what``."""
    deadline = time.monotonic() + BOUND
    while True:
        state = read_state(url, automations)
        if check(state):
            return state
        if time.monotonic() > deadline:
            described = [(n, r.id, r.status, r.waiting_for) for n, rs in state.runs.items() for r in rs]
            raise AssertionError(f"{what}: not within {BOUND}s; runs: {described}")
        time.sleep(0.05)  # polling interval, not synchronisation


def work_log(log: Path) -> dict[tuple[str, str], list[int]]:
    """(run id, key) → the pids that logged it, in order."""
    done: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for line in log.read_text().splitlines():
        pid, run_id, key = line.split()
        done[(run_id, key)].append(int(pid))
    return done


async def _answer_and_publish(url: str, requests: list[Wait], threads: list[int]) -> list[tuple[str, tuple[str, ...]]]:
    """Approve ``requests`` and publish a reply to each of ``threads``; what each publish woke."""
    woken: list[tuple[str, tuple[str, ...]]] = []
    async with engine(url, max_concurrent_runs=0) as answering:
        for request in requests:
            answered = await answering.steering.respond(APP, request.id, "approve", by="usr_tester")
            assert answered.status == "answered"
        for index in threads:
            published = await answering.publish(
                APP, "thread.message_added", {"thread_id": thread(index), "message_id": f"msg_{index}"}
            )
            woken.append((published.event_id, published.woken_run_ids))
    return woken


async def _answer_again(url: str, requests: list[Wait]) -> list[str]:
    from graphflow.exceptions import WaitClosedError

    outcomes = []
    async with engine(url, max_concurrent_runs=0) as answering:
        for request in requests:
            try:
                await answering.steering.respond(APP, request.id, "reject", by="usr_late")
                outcomes.append("answered")
            except WaitClosedError as exc:
                outcomes.append(f"{exc.code}:{exc.details['status']}")
    return outcomes


def seed(start: Callable[..., Process], url: str, log: Path, release: Path, mode: str, count: int) -> dict[str, str]:
    seeding = start(mode, url, log, release, str(count))
    automations: dict[str, str] = json.loads(seeding.line())
    seeding.finish()
    return automations


def request_of(state: State, run_id: str) -> Wait:
    (request,) = [w for w in state.waits if w.run_id == run_id and w.kind == "steering"]
    return request


def kill_while_parked(url: str, tmp_path: Path) -> None:
    log, release = tmp_path / "steps.log", tmp_path / "release"
    log.touch()
    with processes() as start:
        automations = seed(start, url, log, release, "seed", THREADS)

        # Worker A: the runs park (steering, event, timer); the held run is inside its node.
        first = start("serve", url, log, release).ready()

        def all_parked_and_held_in_flight(state: State) -> bool:
            begun = work_log(log).get((state.run("held").id, "hold:begin"), [])
            timers_reached = all(
                r.status == "completed" or (r.status == "pending" and r.waiting_for is not None)
                for r in state.runs["pause"]
            )
            parked = state.parked("gate", "steering") and state.parked("reply", "event")
            return parked and timers_reached and bool(begun)

        poll(url, automations, all_parked_and_held_in_flight, "runs parked and the held node in flight")
        killed = {first.kill()}
        at_first_kill = read_state(url, automations)
        held_id = at_first_kill.run("held").id
        assert at_first_kill.run("held").status == "running"  # its lease outlives the kill
        assert work_log(log)[(held_id, "hold:begin")] == [first.pid]
        assert (held_id, "hold") not in work_log(log)

        # Worker B: the held node runs again (once its lease expires) and the run parks on its
        # request; the timers fire. Then B is killed with every run parked.
        release.touch()
        second = start("serve", url, log, release).ready()

        def held_parked_and_timers_done(state: State) -> bool:
            pauses_done = all(r.status == "completed" for r in state.runs["pause"])
            return state.parked("held", "steering") and pauses_done and state.parked("gate", "steering")

        poll(url, automations, held_parked_and_timers_done, "the held run parked, the timers fired")
        killed.add(second.kill())
        parked = read_state(url, automations)
        assert parked.parked("reply", "event") and parked.parked("gate", "steering")

        # Half the answers and events while no worker is alive, half once worker C runs.
        requests = [request_of(parked, r.id) for r in (*parked.runs["gate"], parked.run("held"))]
        assert all(w.status == "pending" for w in requests)
        half = THREADS // 2
        woken = anyio.run(_answer_and_publish, url, requests[:half], list(range(half)))
        third = start("serve", url, log, release).ready()
        woken += anyio.run(_answer_and_publish, url, requests[half:], list(range(half, THREADS)))
        replies = parked.runs["reply"]
        by_thread = {r.payload["thread_id"]: r.id for r in replies}
        assert [ids for _, ids in woken] == [(by_thread[thread(i)],) for i in range(THREADS)]

        # Worker C is killed inside the node after the held run's answered request; worker D
        # runs it again, and the rest.
        poll(url, automations, lambda s: bool(work_log(log).get((held_id, "hold2:begin"))), "the node after the gate")
        killed.add(third.kill())
        Path(f"{release}.2").touch()
        final = start("serve", url, log, release).ready()
        done = poll(
            url,
            automations,
            lambda s: all(r.status in TERMINAL for r in s.all_runs()),
            "every run to finish",
        )
        final.stop()

    # Every run completed, each node once in its journal.
    for name, runs in done.runs.items():
        assert len(runs) == (1 if name == "held" else THREADS), name
        for run in runs:
            assert run.status == "completed", (name, run.id, run.result)
            assert run.waiting_for is None
            completed = collections.Counter(e["node_id"] for e in run.journal if e["type"] == "node_completed")
            assert sorted(completed) == sorted(STEPS[name]) and set(completed.values()) == {1}, (name, run.journal)

    # Each request answered once, by the tester; a later answer changes nothing.
    assert sorted(w.id for w in done.waits if w.kind == "steering") == sorted(w.id for w in requests)
    for request in requests:
        stored = request_of(done, request.run_id)
        assert (stored.status, stored.resolution) == (
            "answered",
            {"choice": "approve", "note": None, "by": "usr_tester"},
        )
    assert anyio.run(_answer_again, url, requests) == ["request_closed:answered"] * len(requests)
    # Each event wait matched once, by the event published for its thread.
    events = dict(zip([ids[0] for _, ids in woken], [event_id for event_id, _ in woken], strict=True))
    event_waits = [w for w in done.waits if w.kind == "event"]
    assert sorted(w.run_id for w in event_waits) == sorted(r.id for r in replies)
    for wait in event_waits:
        assert wait.status == "matched" and (wait.resolution or {}).get("event_id") == events[wait.run_id]
    assert not [w for w in done.waits if w.status == "pending"]

    # Each node's work was done once, except the nodes in flight at a kill; a node ran again only
    # when the process running it before had been killed.
    work = work_log(log)
    expected = {(r.id, key) for name, runs in done.runs.items() for r in runs for key in WORK[name]}
    assert {k for k in work if not k[1].endswith(":begin")} == expected
    for (run_id, key), pids in work.items():
        assert all(pid in killed for pid in pids[:-1]), (run_id, key, pids, killed)
    assert work[(held_id, "hold:begin")] == [first.pid, second.pid]
    assert work[(held_id, "hold")] == [second.pid]
    assert work[(held_id, "hold2:begin")] == [third.pid, final.pid]
    assert work[(held_id, "hold2")] == [final.pid]
    # A kill cut off at most one node of a run (the one in flight; chains only here): anything more
    # re-ran a node whose completion had been checkpointed.
    for pid in killed:
        redone = collections.Counter(run_id for (run_id, _), pids in work.items() if pid in pids[:-1])
        assert set(redone.values()) <= {1}, (pid, redone)


def test_sqlite_runs_parked_on_requests_events_and_timers_survive_kills(tmp_path: Path) -> None:
    kill_while_parked(f"sqlite:///{tmp_path / 'parked.db'}", tmp_path)


@pytest.mark.postgres
def test_postgres_runs_parked_on_requests_events_and_timers_survive_kills(tmp_path: Path) -> None:
    with postgres_url() as url:
        kill_while_parked(url, tmp_path)


# --- two processes answering one request ---------------------------------------------------------

RACES = 6


def answer_races(url: str, tmp_path: Path) -> None:
    log, release = tmp_path / "steps.log", tmp_path / "release"
    log.touch()
    with processes() as start:
        automations = seed(start, url, log, release, "seed-gates", RACES)
        worker = start("serve", url, log, release).ready()
        parked = poll(url, automations, lambda s: s.parked("gate", "steering"), "the runs to park")
        answerers = [start("answer", url, log, release), start("answer", url, log, release)]
        for answerer in answerers:
            answerer.ready()
        winners: dict[str, tuple[str, int]] = {}
        for index, run in enumerate(parked.runs["gate"]):
            request = request_of(parked, run.id)
            choices = ("approve", "reject") if index % 2 else ("reject", "approve")
            for answerer, choice in zip(answerers, choices, strict=True):  # both read it at once
                answerer.send(f"{request.id} {choice}\n")
            outcomes = [answerer.line() for answerer in answerers]
            won = [i for i, outcome in enumerate(outcomes) if outcome == f"answered {request.id}"]
            assert len(won) == 1, outcomes
            assert outcomes[1 - won[0]] == f"request_closed {request.id} answered", outcomes
            winners[run.id] = (choices[won[0]], answerers[won[0]].pid)
        for answerer in answerers:
            assert answerer.finish() == ""
        done = poll(url, automations, lambda s: all(r.status in TERMINAL for r in s.all_runs()), "runs to finish")
        worker.stop()

    for run in done.runs["gate"]:
        choice, pid = winners[run.id]
        stored = request_of(done, run.id)
        assert (stored.status, stored.resolution) == ("answered", {"choice": choice, "note": None, "by": f"usr_{pid}"})
        assert run.status == "completed", run.result
        nodes = [e["node_id"] for e in run.journal if e["type"] == "node_completed"]
        assert nodes.count("gate") == 1 and ("s2" in nodes) == (choice == "approve"), nodes
    approved = {run_id for run_id, (choice, _) in winners.items() if choice == "approve"}
    assert {run_id for run_id, key in work_log(log) if key == "s2"} == approved


def test_sqlite_two_processes_answering_one_request_exactly_one_wins(tmp_path: Path) -> None:
    answer_races(f"sqlite:///{tmp_path / 'races.db'}", tmp_path)


@pytest.mark.postgres
def test_postgres_two_processes_answering_one_request_exactly_one_wins(tmp_path: Path) -> None:
    with postgres_url() as url:
        answer_races(url, tmp_path)


# --- wait_for_run on a run that resumes while it waits ---------------------------------------------
# Two defects of Engine.wait_for_run (graphflow/engine/control.py) found while measuring resumes,
# fixed since: each caller registers its own event before it reads the run, and removes it after.

GATED: dict[str, Any] = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "gated",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "gate"},
        {"kind": "WorkflowApproval", "id": "gate", "message": "Go on?", "on_success": "done"},
        {"kind": "WorkflowScript", "id": "done", "source": "'done'"},
    ],
}


class PausingStore(MemoryStore):
    """The memory store, whose next ``get_run`` of one run pauses after reading it until released."""

    def __init__(self) -> None:
        super().__init__()
        self.pause_run_id: str | None = None
        self.read = anyio.Event()
        self.release = anyio.Event()

    async def get_run(self, app_id: str, run_id: str) -> AutomationRun | None:
        run = await super().get_run(app_id, run_id)
        if run_id == self.pause_run_id:
            self.pause_run_id = None
            self.read.set()
            await self.release.wait()
        return run


async def gated_run(engine: Any) -> tuple[str, Wait]:
    """Invoke an automation that asks first; its run and its request once raised."""
    config = await engine.configs.create(APP, GATED)
    automation = await engine.automations.create(APP, name="gated", type="invoked", config_id=config.id, enabled=True)
    run_id: str = await engine.automations.trigger(APP, automation.id, {})
    requests: list[Wait] = []

    async def raised() -> bool:
        requests[:] = (await engine.steering.list(APP, run_id=run_id)).data
        return bool(requests)

    await eventually(raised, "the steering request")
    return run_id, requests[0]


@pytest.mark.anyio
async def test_wait_for_run_notices_a_run_that_ends_while_it_reads_the_run() -> None:
    store = PausingStore()
    async with Engine(store, max_concurrent_runs=2) as engine:
        run_id, request = await gated_run(engine)
        returned: list[AutomationRun] = []

        async def wait() -> None:
            returned.append(await engine.wait_for_run(APP, run_id, timeout=10))

        async with anyio.create_task_group() as tg:
            store.pause_run_id = run_id
            tg.start_soon(wait)
            await store.read.wait()  # it read the run waiting for its answer
            await engine.steering.respond(APP, request.id, "approve")

            async def completed() -> bool:
                run = await store.get_run(APP, run_id)
                return run is not None and run.status == "completed"

            await eventually(completed, "the run to complete")
            store.release.set()  # the read returns "running", after the run ended
            await quiescent()
            assert returned, "wait_for_run still waits for a run that has ended"


@pytest.mark.anyio
async def test_waiting_for_a_run_another_engine_resumes_leaves_nothing_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'waiters.db'}"
    async with engine(url, max_concurrent_runs=0) as answering, engine(url, max_concurrent_runs=2) as worker:
        run_id, request = await gated_run(answering)

        async def parked() -> bool:
            return (await worker.automations.run(APP, run_id)).waiting_for is not None

        await eventually(parked, "the run to park")
        async with anyio.create_task_group() as tg:
            done: list[AutomationRun] = []

            async def wait() -> None:
                done.append(await answering.wait_for_run(APP, run_id, timeout=10))

            tg.start_soon(wait)

            async def waiting() -> bool:
                return run_id in answering._waiters

            await eventually(waiting, "wait_for_run to wait")
            await answering.steering.respond(APP, request.id, "approve")
        assert done[0].status == "completed"
        assert run_id not in answering._waiters
