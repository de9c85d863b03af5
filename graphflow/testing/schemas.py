"""A small JSON Schema → Hypothesis strategy translator, for the event payload schemas.

Why not ``hypothesis-jsonschema``: it does not work with the Hypothesis versions graphflow
supports (it fails with ``'many' object has no attribute 'more'``). This module covers the
subset the built-in catalogue and typical host events use, and refuses anything else by name
(a :class:`~graphflow.exceptions.ValidationError` whose path points at the keyword) rather than
generating values that might not fit:

* ``type`` (one or a list): ``object``, ``array``, ``string``, ``integer``, ``number``,
  ``boolean``, ``null``; ``enum``, ``const``;
* objects: ``properties``, ``required``, ``additionalProperties`` (``true``, ``false`` or a schema);
* arrays: ``items``, ``minItems``, ``maxItems``, ``uniqueItems``;
* strings: ``minLength``, ``maxLength``, ``pattern``, ``format`` (``date-time``, ``date``,
  ``email``, ``uuid``, ``ipv4``, ``ipv6``);
* numbers: ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``;
* ``anyOf`` / ``oneOf``, local ``$ref`` (``#/$defs/…``, ``#/definitions/…``, not recursive);
* annotations are ignored: ``$schema``, ``$id``, ``title``, ``description``, ``default``,
  ``examples``, ``$comment``, ``deprecated``, ``readOnly``, ``writeOnly`` and ``x-*`` keys.

Strings never hold NUL (U+0000), which JSON Schema allows but graphflow's stores refuse.
Values shrink towards the smallest: optional properties absent, no extra properties, the
shortest strings the pattern allows. :func:`graphflow.testing.strategies.payloads` also filters
every value through the catalogue's own validator, so what it yields always passes ``publish``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from graphflow.exceptions import Problem, ValidationError

__all__ = ["SUPPORTED_KEYWORDS", "from_schema"]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "title", "description", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly"}
)
#: Every keyword :func:`from_schema` understands (annotations and ``x-*`` keys are also accepted).
SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "anyOf",
        "oneOf",
        "$ref",
        "$defs",
        "definitions",
    }
)
_FORMATS = ("date-time", "date", "email", "uuid", "ipv4", "ipv6")
_HINT = "write the payload strategy yourself (hypothesis.strategies), or simplify the schema"
_EXTRA_KEY = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
# Any character but NUL: the stores refuse it (PostgreSQL's jsonb cannot hold U+0000), so publish would.
_CHARACTERS = st.characters(exclude_characters="\x00")
# Whole-minute offsets (RFC 3339 has no seconds in offsets), UTC first so it shrinks there.
_OFFSETS = st.one_of(
    st.just(UTC), st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
)
_SCALAR: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**31), 2**31), st.text(_CHARACTERS, max_size=20)
)


def _refuse(path: str, message: str) -> ValidationError:
    return ValidationError([Problem(path, message, _HINT)], subject="schema for graphflow.testing")


def from_schema(schema: Mapping[str, Any] | bool) -> st.SearchStrategy[Any]:
    """A strategy of JSON values that the (supported subset of a) JSON Schema accepts.

    Raises:
        ValidationError: the schema uses a keyword or format outside the subset (its path says where).
    """
    root = schema if isinstance(schema, Mapping) else {}
    return _Translator(root).translate(schema, "$", ())


class _Translator:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def translate(self, schema: Any, path: str, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        if schema is True:
            return _SCALAR
        if schema is False:
            return st.nothing()
        if not isinstance(schema, Mapping):
            raise _refuse(path, "a schema must be an object or a boolean")
        for key in schema:
            if key not in SUPPORTED_KEYWORDS and key not in _ANNOTATIONS and not str(key).startswith("x-"):
                raise _refuse(f"{path}.{key}", f"the keyword {key!r} is not supported by graphflow.testing")
        if "$ref" in schema:
            return self._ref(schema, path, refs)
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [self.translate(sub, f"{path}.{key}[{i}]", refs) for i, sub in enumerate(schema[key])]
                return st.one_of(options)
        kinds = schema.get("type")
        if kinds is None:
            kinds = "object" if "properties" in schema else "array" if "items" in schema else None
        if kinds is None:
            return _SCALAR
        if isinstance(kinds, list):
            return st.one_of([self._typed(kind, schema, path, refs) for kind in kinds])
        return self._typed(kinds, schema, path, refs)

    def _ref(self, schema: Mapping[str, Any], path: str, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        ref = schema["$ref"]
        parts = ref.split("/") if isinstance(ref, str) else []
        if len(parts) != 3 or parts[0] != "#" or parts[1] not in ("$defs", "definitions"):
            raise _refuse(f"{path}.$ref", f"only local references such as '#/$defs/name' are supported, not {ref!r}")
        if ref in refs:
            raise _refuse(f"{path}.$ref", f"the reference {ref!r} is recursive")
        target = self.root.get(parts[1], {}).get(parts[2])
        if target is None:
            raise _refuse(f"{path}.$ref", f"the reference {ref!r} points at nothing")
        return self.translate(target, f"{path}.$ref", (*refs, ref))

    def _typed(self, kind: Any, schema: Mapping[str, Any], path: str, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        if kind == "object":
            return self._object(schema, path, refs)
        if kind == "array":
            return self._array(schema, path, refs)
        if kind == "string":
            return _string(schema, path)
        if kind in ("integer", "number"):
            return _number(kind, schema)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        raise _refuse(f"{path}.type", f"unknown type {kind!r}")

    def _object(self, schema: Mapping[str, Any], path: str, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {
            name: self.translate(sub, f"{path}.properties.{name}", refs)
            for name, sub in properties.items()
            if name in required
        }
        optional = {
            name: self.translate(sub, f"{path}.properties.{name}", refs)
            for name, sub in properties.items()
            if name not in required
        }
        missing = sorted(required - set(properties))
        for name in missing:  # required but not described: any value will do
            fixed[name] = _SCALAR
        base = st.fixed_dictionaries(fixed, optional=optional)
        extra_schema = schema.get("additionalProperties", True)
        if extra_schema is False:
            return base
        values = _SCALAR if extra_schema is True else self.translate(extra_schema, f"{path}.additionalProperties", refs)
        taken = set(properties)
        extras = st.dictionaries(_EXTRA_KEY.filter(lambda key: key not in taken), values, max_size=3)
        return st.tuples(base, extras).map(lambda pair: {**pair[1], **pair[0]})

    def _array(self, schema: Mapping[str, Any], path: str, refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
        items = self.translate(schema.get("items", True), f"{path}.items", refs)
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        high = min(int(high), low + 8) if high is not None else low + 5
        unique = bool(schema.get("uniqueItems", False))
        return st.lists(items, min_size=low, max_size=high, unique_by=_canonical if unique else None)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _string(schema: Mapping[str, Any], path: str) -> st.SearchStrategy[str]:
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    fmt = schema.get("format")
    pattern = schema.get("pattern")
    strategy: st.SearchStrategy[str]
    if fmt is not None:
        strategy = _formatted(fmt, path)
    elif pattern is not None:
        strategy = st.from_regex(pattern)  # JSON Schema patterns search, as re.search does
    else:
        return st.text(_CHARACTERS, min_size=low, max_size=min(int(high), low + 40) if high is not None else low + 20)
    if pattern is not None and fmt is not None:
        compiled = re.compile(pattern)
        strategy = strategy.filter(lambda text: compiled.search(text) is not None)
    if low or high is not None:
        top = int(high) if high is not None else math.inf
        strategy = strategy.filter(lambda text: low <= len(text) <= top)
    return strategy


def _formatted(fmt: Any, path: str) -> st.SearchStrategy[str]:
    if fmt == "date-time":
        return st.datetimes(timezones=_OFFSETS).map(lambda moment: moment.isoformat(timespec="seconds"))
    if fmt == "date":
        return st.dates().map(lambda day: day.isoformat())
    if fmt == "email":
        return st.emails()
    if fmt == "uuid":
        return st.uuids().map(str)
    if fmt == "ipv4":
        return st.ip_addresses(v=4).map(str)
    if fmt == "ipv6":
        return st.ip_addresses(v=6).map(str)
    raise _refuse(f"{path}.format", f"the format {fmt!r} is not supported (supported: {', '.join(_FORMATS)})")


def _number(kind: str, schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    low = schema.get("minimum")
    high = schema.get("maximum")
    exclusive_low = schema.get("exclusiveMinimum")
    exclusive_high = schema.get("exclusiveMaximum")
    if kind == "integer":
        lows = [math.ceil(low)] if low is not None else []
        highs = [math.floor(high)] if high is not None else []
        lows += [math.floor(exclusive_low) + 1] if exclusive_low is not None else []
        highs += [math.ceil(exclusive_high) - 1] if exclusive_high is not None else []
        return st.integers(min_value=max(lows, default=None), max_value=min(highs, default=None))
    return st.floats(
        min_value=exclusive_low if exclusive_low is not None else low,
        max_value=exclusive_high if exclusive_high is not None else high,
        exclude_min=exclusive_low is not None,
        exclude_max=exclusive_high is not None,
        allow_nan=False,
        allow_infinity=False,
    )
