"""A real uvicorn server on a random loopback port, in a thread, with its engine reachable from tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio.abc
import anyio.from_thread
import httpx
import uvicorn
from starlette.requests import Request

from graphflow.abc import Store
from graphflow.api import Settings, create_app
from graphflow.api.auth import HostAuth, bearer_secret
from graphflow.engine.engine import Engine

T = TypeVar("T")


class _Server(uvicorn.Server):
    """uvicorn that says when it listens (no polling) and leaves signals to the process."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


class Live:
    """A running server: ``url``, an engine to call through ``call``, clients per key."""

    def __init__(self, url: str, engine: Engine, portal: anyio.from_thread.BlockingPortal) -> None:
        self.url = url
        self.engine = engine
        self.portal = portal

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run an engine coroutine on the server's event loop."""
        return self.portal.call(lambda: fn(*args, **kwargs))

    def client(self, key: str | None = None, **headers: str) -> httpx.Client:
        """An HTTP client sending ``Authorization: Bearer key`` (none without a key)."""
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


async def token_auth(request: Request) -> str | None:
    """A host ``auth=`` callable: ``Bearer key-APP`` acts for APP (a revoked set refuses)."""
    secret = bearer_secret(request)
    if secret is None or not secret.startswith("key-") or secret in REVOKED:
        return None
    return secret.removeprefix("key-")


#: Tokens :func:`token_auth` refuses from now on.
REVOKED: set[str] = set()


@contextmanager
def live_server(
    store: Store | str = "memory://",
    *,
    auth: HostAuth | None = None,
    settings: Settings | None = None,
    **engine_args: Any,
) -> Iterator[Live]:
    """Start an engine and the API on 127.0.0.1:<random port>; stop both on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()

    async def serve(*, task_status: anyio.abc.TaskStatus[tuple[Engine, _Server]]) -> None:
        async with Engine(store, **engine_args) as engine:  # entered and left in this one task
            app = create_app(engine, auth=auth, settings=settings)
            config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
            server = _Server(config, ready)
            task_status.started((engine, server))
            await server.serve([sock])

    with sock, anyio.from_thread.start_blocking_portal() as portal:
        served, (engine, server) = portal.start_task(serve)
        try:
            assert ready.wait(10), "the server did not start"
            yield Live(f"http://127.0.0.1:{port}", engine, portal)
        finally:
            server.should_exit = True
            served.result(timeout=15)
