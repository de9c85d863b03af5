"""Every command's arguments, in the standard library's argparse (the commands live elsewhere).

Building this parser imports nothing heavy, so ``graphflow --help`` and a mistyped option answer
at once; the module that runs the chosen command is imported only after the arguments parse.
Each subparser records that command as ``_command = (module, function)``; the function takes the
parsed arguments as keywords and returns the exit code.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

import graphflow

__all__ = ["COMMAND", "build_parser"]

#: The namespace attribute naming the ``(module, function)`` that runs the chosen command.
COMMAND = "_command"

_DATABASE_HELP = (
    "memory://, sqlite:///file.db or postgresql://user@host/db "
    "(default: $GRAPHFLOW_DATABASE_URL, else sqlite:///graphflow.db)"
)


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line that points at the command's help."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see 'PROG --help')`` and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting whole numbers from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = "number"
    return parse


def seconds(*, allow_zero: bool) -> Callable[[str], float]:
    """An argparse ``type`` accepting a finite number of seconds, > 0 (or >= 0 with ``allow_zero``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise argparse.ArgumentTypeError(f"must be a number of seconds {bound}, got {text!r}")
        return value

    parse.__name__ = "seconds"
    return parse


def key_value(text: str) -> tuple[str, str]:
    """An argparse ``type`` for ``KEY=VALUE`` (the key non-empty; the value may be empty)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def build_parser() -> Parser:
    """The ``graphflow`` parser with one subparser per command."""
    parser = Parser(
        prog="graphflow",
        description="Validate, run and inspect graphflow workflow graphs; run workers.",
        epilog="Run 'graphflow COMMAND --help' for a command's options. Docs: docs/quickstart.md.",
    )
    parser.add_argument("--version", action="version", version=f"graphflow {graphflow.__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)

    def command(name: str, module: str, summary: str, description: str = "") -> Parser:
        sub: Parser = commands.add_parser(
            name,
            help=summary,
            description=f"{summary}\n\n{description}".strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(**{COMMAND: (f"graphflow.cli.{module}", name)})
        return sub

    _graph_commands(command)
    _trigger_commands(command)
    _operations_commands(command)
    return parser


def _graph_commands(command: Callable[..., Parser]) -> None:
    validate = command(
        "validate",
        "graphs",
        "Check graph configs and list every problem with its path.",
        "Exit 0 when every file is valid, 1 when any is not.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="graph configs (.json, .yaml, .yml)")
    validate.add_argument("--json", dest="as_json", action="store_true", help="print the problems as JSON")

    run = command(
        "run",
        "graphs",
        "Run a graph once, in this process, with no database.",
        'The graph starts at its trigger node for TRIGGER with {"trigger": TRIGGER, "payload": PAYLOAD}.\n'
        "Exit 0 when the run completed, 1 when it failed, was cancelled or the graph is invalid.",
    )
    run.add_argument("file", metavar="FILE", help="the graph config to run")
    run.add_argument("-t", "--trigger", required=True, metavar="EVENT", help="the event the run starts with")
    run.add_argument(
        "-p", "--payload", default="{}", metavar="JSON", help="the event payload as JSON, or @file.json (default: {})"
    )
    run.add_argument(
        "-e",
        "--env",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value scripts see as env.KEY (repeatable)",
    )
    run.add_argument("--timeout", type=seconds(allow_zero=False), metavar="SECONDS", help="fail the run after this")
    run.add_argument(
        "--json", dest="as_json", action="store_true", help="print the whole run (status, result, journal) as JSON"
    )

    command("schema", "graphs", "Print the WorkflowGraph JSON Schema (for editors and CI checks).")

    picture = command("graph", "graphs", "Print a picture of a graph as Mermaid or Graphviz DOT.")
    picture.add_argument("file", metavar="FILE", help="the graph config to draw")
    picture.add_argument("-f", "--format", choices=("mermaid", "dot"), default="mermaid", help="default: mermaid")


def _trigger_commands(command: Callable[..., Parser]) -> None:
    schedule = command(
        "schedule",
        "triggers",
        "Show how a schedule is understood: its normalized form, its display and its next fire times.",
        "SCHEDULE is a cron expression ('0 9 * * 1'), a phrase ('every monday at 9am'),\n"
        "an interval ('every 30m') or a time ('2026-03-01T09:00:00Z'). Exit 1 when it is not valid.",
    )
    schedule.add_argument("text", metavar="SCHEDULE", help="the schedule, quoted")
    schedule.add_argument(
        "-n",
        "--next",
        dest="next_count",
        type=int_between(1, 1000),
        default=5,
        metavar="N",
        help="how many next fire times to list (default: 5)",
    )
    schedule.add_argument(
        "--tz",
        "--timezone",
        dest="timezone",
        default="UTC",
        metavar="ZONE",
        help="IANA time zone the schedule runs in, e.g. Europe/Paris (default: UTC)",
    )
    schedule.add_argument("--json", dest="as_json", action="store_true", help="print JSON")

    events = command("events", "triggers", "List the platform events trigger automations can listen for.")
    events.add_argument("--category", metavar="NAME", help="only this category (thread, context, ...)")


def _operations_commands(command: Callable[..., Parser]) -> None:
    worker = command(
        "worker",
        "worker",
        "Run the scheduler and executor for every app on the database, until SIGTERM or Ctrl-C.",
        "Start one per host (or several per host on PostgreSQL). On SIGTERM the worker stops claiming,\n"
        "cancels the runs it executes and hands them back (checkpoints kept), then exits 0.",
    )
    worker.add_argument("--database-url", metavar="URL", help=_DATABASE_HELP)
    worker.add_argument(
        "--concurrency",
        type=int_between(1, 100_000),
        default=64,
        metavar="N",
        help="runs executing at once in this process (default: 64)",
    )
    worker.add_argument(
        "--lease",
        type=seconds(allow_zero=False),
        default=30.0,
        metavar="SECONDS",
        help="how long a claimed run stays ours without a heartbeat (default: 30)",
    )
    worker.add_argument(
        "--status-every",
        type=seconds(allow_zero=True),
        default=10.0,
        metavar="SECONDS",
        help="seconds between status lines, 0 for none (default: 10)",
    )

    prune = command("prune", "worker", "Delete finished runs (and their journals) older than an age.")
    prune.add_argument("--older-than", required=True, metavar="AGE", help="an age such as 30d, 12h or 1h30m")
    prune.add_argument("--database-url", metavar="URL", help=_DATABASE_HELP)
