"""``cli``: run ``graphflow ARGS...`` in this process and capture what it printed."""

from __future__ import annotations

import pytest

from graphflow.cli import main
from tests.cli.runner import Cli, Result


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("run", "g.json", "-t", "a.b")`` → :class:`Result` (exit code, stdout, stderr)."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke
