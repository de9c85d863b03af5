"""The dashboard's test server: the API and the page on uvicorn, a worker engine the tests start and stop.

The serving engine executes nothing (``max_concurrent_runs=0`` on a SQLite file), so a run stays
``pending`` until a test starts :class:`Worker` — another engine on the same file, in its own
event loop — whose ``DashboardGate`` nodes wait until the test opens the gate. That makes
pending → running → completed observable one step at a time, with no sleep.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import anyio
import anyio.abc
import anyio.from_thread
import uvicorn

from graphflow.abc import NodeContext
from graphflow.api import create_app
from graphflow.engine.engine import Engine
from graphflow.exceptions import NodeExecutionError
from graphflow.graph.model import Node
from graphflow.nodes.registry import register_node


@register_node
class DashboardGate(Node):
    """Waits for the worker's gate to open; fails with ``$.fail`` when the input has it."""

    kind: Literal["DashboardGate"] = "DashboardGate"

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        if isinstance(input, dict) and isinstance(input.get("fail"), str):
            raise NodeExecutionError(input["fail"], retryable=False)
        await ctx.services["gate"].wait()
        return input


class _Server(uvicorn.Server):
    """uvicorn that says when it listens and leaves signals to the process."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


class Dashboard:
    """A running server: its ``url``, its (non-executing) engine, and a way to call it."""

    def __init__(self, url: str, database: str, engine: Engine, portal: anyio.from_thread.BlockingPortal) -> None:
        self.url = url
        self.database = database
        self.engine = engine
        self.portal = portal

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an engine coroutine on the server's event loop."""
        return self.portal.call(lambda: fn(*args, **kwargs))

    def key(self, app_id: str) -> str:
        """A new API key of ``app_id`` (its secret)."""
        return str(self.call(self.engine.keys.create, app_id)[1])


@contextmanager
def dashboard_server(database: str) -> Iterator[Dashboard]:
    """The API with the dashboard on 127.0.0.1:<random port>, over ``database`` (a SQLite URL)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()

    async def serve(*, task_status: anyio.abc.TaskStatus[tuple[Engine, _Server]]) -> None:
        async with Engine(database, max_concurrent_runs=0, poll_interval=0.1, sync_interval=0.2) as engine:
            config = uvicorn.Config(
                create_app(engine, dashboard=True), log_level="warning", lifespan="off", timeout_graceful_shutdown=2
            )
            server = _Server(config, ready)
            task_status.started((engine, server))
            await server.serve([sock])

    with sock, anyio.from_thread.start_blocking_portal() as portal:
        served, (engine, server) = portal.start_task(serve)
        try:
            assert ready.wait(10), "the server did not start"
            yield Dashboard(f"http://127.0.0.1:{port}", database, engine, portal)
        finally:
            server.should_exit = True
            served.result(timeout=15)


class Worker:
    """An engine executing the database's runs in its own event loop; ``open()`` lets gated nodes pass."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, gate: anyio.Event) -> None:
        self.portal = portal
        self.gate = gate

    def open(self) -> None:
        """Let every waiting (and future) ``DashboardGate`` node pass."""
        self.portal.call(self.gate.set)


@contextmanager
def worker(database: str, *, gate_open: bool = False) -> Iterator[Worker]:
    """A worker engine on ``database`` for the ``with`` block (its gate closed unless ``gate_open``)."""
    with anyio.from_thread.start_blocking_portal() as portal:
        gate: anyio.Event = portal.call(anyio.Event)
        if gate_open:
            portal.call(gate.set)
        stop: anyio.Event = portal.call(anyio.Event)

        async def run(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            engine = Engine(database, services={"gate": gate}, poll_interval=0.05, lease=5)
            async with engine:
                task_status.started()
                await stop.wait()

        served, _ = portal.start_task(run)
        try:
            yield Worker(portal, gate)
        finally:
            portal.call(gate.set)  # nothing left waiting: the engine hands back or finishes its runs
            portal.call(stop.set)
            served.result(timeout=15)


class Proxy:
    """A TCP relay to the server whose ``drop()`` cuts every open connection, as a network failure would."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed: the proxy is stopping
                return
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.open += [client, server]
            for source, target in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pipe, args=(source, target), daemon=True)
                self.threads.append(thread)
                thread.start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        """Cut every connection open now (new ones are relayed as before)."""
        with self.lock:
            dropped, self.open = self.open, []
        for sock in dropped:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop accepting and cut everything."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        self.listener.close()
        self.drop()
        self.accepting.join(5)
        for thread in self.threads:
            thread.join(5)
