"""Graph commands: ``validate``, ``run``, ``schema``, ``graph``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.table import Table

from graphflow.exceptions import GraphflowError, ValidationError

__all__ = ["register"]

out = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add the graph commands to ``app``."""
    app.command("validate")(validate)
    app.command("run")(run)
    app.command("schema")(schema)
    app.command("graph")(graph)


def _problems_table(file: str, exc: ValidationError) -> Table:
    table = Table(title=f"{file}: {len(exc.problems)} problem(s)", title_justify="left")
    table.add_column("path", style="cyan", no_wrap=True)
    table.add_column("node", style="magenta")
    table.add_column("problem", style="red")
    table.add_column("hint", style="green")
    for p in exc.problems:
        table.add_row(p.path, p.node_id or "", p.message, p.hint)
    return table


def validate(
    files: Annotated[list[Path], typer.Argument(help="Graph configs (.json, .yaml, .yml).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print problems as JSON.")] = False,
) -> None:
    """Check graph configs; list every problem with its path. Exit 1 if any file is invalid."""
    from graphflow.graph.loader import load_graph

    failed = False
    report: dict[str, Any] = {}
    for file in files:
        try:
            loaded = load_graph(file)
        except ValidationError as exc:
            failed = True
            report[str(file)] = [p.to_dict() for p in exc.problems]
            if not as_json:
                out.print(_problems_table(str(file), exc))
        else:
            report[str(file)] = []
            if not as_json:
                out.print(f"[green]✓[/green] {file}: valid ({len(loaded.nodes)} nodes)")
    if as_json:
        out.print_json(data=report)
    raise typer.Exit(1 if failed else 0)


def _payload(text: str) -> Any:
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"payload is not JSON: {exc}") from None


def run(
    file: Annotated[Path, typer.Argument(help="The graph config to run.")],
    trigger: Annotated[str, typer.Option("--trigger", "-t", help="Event name to start with.")],
    payload: Annotated[str, typer.Option("--payload", "-p", help="JSON payload, or @file.json.")] = "{}",
    env: Annotated[list[str], typer.Option("--env", "-e", help="KEY=VALUE visible as env.KEY.")] = [],  # noqa: B006
    timeout: Annotated[float | None, typer.Option(help="Run-level timeout in seconds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole run as JSON.")] = False,
) -> None:
    """Run a graph once with ``{"trigger": TRIGGER, "payload": PAYLOAD}``. Exit 1 unless completed."""
    from graphflow.engine.executor import Executor
    from graphflow.graph.loader import load_graph

    values = dict(item.split("=", 1) for item in env if "=" in item)
    data = _payload(payload)
    try:
        loaded = load_graph(file)
        result = anyio.run(
            lambda: Executor(env=values).run(loaded, {"trigger": trigger, "payload": data}, timeout=timeout)
        )
    except ValidationError as exc:
        if as_json:
            out.print_json(data=exc.to_dict())
        else:
            out.print(_problems_table(str(file), exc))
        raise typer.Exit(1) from None
    except GraphflowError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(1) from None
    if as_json:
        out.print_json(data=result.to_dict())
    else:
        colour = {"completed": "green", "failed": "red"}.get(result.status, "yellow")
        out.print(
            f"[{colour}]{result.status}[/{colour}] {result.run_id} "
            f"({(result.finished_at - result.started_at) * 1000:.1f} ms)"
        )
        for line in result.output:
            out.print(f"  [dim]|[/dim] {line}", highlight=False)
        out.print_json(data=result.result)
    raise typer.Exit(0 if result.status == "completed" else 1)


def schema() -> None:
    """Print the WorkflowGraph JSON Schema (for editors and CI checks)."""
    from graphflow.graph.schema import graph_schema

    sys.stdout.write(json.dumps(graph_schema(), indent=2) + "\n")


def graph(
    file: Annotated[Path, typer.Argument(help="The graph config to draw.")],
    format: Annotated[str, typer.Option("--format", "-f", help="mermaid or dot.")] = "mermaid",
) -> None:
    """Print a picture of the graph as Mermaid or Graphviz DOT."""
    from graphflow.graph.loader import load_graph
    from graphflow.graph.render import render_graph

    if format not in ("mermaid", "dot"):
        raise typer.BadParameter("format is 'mermaid' or 'dot'")
    try:
        loaded = load_graph(file)
    except ValidationError as exc:
        out.print(_problems_table(str(file), exc))
        raise typer.Exit(1) from None
    sys.stdout.write(render_graph(loaded, format))  # type: ignore[arg-type]
