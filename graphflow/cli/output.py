"""Plain-text output shared by the commands: JSON, aligned tables, one-line errors.

Plain text (no rich) keeps the CLI quick to start and its output easy to pipe and grep.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["echo", "error", "print_json", "table"]


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


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    lines = [list(headers), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[-1]]).rstrip()
        for line in lines
    )
