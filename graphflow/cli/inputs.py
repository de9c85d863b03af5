"""JSON given on the command line: inline (``'{"a": 1}'``) or from a file (``@payload.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphflow.cli.errors import UsageError

__all__ = ["json_argument", "read_text"]


def read_text(path: str, option: str) -> str:
    """The UTF-8 text of ``path`` (``-``: standard input).

    Raises:
        UsageError: the file cannot be read (missing, a directory, not UTF-8), named by ``option``.
    """
    import sys

    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot read the {option} file {path!r}: {reason}") from None


def json_argument(text: str, option: str = "--payload") -> Any:
    """The JSON value of an option: ``text`` itself, or with ``@FILE`` the file's content.

    Raises:
        UsageError: the file cannot be read, or the text is not JSON (with where it broke).
    """
    source = option
    if text.startswith("@"):
        path = text[1:]
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(
                f"cannot read the {option} file {path!r}: {reason}; give {option} @FILE.json or {option} JSON"
            ) from None
        source = path
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f'quote it in the shell, e.g. {option} \'{{"key": "value"}}\''
        ) from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, nesting too deep
        raise UsageError(f"{source} cannot be read as JSON ({exc})") from None
