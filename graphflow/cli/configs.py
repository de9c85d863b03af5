"""Config commands: ``create config -f FILE`` and ``list configs`` (arguments in ``parser.py``)."""

from __future__ import annotations

from graphflow.cli.automations import Where, call, more, when
from graphflow.cli.connection import server_mode
from graphflow.cli.graphs import problems
from graphflow.cli.inputs import read_text
from graphflow.cli.output import echo, print_json, table

__all__ = ["create_config", "list_configs"]


def create_config(file: str, as_json: bool, **where: Where) -> int:
    """Validate a graph config (JSON or YAML) and store it as version 1; print its id."""
    text = read_text(file, "-f/--file")
    if not server_mode(where.get("database_url"), where.get("server")):
        # Checked before the database is opened (or created): a bad graph changes nothing. A server
        # checks it itself, with the node kinds it has.
        from graphflow.exceptions import ValidationError
        from graphflow.graph.loader import build_graph, parse_document

        try:
            build_graph(parse_document(text))
        except ValidationError as exc:
            if as_json:
                print_json(exc.to_dict())
            else:
                echo(problems(file, exc))
            return 1
    yaml = not file.endswith(".json")  # YAML is a superset of JSON: stdin and .yaml/.yml parse either
    config = call(lambda c: c.create_config(text, yaml=yaml), where, must_exist=False)
    if as_json:
        print_json(config)
    else:
        echo(f"created config {config['id']} ({config['name']}, version {config['version']})")
    return 0


def list_configs(limit: int, cursor: str | None, as_json: bool, **where: Where) -> int:
    """List the app's configs (latest versions), newest first."""
    page = call(lambda c: c.list_configs(cursor=cursor, limit=limit), where)
    if as_json:
        print_json(page)
        return 0
    rows = ((c["id"], c["name"], str(c["version"]), when(c.get("updated_at"))) for c in page["data"])
    echo(table(("id", "name", "version", "updated"), rows))
    more(page, "graphflow list configs")
    return 0
