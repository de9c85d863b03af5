"""Operations commands: ``worker`` (the process to run on each host) and ``prune`` (retention)."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine

__all__ = ["register"]

out = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="GRAPHFLOW_DATABASE_URL",
        help="memory://, sqlite:///file.db or postgresql://… (default: sqlite:///graphflow.db).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the operations commands to ``app``."""
    app.command("worker")(worker)
    app.command("prune")(prune)


def worker(
    database_url: DatabaseUrl = None,
    concurrency: Annotated[int, typer.Option(help="Runs executing at once in this process.")] = 64,
    lease: Annotated[float, typer.Option(help="Seconds a claimed run stays ours without a heartbeat.")] = 30.0,
    status_every: Annotated[float, typer.Option(help="Seconds between status lines (0: none).")] = 10.0,
) -> None:
    """Run the scheduler and executor for every app on the database, until SIGTERM or Ctrl-C.

    Start one per host (or several per host on PostgreSQL). On SIGTERM the worker stops claiming,
    cancels the runs it executes and hands them back (checkpoints kept), then exits 0.
    """
    import anyio

    from graphflow.exceptions import StoreError
    from graphflow.stores import default_database_url, redact_url

    url = database_url or default_database_url()
    try:
        anyio.run(_serve, url, concurrency, lease, status_every)
    except StoreError as exc:
        out.print(f"[red]{exc.code}[/red]: {exc}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        out.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2) from None
    out.print(f"worker stopped cleanly ({redact_url(url)})")


async def _serve(url: str, concurrency: int, lease: float, status_every: float) -> None:
    import anyio

    from graphflow.engine.engine import Engine
    from graphflow.events import RunCompleted, RunFailed
    from graphflow.stores import redact_url

    counts = {"completed": 0, "failed": 0}

    def count(event: Any) -> None:
        counts["completed" if isinstance(event, RunCompleted) else "failed"] += 1

    async with Engine(url, max_concurrent_runs=concurrency, lease=lease) as engine:
        engine.subscribe(count, (RunCompleted, RunFailed))
        out.print(
            f"graphflow worker {engine.worker_id} on {redact_url(url)} · concurrency {concurrency} "
            "· Ctrl-C or SIGTERM stops it"
        )
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with anyio.create_task_group() as tg:
                if status_every > 0:
                    tg.start_soon(_status, engine, counts, status_every)
                async for signum in signals:
                    out.print(f"{signal.Signals(signum).name}: handing back in-flight runs and stopping")
                    tg.cancel_scope.cancel()
                    break


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


def prune(
    older_than: Annotated[str, typer.Option("--older-than", help="Age, e.g. 30d, 12h.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Delete finished runs (and their journals) older than the given age."""
    import anyio

    from graphflow.exceptions import StoreError
    from graphflow.graph.durations import parse_duration
    from graphflow.stores import default_database_url, store_from_url

    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        out.print(f"[red]invalid --older-than[/red]: {exc}")
        raise typer.Exit(2) from None

    async def go() -> int:
        store = store_from_url(database_url or default_database_url())
        await store.start()
        try:
            return await store.prune(time.time() - seconds)
        finally:
            await store.close()

    try:
        removed = anyio.run(go)
    except StoreError as exc:
        out.print(f"[red]{exc.code}[/red]: {exc}")
        raise typer.Exit(2) from None
    typer.echo(f"pruned {removed} runs finished more than {older_than} ago")
