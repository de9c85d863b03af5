"""Operations commands: ``worker`` (the process to run on each host) and ``prune`` (retention)."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console

from graphflow.cli.database import store_at
from graphflow.cli.errors import UsageError

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine

__all__ = ["prune", "worker"]

out = Console(stderr=True)


def worker(
    database_url: str | None,
    concurrency: int,
    lease: float,
    status_every: float,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    node_metrics: bool = False,
    log_format: str = "text",
    log_level: str = "info",
) -> int:
    """Run the scheduler and executor for every app on the database, until SIGTERM or Ctrl-C.

    Start one per host (or several per host on PostgreSQL). On SIGTERM the worker stops claiming,
    cancels the runs it executes and hands them back (checkpoints kept), then exits 0.
    """
    import anyio

    from graphflow.exceptions import StoreError
    from graphflow.observability.logs import configure_logging
    from graphflow.stores import default_database_url, redact_url

    url = database_url or default_database_url()
    store_at(url, must_exist=False)  # a bad URL fails here, before anything starts
    configure_logging("json" if log_format == "json" else "text", level=log_level.upper())
    listener = None
    if not metrics_host.strip():
        raise UsageError(
            "--metrics-host: give an address to listen on (default 127.0.0.1); an empty one listens on every "
            "interface, serving /metrics without credentials to anyone who can reach the host"
        )
    if metrics_port is not None:
        try:
            import starlette  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError:
            raise UsageError("--metrics-port needs the HTTP extra: pip install 'graphflow[http]'") from None
        from graphflow.cli.serve import listen

        listener = listen(metrics_host, metrics_port)  # a taken port fails here, before the engine starts
    try:
        anyio.run(_serve, url, concurrency, lease, status_every, listener, node_metrics)
    except StoreError as exc:
        raise UsageError(f"{exc.code}: {exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        if listener is not None:
            listener.close()
    out.print(f"worker stopped cleanly ({redact_url(url)})")
    return 0


async def _serve(
    url: str, concurrency: int, lease: float, status_every: float, listener: socket.socket | None, node_metrics: bool
) -> None:
    import anyio

    from graphflow.engine.engine import Engine
    from graphflow.events import RunCompleted, RunFailed
    from graphflow.stores import redact_url

    counts = {"completed": 0, "failed": 0}

    def count(event: Any) -> None:
        counts["completed" if isinstance(event, RunCompleted) else "failed"] += 1

    # The signals are caught before the engine starts: one that arrives while it starts (connecting,
    # loading automations) waits here and stops the worker cleanly once started, instead of killing
    # it with the default action (exit -15, its claimed runs left until their leases expire).
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with Engine(url, max_concurrent_runs=concurrency, lease=lease) as engine:
            engine.subscribe(count, (RunCompleted, RunFailed))
            out.print(
                f"graphflow worker {engine.worker_id} on {redact_url(url)} · concurrency {concurrency} "
                "· Ctrl-C or SIGTERM stops it"
            )
            async with anyio.create_task_group() as tg:
                if status_every > 0:
                    tg.start_soon(_status, engine, counts, status_every)
                if listener is not None:
                    tg.start_soon(_metrics, engine, listener, node_metrics)
                async for signum in signals:
                    out.print(f"{signal.Signals(signum).name}: handing back in-flight runs and stopping")
                    tg.cancel_scope.cancel()
                    break


async def _metrics(engine: Engine, listener: socket.socket, node_durations: bool) -> None:
    """Serve ``GET /metrics`` on ``listener`` until the worker stops (cancelled with its task group)."""
    import uvicorn

    from graphflow.api.app import create_metrics_app
    from graphflow.observability.metrics import EngineMetrics

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the worker owns the signals
            yield

    metrics = EngineMetrics(engine, node_durations=node_durations)
    config = uvicorn.Config(create_metrics_app(metrics), lifespan="off", log_level="warning")
    where = listener.getsockname()
    out.print(f"metrics on http://{where[0]}:{where[1]}/metrics")
    await Server(config).serve([listener])


async def _status(engine: Engine, counts: dict[str, int], every: float) -> None:
    import anyio

    started = time.monotonic()
    while True:
        await anyio.sleep(every)
        executing = sum(len(r) for r in engine.running.values())
        out.print(
            f"[dim]{time.strftime('%H:%M:%S')}[/dim] up {time.monotonic() - started:,.0f}s · "
            f"executing {executing} · completed {counts['completed']} · failed {counts['failed']} · "
            f"schedules {len(engine.scheduler)}"
        )


def prune(older_than: str, database_url: str | None) -> int:
    """Delete finished runs (and their journals) older than the given age."""
    import anyio

    from graphflow.exceptions import StoreError
    from graphflow.graph.durations import parse_duration
    from graphflow.stores import default_database_url

    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        raise UsageError(f"invalid --older-than: {exc}") from None
    store = store_at(database_url or default_database_url(), must_exist=True)

    async def go() -> int:
        await store.start()
        try:
            return await store.prune(time.time() - seconds)
        finally:
            await store.close()

    try:
        removed = anyio.run(go)
    except StoreError as exc:
        raise UsageError(f"{exc.code}: {exc}") from None
    print(f"pruned {removed} runs finished more than {older_than} ago")
    return 0
