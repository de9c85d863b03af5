"""The ``graphflow`` command line: argparse in front, one module per noun behind it.

``parser.py`` declares every command's arguments; ``graphs.py`` (validate, run, schema, graph),
``triggers.py`` (schedule, events), ``worker.py`` (worker, prune) and the management verbs
(``automations.py``, ``configs.py``, ``watch.py``, ``keys.py``, over the ``client.Client``
``connection.py`` picks: ``direct.py`` on the database or ``remote.py`` on a server) run them. A command module is
imported only once its arguments have parsed, so asking for help costs nothing heavy.

Exit codes: 0 success, 1 the command failed (an invalid graph, a failed run, a store error),
2 bad usage (a missing file, a bad number or URL, an unknown option), 130 interrupted. Bad input
never prints a traceback: a one-line message says what to do. An unexpected error is reported the
same way as an internal error; ``GRAPHFLOW_DEBUG=1`` shows its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from graphflow.cli.output import error
from graphflow.cli.parser import COMMAND, build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``graphflow`` command line on ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)  # only the chosen management command declares its arguments
    try:
        args = vars(parser.parse_args(argv))
    except SystemExit as exit_:  # --help, --version and usage errors end here, printed already
        return exit_.code if isinstance(exit_.code, int) else 2
    if COMMAND not in args:
        parser.print_help()
        return 2
    module, name = args.pop(COMMAND)
    # Imported only now: help and usage errors should not pay for the exception classes.
    from graphflow.cli.errors import CommandFailedError, UsageError
    from graphflow.exceptions import GraphflowError

    try:
        command: Callable[..., int] = getattr(importlib.import_module(module), name)
        return command(**args)
    except (UsageError, CommandFailedError) as exc:
        error(exc.message)
        return exc.exit_code
    except GraphflowError as exc:
        error(f"{exc.code}: {exc.message}")
        return 1
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `graphflow schema | head`: the reader left, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if os.environ.get("GRAPHFLOW_DEBUG"):
            raise
        error(
            f"internal error in 'graphflow {name}': {type(exc).__name__}: {exc} "
            "(a bug: please report it with the output of the same command run with GRAPHFLOW_DEBUG=1)"
        )
        return 1
