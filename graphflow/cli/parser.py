"""Every command's arguments, in the standard library's argparse (the commands live elsewhere).

Building this parser imports nothing heavy, so ``graphflow --help`` and a mistyped option answer
at once; the module that runs the chosen command is imported only after the arguments parse.
Each subparser records that command as ``_command = (module, function)``; the function takes the
parsed arguments as keywords and returns the exit code.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

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


def build_parser(argv: Sequence[str] | None = None) -> Parser:
    """The ``graphflow`` parser with one subparser per command.

    Given the ``argv`` it will parse, only the management command ``argv`` names gets its nouns
    and arguments (see :func:`_management_commands`); without, every command gets them.
    """
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
    _management_commands(commands, _chosen(argv))
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

    picture = command(
        "graph",
        "graphs",
        "Print a picture of a graph as Mermaid, Graphviz DOT or SVG.",
        "With --run RUN_ID (and --format svg) it draws the run's graph with the path it took: completed,\n"
        "failed, running and skipped nodes in their own colours, from the database or a server\n"
        "(--app, --database-url or --server/--key, as every management command).",
    )
    picture.add_argument("file", nargs="?", metavar="FILE", help="the graph config to draw")
    picture.add_argument(
        "-f", "--format", choices=("mermaid", "dot", "svg"), default="mermaid", help="default: mermaid"
    )
    picture.add_argument("--run", metavar="RUN_ID", help="draw this run's graph and path (atr_…) instead of a FILE")
    where = picture.add_argument_group("connection (with --run)")
    where.add_argument("--app", metavar="APP", help="the app id (default: $GRAPHFLOW_APP)")
    where.add_argument("--database-url", metavar="URL", help=f"direct mode: {_DATABASE_HELP}")
    where.add_argument("--server", metavar="URL", help="server mode: the graphflow server (default: $GRAPHFLOW_SERVER)")
    where.add_argument("--key", metavar="KEY", help="server mode: the app's API key (default: $GRAPHFLOW_API_KEY)")


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
    schedule.add_argument("--starts-at", metavar="TIME", help="only fires from this ISO-8601 time on (a window)")
    schedule.add_argument("--ends-at", metavar="TIME", help="only fires up to this ISO-8601 time (a window)")
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
    worker.add_argument(
        "--metrics-port",
        type=int_between(0, 65535),
        metavar="PORT",
        help="serve GET /metrics (Prometheus, no credentials) on this port (needs the [http] extra)",
    )
    worker.add_argument(
        "--metrics-host", default="127.0.0.1", help="the address of --metrics-port (default: 127.0.0.1)"
    )
    _observability_options(worker)

    status = command(
        "status",
        "status",
        "Show the queue, the workers seen and overdue schedules of a database or a server (every app).",
        "Workers are seen through the leases of the runs they execute (an idle worker holds none).\n"
        "Exit 0 when all is well, 1 when a schedule is overdue or a worker's leases expired.\n"
        "Server mode reads GET /v1/status with --key (the server's metrics app key, when it sets one).",
    )
    where = status.add_argument_group("connection")
    where.add_argument("--database-url", metavar="URL", help=f"direct mode: {_DATABASE_HELP}")
    where.add_argument("--server", metavar="URL", help="server mode: the graphflow server (default: $GRAPHFLOW_SERVER)")
    where.add_argument("--key", metavar="KEY", help="server mode: an API key (default: $GRAPHFLOW_API_KEY)")
    status.add_argument(
        "--late-after",
        type=seconds(allow_zero=True),
        default=60.0,
        metavar="SECONDS",
        help="list schedules overdue by more than this (default: 60)",
    )
    status.add_argument(
        "--limit", type=int_between(1, 1000), default=20, metavar="N", help="most workers and schedules (default: 20)"
    )
    status.add_argument("--json", dest="as_json", action="store_true", help="print JSON (GET /v1/status's shape)")

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
    serve.add_argument(
        "--no-dashboard", dest="dashboard", action="store_false", help="serve the API only, not the dashboard at /"
    )
    serve.add_argument(
        "--metrics-app",
        metavar="APP",
        help="only this app's API keys may read /metrics and /v1/status (default: any valid key)",
    )
    serve.add_argument(
        "--metrics-public", action="store_true", help="serve /metrics and /v1/status without credentials"
    )
    _observability_options(serve)


def _observability_options(sub: argparse.ArgumentParser) -> None:
    """``--node-metrics``, ``--log-format`` and ``--log-level`` of the long-running commands."""
    sub.add_argument(
        "--node-metrics",
        action="store_true",
        help="also record node durations (engine events for every node: ~30%% more work per short run)",
    )
    sub.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="the graphflow.* log lines: text, or one JSON object per line with run and automation ids",
    )
    sub.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="the least severe log lines shown (default: info)",
    )


_CONNECTION_HELP = """\
Every management command works on one app (--app, or $GRAPHFLOW_APP), either directly on the
database (--database-url, or $GRAPHFLOW_DATABASE_URL) or through a graphflow server (--server URL
--key KEY, or $GRAPHFLOW_SERVER and $GRAPHFLOW_API_KEY). Without --server the database is used.
--json prints the API's JSON shapes for scripts. Docs: docs/cli.md."""

#: Nouns take their singular and plural names in every verb.
_PLURALS = {
    "automation": "automations",
    "automationrun": "automationruns",
    "config": "configs",
    "steeringrequest": "steeringrequests",
}
#: ``build_parser(argv)`` fills in only the management command ``argv`` names, not these.
ALL = "*"

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[Parser]


def _chosen(argv: Sequence[str] | None) -> str:
    """The management command whose arguments to declare: the first word of ``argv`` (:data:`ALL` without argv)."""
    if argv is None:
        return ALL
    return next((arg for arg in argv if not arg.startswith("-")), "")


def _connection(sub: argparse.ArgumentParser) -> None:
    """The options every management command shares: the app, where it lives, and --json."""
    where = sub.add_argument_group("connection")
    where.add_argument("--app", metavar="APP", help="the app id (default: $GRAPHFLOW_APP)")
    where.add_argument("--database-url", metavar="URL", help=f"direct mode: {_DATABASE_HELP}")
    where.add_argument("--server", metavar="URL", help="server mode: the graphflow server (default: $GRAPHFLOW_SERVER)")
    where.add_argument("--key", metavar="KEY", help="server mode: the app's API key (default: $GRAPHFLOW_API_KEY)")
    sub.add_argument("--json", dest="as_json", action="store_true", help="print JSON (the API shapes)")


def _leaf(
    parent: Subparsers, name: str, module: str, function: str, summary: str, description: str = "", **names: Any
) -> Parser:
    """A management command (or a noun of one) running ``graphflow.cli.MODULE.FUNCTION``."""
    sub: Parser = parent.add_parser(
        name,
        help=summary,
        description="\n\n".join(part for part in (summary, description, _CONNECTION_HELP) if part),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **names,
    )
    sub.set_defaults(**{COMMAND: (f"graphflow.cli.{module}", function)})
    _connection(sub)
    return sub


def _noun(nouns: Subparsers, verb: str, noun: str, run: str, summary: str, description: str = "") -> Parser:
    """``graphflow VERB NOUN`` (``list`` names it by its plural), run by ``graphflow.cli.RUN`` (``module.function``)."""
    plural = _PLURALS[noun]
    name, alias = (plural, noun) if verb == "list" else (noun, plural)
    module, function = run.split(".")
    return _leaf(nouns, name, module, function, summary, description, aliases=[alias])


def _page(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--limit", type=int_between(1, 100), default=50, metavar="N", help="how many to list, 1-100 (default: 50)"
    )
    sub.add_argument("--cursor", metavar="CURSOR", help="the next page (printed under the previous one)")


def _automation_id(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("automation_id", metavar="ID", help="the automation (aut_...)")


def _automation_fields(sub: argparse.ArgumentParser, *, create: bool) -> None:
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
    sub.add_argument(
        "--input-schema", metavar="JSON", help="invoked: the JSON Schema payloads must satisfy, or @schema.json"
    )
    sub.add_argument("--filter", metavar="CEL", help="trigger: only events whose payload ($) it holds for")
    sub.add_argument(
        "--debounce", metavar="JSON", help='trigger: {"period": "30s", "max_wait": "5m", "key": "$.thread_id"}'
    )
    sub.add_argument(
        "--throttle", metavar="JSON", help='trigger: {"limit": 10, "period": "1m", "key": ..., "overflow": "delay"}'
    )
    sub.add_argument("--concurrency", metavar="JSON", help='trigger: {"limit": 2, "key": "$.thread_id"}, or N')
    sub.add_argument("--cancel-on", metavar="JSON", help='trigger: [{"event": "thread.deleted", "key": "$.thread_id"}]')
    sub.add_argument("--starts-at", metavar="TIME", help="scheduled: no fire before this ISO-8601 time")
    sub.add_argument("--ends-at", metavar="TIME", help="scheduled: no fire after it; then paused (ended)")
    sub.add_argument(
        "--max-consecutive-failures",
        type=int_between(1, 1000),
        metavar="N",
        help="pause it after N failed runs in a row (paused_reason: failures)",
    )
    sub.add_argument(
        "--deliver",
        metavar="JSON",
        help="where finished runs' results go: a JSON list of up to 4 sinks (webhook, emit, callback), "
        "or @sinks.json (keeps a webhook secret out of the shell history); '[]' removes them",
    )


def _list(nouns: Subparsers) -> None:
    automations = _noun(
        nouns, "list", "automation", "automations.list_automations", "List the app's automations, newest first."
    )
    automations.add_argument("--type", choices=("scheduled", "trigger", "invoked"), help="only this type")
    _page(automations)
    runs = _noun(nouns, "list", "automationrun", "automations.list_runs", "List an automation's runs, newest first.")
    runs.add_argument("--automation", required=True, metavar="ID", help="the automation (aut_...)")
    runs.add_argument(
        "--status", choices=("pending", "running", "completed", "failed", "cancelled"), help="only runs in this status"
    )
    _page(runs)
    _page(
        _noun(
            nouns, "list", "config", "configs.list_configs", "List the app's configs (latest versions), newest first."
        )
    )
    steering = _noun(
        nouns,
        "list",
        "steeringrequest",
        "steering.list_requests",
        "List the app's steering requests, newest first.",
        "Example: graphflow list steeringrequests --status pending",
    )
    steering.add_argument(
        "--status", choices=("pending", "answered", "expired", "cancelled"), help="only requests in this status"
    )
    steering.add_argument("--run", metavar="RUN_ID", help="only this run's requests (atr_...)")
    _page(steering)


def _create(nouns: Subparsers) -> None:
    automation = _noun(
        nouns,
        "create",
        "automation",
        "automations.create_automation",
        "Create an automation (a draft, or running with --enabled).",
        'Example: graphflow create automation -n weekly -t scheduled --schedule "0 9 * * 1" --config-id cfg_...',
    )
    _automation_fields(automation, create=True)
    automation.add_argument("--enabled", action="store_true", help="activate it at once")
    config = _noun(
        nouns,
        "create",
        "config",
        "configs.create_config",
        "Validate a graph config and store it (version 1); print its id.",
        "Example: graphflow create config -f graph.yaml",
    )
    config.add_argument(
        "-f", "--file", required=True, metavar="FILE", help="the graph (.json, .yaml, .yml; - for stdin)"
    )


def _describe(nouns: Subparsers) -> None:
    _automation_id(
        _noun(
            nouns,
            "describe",
            "automation",
            "automations.describe_automation",
            "Show an automation and its recent runs.",
        )
    )
    run = _noun(nouns, "describe", "automationrun", "automations.describe_run", "Show a run with its journal.")
    run.add_argument("run_id", metavar="RUN_ID", help="the run (atr_...)")
    request = _noun(nouns, "describe", "steeringrequest", "steering.describe_request", "Show a steering request.")
    request.add_argument("request_id", metavar="REQUEST_ID", help="the steering request (str_...)")


def _update(nouns: Subparsers) -> None:
    update = _noun(
        nouns,
        "update",
        "automation",
        "automations.update_automation",
        "Change an automation's fields.",
        "Give at least one.",
    )
    _automation_id(update)
    _automation_fields(update, create=False)
    switch = update.add_mutually_exclusive_group()
    switch.add_argument("--enabled", dest="enabled", action="store_const", const=True, help="activate it")
    switch.add_argument("--disabled", dest="enabled", action="store_const", const=False, help="pause it")


def _delete(nouns: Subparsers) -> None:
    _automation_id(
        _noun(
            nouns, "delete", "automation", "automations.delete_automation", "Delete an automation (past runs are kept)."
        )
    )


def _activate(nouns: Subparsers) -> None:
    _automation_id(
        _noun(nouns, "activate", "automation", "automations.activate_automation", "Activate an automation: running.")
    )


def _pause(nouns: Subparsers) -> None:
    pause = _noun(
        nouns,
        "pause",
        "automation",
        "automations.pause_automation",
        "Pause a running automation (pending runs cancelled).",
    )
    _automation_id(pause)
    pause.add_argument("--reason", metavar="TEXT", help="why (shown as paused_reason)")


def _reset(nouns: Subparsers) -> None:
    _automation_id(
        _noun(nouns, "reset", "automation", "automations.reset_automation", "Reset a paused automation to draft.")
    )


def _trigger(nouns: Subparsers) -> None:
    trigger = _noun(
        nouns,
        "trigger",
        "automation",
        "automations.trigger_automation",
        "Start a run of an automation now; print its run id.",
        "The run waits in the database until a worker (graphflow worker, graphflow serve) executes it.\n"
        "With --wait the command waits for it to end: exit 0 when it completed, 1 when it did not.",
    )
    _automation_id(trigger)
    trigger.add_argument(
        "-p", "--payload", metavar="JSON", help="invoked and trigger automations: the payload as JSON, or @file.json"
    )
    trigger.add_argument("--wait", action="store_true", help="wait for the run to end and print it")
    trigger.add_argument(
        "--timeout", type=seconds(allow_zero=False), metavar="SECONDS", help="with --wait: give up after this"
    )


def _invoke(nouns: Subparsers) -> None:
    invoke = _noun(
        nouns,
        "invoke",
        "automation",
        "automations.invoke_automation",
        "Invoke an invoked automation: its payload is checked against the automation's input_schema.",
        "With --idempotency-key K a repeat (within the runs' retention) prints the first call's run and\n"
        "starts nothing. With --wait the command waits for the run to end: exit 0 when it completed.",
    )
    _automation_id(invoke)
    invoke.add_argument("-p", "--payload", metavar="JSON", help="the payload as JSON, or @file.json (default: {})")
    invoke.add_argument("--idempotency-key", metavar="KEY", help="repeatable: the same key returns the same run")
    invoke.add_argument("--wait", action="store_true", help="wait for the run to end and print it")
    invoke.add_argument(
        "--timeout", type=seconds(allow_zero=False), metavar="SECONDS", help="with --wait: give up after this"
    )


def _cancel(nouns: Subparsers) -> None:
    cancel = _noun(nouns, "cancel", "automationrun", "automations.cancel_run", "Cancel a pending or executing run.")
    cancel.add_argument("run_id", metavar="RUN_ID", help="the run (atr_...)")


def _publish(commands: Subparsers) -> None:
    publish = _leaf(
        commands,
        "publish",
        "automations",
        "publish",
        _SUMMARIES["publish"],
        "Example: graphflow publish thread.member_joined --payload @event.json",
    )
    publish.add_argument("name", metavar="EVENT", help="the event name, e.g. thread.member_joined")
    publish.add_argument("-p", "--payload", default="{}", metavar="JSON", help="the payload as JSON, or @file.json")
    publish.add_argument(
        "--id", dest="event_id", metavar="ID", help="the event's id: publishing it again starts nothing"
    )


def _watch(commands: Subparsers) -> None:
    watch = _leaf(
        commands,
        "watch",
        "watch",
        "watch",
        _SUMMARIES["watch"],
        "With RUN_ID it replays the run's events so far and exits when the run ends: 0 when it\n"
        "completed, 1 when it failed or was cancelled. --json prints one JSON object per line.",
    )
    watch.add_argument("run_id", nargs="?", metavar="RUN_ID", help="follow only this run (atr_...)")
    watch.add_argument("--types", metavar="T1,T2", help="only these event types, e.g. run.failed,run.completed")
    watch.add_argument(
        "--after", type=int_between(0, 2**63 - 1), metavar="SEQ", help="resume after this event id (seq)"
    )


def _steer(commands: Subparsers) -> None:
    steer = _leaf(
        commands,
        "steer",
        "steering",
        "steer",
        _SUMMARIES["steer"],
        "Example: graphflow steer str_... approve --by usr_42 --note 'looks good'\n"
        "Exit 0 when the answer was taken; answering twice, an expired or another app's request is refused.",
    )
    steer.add_argument("request_id", metavar="REQUEST_ID", help="the steering request (str_...)")
    steer.add_argument("choice", metavar="CHOICE", help="one of the request's choices, e.g. approve or reject")
    steer.add_argument("--note", metavar="TEXT", help="why (kept with the answer)")
    steer.add_argument("--by", metavar="USER_ID", help="who answers (required when the request names assignees)")


def _keys(actions: Subparsers) -> None:
    create = _leaf(
        actions,
        "create",
        "keys",
        "create_key",
        "Create an API key for the app and print its secret (shown this once only).",
        "Example: graphflow keys create --app app_1 --name ci",
    )
    create.add_argument("--name", metavar="NAME", help="a label to recognise it by")
    _leaf(actions, "list", "keys", "list_keys", "List the app's API keys (never their secrets).")
    revoke = _leaf(
        actions,
        "revoke",
        "keys",
        "revoke_key",
        "Revoke an API key: requests and open streams with it are refused from now on.",
    )
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key (key_...)")


_SUMMARIES = {
    "list": "List automations, automation runs, configs or steering requests.",
    "create": "Create an automation or a config.",
    "describe": "Show an automation, an automation run or a steering request.",
    "update": "Change an automation.",
    "delete": "Delete an automation.",
    "activate": "Activate an automation.",
    "pause": "Pause an automation.",
    "reset": "Reset a paused automation to draft.",
    "trigger": "Start a run of an automation now.",
    "invoke": "Invoke an invoked automation (its payload checked; repeatable with an idempotency key).",
    "cancel": "Cancel an automation run.",
    "publish": "Publish a platform event: each running trigger automation listening for it starts a run.",
    "watch": "Follow the app's events (or one run's), one line per event, until Ctrl-C (or the run ends).",
    "steer": "Answer a steering request: its run continues on the edge for the choice.",
    "keys": "Create, list and revoke an app's API keys (direct mode only: on the database).",
}
#: Each management command and what declares its nouns (or, for a leaf, the command itself).
_NOUNS: dict[str, Callable[[Subparsers], None]] = {
    "list": _list,
    "create": _create,
    "describe": _describe,
    "update": _update,
    "delete": _delete,
    "activate": _activate,
    "pause": _pause,
    "reset": _reset,
    "trigger": _trigger,
    "invoke": _invoke,
    "cancel": _cancel,
    "keys": _keys,
}
_LEAVES: dict[str, Callable[[Subparsers], None]] = {"publish": _publish, "watch": _watch, "steer": _steer}


def _management_commands(commands: Subparsers, chosen: str) -> None:
    """The management commands: ``list|create|describe|...|cancel NOUN``, ``publish``, ``watch``, ``keys ACTION``.

    Only the ``chosen`` one (every one for :data:`ALL`) gets its nouns and arguments; the others are
    declared by name and summary, enough for ``graphflow --help``. Their ~40 parsers would otherwise
    triple the start-up of every command.
    """
    for verb, summary in _SUMMARIES.items():
        if verb in _LEAVES:
            if chosen in (ALL, verb):
                _LEAVES[verb](commands)
            else:
                commands.add_parser(verb, help=summary)
            continue
        sub = commands.add_parser(
            verb, help=summary, description=summary, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        if chosen in (ALL, verb):
            title, metavar = ("actions", "ACTION") if verb == "keys" else ("what", "NOUN")
            _NOUNS[verb](sub.add_subparsers(title=title, metavar=metavar, parser_class=Parser, required=True))
