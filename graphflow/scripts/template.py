"""Templates: strings with ``{{ expression }}`` holes, and JSON structures made of them.

A template compiles once. A string that is exactly one hole (``"{{$.items}}"``) evaluates to the
expression's value unchanged (a list stays a list); otherwise each hole's value is rendered into
the text (strings as they are, ``null`` as nothing, other values as compact JSON). Dicts and lists
are walked and their string leaves compiled; a structure with no holes evaluates to itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphflow.exceptions import ScriptError
from graphflow.scripts.program import DEFAULT_LIMITS, Script, ScriptLimits, format_line

__all__ = ["Template", "compile_template", "hole_end"]


class Template:
    """A compiled template; :meth:`render` evaluates it against a node's input."""

    __slots__ = ("_render", "source", "static")

    def __init__(self, source: Any, render: Any, static: bool) -> None:
        self.source = source
        self._render = render
        self.static = static

    def render(
        self,
        input: Any,
        *,
        env: Mapping[str, Any] | None = None,
        nodes: Mapping[str, Any] | None = None,
    ) -> Any:
        """Evaluate every hole and return the rendered value.

        Raises:
            ScriptError: a hole failed to evaluate.
        """
        if self.static:
            return self.source
        return self._render(input, env, nodes)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def compile_template(source: Any, *, limits: ScriptLimits = DEFAULT_LIMITS) -> Template:
    """Compile a string, or a dict/list holding strings, into a :class:`Template`.

    Raises:
        ScriptError: a hole is not a valid expression or a ``{{`` is never closed.
    """
    render = _compile(source, limits)
    return Template(source, render, render is None)


def _compile(source: Any, limits: ScriptLimits) -> Any:
    """Return a ``render(input, env, nodes)`` callable, or ``None`` when ``source`` is static."""
    if isinstance(source, str):
        return _compile_string(source, limits)
    if isinstance(source, Mapping):
        parts = {key: _compile(value, limits) for key, value in source.items()}
        if all(p is None for p in parts.values()):
            return None
        static = dict(source)

        def render_map(input: Any, env: Any, nodes: Any) -> Any:
            out = dict(static)
            for key, part in parts.items():
                if part is not None:
                    out[key] = part(input, env, nodes)
            return out

        return render_map
    if isinstance(source, (list, tuple)):
        items = [_compile(value, limits) for value in source]
        if all(p is None for p in items):
            return None
        values = list(source)

        def render_list(input: Any, env: Any, nodes: Any) -> Any:
            return [p(input, env, nodes) if p is not None else v for p, v in zip(items, values, strict=True)]

        return render_list
    return None


def _compile_string(text: str, limits: ScriptLimits) -> Any:
    if "{{" not in text:
        return None
    pieces: list[str | Script] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                pieces.append(text[pos:])
            break
        if start > pos:
            pieces.append(text[pos:start])
        end = _find_close(text, start + 2)
        expr = text[start + 2 : end].strip()
        if not expr:
            raise ScriptError(f"empty {{{{ }}}} at character {start} of template {text[:80]!r}")
        try:
            pieces.append(Script.compile(expr, limits=limits))
        except ScriptError as exc:
            raise ScriptError(f"in template hole {{{{{expr[:80]}}}}}: {exc.message}") from None
        pos = end + 2
    if len(pieces) == 1 and isinstance(pieces[0], Script):
        script = pieces[0]

        def render_value(input: Any, env: Any, nodes: Any) -> Any:
            return script.evaluate_inline(input, env=env, nodes=nodes)

        return render_value

    def render_text(input: Any, env: Any, nodes: Any) -> str:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                value = piece.evaluate_inline(input, env=env, nodes=nodes)
                if value is not None:
                    out.append(format_line(value))
        return "".join(out)

    return render_text


def hole_end(text: str, pos: int) -> int:
    """Where the ``}}`` closing a hole opened before ``pos`` starts, or ``-1`` when it never closes.

    Quoted strings and nested braces inside the hole are skipped. The HTTP node's URL encoder
    reads holes with this too, so both agree on where a hole ends.
    """
    depth = 0
    quote = ""
    i = pos
    n = len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0 and text.startswith("}}", i):
                return i
            depth = max(depth - 1, 0)
        i += 1
    return -1


def _find_close(text: str, pos: int) -> int:
    """:func:`hole_end`, raising when the hole never closes."""
    end = hole_end(text, pos)
    if end < 0:
        raise ScriptError(f"'{{{{' at character {pos - 2} is never closed with '}}}}' in {text[:80]!r}")
    return end
