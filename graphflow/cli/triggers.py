"""Trigger commands: ``schedule`` (parse, display, next fires) and ``events`` (the catalogue)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from graphflow.exceptions import ValidationError

__all__ = ["register"]

out = Console()


def register(app: typer.Typer) -> None:
    """Add the trigger commands to ``app``."""
    app.command("schedule")(schedule)
    app.command("events")(events)


def schedule(
    text: Annotated[str, typer.Argument(help="A cron expression or e.g. 'every monday at 9am'.")],
    next_count: Annotated[int, typer.Option("--next", "-n", help="How many next fires to list.")] = 5,
    timezone: Annotated[str, typer.Option("--timezone", "--tz", help="IANA zone, e.g. Europe/Paris.")] = "UTC",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show how a schedule is understood: its normalized form, display and next fire times."""
    from graphflow.triggers.schedules import explain_schedule

    try:
        info = explain_schedule(text, timezone=timezone, count=next_count)
    except ValidationError as exc:
        for problem in exc.problems:
            hint = f" ({problem.hint})" if problem.hint else ""
            out.print(f"[red]invalid schedule[/red]: {problem.message}{hint}")
        raise typer.Exit(1) from None
    if as_json:
        out.print_json(data=info)
        return
    out.print(f"[bold]{info['display']}[/bold]")
    out.print(f"  kind: {info['kind']}   expression: {info['expression']}   timezone: {info['timezone']}")
    for fire in info["next"]:
        out.print(f"  next: {fire}")


def events(
    category: Annotated[str | None, typer.Option(help="Only this category (thread, context…).")] = None,
) -> None:
    """List the platform events trigger automations can listen for."""
    from graphflow.triggers.catalogue import EventCatalogue

    table = Table(title="events")
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("category")
    table.add_column("description")
    for event in EventCatalogue().list(category):
        if not event.internal:
            table.add_row(event.name, event.category, event.description)
    out.print(table)
