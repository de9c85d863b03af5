"""Bad input never prints a traceback: every command, given bad arguments, says what to do in one line.

Exit codes: 2 for bad usage (a missing payload file, a bad number or URL, an unknown option),
1 when the command ran and its subject failed (an invalid graph or schedule).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from graphflow.cli import graphs
from graphflow.cli.parser import build_parser
from tests.cli.runner import Cli

SAMPLE = str(Path(__file__).resolve().parents[3] / "shared" / "examples" / "archastro-sample.json")

ABSENT = "sqlite:///{tmp}/absent.db"
NOT_A_DB = "sqlite:///{tmp}/notadb.db"
HUGE_INT = '{"n": ' + "9" * 5000 + "}"  # past Python's int-parsing digit limit
CLOSED_PORT = "postgresql://postgres@127.0.0.1:1/nothing"  # refused at once, no server needed

APP = ["--app", "app_cli"]
DB = ["--database-url", ABSENT]
NO_SERVER = ["--server", "http://127.0.0.1:1", "--key", "gfk_x"]  # a closed port: refused at once

# The management verbs: each fails before it opens (or creates) a database or reaches a server.
MANAGEMENT_CASES: list[tuple[str, list[str], int, str]] = [
    ("list: no noun", ["list"], 2, "NOUN"),
    ("list: unknown noun", ["list", "widgets"], 2, "invalid choice: 'widgets'"),
    ("list automations: no app", ["list", "automations", *DB], 2, "--app is required"),
    ("list automations: app too long", ["list", "automations", "--app", "a" * 1000, *DB], 2, "--app: app_id must"),
    ("list automations: unknown type", ["list", "automations", *APP, "--type", "cron"], 2, "invalid choice: 'cron'"),
    ("list automations: limit 0", ["list", "automations", *APP, "--limit", "0"], 2, "between 1 and 100"),
    ("list automations: limit 101", ["list", "automations", *APP, "--limit", "101"], 2, "between 1 and 100"),
    ("list automations: no such database", ["list", "automations", *APP, *DB], 2, "no database at"),
    ("list automations: not a database", ["list", "automations", *APP, "--database-url", NOT_A_DB], 2, "store_"),
    ("list automations: memory", ["list", "automations", *APP, "--database-url", "memory://"], 2, "memory://"),
    ("list automations: bad URL", ["list", "automations", *APP, "--database-url", "foo://x"], 2, "foo"),
    ("list automations: both modes", ["list", "automations", *APP, *DB, *NO_SERVER], 2, "not both"),
    ("list automations: no key", ["list", "automations", *APP, "--server", "http://h"], 2, "--key is required"),
    ("list automations: server not a URL", ["list", "automations", *APP, "--server", "h:80", "--key", "k"], 2, "http://"),
    ("list automations: server down", ["list", "automations", *APP, *NO_SERVER], 2, "cannot reach the server"),
    ("list automationruns: no automation", ["list", "automationruns", *APP, *DB], 2, "--automation"),
    ("list automationruns: bad status", ["list", "automationruns", "--automation", "a", "--status", "ok"], 2, "choice"),
    ("list configs: limit not a number", ["list", "configs", *APP, "--limit", "all"], 2, "whole number"),
    ("list steeringrequests: bad status", ["list", "steeringrequests", *APP, "--status", "open"], 2, "invalid choice"),
    ("list steeringrequests: no such database", ["list", "steeringrequests", *APP, *DB], 2, "no database at"),
    ("create: no noun", ["create"], 2, "NOUN"),
    ("create automation: no name", ["create", "automation", *APP, *DB, "-t", "invoked"], 2, "-n/--name"),
    ("create automation: no type", ["create", "automation", *APP, *DB, "-n", "x"], 2, "give -t/--type"),
    ("create automation: unknown type", ["create", "automation", "-n", "x", "-t", "cron"], 2, "invalid choice"),
    ("create automation: bad metadata", ["create", "automation", *DB, "-n", "x", "--metadata", "{"], 2, "metadata is"),
    ("create automation: bad overlap", ["create", "automation", "-n", "x", "--overlap", "queue"], 2, "invalid choice"),
    ("create config: no file", ["create", "config", *APP, *DB], 2, "-f/--file"),
    ("create config: missing file", ["create", "config", *APP, *DB, "-f", "{tmp}/missing.json"], 2, "No such file"),
    ("create config: a directory", ["create", "config", *APP, *DB, "-f", "{tmp}/dir"], 2, "Is a directory"),
    ("create config: invalid graph", ["create", "config", *APP, *DB, "-f", "{tmp}/bad.json"], 1, "problem"),
    ("create config: no app", ["create", "config", *DB, "-f", "{tmp}/missing.json"], 2, "No such file"),
    ("describe: no noun", ["describe"], 2, "NOUN"),
    ("describe automation: no id", ["describe", "automation", *APP], 2, "required: ID"),
    ("describe automationrun: no id", ["describe", "automationrun", *APP], 2, "required: RUN_ID"),
    ("describe steeringrequest: no id", ["describe", "steeringrequest", *APP], 2, "required: REQUEST_ID"),
    ("update: no noun", ["update"], 2, "NOUN"),
    ("update automation: nothing", ["update", "automation", "aut_x", *APP, *DB], 2, "nothing to update"),
    ("update automation: on and off", ["update", "automation", "aut_x", "--enabled", "--disabled"], 2, "not allowed"),
    ("delete: no noun", ["delete"], 2, "NOUN"),
    ("delete automation: no id", ["delete", "automation", *APP], 2, "required: ID"),
    ("delete automation: no such database", ["delete", "automation", "aut_x", *APP, *DB], 2, "no database at"),
    ("activate: no noun", ["activate"], 2, "NOUN"),
    ("activate automation: no id", ["activate", "automation"], 2, "required: ID"),
    ("pause: no noun", ["pause"], 2, "NOUN"),
    ("pause automation: no id", ["pause", "automation", "--reason", "x"], 2, "required: ID"),
    ("reset: no noun", ["reset"], 2, "NOUN"),
    ("reset automation: no id", ["reset", "automation"], 2, "required: ID"),
    ("trigger: no noun", ["trigger"], 2, "NOUN"),
    ("trigger automation: no id", ["trigger", "automation"], 2, "required: ID"),
    ("trigger automation: bad payload", ["trigger", "automation", "aut_x", *APP, *DB, "-p", "{no"], 2, "is not JSON"),
    ("trigger automation: no payload file", ["trigger", "automation", "a", *DB, "-p", "@{tmp}/no.json"], 2, "No such"),
    ("trigger automation: timeout, no wait", ["trigger", "automation", "a", *DB, "--timeout", "5"], 2, "with --wait"),
    ("trigger automation: timeout 0", ["trigger", "automation", "a", "--wait", "--timeout", "0"], 2, "> 0"),
    ("invoke: no noun", ["invoke"], 2, "NOUN"),
    ("invoke automation: no id", ["invoke", "automation"], 2, "required: ID"),
    ("invoke automation: bad payload", ["invoke", "automation", "aut_x", *APP, *DB, "-p", "{no"], 2, "is not JSON"),
    ("invoke automation: timeout, no wait", ["invoke", "automation", "a", *DB, "--timeout", "5"], 2, "with --wait"),
    ("invoke automation: no such database", ["invoke", "automation", "aut_x", *APP, *DB], 2, "no database at"),
    ("cancel: no noun", ["cancel"], 2, "NOUN"),
    ("cancel automationrun: no id", ["cancel", "automationrun"], 2, "required: RUN_ID"),
    ("publish: no event", ["publish", *APP], 2, "required: EVENT"),
    ("publish: bad payload", ["publish", "thread.created", *APP, *DB, "-p", "[1,"], 2, "--payload is not JSON"),
    ("watch: negative after", ["watch", *APP, "--after", "-1"], 2, "between 0 and"),
    ("watch: empty types", ["watch", *APP, *DB, "--types", ","], 2, "--types needs"),
    ("watch: no such database", ["watch", "atr_x", *APP, *DB], 2, "no database at"),
    ("steer: nothing", ["steer", *APP], 2, "required: REQUEST_ID, CHOICE"),
    ("steer: no choice", ["steer", "str_x", *APP], 2, "required: CHOICE"),
    ("steer: no such database", ["steer", "str_x", "approve", *APP, *DB], 2, "no database at"),
    ("steer: server down", ["steer", "str_x", "approve", *APP, *NO_SERVER], 2, "cannot reach the server"),
    ("keys: no action", ["keys"], 2, "ACTION"),
    ("keys create: with a server", ["keys", "create", *APP, *NO_SERVER], 2, "works on the database"),
    ("keys list: no app", ["keys", "list", *DB], 2, "--app is required"),
    ("keys revoke: no id", ["keys", "revoke", *APP], 2, "required: KEY_ID"),
]  # fmt: skip

# (arguments, expected exit code, text the message must contain). {tmp} is a scratch directory
# holding missing.json (absent), dir/ (a directory), bad.json (not JSON), latin1.json (not UTF-8),
# empty.yaml, notadb.db (a text file) and absent.db (absent).
CASES: list[tuple[str, list[str], int, str]] = [
    ("no command", [], 2, "COMMAND"),
    ("unknown command", ["frobnicate"], 2, "invalid choice"),
    ("unknown global option", ["--frob"], 2, "unrecognized arguments"),
    ("validate: no file", ["validate"], 2, "required: FILE"),
    ("schedule: bad window", ["schedule", "0 9 * * *", "--starts-at", "next tuesday"], 2, "--starts-at must be"),
    ("validate: missing file", ["validate", "{tmp}/missing.json"], 1, "No such file"),
    ("validate: a directory", ["validate", "{tmp}/dir"], 1, "Is a directory"),
    ("validate: bad JSON", ["validate", "{tmp}/bad.json"], 1, "problem"),
    ("validate: empty file", ["validate", "{tmp}/empty.yaml"], 1, "problem"),
    ("validate: unknown option", ["validate", SAMPLE, "--frob"], 2, "unrecognized arguments: --frob"),
    ("run: no trigger", ["run", SAMPLE], 2, "-t/--trigger"),
    ("run: missing graph", ["run", "{tmp}/missing.json", "-t", "a.b"], 1, "No such file"),
    ("run: graph is a directory", ["run", "{tmp}/dir", "-t", "a.b"], 1, "Is a directory"),
    ("run: unknown trigger", ["run", SAMPLE, "-t", "thread.created"], 1, "no trigger node"),
    ("run: missing payload file", ["run", SAMPLE, "-t", "a.b", "-p", "@{tmp}/missing.json"], 2, "No such file"),
    ("run: payload is a directory", ["run", SAMPLE, "-t", "a.b", "-p", "@{tmp}/dir"], 2, "Is a directory"),
    ("run: payload file not JSON", ["run", SAMPLE, "-t", "a.b", "-p", "@{tmp}/bad.json"], 2, "is not JSON"),
    ("run: payload file not UTF-8", ["run", SAMPLE, "-t", "a.b", "-p", "@{tmp}/latin1.json"], 2, "cannot read"),
    ("run: payload with a huge integer", ["run", SAMPLE, "-t", "a.b", "-p", HUGE_INT], 2, "cannot be read as JSON"),
    ("run: payload nested too deep", ["run", SAMPLE, "-t", "a.b", "-p", "[" * 100_000], 2, "cannot be read as JSON"),
    ("run: payload not JSON", ["run", SAMPLE, "-t", "a.b", "-p", "{nope"], 2, "--payload is not JSON"),
    ("run: env without =", ["run", SAMPLE, "-t", "a.b", "-e", "FOO"], 2, "expected KEY=VALUE, got 'FOO'"),
    ("run: env without key", ["run", SAMPLE, "-t", "a.b", "-e", "=x"], 2, "expected KEY=VALUE"),
    ("run: timeout 0", ["run", SAMPLE, "-t", "a.b", "--timeout", "0"], 2, "> 0"),
    ("run: negative timeout", ["run", SAMPLE, "-t", "a.b", "--timeout", "-1"], 2, "> 0"),
    ("run: timeout not a number", ["run", SAMPLE, "-t", "a.b", "--timeout", "soon"], 2, "number of seconds"),
    ("run: infinite timeout", ["run", SAMPLE, "-t", "a.b", "--timeout", "inf"], 2, "> 0"),
    ("run: NaN timeout", ["run", SAMPLE, "-t", "a.b", "--timeout", "nan"], 2, "> 0"),
    ("schema: extra argument", ["schema", "x"], 2, "unrecognized arguments: x"),
    ("graph: missing file", ["graph", "{tmp}/missing.json"], 1, "No such file"),
    ("graph: unknown format", ["graph", SAMPLE, "-f", "png"], 2, "invalid choice: 'png'"),
    ("schedule: no schedule", ["schedule"], 2, "required: SCHEDULE"),
    ("schedule: invalid", ["schedule", "30m"], 1, "invalid schedule"),
    ("schedule: unknown time zone", ["schedule", "0 9 * * *", "--tz", "Mars/Olympus"], 1, "unknown time zone"),
    ("schedule: zero fires", ["schedule", "0 9 * * *", "-n", "0"], 2, "between 1 and 1000"),
    ("schedule: negative fires", ["schedule", "0 9 * * *", "-n", "-3"], 2, "between 1 and 1000"),
    ("schedule: too many fires", ["schedule", "0 9 * * *", "-n", "100000"], 2, "between 1 and 1000"),
    ("schedule: fires not a number", ["schedule", "0 9 * * *", "-n", "five"], 2, "whole number"),
    ("events: unknown category", ["events", "--category", "nope"], 2, "no event category 'nope'; choose one of"),
    ("worker: unknown URL scheme", ["worker", "--database-url", "foo://x"], 2, "unsupported store URL scheme"),
    ("worker: unusable SQLite path", ["worker", "--database-url", "sqlite:///{tmp}/no/such/x.db"], 2, "store_"),
    ("worker: concurrency 0", ["worker", "--concurrency", "0"], 2, "between 1 and"),
    ("worker: bad log format", ["worker", "--log-format", "xml"], 2, "invalid choice"),
    ("worker: metrics port out of range", ["worker", "--metrics-port", "70000"], 2, "between 0 and"),
    ("status: limit 0", ["status", "--limit", "0"], 2, "between 1 and"),
    ("status: negative lateness", ["status", "--late-after", "-5"], 2, ">= 0"),
    ("status: missing database", ["status", "--database-url", "sqlite:///{tmp}/absent.db"], 2, "no database"),
    ("status: both modes", ["status", "--server", "http://x", "--database-url", "sqlite:///x.db"], 2, "not both"),
    ("worker: concurrency not a number", ["worker", "--concurrency", "many"], 2, "whole number"),
    ("worker: lease 0", ["worker", "--lease", "0"], 2, "> 0"),
    ("worker: negative status interval", ["worker", "--status-every", "-1"], 2, ">= 0"),
    ("prune: no age", ["prune"], 2, "--older-than"),
    ("prune: bad age", ["prune", "--older-than", "soon"], 2, "invalid --older-than"),
    ("prune: negative age", ["prune", "--older-than=-1h"], 2, "invalid --older-than"),
    ("prune: unknown URL scheme", ["prune", "--older-than", "1d", "--database-url", "foo://x"], 2, "foo"),
    ("prune: bad SQLite URL", ["prune", "--older-than", "1d", "--database-url", "sqlite:/x.db"], 2, "SQLite URL"),
    ("prune: no such database", ["prune", "--older-than", "1d", "--database-url", ABSENT], 2, "no database at"),
    ("prune: PostgreSQL unreachable", ["prune", "--older-than", "1d", "--database-url", CLOSED_PORT], 2, "store_"),
    ("prune: not a database", ["prune", "--older-than", "1d", "--database-url", NOT_A_DB], 2, "store_"),
    ("serve: port out of range", ["serve", "--port", "70000"], 2, "between 0 and 65535"),
    ("serve: workers not a number", ["serve", "--workers-in-process", "some"], 2, "whole number"),
    ("serve: unknown URL scheme", ["serve", "--database-url", "foo://x"], 2, "--database-url"),
    ("serve: memory, no workers", ["serve", "--database-url", "memory://", "--workers-in-process", "0"], 2, "durable"),
    ("serve: metrics app and public", ["serve", "--metrics-app", "app_ops", "--metrics-public"], 2, "contradict"),
    ("worker: metrics, any interface", ["worker", "--metrics-port", "0", "--metrics-host", ""], 2, "interface"),
    *MANAGEMENT_CASES,
]  # fmt: skip


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "dir").mkdir()
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "latin1.json").write_bytes('{"name": "José"}'.encode("latin-1"))
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "notadb.db").write_text("this is not a SQLite database\n" * 100)
    return tmp_path


@pytest.mark.parametrize(("args", "code", "says"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_arguments_get_a_message_not_a_traceback(
    cli: Cli, scratch: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, says: str
) -> None:
    monkeypatch.chdir(scratch)  # a default database, if any, would land here
    for name in ("GRAPHFLOW_DATABASE_URL", "GRAPHFLOW_APP", "GRAPHFLOW_SERVER", "GRAPHFLOW_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = cli(*(arg.replace("{tmp}", str(scratch)) for arg in args))
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    assert says in result.output, result.output
    if code == 2 and args:
        assert len(result.err.strip().splitlines()) == 1, result.err  # one line saying what to do
    assert not (scratch / "graphflow.db").exists()
    assert not (scratch / "absent.db").exists()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def test_every_command_has_bad_argument_cases() -> None:
    commands = _subcommands(build_parser())
    covered = {args[0] for _, args, _, _ in CASES if args}
    assert set(commands) <= covered, set(commands) - covered
    for verb, parser in commands.items():  # and every noun of a verb (by any of its names)
        nouns = _subcommands(parser)
        reached = {
            id(nouns[args[1]]) for _, args, _, _ in CASES if len(args) > 1 and args[0] == verb and args[1] in nouns
        }
        missing = {name for name, noun in nouns.items() if id(noun) not in reached}
        assert not missing, (verb, missing)


def test_an_unexpected_error_is_one_line_not_a_traceback(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, examples_dir: Path
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(graphs, "_load", broken)
    monkeypatch.delenv("GRAPHFLOW_DEBUG", raising=False)
    result = cli("validate", str(examples_dir / "archastro-sample.json"))
    assert result.exit_code == 1
    assert result.err.count("\n") == 1 and "internal error" in result.err and "RuntimeError: boom" in result.err
    monkeypatch.setenv("GRAPHFLOW_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli("validate", str(examples_dir / "archastro-sample.json"))


def test_ctrl_c_exits_130_without_a_traceback(cli: Cli, monkeypatch: pytest.MonkeyPatch, examples_dir: Path) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(graphs, "_load", interrupted)
    result = cli("validate", str(examples_dir / "archastro-sample.json"))
    assert result.exit_code == 130 and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["run", SAMPLE, "-t", "workflow.scheduled", "-p", "@missing.json"],
        ["run", SAMPLE, "-t", "workflow.scheduled", "-p", "@."],
        ["prune", "--older-than", "1d", "--database-url", "foo://x"],
        ["events", "--category", "nope"],
        ["validate", "."],
        ["list", "automations", "--app", "app_1", "--server", "http://127.0.0.1:1", "--key", "gfk_x"],
        ["watch", "atr_1", "--app", "app_1", "--database-url", "foo://x"],
        ["create", "config", "--app", "app_1", "-f", "missing.yaml"],
    ],
    ids=[
        "payload-missing",
        "payload-directory",
        "prune-bad-url",
        "events-bad-category",
        "validate-directory",
        "server-down",
        "watch-bad-url",
        "config-missing",
    ],
)
def test_real_processes_print_no_traceback(tmp_path: Path, args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "graphflow", *args], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip() or proc.stdout.strip()
