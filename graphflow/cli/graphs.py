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


def graph(file: str, format: Literal["mermaid", "dot"]) -> int:
    """Print a picture of the graph as Mermaid or Graphviz DOT."""
    from graphflow.graph.render import render_graph

    try:
        loaded = _load(file)
    except ValidationError as exc:
        echo(problems(file, exc))
        return 1
    sys.stdout.write(render_graph(loaded, format))
    return 0
