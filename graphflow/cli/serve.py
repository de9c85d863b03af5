"""``graphflow serve``: the HTTP API on uvicorn, with an engine executing runs in the same process."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console

from graphflow.cli.errors import UsageError

if TYPE_CHECKING:
    from graphflow.api import Settings
    from graphflow.engine.engine import Engine

__all__ = ["listen", "serve"]

out = Console(stderr=True, soft_wrap=True)


def serve(
    database_url: str | None,
    host: str,
    port: int,
    workers_in_process: int,
    dashboard: bool = True,
    metrics_app: str | None = None,
    metrics_public: bool = False,
    node_metrics: bool = False,
    log_format: str = "text",
    log_level: str = "info",
) -> int:
    """Serve the API on ``host:port`` until SIGTERM or Ctrl-C; execute runs here unless ``workers_in_process`` is 0.

    With ``--workers-in-process 0`` the process only serves (its engine publishes, creates and
    reads); ``graphflow worker`` processes on the same database execute the runs. The dashboard
    is served at ``/`` unless ``dashboard`` is false (``--no-dashboard``). ``GET /metrics`` and
    ``GET /v1/status`` need an API key (of ``metrics_app`` when given) unless ``metrics_public``.
    """
    try:
        import sse_starlette  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError("graphflow serve needs the HTTP extra: pip install 'graphflow[http]'") from None
    import anyio

    from graphflow.api import Settings
    from graphflow.exceptions import StoreError, ValidationError
    from graphflow.ids import check_app
    from graphflow.observability.logs import configure_logging
    from graphflow.stores import default_database_url, redact_url, store_from_url

    if metrics_app is not None:
        try:
            check_app(metrics_app)
        except ValidationError as exc:
            raise UsageError(f"--metrics-app: {exc.problems[0].message}") from None
    if metrics_app is not None and metrics_public:
        raise UsageError(
            "--metrics-app and --metrics-public contradict each other: --metrics-app lets only that app's keys "
            "read /metrics and /v1/status, --metrics-public lets anyone; give one"
        )
    settings = Settings(metrics_app=metrics_app, metrics_public=metrics_public)
    url = database_url or default_database_url()
    try:
        store = store_from_url(url)
    except ValueError as exc:
        raise UsageError(f"--database-url: {exc}") from None
    if workers_in_process == 0 and not store.durable:
        raise UsageError("--workers-in-process 0 needs a durable database (SQLite file or PostgreSQL) for workers")
    listener = listen(host, port)  # a taken port fails here, before the engine starts
    if metrics_app is None and not metrics_public:
        import sys

        print(
            "graphflow serve: warning: any app's API key can read /metrics and /v1/status, which name every app's "
            "automations; on a server shared by apps that do not trust each other, pass --metrics-app "
            "<the operator's app>",
            file=sys.stderr,
        )
    configure_logging("json" if log_format == "json" else "text", level=log_level.upper())
    try:
        anyio.run(_serve, url, listener, workers_in_process, dashboard, settings, node_metrics)
    except StoreError as exc:
        raise UsageError(f"{exc.code}: {exc}") from None
    finally:
        listener.close()
    out.print(f"server stopped cleanly ({redact_url(url)})")
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening); a taken port is a usage error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


async def _serve(
    url: str, listener: socket.socket, workers: int, dashboard: bool, settings: Settings, node_metrics: bool
) -> None:
    import anyio
    import uvicorn
    from sse_starlette.sse import AppStatus

    from graphflow.api import create_app
    from graphflow.engine.engine import Engine
    from graphflow.observability.metrics import EngineMetrics
    from graphflow.stores import redact_url

    class Server(uvicorn.Server):
        """uvicorn leaving the signals to us (caught before start-up) and saying when it listens."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                where = listener.getsockname()
                out.print(
                    f"graphflow serve listening on http://{where[0]}:{where[1]} · {redact_url(url)} "
                    f"· {workers} run workers in process · Ctrl-C or SIGTERM stops it"
                )

    # The signals are caught before anything starts (as `graphflow worker` does): a SIGTERM during
    # start-up waits here and then stops the server cleanly instead of killing the process.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with Engine(url, max_concurrent_runs=workers) as engine:
            metrics = EngineMetrics(engine, node_durations=node_metrics)
            app = create_app(engine, dashboard=dashboard, settings=settings, metrics=metrics)
            config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=10)
            server = Server(config)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_stop_on_signal, signals, server, AppStatus, engine)
                await server.serve([listener])
                tg.cancel_scope.cancel()


async def _stop_on_signal(signals: Any, server: Any, sse_status: Any, engine: Engine) -> None:
    async for signum in signals:
        out.print(f"{signal.Signals(signum).name}: closing connections, handing back in-flight runs, stopping")
        server.should_exit = True
        sse_status.should_exit = True  # open event streams end instead of holding the shutdown
        return
