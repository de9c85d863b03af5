"""Graph commands: ``validate``, ``run``, ``schema``, ``graph`` (arguments in ``parser.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from graphflow.cli.inputs import json_argument
from graphflow.cli.output import echo, print_json, table
from graphflow.exceptions import ValidationError

if TYPE_CHECKING:
    from graphflow.graph.model import WorkflowGraph

__all__ = ["graph", "run", "schema", "validate"]


def problems(file: str, exc: ValidationError) -> str:
    """The problems of ``file`` as a table under a count line."""
    count = len(exc.problems)
    rows = ((p.path, p.node_id or "", p.message, p.hint) for p in exc.problems)
    return f"{file}: {count} problem{'s' if count != 1 else ''}\n" + table(("path", "node", "problem", "hint"), rows)


def _load(file: str) -> WorkflowGraph:
    from graphflow.graph.loader import load_graph

    return load_graph(Path(file))


def validate(files: list[str], as_json: bool) -> int:
    """Check graph configs; list every problem with its path. 1 if any file is invalid."""
    report: dict[str, Any] = {}
    for file in files:
        try:
            loaded = _load(file)
        except ValidationError as exc:
            report[file] = [p.to_dict() for p in exc.problems]
            if not as_json:
                echo(problems(file, exc))
        else:
            report[file] = []
            if not as_json:
                echo(f"{file}: valid ({len(loaded.nodes)} nodes)")
    if as_json:
        print_json(report)
    return 1 if any(report.values()) else 0


def _iso(timestamp: float) -> str:
    """The ISO 8601 UTC form the journal uses (``2026-02-28T09:00:00.123456Z``)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def run(file: str, trigger: str, payload: str, env: list[tuple[str, str]], timeout: float | None, as_json: bool) -> int:
    """Run a graph once with ``{"trigger": TRIGGER, "payload": PAYLOAD}``; 1 unless it completed."""
    import anyio

    from graphflow.engine.executor import Executor

    data = json_argument(payload)
    try:
        loaded = _load(file)
        envelope = {"trigger": trigger, "payload": data}
        result = anyio.run(lambda: Executor(env=dict(env)).run(loaded, envelope, timeout=timeout))
    except ValidationError as exc:
        if as_json:
            print_json(exc.to_dict())
        else:
            echo(problems(file, exc))
        return 1
    if as_json:
        print_json({**result.to_dict(), "started_at": _iso(result.started_at), "finished_at": _iso(result.finished_at)})
    else:
        echo(f"{result.status} {result.run_id} ({(result.finished_at - result.started_at) * 1000:.1f} ms)")
        for line in result.output:
            echo(f"  | {line}")
        print_json(result.result)
    return 0 if result.status == "completed" else 1


def schema() -> int:
    """Print the WorkflowGraph JSON Schema (for editors and CI checks)."""
    from graphflow.graph.schema import graph_schema

    sys.stdout.write(json.dumps(graph_schema(), indent=2) + "\n")
    return 0


def graph(
    file: str | None,
    format: Literal["mermaid", "dot", "svg"],
    run: str | None = None,
    app: str | None = None,
    database_url: str | None = None,
    server: str | None = None,
    key: str | None = None,
) -> int:
    """Print a picture of a graph file as Mermaid, Graphviz DOT or SVG; or of a run's graph with its path (SVG)."""
    from graphflow.cli.errors import UsageError
    from graphflow.graph.render import render_graph

    if (file is None) == (run is None):
        raise UsageError("give either a graph FILE or --run RUN_ID")
    if run is not None:
        if format != "svg":
            raise UsageError("--run draws the run's path in SVG only: add --format svg")
        sys.stdout.write(_run_picture(run, app, database_url, server, key))
        return 0
    assert file is not None
    try:
        loaded = _load(file)
    except ValidationError as exc:
        echo(problems(file, exc))
        return 1
    sys.stdout.write(render_graph(loaded, format))
    return 0


def _run_picture(run_id: str, app: str | None, database_url: str | None, server: str | None, key: str | None) -> str:
    """The run's graph with its path, from the database or the server's ``…/runs/{id}/svg``."""
    import anyio

    from graphflow.cli.connection import connect, resolve_target

    target = resolve_target(app, database_url, server, key)

    async def picture() -> str:
        async with connect(target) as client:
            from graphflow.cli.direct import DirectClient

            if isinstance(client, DirectClient):
                from graphflow.cli.errors import CommandFailedError
                from graphflow.graph.svg import node_states, render_svg
                from graphflow.records import TERMINAL_RUN_STATUSES

                engine = client.engine
                record = await engine.automations.run(target.app, run_id)
                if record.config_id is None:
                    raise CommandFailedError(f"run {run_id} has no config to draw")
                loaded, _ = await engine.graph_for(target.app, record.config_id, record.config_version)
                finished = record.status in TERMINAL_RUN_STATUSES
                states = node_states(record.journal, finished=finished)
                return render_svg(loaded, states=states, finished=finished, title=f"{loaded.name}: run {run_id}")
            await client.get_run(run_id)  # refusals (unknown run, bad key) worded as every command's
            from urllib.parse import quote

            from graphflow.cli.errors import CommandFailedError
            from graphflow.cli.remote import HttpClient

            assert isinstance(client, HttpClient)
            response = await client.http.get(f"{client.base}/automations/runs/{quote(run_id, safe='')}/svg")
            if response.status_code != 200:
                raise CommandFailedError(
                    f"the server could not draw run {run_id} (HTTP {response.status_code}); "
                    "it may be a graphflow older than the SVG pictures"
                )
            return response.text

    return anyio.run(picture)
