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
