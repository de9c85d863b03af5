"""A host for crash tests of parked runs, run as a real process: ``python tests/durable/parked_app.py MODE URL``.

Modes:

* ``seed N`` — create four automations on a publishing engine (it executes nothing) and publish
  their events: ``N`` ``thread.created`` events, each starting a run that parks on a steering
  request (``gate``), one that parks on a ``thread.message_added`` event for its thread
  (``reply``) and one that parks on a durable 2 s delay (``pause``); then one
  ``thread.member_joined`` event starting a run whose first node holds (``held``) until the file
  ``CRASH_RELEASE`` exists, before it parks on a steering request; once answered, its next node
  holds until ``CRASH_RELEASE.2`` exists. Prints
  ``{"gate": aut_…, "reply": …, "pause": …, "held": …}`` as JSON, then stops cleanly.
* ``seed-gates N`` — only the ``gate`` automation and its ``N`` runs (for the answer races).
* ``serve`` — a worker engine (short lease, fast polling), as ``app.py serve``: prints ``ready``
  once its signal handlers are installed; SIGTERM stops it cleanly.
* ``answer`` — a publishing engine answering steering requests: prints ``ready``, then for each
  line ``REQUEST_ID CHOICE`` read from stdin answers it (``by`` = this process's pid) and prints
  ``answered REQUEST_ID`` or ``request_closed REQUEST_ID STATUS``; stops at end of input.

The ``CrashStep`` nodes are ``app.py``'s (they append ``pid run_id step_key`` to ``CRASH_LOG``,
fsynced, just before returning). ``HoldStep`` appends ``pid run_id KEY:begin`` when it starts and
``pid run_id KEY`` when it returns, so a test knows it is in flight.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import anyio

import graphflow
from graphflow.exceptions import WaitClosedError
from tests.durable.app import LOG, engine

APP = "app_parked"
RELEASE = os.environ.get("CRASH_RELEASE", "")
#: How long the ``pause`` automation's durable timer waits (seconds).
DELAY = 2.0


def _log(ctx: graphflow.NodeContext, key: str) -> None:
    with open(LOG, "a") as log:
        log.write(f"{os.getpid()} {ctx.run_id} {key}\n")
        log.flush()
        os.fsync(log.fileno())


@graphflow.node("HoldStep")
async def hold_step(input: Any, ctx: graphflow.NodeContext, *, suffix: str = "") -> Any:
    """Logs that it began, then holds until the release file (``CRASH_RELEASE`` + ``suffix``) exists."""
    _log(ctx, f"{ctx.step_key}:begin")
    release = anyio.Path(RELEASE + suffix)
    while not await release.exists():  # noqa: ASYNC110 - polling a file another process creates
        await anyio.sleep(0.02)
    _log(ctx, ctx.step_key)
    return input


def _graph(name: str, trigger: str, *middle: dict[str, Any]) -> dict[str, Any]:
    """trigger → ``middle`` nodes in a chain → ``s2`` (a CrashStep)."""
    nodes: list[dict[str, Any]] = [{"kind": "WorkflowTrigger", "id": "t", "trigger": trigger}]
    for node in [*middle, {"kind": "CrashStep", "id": "s2", "ms": 10}]:
        nodes[-1]["on_success"] = node["id"]
        nodes.append(dict(node))
    return {"kind": "WorkflowGraph", "version": 1, "name": name, "start_node": "t", "nodes": nodes}


S1 = {"kind": "CrashStep", "id": "s1", "ms": 10}
GATE = {"kind": "WorkflowApproval", "id": "gate", "message": "Welcome to {{ $.thread_id }}?"}
GRAPHS: dict[str, dict[str, Any]] = {
    "gate": _graph("gate", "thread.created", S1, GATE),
    "reply": _graph(
        "reply",
        "thread.created",
        S1,
        {
            "kind": "WorkflowWaitForEvent",
            "id": "reply",
            "event": "thread.message_added",
            "condition": "payload.thread_id == $.thread_id",
        },
    ),
    "pause": _graph("pause", "thread.created", S1, {"kind": "WorkflowDelay", "id": "pause", "duration": DELAY}),
    "held": _graph(
        "held",
        "thread.member_joined",
        {"kind": "HoldStep", "id": "hold"},
        GATE,
        {"kind": "HoldStep", "id": "hold2", "suffix": ".2"},
    ),
}
#: Per automation: the nodes each run completes once (its journal), and the nodes that log work.
STEPS = {name: tuple(node["id"] for node in graph["nodes"]) for name, graph in GRAPHS.items()}
WORK = {name: tuple(node["id"] for node in graph["nodes"] if "Step" in node["kind"]) for name, graph in GRAPHS.items()}


def thread(index: int) -> str:
    """The thread id of the ``index``-th ``thread.created`` event."""
    return f"thr_parked_{index}"


async def seed(url: str, count: int, names: tuple[str, ...]) -> None:
    async with engine(url, max_concurrent_runs=0) as seeding:
        ids: dict[str, str] = {}
        for name in names:
            config = await seeding.configs.create(APP, GRAPHS[name])
            trigger = GRAPHS[name]["nodes"][0]["trigger"]
            automation = await seeding.automations.create(
                APP, name=name, type="trigger", trigger=trigger, config_id=config.id, enabled=True
            )
            ids[name] = automation.id
        if "held" in names:  # first: its node begins while the others park
            await seeding.publish(APP, "thread.member_joined", {"thread_id": "thr_held", "user_id": "usr_1"})
        for index in range(count):
            await seeding.publish(APP, "thread.created", {"thread_id": thread(index)}, id=f"evt_created_{index}")
        print(json.dumps(ids), flush=True)


async def serve(url: str) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async with engine(url, max_concurrent_runs=8):
            print("ready", flush=True)
            async for _ in signals:
                return


async def answer(url: str) -> None:
    async with engine(url, max_concurrent_runs=0) as answering:
        print("ready", flush=True)
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            request_id, choice = line.split()
            try:
                await answering.steering.respond(APP, request_id, choice, by=f"usr_{os.getpid()}")
            except WaitClosedError as exc:
                print(f"{exc.code} {request_id} {exc.details['status']}", flush=True)
            else:
                print(f"answered {request_id}", flush=True)


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "seed":
        anyio.run(seed, url, int(sys.argv[3]), ("held", "gate", "reply", "pause"))
    elif mode == "seed-gates":
        anyio.run(seed, url, int(sys.argv[3]), ("gate",))
    elif mode == "answer":
        anyio.run(answer, url)
    else:
        anyio.run(serve, url)
