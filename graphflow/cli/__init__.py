"""The ``graphflow`` command line (typer + rich): one module per noun, no business logic here."""

from __future__ import annotations

import typer

from graphflow.cli import graphs, triggers, worker

__all__ = ["app", "main"]

app = typer.Typer(
    name="graphflow",
    help="Validate, run and inspect graphflow workflow graphs; run workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
graphs.register(app)
triggers.register(app)
worker.register(app)


def main() -> None:
    """Entry point of the ``graphflow`` script and ``python -m graphflow``."""
    app()
