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
from typing import Any, NoReturn

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
        description="Validate, run and inspect workflow graphs; run workers; manage automations, runs and keys.",
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
    _management_commands(commands)
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

    serve = command(
        "serve",
        "serve",
        "Serve the HTTP API (REST + SSE, docs/api.md) and execute runs in this process, until SIGTERM or Ctrl-C.",
        "Needs the [http] extra. With --workers-in-process 0 it only serves: graphflow worker processes\n"
        "on the same database execute the runs. On SIGTERM it stops accepting, closes open streams,\n"
        "hands back the runs it executes, then exits 0.",
    )
    serve.add_argument("--database-url", metavar="URL", help=_DATABASE_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=int_between(0, 65535), default=8080, metavar="PORT", help="default: 8080 (0: any free port)"
    )
    serve.add_argument(
        "--workers-in-process",
        type=int_between(0, 100_000),
        default=64,
        metavar="N",
        help="runs executing at once in this process; 0: none, workers execute them (default: 64)",
    )


_CONNECTION_HELP = """\
Every management command works on one app (--app, or $GRAPHFLOW_APP), either directly on the
database (--database-url, or $GRAPHFLOW_DATABASE_URL) or through a graphflow server (--server URL
--key KEY, or $GRAPHFLOW_SERVER and $GRAPHFLOW_API_KEY). Without --server the database is used.
--json prints the API's JSON shapes for scripts."""


def _connection(sub: argparse.ArgumentParser) -> None:
    """The options every management command shares: the app, where it lives, and --json."""
    where = sub.add_argument_group("connection")
    where.add_argument("--app", metavar="APP", help="the app id (default: $GRAPHFLOW_APP)")
    where.add_argument("--database-url", metavar="URL", help=f"direct mode: {_DATABASE_HELP}")
    where.add_argument("--server", metavar="URL", help="server mode: the graphflow server (default: $GRAPHFLOW_SERVER)")
    where.add_argument("--key", metavar="KEY", help="server mode: the app's API key (default: $GRAPHFLOW_API_KEY)")
    sub.add_argument("--json", dest="as_json", action="store_true", help="print JSON (the API shapes)")


def _management_commands(commands: argparse._SubParsersAction[Parser]) -> None:
    """The management verbs, each followed by a noun: ``list``, ``create``, ``describe``, ``update``, ...

    ``list``, ``create``, ``describe``, ``update``, ``delete``, ``activate``, ``pause``, ``reset``,
    ``trigger``, ``cancel``; then ``publish``, ``watch`` and ``keys`` (see :func:`_publish_watch_keys`).
    """
    verbs: dict[str, argparse._SubParsersAction[Parser]] = {}

    def noun(verb: str, name: str, module: str, function: str, summary: str, description: str = "") -> Parser:
        if verb not in verbs:
            verb_parser = commands.add_parser(
                verb,
                help=_VERB_SUMMARIES[verb],
                description=_VERB_SUMMARIES[verb],
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            verbs[verb] = verb_parser.add_subparsers(title="what", metavar="NOUN", parser_class=Parser, required=True)
        plural = {"automation": "automations", "automationrun": "automationruns", "config": "configs"}[name]
        aliases = [plural] if verb != "list" else [name]
        sub: Parser = verbs[verb].add_parser(
            plural if verb == "list" else name,
            aliases=aliases,
            help=summary,
            description=f"{summary}\n\n{description}\n\n{_CONNECTION_HELP}".replace("\n\n\n\n", "\n\n"),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(**{COMMAND: (f"graphflow.cli.{module}", function)})
        _connection(sub)
        return sub

    def page(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--limit", type=int_between(1, 100), default=50, metavar="N", help="how many to list, 1-100 (default: 50)"
        )
        sub.add_argument("--cursor", metavar="CURSOR", help="the next page (printed under the previous one)")

    def automation_fields(sub: argparse.ArgumentParser, *, create: bool) -> None:
        sub.add_argument("-n", "--name", required=create, metavar="NAME", help="the automation's name")
        sub.add_argument(
            "-t",
            "--type",
            choices=("scheduled", "trigger", "invoked"),
            help="what starts it (default: inferred from --schedule or --trigger)" if create else "what starts it",
        )
        sub.add_argument("--schedule", metavar="SCHEDULE", help="scheduled: cron, phrase, interval or time, quoted")
        sub.add_argument("--timezone", metavar="ZONE", help="scheduled: IANA time zone (default: UTC)")
        sub.add_argument("--trigger", metavar="EVENT", help="trigger: the event it listens for")
        sub.add_argument("--config-id", metavar="CONFIG_ID", help="the config (cfg_...) its runs execute")
        sub.add_argument("--description", metavar="TEXT", help="what it is for")
        sub.add_argument("--lookup-key", metavar="KEY", help="your own unique key for it in this app")
        sub.add_argument("--overlap", choices=("skip", "buffer_one", "allow"), help="when a run is still executing")
        sub.add_argument("--catchup", choices=("none", "latest", "all"), help="scheduled: fires missed while down")
        sub.add_argument("--metadata", metavar="JSON", help="a JSON object of your own, or @file.json")

    automations = "automations"

    listing = noun("list", "automation", automations, "list_automations", "List the app's automations, newest first.")
    listing.add_argument("--type", choices=("scheduled", "trigger", "invoked"), help="only this type")
    page(listing)

    create = noun(
        "create",
        "automation",
        automations,
        "create_automation",
        "Create an automation (a draft, or running with --enabled).",
        'Example: graphflow create automation -n weekly -t scheduled --schedule "0 9 * * 1" --config-id cfg_...',
    )
    automation_fields(create, create=True)
    create.add_argument("--enabled", action="store_true", help="activate it at once")

    describe = noun("describe", "automation", automations, "describe_automation", "Show an automation and its runs.")
    describe.add_argument("automation_id", metavar="ID", help="the automation (aut_...)")

    update = noun(
        "update", "automation", automations, "update_automation", "Change an automation's fields.", "Give at least one."
    )
    update.add_argument("automation_id", metavar="ID", help="the automation (aut_...)")
    automation_fields(update, create=False)
    switch = update.add_mutually_exclusive_group()
    switch.add_argument("--enabled", dest="enabled", action="store_const", const=True, help="activate it")
    switch.add_argument("--disabled", dest="enabled", action="store_const", const=False, help="pause it")

    delete = noun(
        "delete", "automation", automations, "delete_automation", "Delete an automation (its past runs are kept)."
    )
    delete.add_argument("automation_id", metavar="ID", help="the automation (aut_...)")

    for verb, summary in (
        ("activate", "Activate an automation (draft or paused → running)."),
        ("pause", "Pause a running automation: no fires, pending runs cancelled."),
        ("reset", "Reset a paused automation to draft."),
    ):
        move = noun(verb, "automation", automations, f"{verb}_automation", summary)
        move.add_argument("automation_id", metavar="ID", help="the automation (aut_...)")
        if verb == "pause":
            move.add_argument("--reason", metavar="TEXT", help="why (shown as paused_reason)")

    trigger = noun(
        "trigger",
        "automation",
        automations,
        "trigger_automation",
        "Start a run of an automation now; print its run id.",
        "The run waits in the database until a worker (graphflow worker, graphflow serve) executes it.",
    )
    trigger.add_argument("automation_id", metavar="ID", help="the automation (aut_...)")
    trigger.add_argument(
        "-p", "--payload", metavar="JSON", help="invoked and trigger automations: the payload as JSON, or @file.json"
    )

    runs = noun("list", "automationrun", automations, "list_runs", "List an automation's runs, newest first.")
    runs.add_argument("--automation", required=True, metavar="ID", help="the automation (aut_...)")
    runs.add_argument(
        "--status", choices=("pending", "running", "completed", "failed", "cancelled"), help="only runs in this status"
    )
    page(runs)

    run = noun("describe", "automationrun", automations, "describe_run", "Show a run with its journal.")
    run.add_argument("run_id", metavar="RUN_ID", help="the run (atr_...)")

    cancel = noun("cancel", "automationrun", automations, "cancel_run", "Cancel a pending or executing run.")
    cancel.add_argument("run_id", metavar="RUN_ID", help="the run (atr_...)")

    config = noun(
        "create",
        "config",
        "configs",
        "create_config",
        "Validate a graph config and store it (version 1); print its id.",
        "Example: graphflow create config -f graph.yaml",
    )
    config.add_argument(
        "-f", "--file", required=True, metavar="FILE", help="the graph (.json, .yaml, .yml; - for stdin)"
    )

    configs = noun("list", "config", "configs", "list_configs", "List the app's configs (latest versions).")
    page(configs)

    _publish_watch_keys(commands)


_VERB_SUMMARIES = {
    "list": "List automations, automation runs or configs.",
    "create": "Create an automation or a config.",
    "describe": "Show an automation or an automation run.",
    "update": "Change an automation.",
    "delete": "Delete an automation.",
    "activate": "Activate an automation.",
    "pause": "Pause an automation.",
    "reset": "Reset a paused automation to draft.",
    "trigger": "Start a run of an automation now.",
    "cancel": "Cancel an automation run.",
}


def _publish_watch_keys(commands: argparse._SubParsersAction[Parser]) -> None:
    """``publish EVENT``, ``watch [RUN_ID]`` and ``keys create|list|revoke``."""

    def command(
        name: str, module: str, function: str, summary: str, description: str, parser: Any = commands
    ) -> Parser:
        sub: Parser = parser.add_parser(
            name,
            help=summary,
            description=f"{summary}\n\n{description}\n\n{_CONNECTION_HELP}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(**{COMMAND: (f"graphflow.cli.{module}", function)})
        _connection(sub)
        return sub

    publish = command(
        "publish",
        "automations",
        "publish",
        "Publish a platform event: each running trigger automation listening for it starts a run.",
        "Example: graphflow publish thread.member_joined --payload @event.json",
    )
    publish.add_argument("name", metavar="EVENT", help="the event name, e.g. thread.member_joined")
    publish.add_argument("-p", "--payload", default="{}", metavar="JSON", help="the payload as JSON, or @file.json")
    publish.add_argument(
        "--id", dest="event_id", metavar="ID", help="the event's id: publishing it again starts nothing"
    )

    watch = command(
        "watch",
        "watch",
        "watch",
        "Follow the app's events (or one run's), one line per event, until Ctrl-C (or the run ends).",
        "With RUN_ID it replays the run's events so far and exits when the run ends: 0 when it\n"
        "completed, 1 when it failed or was cancelled. --json prints one JSON object per line.",
    )
    watch.add_argument("run_id", nargs="?", metavar="RUN_ID", help="follow only this run (atr_...)")
    watch.add_argument("--types", metavar="T1,T2", help="only these event types, e.g. run.failed,run.completed")
    watch.add_argument(
        "--after", type=int_between(0, 2**63 - 1), default=None, metavar="SEQ", help="resume after this event id"
    )

    keys = commands.add_parser(
        "keys",
        help="Create, list and revoke an app's API keys (direct mode only).",
        description="Create, list and revoke an app's API keys (direct mode only: on the database).",
    )
    key_commands = keys.add_subparsers(title="what", metavar="ACTION", parser_class=Parser, required=True)
    key_create = command(
        "create",
        "keys",
        "create_key",
        "Create an API key for the app and print its secret (shown this once only).",
        "Example: graphflow keys create --app app_1 --name ci --database-url sqlite:///graphflow.db",
        key_commands,
    )
    key_create.add_argument("--name", metavar="NAME", help="a label to recognise it by")
    command("list", "keys", "list_keys", "List the app's API keys (never their secrets).", "", key_commands)
    revoke = command(
        "revoke",
        "keys",
        "revoke_key",
        "Revoke an API key: requests and open streams with it are refused from now on.",
        "",
        key_commands,
    )
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key (key_...)")
