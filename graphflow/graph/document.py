"""Config text → a plain JSON document: safe parsing, and the check that it is plain JSON.

:func:`parse_document` reads JSON (text starting with ``{`` or ``[``) or YAML. The size limit
counts bytes of UTF-8. YAML goes through a safe loader that also refuses duplicate keys, caps
aliases (billion-laughs documents), keeps timestamps as strings, refuses binary values, sets and
other tags, and never builds an integer from more than :data:`MAX_INT_CHARS` characters (a hex
or sexagesimal integer of thousands of digits costs quadratic time to build and cannot be printed).
JSON refuses duplicate keys and NaN/Infinity.

:func:`check_document` then walks the document once, iteratively, and refuses with its JSON path
every value a JSON store or a script could not hold: a key that is not a string (YAML's
``? [a, b]``, ``1:``, ``on:``), an integer outside 64 bits, a float that is not finite, a string
with a lone surrogate, or (from a dict) any other Python type. The parser marks what it refused
to build (:class:`Refused`) so the walk can report it where it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphflow.exceptions import LimitExceededError, Problem, ValidationError, json_path
from graphflow.graph.limits import DEFAULT_GRAPH_LIMITS, GraphLimits

if TYPE_CHECKING:
    import yaml

__all__ = ["MAX_INT_CHARS", "Refused", "check_document", "parse_document"]

#: The longest integer text (digits, prefix, colons; no sign or ``_``) the YAML loader builds.
MAX_INT_CHARS = 64
_INT64 = 2**63
_MAX_VALUES = 1_000_000
_MAX_PROBLEMS = 100
_PLAIN_HINT = "config values are strings, finite numbers, booleans, null, lists and objects with string keys"


class Refused:
    """A YAML scalar or key the parser would not build; :func:`check_document` reports it.

    Compared by identity, so two refused keys of one mapping never collide.
    """

    __slots__ = ("line", "message")

    def __init__(self, message: str, line: int) -> None:
        self.message = message
        self.line = line


class _Malformed(Exception):
    """The text is not a well-formed document; carries the problem to report."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _yaml_loader(max_aliases: int) -> type[yaml.SafeLoader]:
    import yaml

    class GraphYAMLLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > max_aliases:
                    mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                    raise _Malformed(
                        f"more than {max_aliases} YAML aliases (line {mark.line + 1})",
                        "expand the document instead of referencing anchors",
                    )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if not isinstance(node, yaml.MappingNode):
                return super().construct_mapping(node, deep=deep)  # raises its ConstructorError
            seen: set[Any] = set()
            for key_node, _ in node.value:  # before merge keys are flattened: '<<' may override
                key = self.construct_object(key_node, deep=deep)
                if _hashable(key) and key in seen:
                    raise _Malformed(
                        f"duplicate key {_short(repr(key))} at line {key_node.start_mark.line + 1}",
                        "keys must be unique: remove or rename one of them",
                    )
                seen.add(key if _hashable(key) else id(key))
            self.flatten_mapping(node)
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=deep)
                if not _hashable(key):
                    key = Refused(f"a key must be a string, not a {type(key).__name__}", key_node.start_mark.line + 1)
                mapping[key] = self.construct_object(value_node, deep=deep)
            return mapping

    def as_string(loader: yaml.SafeLoader, node: Any) -> str:
        return str(loader.construct_scalar(node))

    def bounded_int(loader: yaml.SafeLoader, node: Any) -> Any:
        text = str(loader.construct_scalar(node))
        if len(text.replace("_", "").lstrip("+-")) > MAX_INT_CHARS:
            return Refused(f"the integer {_short(text, 20)} is too long", node.start_mark.line + 1)
        return yaml.SafeLoader.construct_yaml_int(loader, node)

    def refuse(loader: yaml.SafeLoader, node: Any) -> Any:
        raise _Malformed(
            f"{node.tag} values are not allowed (line {node.start_mark.line + 1})",
            "write plain values: strings, numbers, booleans, null, lists and objects",
        )

    GraphYAMLLoader.add_constructor("tag:yaml.org,2002:int", bounded_int)
    GraphYAMLLoader.add_constructor("tag:yaml.org,2002:timestamp", as_string)
    for tag in ("binary", "set", "omap", "pairs"):
        GraphYAMLLoader.add_constructor(f"tag:yaml.org,2002:{tag}", refuse)
    return GraphYAMLLoader


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Malformed(f"duplicate key {_short(repr(key))}", "keys must be unique: remove or rename one of them")
        out[key] = value
    return out


def _json_int(text: str) -> Any:
    if len(text.lstrip("-")) > MAX_INT_CHARS:
        return Refused(f"the integer {_short(text, 20)} is too long", 0)
    return int(text)


def _no_constants(name: str) -> Any:
    raise _Malformed(f"{name} is not valid JSON", "write a number, or null")


def parse_document(text: str | bytes, *, limits: GraphLimits = DEFAULT_GRAPH_LIMITS, source: str | None = None) -> Any:
    """Parse JSON or YAML text (JSON when it starts with ``{`` or ``[``).

    Args:
        text: the config text.
        limits: ``max_bytes`` (UTF-8 bytes) and ``max_aliases`` apply here.
        source: the file the text came from, named in messages.

    Raises:
        LimitExceededError: the text is larger than ``limits.max_bytes``.
        ValidationError: the text is empty, not UTF-8 or not well-formed, has duplicate keys,
            tags or too many aliases.
    """
    size = len(text) if isinstance(text, bytes) else _utf8_size(text, limits.max_bytes)
    if size > limits.max_bytes:
        raise LimitExceededError(
            [Problem("$", f"config is {size} bytes; the limit is {limits.max_bytes}")], subject="config"
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _error(f"config is not UTF-8 text: {exc}", "save the file as UTF-8", source) from None
    where = f" in {source}" if source else ""
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_no_constants, parse_int=_json_int)
        except json.JSONDecodeError as exc:
            raise _error(
                f"malformed JSON{where} at line {exc.lineno}, column {exc.colno}: {exc.msg}", "", source
            ) from None
        except _Malformed as exc:
            raise _error(f"malformed JSON{where}: {exc.message}", exc.hint, source) from None
        except RecursionError:
            raise _error(f"JSON{where} nests too deeply", "flatten the document", source) from None
    import yaml  # only YAML text pays for it (~12 ms)

    loader: yaml.SafeLoader | None = None
    try:
        loader = _yaml_loader(limits.max_aliases)(text)  # reading checks the characters
        document = loader.get_single_data()
    except _Malformed as exc:
        raise _error(f"malformed YAML{where}: {exc.message}", exc.hint, source) from None
    except yaml.MarkedYAMLError as exc:
        raise _error(*_yaml_message(exc, where), source) from None
    # PyYAML's constructors raise builtins on bad explicit scalars (IndexError for `!!int ""`,
    # KeyError for `!!bool x`, ValueError for `!!float x`); each means the text is malformed.
    except (yaml.YAMLError, ValueError, TypeError, LookupError, ArithmeticError) as exc:
        raise _error(f"malformed YAML{where}: {_short(str(exc), 200)}", "", source) from None
    except RecursionError:
        raise _error(f"YAML{where} nests too deeply", "flatten the document", source) from None
    finally:
        if loader is not None:
            loader.dispose()
    if document is None:
        raise _error(
            f"the config{where} is empty",
            "a config is an object; start it with 'kind: WorkflowGraph' (see docs/config.md)",
            source,
        )
    return document


def _utf8_size(text: str, limit: int) -> int:
    """Bytes of ``text`` as UTF-8 (lone surrogates counted too), exact up to ``limit``."""
    if len(text) > limit:
        return len(text)  # at least that many bytes: no need to encode a huge text
    return len(text.encode("utf-8", "surrogatepass"))


def _yaml_message(exc: yaml.MarkedYAMLError, where: str) -> tuple[str, str]:
    mark = exc.problem_mark
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = exc.problem or "not valid YAML"
    if "constructor for the tag" in problem:
        return (
            f"malformed YAML{where}{at}: {_short(problem, 200)}",
            "YAML tags (!!python/…, !!binary, !!set…) are not allowed: write plain values",
        )
    context = ""
    if exc.context and exc.context_mark is not None:
        context = f" ({exc.context}, from line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
    return (
        f"malformed YAML{where}{at}: {_short(problem, 200)}{context}",
        "check the indentation, and that every bracket and quote is closed",
    )


def _error(message: str, hint: str, source: str | None) -> ValidationError:
    return ValidationError([Problem("$", message, hint)], subject=f"config {source!r}" if source else "config")


def check_document(document: Any, limits: GraphLimits = DEFAULT_GRAPH_LIMITS) -> None:
    """Refuse a document that is not plain JSON, too deep or too big, naming each path.

    Iterative (no recursion to exhaust), at most ~1,000,000 values.

    Raises:
        LimitExceededError: nested deeper than ``limits.max_depth`` or too many values.
        ValidationError: every value that is not plain JSON (see the module docstring).
    """
    problems: list[Problem] = []
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(document, 1, ())]
    seen = 0
    while stack:
        value, depth, parts = stack.pop()
        if isinstance(value, Mapping):
            items: Any = value.items()
        elif isinstance(value, (list, tuple)):
            items = enumerate(value)
        else:
            continue
        if depth > limits.max_depth or (value and depth == limits.max_depth):
            raise LimitExceededError(
                [Problem(_path(parts), f"config nests deeper than {limits.max_depth} levels")], subject="config"
            )
        seen += len(value)
        if seen > _MAX_VALUES:
            raise LimitExceededError([Problem("$", "config has too many values")], subject="config")
        is_mapping = isinstance(value, Mapping)
        for key, item in items:
            if is_mapping and (type(key) is not str or _text_problem(key) is not None):
                problems.append(_key_problem(key, parts))
                continue
            problem = _scalar_problem(item)
            if problem == "":
                stack.append((item, depth + 1, (*parts, key)))
            elif problem is not None:
                problems.append(Problem(_path((*parts, key)), problem, _PLAIN_HINT))
        if len(problems) >= _MAX_PROBLEMS:
            break
    if problems:
        raise ValidationError(problems[:_MAX_PROBLEMS], subject="config")


def _scalar_problem(value: Any) -> str | None:
    """What is wrong with a value, ``None`` when it is a fine scalar, ``""`` for a container."""
    kind = type(value)
    if kind is str:
        return _text_problem(value)
    if kind is int:
        return None if -_INT64 <= value < _INT64 else "the integer is outside the 64-bit range"
    if kind is float:
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if kind is bool or value is None:
        return None
    if isinstance(value, (Mapping, list, tuple)):
        return ""
    if kind is Refused:
        return f"{value.message} (line {value.line})" if value.line else value.message
    return f"a {kind.__name__} is not a JSON value"


def _key_problem(key: Any, parts: tuple[str | int, ...]) -> Problem:
    if type(key) is str:
        return Problem(_path(parts), f"a key: {_text_problem(key)}", _PLAIN_HINT)
    if type(key) is Refused:
        line = f" (line {key.line})" if key.line else ""
        return Problem(_path(parts), f"{key.message}{line}", "write keys as plain strings")
    return Problem(
        _path(parts),
        f"key {_short(repr(key))} is not a string",
        "quote it: YAML reads 1, on, yes and null as non-strings",
    )


def _text_problem(text: str) -> str | None:
    """Why a string cannot be stored alike by every store (a NUL, a lone surrogate), or ``None``."""
    if "\x00" in text:
        return "a string holds a NUL character (\\u0000), which cannot be stored"
    return "a string holds a lone surrogate (not valid Unicode)" if _has_surrogate(text) else None


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _path(parts: tuple[str | int, ...]) -> str:
    return json_path(parts)
