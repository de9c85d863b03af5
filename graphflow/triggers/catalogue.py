"""The event catalogue: every event name a trigger may listen for, with its JSON Schema.

Built-in events (the platform's thread, connector, context, credential, email and agent-session
events, plus graphflow's own ``workflow.scheduled`` and ``workflow.invoked``) load lazily from the
versioned schemas in ``schemas/events/``; hosts add their own with :meth:`EventCatalogue.register`.

A payload is checked in two steps. Cheap hard limits come first, so a hostile payload can exhaust
neither the stack nor the CPU: a conservative pass that builds no paths (~0.5 µs for a usual
payload, recursion bounded by the depth limit) passes what surely fits, and an exact iterative walk
decides the rest and names the offending path. Then the event's compiled schema reports every
violation with its JSON path (``$.payload.thread_id``).
"""

from __future__ import annotations

import builtins
import difflib
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from itertools import islice
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable

from graphflow.exceptions import ConflictError, LimitExceededError, Problem, ValidationError, json_path

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "INTERNAL_EVENTS",
    "MAX_NAME_LENGTH",
    "EventCatalogue",
    "EventType",
    "PayloadSchema",
    "schema_problems",
]

DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
DEFAULT_MAX_DEPTH = 32
MAX_NAME_LENGTH = 100
#: The events graphflow fires itself: a host cannot publish them, nor an automation listen for them
#: (whatever a custom catalogue says of their ``internal`` flag).
INTERNAL_EVENTS = frozenset({"workflow.scheduled", "workflow.invoked"})
_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_RESERVED_PREFIX = "workflow."
_SUFFIX = ".schema.json"
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<hm>\d{2}:\d{2}):(?P<s>\d{2})(?:\.\d+)?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
# Only the bundled meta-schemas: a "$ref" to a URL must never make graphflow fetch it.
_NO_REMOTE: Registry[Any] = Registry()


@dataclass(frozen=True, slots=True)
class EventType:
    """One event a trigger can listen for.

    Attributes:
        name: the dotted event name, e.g. ``thread.member_joined``.
        description: what happened, in one sentence.
        schema: the JSON Schema (draft 2020-12) of the event's payload (read-only).
        category: the group the event is listed under (``thread``, ``context``…).
        internal: fired by graphflow itself (``workflow.scheduled``); hosts cannot publish it.
    """

    name: str
    description: str
    schema: Mapping[str, Any]
    category: str
    internal: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the ``{name, description, category, internal}`` shape the events API lists."""
        return {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "internal": self.internal,
        }


def _schemas_dir() -> Traversable:
    """Return the built-in event schemas: packaged in the wheel, else from the source checkout."""
    packaged = resources.files("graphflow") / "_schemas" / "events"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas" / "events"


def _load_builtin() -> dict[str, EventType]:
    events: dict[str, EventType] = {}
    for entry in _schemas_dir().iterdir():
        if not entry.name.endswith(_SUFFIX):
            continue
        name = entry.name[: -len(_SUFFIX)]
        schema = json.loads(entry.read_text(encoding="utf-8"))
        events[name] = EventType(
            name=name,
            description=schema.get("description", ""),
            schema=MappingProxyType(schema),
            category=schema.get("x-graphflow-category", name.split(".", 1)[0]),
            internal=bool(schema.get("x-graphflow-internal", False)),
        )
    return events


def _is_datetime(instance: object) -> bool:
    # Our own RFC 3339 check: jsonschema's needs an optional package and would pass silently.
    if not isinstance(instance, str):
        return True
    match = _RFC3339.fullmatch(instance)
    if match is None:
        return False
    seconds = "59" if match["s"] == "60" else match["s"]  # RFC 3339 allows leap seconds
    try:
        datetime.strptime(f"{match['date']} {match['hm']}:{seconds}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    offset = match["offset"]
    return offset in ("Z", "z") or (int(offset[1:3]) < 24 and int(offset[4:6]) < 60)


# Formats whose checks need no optional package, so validation is the same on every install.
_FORMATS = FormatChecker(formats=("date", "email", "ipv4", "ipv6", "uuid"))
_FORMATS.checks("date-time")(_is_datetime)


def _short(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _json_path(parts: Iterable[str | int], root: str = "$.payload") -> str:
    return json_path(parts, root)


def _description(schema: object) -> str:
    found = schema.get("description", "") if isinstance(schema, Mapping) else ""
    return found if isinstance(found, str) else ""


def _problems_of(error: Any) -> builtins.list[Problem]:
    parts = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        # Point at the missing field itself, not at the object that lacks it.
        props = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        return [
            Problem(_json_path([*parts, prop]), "is required", _description(props.get(prop)))
            for prop in error.validator_value
            if isinstance(prop, str) and prop not in error.instance
        ]
    return [Problem(_json_path(parts), _short(error.message, 300), _description(error.schema))]


def _name_problems(name: object) -> builtins.list[Problem]:
    if not isinstance(name, str):
        return [Problem("$.name", f"event name must be a string, not {type(name).__name__}")]
    hint = "use lowercase dotted segments, e.g. 'billing.invoice_paid'"
    if len(name) > MAX_NAME_LENGTH:
        return [Problem("$.name", f"event name is longer than {MAX_NAME_LENGTH} characters", hint)]
    if not _NAME.fullmatch(name):
        return [Problem("$.name", f"event name {json.dumps(name)} is not valid", hint)]
    if name.startswith(_RESERVED_PREFIX):
        return [
            Problem(
                "$.name",
                f"{_RESERVED_PREFIX}* events belong to graphflow",
                "pick another first segment, e.g. your app's name",
            )
        ]
    return []


def _schema_problems(schema: object) -> builtins.list[Problem]:
    if not isinstance(schema, Mapping):
        return [Problem("$.schema", "the schema must be a JSON object (a mapping)")]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [
            Problem(
                _json_path(exc.absolute_path, "$.schema"),
                _short(exc.message, 300),
                "the schema must be valid JSON Schema draft 2020-12",
            )
        ]
    problems: builtins.list[Problem] = []
    stack: builtins.list[tuple[tuple[str | int, ...], object]] = [((), schema)]
    while stack:
        parts, node = stack.pop()
        children: Iterable[tuple[str | int, object]] = ()
        if isinstance(node, Mapping):
            children = node.items()
            for key in ("$ref", "$dynamicRef"):
                ref = node.get(key)
                if isinstance(ref, str) and not ref.startswith("#"):
                    problems.append(
                        Problem(
                            _json_path([*parts, key], "$.schema"),
                            f"reference {json.dumps(_short(ref))} is not local",
                            "define it under $defs and use '#/$defs/<name>'",
                        )
                    )
        elif isinstance(node, list):
            children = enumerate(node)
        stack.extend(((*parts, key), child) for key, child in children)
    return problems


class EventCatalogue:
    """The events triggers can listen for, with their payload schemas and payload limits.

    Lookups are dict lookups. Built-in schemas load on first use; one compiled validator per
    event is built on first validation and kept. Safe to share between threads.

    Args:
        max_payload_bytes: largest payload, as compact UTF-8 JSON.
        max_depth: deepest nesting of objects and arrays (the payload object is level 1).
        max_problems: most schema violations reported at once (the rest are counted).
    """

    def __init__(
        self,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_problems: int = 100,
    ) -> None:
        self.max_payload_bytes = max_payload_bytes
        self.max_depth = max_depth
        self.max_problems = max_problems
        self._events: dict[str, EventType] | None = None
        self._validators: dict[str, Any] = {}
        self._fast: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _loaded(self) -> dict[str, EventType]:
        events = self._events
        if events is None:
            with self._lock:
                if self._events is None:
                    self._events = _load_builtin()
                events = self._events
        return events

    def get(self, name: str) -> EventType:
        """Return the event called ``name``.

        Raises:
            ValidationError: no such event; the hint suggests the closest names.
        """
        events = self._loaded()
        event = events.get(name) if isinstance(name, str) else None
        if event is not None:
            return event
        shown = json.dumps(_short(name)) if isinstance(name, str) else type(name).__name__
        close: builtins.list[str] = []
        if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH:  # difflib is quadratic
            close = difflib.get_close_matches(name, sorted(events), n=3)
        hint = (
            "did you mean " + " or ".join(repr(c) for c in close) + "?"
            if close
            else "EventCatalogue.list() shows every event"
        )
        raise ValidationError([Problem("$.trigger", f"unknown event {shown}", hint)], subject="event name")

    def list(self, category: str | None = None) -> builtins.list[EventType]:
        """Return the events (only those in ``category`` when given), sorted by name."""
        events = self._loaded().values()
        return sorted((e for e in events if category in (None, e.category)), key=lambda e: e.name)

    def names(self) -> frozenset[str]:
        """Return every event name."""
        return frozenset(self._loaded())

    def register(
        self,
        name: str,
        description: str,
        schema: Mapping[str, Any] | None = None,
        *,
        category: str | None = None,
        replace: bool = False,
    ) -> EventType:
        """Add a host event (or replace one with ``replace=True``).

        Args:
            name: lowercase dotted segments (``billing.invoice_paid``), at most 100 characters;
                ``workflow.*`` is reserved for graphflow.
            description: what happened, in one sentence.
            schema: the payload's JSON Schema (draft 2020-12, only local ``$ref``); default: any
                object.
            category: the group to list it under; default: the name's first segment.
            replace: replace an event of the same name instead of refusing.

        Raises:
            ValidationError: the name, description or schema is not valid (all problems listed).
            ConflictError: the name is taken and ``replace`` is false.
        """
        problems = _name_problems(name)
        if not isinstance(description, str) or not description.strip():
            problems.append(Problem("$.description", "description must be a non-empty string"))
        plain: object = {"type": "object", "additionalProperties": True}
        if schema is not None:
            try:  # a JSON round trip: a private copy the caller cannot mutate, and only JSON in it
                plain = json.loads(json.dumps(dict(schema), allow_nan=False))
            except (TypeError, ValueError) as exc:
                plain = None
                problems.append(Problem("$.schema", f"the schema is not JSON: {exc}"))
        if plain is not None:
            problems.extend(_schema_problems(plain))
        if problems or not isinstance(plain, dict):
            raise ValidationError(problems, subject="event registration")
        events = self._loaded()
        event = EventType(name, description, MappingProxyType(plain), category or name.split(".", 1)[0])
        with self._lock:
            if name in events and not replace:
                raise ConflictError(
                    f"event {name!r} is already registered; pass replace=True to replace it", details={"name": name}
                )
            events[name] = event
            self._validators.pop(name, None)
            self._fast.pop(name, None)
        return event

    def check_limits(self, payload: object) -> None:
        """Refuse a payload that is not a JSON object or breaks a size, depth or key limit.

        Only the plain JSON types are accepted: ``dict``, ``list``, ``str``, ``int``, ``float``,
        ``bool`` and ``None``. A subclass (a ``StrEnum``, an ``OrderedDict``) is refused with its
        path rather than passed on: what a store writes and a script reads must be the plain value.

        Raises:
            LimitExceededError: not an object, too big, too deep, or a key that is not a string.
            ValidationError: a value JSON cannot carry (NaN, a set, a lone surrogate…) or a
                subclass of a JSON type.
        """
        if type(payload) is not dict:
            if isinstance(payload, dict):
                raise _not_json("$.payload", f"the payload is a {type(payload).__name__}, not a plain dict")
            raise _limit(
                "$.payload",
                f"the payload must be a JSON object, not {type(payload).__name__}",
                "wrap the data in an object",
            )
        if _surely_fits(payload, 1, self.max_depth, self.max_payload_bytes) >= 0:
            return  # the usual payload: no paths to build, no encoding to measure
        self._check_limits_exactly(payload)

    def _check_limits_exactly(self, payload: dict[Any, Any]) -> None:
        """The exact walk behind :meth:`check_limits`: decides every case and names the path."""
        # A lower bound of the compact JSON size: stops a huge payload before it is all visited.
        budget = self.max_payload_bytes
        stack: builtins.list[tuple[object, int, tuple[str | int, ...]]] = [(payload, 1, ())]
        while stack:
            value, depth, parts = stack.pop()
            if type(value) not in _PLAIN_TYPES:
                raise _not_json(_json_path(parts), _not_plain(value))
            if isinstance(value, (dict, list)):
                if depth > self.max_depth:
                    raise _limit(
                        _json_path(parts), f"nested deeper than {self.max_depth} levels", "flatten the payload"
                    )
                budget -= 1 + (4 * len(value) if isinstance(value, dict) else len(value))
                if budget < 0:
                    raise self._too_big()
                if isinstance(value, list):
                    stack.extend((item, depth + 1, (*parts, i)) for i, item in enumerate(value))
                    continue
                for key, item in value.items():
                    if type(key) is not str:
                        if isinstance(key, str):
                            raise _not_json(_json_path(parts), f"a key is a {type(key).__name__}, not a plain str")
                        raise _limit(_json_path(parts), f"key {key!r} is not a string", "JSON object keys are strings")
                    budget -= len(key)
                    stack.append((item, depth + 1, (*parts, key)))
            elif isinstance(value, str):
                budget -= len(value) + 2
                if budget < 0:
                    raise self._too_big()
            elif isinstance(value, float) and not math.isfinite(value):
                raise _not_json(_json_path(parts), f"{value} is not a JSON number")
            else:  # None, a bool, an int or a finite float
                budget -= 1
        try:
            size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
        except UnicodeEncodeError:
            raise _not_json("$.payload", "a string holds a lone surrogate (not valid Unicode)") from None
        except ValueError:  # an int too long to print (CVE-2020-10735)
            size = self.max_payload_bytes + 1
        if size > self.max_payload_bytes:
            raise self._too_big()

    def _too_big(self) -> LimitExceededError:
        return _limit(
            "$.payload",
            f"the payload is larger than {self.max_payload_bytes} bytes",
            "send a reference (an id or URL) instead of the data",
        )

    def validate(self, name: str, payload: object) -> None:
        """Check ``payload`` against the limits, then against the schema of event ``name``.

        Raises:
            ValidationError: unknown event, or every schema violation with its JSON path.
            LimitExceededError: see :meth:`check_limits`.
        """
        event = self.get(name)
        self.check_limits(payload)
        fast = self._fast.get(name)
        if fast is None:
            fast = self._fast[name] = _fast_validator(event.schema)
        if fast and fast.is_valid(payload):
            return
        validator = self._validators.get(name)
        if validator is None:
            validator = Draft202012Validator(dict(event.schema), format_checker=_FORMATS, registry=_NO_REMOTE)
            self._validators[name] = validator
        try:
            errors = list(islice(validator.iter_errors(payload), self.max_problems + 1))
        except Unresolvable as exc:
            raise ValidationError(
                [Problem("$.schema", f"unresolvable reference: {exc}", "fix the event's schema")],
                subject=f"schema of event {name!r}",
            ) from exc
        if not errors:
            if not fast:
                return
            # jsonschema-rs refused what Python's jsonschema lets through: a pattern's "$" matches
            # before a final newline in Python's re, not in ECMA 262 (or Rust): its verdict stands.
            problems = [
                Problem(_json_path(list(e.instance_path)), _short(e.message, 300))
                for e in islice(fast.iter_errors(payload), self.max_problems)
            ]
            raise ValidationError(problems, subject=f"payload of event {name!r}")
        found = dict.fromkeys(p for error in errors for p in _problems_of(error))
        problems = sorted(found, key=lambda p: (p.path, p.message))
        if len(errors) > self.max_problems:
            problems = problems[: self.max_problems]
            problems.append(
                Problem("$.payload", "more problems not shown", f"only the first {self.max_problems} are listed")
            )
        raise ValidationError(problems, subject=f"payload of event {name!r}")


#: The types a payload may hold: exactly these, no subclasses.
_PLAIN_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})
#: Ints that print in at most 16 characters; longer ones take the exact path (CVE-2020-10735).
_SHORT_INT = 10**15


def _surely_fits(container: dict[Any, Any] | builtins.list[Any], depth: int, max_depth: int, budget: int) -> int:
    """An upper bound of the bytes left of ``budget`` once ``container`` is compact JSON, or -1.

    The fast verdict of :meth:`EventCatalogue.check_limits`: conservative, and it builds no paths
    and encodes nothing. -1 means "not sure" and the exact walk decides (and names the path): a
    key that is not an ASCII ``str``, a value that is not exactly a JSON type (no subclasses), a
    non-ASCII string (it could hold a lone surrogate), an int of more than 15 digits, a float that
    is not finite, nesting deeper than ``max_depth`` (which also bounds the recursion), or an upper
    bound over the budget; a string is counted at 6 bytes a character, the longest escape.
    """
    if depth > max_depth:
        return -1
    budget -= 2
    if type(container) is dict:
        for key, value in container.items():
            if type(key) is not str or not key.isascii():
                return -1
            budget -= 6 * len(key) + 4  # quotes, colon, comma
            # Inlined for the common scalars: this loop is on every publish.
            if type(value) is str:
                budget = budget - 6 * len(value) - 2 if value.isascii() else -1
            elif type(value) is int:
                budget = budget - 16 if -_SHORT_INT < value < _SHORT_INT else -1
            else:
                budget = _value_fits(value, depth, max_depth, budget)
            if budget < 0:
                return -1
    else:
        for value in container:
            budget = _value_fits(value, depth, max_depth, budget - 1)  # comma
            if budget < 0:
                return -1
    return budget


def _value_fits(value: object, depth: int, max_depth: int, budget: int) -> int:
    if type(value) is str:
        return budget - 6 * len(value) - 2 if value.isascii() else -1
    if type(value) is int:
        return budget - 16 if -_SHORT_INT < value < _SHORT_INT else -1
    if type(value) is bool or value is None:
        return budget - 5
    if type(value) is float:
        return budget - 24 if math.isfinite(value) else -1  # repr(-1.7976931348623157e+308)
    if type(value) is dict or type(value) is list:
        return _surely_fits(value, depth + 1, max_depth, budget)
    return -1


#: The largest JSON Schema a tenant may give (an invoked automation's ``input_schema``), encoded.
MAX_SCHEMA_CHARS = 64 * 1024
#: The deepest nesting of a tenant's JSON Schema.
MAX_SCHEMA_DEPTH = 32
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def _refuse_fetch(uri: str) -> Any:
    """jsonschema-rs's retriever for tenants' schemas: nothing is ever fetched."""
    raise ValueError(f"{uri} is not fetched: a schema may only reference itself ('#/$defs/...')")


def _depth(value: object) -> int:
    """How deep ``value`` nests (iteratively: a hostile schema cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_SCHEMA_DEPTH:
            return depth
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def schema_problems(schema: object, path: str = "$.input_schema") -> builtins.list[Problem]:
    """Why a tenant's JSON Schema cannot be used: draft 2020-12 only, local ``$ref`` only, bounded size and depth.

    The problems' paths are under ``path``. Nothing is fetched, whatever ``$schema`` or ``$ref`` say.
    """
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        return [Problem(path, f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")]
    try:
        text = json.dumps(schema, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return [Problem(path, f"the schema is not JSON: {exc}")]
    if len(text) > MAX_SCHEMA_CHARS:
        return [Problem(path, f"the schema is larger than {MAX_SCHEMA_CHARS} characters")]
    if isinstance(schema, dict) and schema.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
        return [Problem(f"{path}.$schema", f"only draft 2020-12 is supported: omit $schema or use {_DRAFT_2020_12}")]
    problems = [
        Problem(path + p.path.removeprefix("$.schema"), p.message, p.hint, p.node_id)
        for p in _schema_problems(json.loads(text))
    ]
    if not problems:
        try:
            _tenant_validator(json.loads(text))
        except (ValueError, TypeError) as exc:  # a dangling local $ref, an unknown keyword's value…
            problems.append(Problem(path, _short(str(exc).splitlines()[0], 300), "fix the schema"))
    return problems


def _tenant_validator(schema: Mapping[str, Any]) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(dict(schema), validate_formats=True, retriever=_refuse_fetch)


class PayloadSchema:
    """A tenant's JSON Schema that payloads are checked against (an invoked automation's ``input_schema``).

    Only jsonschema-rs runs it — the answer and every problem's path (``$.payload…``) — never the
    Python ``jsonschema``: a tenant's ``pattern`` meets a regex engine with a backtracking limit,
    and ``uniqueItems`` over thousands of items takes milliseconds, not seconds, so no payload can
    stall the event loop. Nothing is ever fetched. Check a schema with :func:`schema_problems` first.
    """

    __slots__ = ("_validator", "max_problems")

    def __init__(self, schema: Mapping[str, Any], *, max_problems: int = 20) -> None:
        """Compile ``schema``.

        Raises:
            ValueError: the schema cannot be compiled (:func:`schema_problems` says why).
        """
        self._validator = _tenant_validator(json.loads(json.dumps(dict(schema))))
        self.max_problems = max_problems

    def validate(self, payload: object, subject: str = "payload") -> None:
        """Raise :class:`ValidationError` listing every problem of ``payload`` (paths under ``$.payload``)."""
        validator = self._validator
        if validator.is_valid(payload):
            return
        problems: builtins.list[Problem] = []
        for error in islice(validator.iter_errors(payload), self.max_problems):
            parts = list(error.instance_path)
            kind = error.kind
            if type(kind).__name__ == "Required":
                problems.append(Problem(_json_path([*parts, kind.property]), "is required"))
            else:
                problems.append(Problem(_json_path(parts), _short(error.message, 300)))
        raise ValidationError(sorted(dict.fromkeys(problems), key=lambda p: (p.path, p.message)), subject=subject)


def _fast_validator(schema: Mapping[str, Any]) -> Any:
    """A jsonschema-rs validator (~0.4 µs a payload, against ~25 µs for jsonschema), or ``False``.

    It answers "valid?" on the hot path; a payload it rejects goes through jsonschema, whose
    errors carry the paths and messages graphflow reports. ``False`` (cached) when jsonschema-rs
    is unavailable or cannot compile the schema.
    """
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - it is a dependency
        return False
    try:
        return jsonschema_rs.validator_for(json.loads(json.dumps(schema, default=dict)), validate_formats=True)
    except (ValueError, TypeError):
        return False


def _limit(path: str, message: str, hint: str) -> LimitExceededError:
    return LimitExceededError([Problem(path, message, hint)], subject="event payload")


def _not_plain(value: object) -> str:
    """Why ``value`` is refused: not JSON at all, or a subclass of a JSON type (a StrEnum…)."""
    kind = type(value)
    for plain in (str, bool, int, float, dict, list):
        if isinstance(value, plain):
            return f"a {kind.__name__} is not a plain {plain.__name__} (convert it, e.g. {plain.__name__}(value))"
    return f"a {kind.__name__} is not a JSON value"


def _not_json(path: str, message: str) -> ValidationError:
    hint = (
        "send only plain strings, finite numbers, booleans, null, lists and objects with string keys "
        "(not subclasses such as enums)"
    )
    return ValidationError([Problem(path, message, hint)], subject="event payload")
