"""Plain-text output shared by the commands: JSON, aligned tables, one-line errors.

Plain text (no rich) keeps the CLI quick to start and its output easy to pipe and grep.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["echo", "error", "print_json", "table", "visible"]


def echo(text: str = "") -> None:
    """Print ``text`` to standard output."""
    sys.stdout.write(f"{text}\n")


def error(text: str) -> None:
    """Print ``graphflow: TEXT`` to standard error (one line)."""
    sys.stderr.write(f"graphflow: {text}\n")


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (non-ASCII characters kept as they are)."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


#: Control characters (C0, DEL, C1) → a visible escape: a tenant's text never drives the terminal.
_VISIBLE = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def visible(text: str) -> str:
    r"""``text`` with every control character shown as an escape (``\\x1b``), for a terminal."""
    return text.translate(_VISIBLE)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded.

    Cells hold tenants' text (names, messages, errors): control characters are shown escaped.
    """
    lines = [list(headers), *([visible(str(cell)) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[-1]]).rstrip()
        for line in lines
    )
