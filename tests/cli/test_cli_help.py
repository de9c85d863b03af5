"""``--version`` and the help of every command: plain text a newcomer can read."""

from __future__ import annotations

import argparse
import re

import pytest

import graphflow
from graphflow.cli.parser import build_parser
from tests.cli.runner import Cli

COMMANDS = sorted(
    next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices,
)
MARKUP = re.compile(r"<bool>|``|:(class|func|meth|data|attr):|\.\. \w+::|\[/?(red|green|bold|dim)\]")


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.out.strip() == f"graphflow {graphflow.__version__}"


def test_top_level_help_lists_every_command(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0 and not MARKUP.search(result.out)
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", result.out, re.MULTILINE), command


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_is_plain_text(cli: Cli, command: str) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0, result.output
    assert result.out.startswith(f"usage: graphflow {command}")
    assert not MARKUP.search(result.out), MARKUP.search(result.out)
    assert "--help" in result.out


def test_flags_show_no_value_placeholder(cli: Cli) -> None:
    for command, flag in [("validate", "--json"), ("run", "--json"), ("schedule", "--json")]:
        help_text = cli(command, "--help").out
        assert re.search(rf"^\s+{flag}\s{{2,}}\S", help_text, re.MULTILINE), (command, help_text)


def _nouns() -> list[tuple[str, str]]:
    pairs = []
    for verb, parser in next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices.items():
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        pairs += [(verb, noun) for noun in (actions[0].choices if actions else ())]
    return sorted(pairs)


@pytest.mark.parametrize(("verb", "noun"), _nouns(), ids=[f"{v} {n}" for v, n in _nouns()])
def test_every_noun_has_plain_help_with_the_connection_options(cli: Cli, verb: str, noun: str) -> None:
    result = cli(verb, noun, "--help")  # through main: the parser built for this argv alone
    assert result.exit_code == 0, result.output
    assert result.out.startswith(f"usage: graphflow {verb} {noun.removesuffix('s')}")  # any alias
    assert not MARKUP.search(result.out), MARKUP.search(result.out)
    for option in ("--app APP", "--database-url URL", "--server URL", "--key KEY", "--json"):
        assert option in result.out, (option, result.out)


def test_the_parser_for_one_command_parses_as_the_full_one() -> None:
    argv = ["update", "automation", "aut_1", "--app", "app_1", "--disabled", "--name", "n", "--json"]
    assert vars(build_parser(argv).parse_args(argv)) == vars(build_parser().parse_args(argv))
    lean = build_parser(["validate", "x.json"])  # another command: the management ones are names only
    full = build_parser()
    assert set(_subparsers(lean)) == set(_subparsers(full))
    assert not [a for a in _subparsers(lean)["list"]._actions if isinstance(a, argparse._SubParsersAction)]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return dict(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)
