"""URL templates of WorkflowHttpRequest: each hole's value is encoded for where it stands.

A value placed into a URL must not change the URL's shape: ``/users/{{$.id}}`` with the id
``../../admin?x=1#`` must ask for one user, not reach ``/admin``. So a hole is encoded by its
position in the template's literal text:

========================================  =============================================
where the hole stands                     what its value becomes
========================================  =============================================
first, before any text (``{{$.url}}``,    inserted as it is: the whole URL or its
``{{env.API}}/items``), or in the         origin is the author's to give (the egress
scheme/host/port (``https://{{h}}/``)     policy still checks the result)
in the path (after the host's ``/``)      one percent-encoded path segment: ``/``, ``?``,
                                          ``#``, ``%`` and the rest are escaped, and a
                                          value of ``.`` or ``..`` is escaped too
in the query (after ``?``)                a percent-encoded query value (``&``, ``=``,
                                          ``+``, ``#`` escaped)
in the fragment (after ``#``)             percent-encoded
========================================  =============================================

Values are rendered as in any template first (strings as they are, ``null`` as nothing, other
values as compact JSON).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from graphflow.exceptions import NodeExecutionError
from graphflow.scripts.template import hole_end

if TYPE_CHECKING:
    from graphflow.graph.model import GraphContext
    from graphflow.scripts import Template

__all__ = ["Position", "UrlTemplate", "compile_url", "split_holes"]


class Position(enum.Enum):
    """Where a hole stands in a URL template."""

    ORIGIN = "origin"
    PATH = "path"
    QUERY = "query"
    FRAGMENT = "fragment"


class UrlTemplate:
    """A compiled URL template: literal pieces and holes with their :class:`Position`."""

    __slots__ = ("parts", "source", "static")

    def __init__(self, source: str, parts: tuple[str | tuple[Template, Position], ...]) -> None:
        self.source = source
        self.parts = parts
        self.static = all(isinstance(part, str) for part in parts)

    def render(self, evaluate: Callable[[Template], Any]) -> str:
        """Evaluate each hole with ``evaluate`` and return the URL, each value encoded by position.

        Raises:
            NodeExecutionError: ``invalid_url`` when a hole that is the whole URL is not a string.
        """
        if self.static:
            return self.source
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            template, position = part
            value = evaluate(template)
            if len(self.parts) == 1 and not isinstance(value, str):
                raise NodeExecutionError(
                    f"url must render to a string, got {type(value).__name__}", code="invalid_url", retryable=False
                )
            out.append(_encode(_text(value), position))
        return "".join(out)


def compile_url(source: str, graph: GraphContext, field: str = "url") -> UrlTemplate | None:
    """Compile a URL template, reporting problems on ``graph`` (``None`` when a hole is invalid)."""
    pieces = split_holes(source)
    if pieces is None:
        graph.problem(
            field,
            f"template does not compile: '{{{{' is never closed with '}}}}' in {source[:80]!r}",
            "holes are {{ expression }}; see docs/scripts.md",
        )
        return None
    parts: list[str | tuple[Template, Position]] = []
    skeleton = ""  # the literal text so far, a NUL for each hole
    failed = False
    for text, is_hole in pieces:
        if not is_hole:
            parts.append(text)
            skeleton += text
            continue
        template = graph.compile_template(field, "{{" + text + "}}")
        if template is None:
            failed = True
            continue
        parts.append((template, _position(skeleton)))
        skeleton += "\0"
    return None if failed else UrlTemplate(source, tuple(parts))


def _position(before: str) -> Position:
    """The position of a hole preceded by ``before`` (literal text, NUL for earlier holes)."""
    if "#" in before:
        return Position.FRAGMENT
    if "?" in before:
        return Position.QUERY
    start = before.find("://")
    authority = start + 3 if start >= 0 else 0
    if not before or "/" not in before[authority:]:
        return Position.ORIGIN  # the whole URL, or its scheme, host or port
    return Position.PATH


def _encode(text: str, position: Position) -> str:
    if position is Position.ORIGIN:
        return text
    if position is Position.PATH and text in (".", ".."):
        return text.replace(".", "%2E")  # a dot segment would climb the path
    return quote(text, safe="")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def split_holes(text: str) -> list[tuple[str, bool]] | None:
    """Split ``text`` into ``(literal, False)`` and ``(expression, True)`` pieces.

    A hole closes at the first ``}}`` outside quoted strings and nested braces, as in
    :mod:`graphflow.scripts.template`. ``None`` when a ``{{`` is never closed.
    """
    pieces: list[tuple[str, bool]] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                pieces.append((text[pos:], False))
            return pieces
        if start > pos:
            pieces.append((text[pos:start], False))
        end = hole_end(text, start + 2)
        if end < 0:
            return None
        pieces.append((text[start + 2 : end], True))
        pos = end + 2
