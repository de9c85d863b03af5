"""Hypothesis strategies for graphflow: event payloads, workflow graphs and schedules.

Needs Hypothesis (``pip install 'graphflow[testing]'``)::

    from hypothesis import given
    from graphflow.testing.strategies import payloads, graphs, schedules

    @given(payloads("thread.member_joined"))
    def test_my_handler(payload): ...

* :func:`payloads` — payloads of a catalogued or host-registered event, from its JSON Schema
  (see :mod:`graphflow.testing.schemas` for the subset understood); each one passes the
  catalogue's validation, so ``publish`` accepts it.
* :func:`inputs` — payloads an ``invoked`` automation accepts, from its ``input_schema``.
* :func:`graphs` — valid :class:`~graphflow.graph.model.WorkflowGraph` objects built from the
  node kinds you name, your own registered kinds included.
* :func:`schedules` — schedule texts with their time zones (cron, English phrases, intervals,
  one-shots) that the real grammar parses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("graphflow.testing.strategies needs Hypothesis: pip install 'graphflow[testing]'") from exc

from graphflow.exceptions import ValidationError
from graphflow.testing.schemas import from_schema

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine
    from graphflow.graph.model import WorkflowGraph
    from graphflow.nodes.registry import NodeRegistry
    from graphflow.records import Automation
    from graphflow.triggers.catalogue import EventCatalogue
    from graphflow.triggers.schedules import Schedule

__all__ = ["DEFAULT_KINDS", "ScheduleText", "graphs", "inputs", "payloads", "schedules"]


# --- payloads -----------------------------------------------------------------------------------


def payloads(
    event_name: str, *, engine: Engine | None = None, catalogue: EventCatalogue | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads of ``event_name`` generated from its JSON Schema; every one passes validation.

    Args:
        event_name: a catalogued event (``thread.member_joined``) or one a host registered.
        engine: take the event from this engine's catalogue (host events registered on it).
        catalogue: take it from this catalogue (default: the built-in events).

    Raises:
        ValidationError: unknown event, an event graphflow fires itself (``workflow.*``: no one
            publishes it; use :func:`inputs` for invoked automations), or a schema keyword outside
            the supported subset.
    """
    from graphflow.exceptions import Problem
    from graphflow.triggers.catalogue import INTERNAL_EVENTS, EventCatalogue

    chosen = engine.catalogue if engine is not None else catalogue or EventCatalogue()
    event = chosen.get(event_name)
    if event.internal or event_name in INTERNAL_EVENTS:
        raise ValidationError(
            [
                Problem(
                    "$.event",
                    f"{event_name!r} is fired by graphflow itself and cannot be published",
                    "use inputs(automation) for an invoked automation's payloads",
                )
            ],
            subject="payloads()",
        )

    def passes(payload: Any) -> bool:
        try:
            chosen.validate(event_name, payload)
        except ValidationError:
            return False
        return True

    return from_schema(event.schema).filter(passes)


def inputs(
    automation: Automation | Mapping[str, Any] | None, *, catalogue: EventCatalogue | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads an ``invoked`` automation accepts: generated from its ``input_schema``.

    Each one passes what ``engine.automations.invoke`` checks (the payload limits, then the
    schema). Without a schema (``None``, or an automation that has none) any small JSON object.

    Args:
        automation: the automation, or its ``input_schema`` itself.
        catalogue: whose payload limits apply (default: the built-in catalogue's).

    Raises:
        ValidationError: a schema keyword outside the supported subset.
    """
    from graphflow.records import Automation
    from graphflow.triggers.catalogue import EventCatalogue, PayloadSchema

    schema = automation.input_schema if isinstance(automation, Automation) else automation
    limits = catalogue or EventCatalogue()
    checker = PayloadSchema(schema) if schema is not None else None

    def passes(payload: Any) -> bool:
        try:
            limits.check_limits(payload)
            if checker is not None:
                checker.validate(payload)
        except ValidationError:
            return False
        return True

    return from_schema(schema if schema is not None else {"type": "object"}).filter(passes)


# --- graphs -------------------------------------------------------------------------------------

_SCRIPTS = ("$", "1 + 2", "{'ok': true}", "[1, 2, 3]", "'text'")
_CONDITIONS = ("true", "false", "1 < 2", "$ == null")
_TRIGGER = "WorkflowTrigger"

#: The kinds :func:`graphs` draws from when ``node_kinds`` is not given.
DEFAULT_KINDS = ("WorkflowScript", "WorkflowCondition", "WorkflowEnd")

#: Fields of the built-in kinds graphs can hold without any wiring of their own.
_BUILTIN_FIELDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "WorkflowScript": st.sampled_from(_SCRIPTS).map(lambda source: {"source": source}),
    "WorkflowCondition": st.sampled_from(_CONDITIONS).map(lambda condition: {"condition": condition}),
    "WorkflowEnd": st.sampled_from([None, {"ok": True}]).map(
        lambda payload: {} if payload is None else {"payload": payload}
    ),
    "WorkflowDelay": st.just({"duration": "0s"}),
    "WorkflowEmitEvent": st.just({"event": "test.generated", "payload": {"ok": True}}),
}
#: Kinds that hold sub-chains: graphs() wires their branches and bodies itself (one level deep).
_STRUCTURAL = frozenset({"WorkflowParallel", "WorkflowMap"})
#: Kinds graphs() does not generate: they need a world around them (a server, a child graph, a person).
_UNSUPPORTED = frozenset({"WorkflowSubWorkflow", "WorkflowHttpRequest", "WorkflowApproval", "WorkflowWaitForEvent"})


def _fields_of(
    kind: str, registry: NodeRegistry, fields: Mapping[str, st.SearchStrategy[dict[str, Any]]]
) -> tuple[st.SearchStrategy[dict[str, Any]], bool]:
    """The strategy of a kind's own fields, and whether the kind ends its chain."""
    cls = registry.get(kind)
    if cls is None:
        raise ValueError(f"unknown node kind {kind!r}: register it (graphflow.node / register_node) first")
    if cls.is_trigger:
        raise ValueError(f"{kind!r} is a trigger kind: graphs() adds the trigger node itself")
    if kind in fields:
        return fields[kind], cls.is_terminal
    if kind in _BUILTIN_FIELDS:
        return _BUILTIN_FIELDS[kind], cls.is_terminal
    if kind in _UNSUPPORTED:
        raise ValueError(f"graphs() does not generate {kind} nodes (they need a world around them); leave it out")
    base = {"kind", "id", "name", "description", "on_success", "on_failure", "retry", "timeout"}
    needed = sorted(name for name, info in cls.model_fields.items() if name not in base and info.is_required())
    if needed:
        raise ValueError(
            f"node kind {kind!r} has required fields {needed}: pass fields={{{kind!r}: <strategy of a dict>}}"
        )
    return st.just({}), cls.is_terminal


_ITEMS = ("{{[1, 2, 3]}}", "{{[]}}", "{{['a']}}")


def _chain(
    draw: st.DrawFn,
    prefix: str,
    length: int,
    spec: Mapping[str, tuple[st.SearchStrategy[dict[str, Any]], bool]],
    kinds: Sequence[str],
    nested: bool,
) -> list[dict[str, Any]]:
    """A chain of ``length`` nodes (its entry first; sub-chains of branches and bodies after it)."""
    allowed = [kind for kind in kinds if not (nested and kind in _STRUCTURAL)]
    chaining = [kind for kind in allowed if kind in _STRUCTURAL or not spec[kind][1]]
    chosen = [draw(st.sampled_from(chaining)) for _ in range(length - 1)] if chaining else []
    chosen.append(draw(st.sampled_from(allowed)))
    ids = [f"{prefix}{i}" for i in range(1, len(chosen) + 1)]
    main: list[dict[str, Any]] = []
    inner: list[dict[str, Any]] = []
    for i, kind in enumerate(chosen):
        node: dict[str, Any] = {"kind": kind, "id": ids[i]}
        later = ids[i + 1 :]
        following = later[0] if later else None
        if kind == "WorkflowParallel":
            count = draw(st.integers(1, 3))
            branches = [
                _chain(draw, f"{ids[i]}_b{j}_", draw(st.integers(1, 2)), spec, kinds, True) for j in range(count)
            ]
            node["branches"] = [branch[0]["id"] for branch in branches]
            inner.extend(sub for branch in branches for sub in branch)
        elif kind == "WorkflowMap":
            body = _chain(draw, f"{ids[i]}_body_", draw(st.integers(1, 2)), spec, kinds, True)
            node.update(items=draw(st.sampled_from(_ITEMS)), body=body[0]["id"], concurrency=draw(st.integers(1, 3)))
            inner.extend(body)
        else:
            node.update(draw(spec[kind][0]))
        if kind == "WorkflowCondition":
            node["on_true"] = following
            node["on_false"] = draw(st.sampled_from([None, *later]))
        elif following is not None:
            node["on_success"] = following
        jump: bool = draw(st.booleans())
        if later and jump:
            node["on_failure"] = draw(st.sampled_from(later))
        main.append({key: value for key, value in node.items() if value is not None})
    return main + inner


@st.composite
def _graph(
    draw: st.DrawFn,
    kinds: Sequence[str],
    fields: Mapping[str, st.SearchStrategy[dict[str, Any]]],
    registry: NodeRegistry,
    trigger: str,
    max_nodes: int,
) -> WorkflowGraph:
    from graphflow.graph.loader import load_graph

    spec = {kind: _fields_of(kind, registry, fields) for kind in kinds if kind not in _STRUCTURAL}
    if not spec:
        raise ValueError("graphs() needs at least one kind besides WorkflowParallel and WorkflowMap")
    chain = _chain(draw, "n", draw(st.integers(1, max_nodes)), spec, kinds, False)
    trigger_node = {"kind": _TRIGGER, "id": "t", "trigger": trigger, "on_success": chain[0]["id"]}
    document = {
        "kind": "WorkflowGraph",
        "version": 1,
        "name": "generated",
        "start_node": "t",
        "nodes": [trigger_node, *chain],
    }
    return load_graph(document, registry=registry)


def graphs(
    node_kinds: Sequence[str] | None = None,
    *,
    fields: Mapping[str, st.SearchStrategy[dict[str, Any]]] | None = None,
    trigger: str = "test.run",
    max_nodes: int = 6,
    registry: NodeRegistry | None = None,
) -> st.SearchStrategy[WorkflowGraph]:
    """Valid workflow graphs: a ``WorkflowTrigger`` ``t`` for ``trigger``, then 1 to ``max_nodes`` nodes.

    Nodes ``n1``, ``n2``… follow one another (a condition's ``on_true`` goes on, its
    ``on_false`` jumps ahead or ends); any node may also jump ahead ``on_failure``. A
    ``WorkflowParallel`` gets one to three branches and a ``WorkflowMap`` a body (a literal list
    of items), each a chain of one or two nodes of the other kinds. Every graph is built with
    :func:`~graphflow.load_graph`, so every one validates. ``WorkflowDelay`` nodes wait ``0s``;
    ``WorkflowEmitEvent`` nodes publish ``test.generated``, which needs an engine whose catalogue
    has it (``engine.catalogue.register("test.generated", ...)``) to run.

    Args:
        node_kinds: the kinds to use (default :data:`DEFAULT_KINDS`): built-in ones and your own
            kinds registered with ``@graphflow.node`` / ``register_node``.
        fields: a strategy of the fields dict for any kind (required for a kind with required
            fields; it replaces the built-in choice for a built-in kind).
        trigger: the trigger node's event.
        max_nodes: the most nodes after the trigger.
        registry: the node registry to look kinds up in (default: graphflow's default registry).

    Raises:
        ValueError: an unknown or trigger kind, a kind that needs a world around it (HTTP,
            sub-workflow, approval, event wait), or a kind with required fields and no ``fields``
            strategy.
    """
    from graphflow.nodes.registry import default_registry

    kinds = tuple(node_kinds or DEFAULT_KINDS)
    if not kinds:
        raise ValueError("node_kinds must name at least one kind")
    if max_nodes < 1:
        raise ValueError("max_nodes must be at least 1")
    chosen = registry or default_registry
    for kind in kinds:
        if kind not in _STRUCTURAL:
            _fields_of(kind, chosen, fields or {})  # refuse bad kinds now, not inside a test
    if all(kind in _STRUCTURAL for kind in kinds):
        raise ValueError("graphs() needs at least one kind besides WorkflowParallel and WorkflowMap")
    return _graph(kinds, fields or {}, chosen, trigger, max_nodes)


# --- schedules ----------------------------------------------------------------------------------


class ScheduleText(NamedTuple):
    """A schedule as a person writes it, with its zone and the kind it parses to."""

    text: str
    timezone: str
    kind: str

    def parse(self, now: datetime | None = None) -> Schedule:
        """Parse it with the real grammar (:func:`~graphflow.triggers.schedules.parse_schedule`)."""
        from graphflow.triggers.schedules import parse_schedule

        return parse_schedule(self.text, timezone=self.timezone, now=now)


#: Zones with something to test: DST north and south, half-hour and 45-minute offsets, a 30-minute DST.
ZONES = (
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)
_DAY_WORDS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon", "fri", "sun")
_GROUP_WORDS = ("weekdays", "weekends", "every day", "daily", "mon-fri", "tuesday to thursday", "monday, wednesday")
_ORDINALS = ("1st", "2nd", "3rd", "4th", "15th", "28th")


def _clock_time(hour: int, minute: int, style: int) -> str:
    if style == 0:
        return f"{hour:02d}:{minute:02d}"
    suffix = "am" if hour < 12 else "pm"
    shown = hour % 12 or 12
    return f"{shown}{suffix}" if minute == 0 else f"{shown}:{minute:02d}{suffix}"


_TIMES = st.builds(
    _clock_time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]), st.integers(0, 1)
) | st.sampled_from(["noon", "midnight"])


def _cron_field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        value.map(str),
        st.tuples(value, value).map(lambda pair: f"{min(pair)}-{max(pair)}"),
        st.integers(1, max(1, (high - low) // 2)).map(lambda step: f"*/{step}"),
        st.lists(value, min_size=2, max_size=3, unique=True).map(lambda values: ",".join(map(str, sorted(values)))),
    )


_CRON = st.builds(
    lambda *fields: " ".join(fields),
    _cron_field(0, 59),
    _cron_field(0, 23),
    _cron_field(1, 28),  # 29-31 can make a schedule that never fires (Feb 30), which is refused
    _cron_field(1, 12),
    _cron_field(0, 6),
) | st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "0 9 * * MON-FRI"])

_PHRASES = st.one_of(
    st.builds("every {} at {}".format, st.sampled_from(_DAY_WORDS), _TIMES),
    st.builds("{} at {}".format, st.sampled_from(_GROUP_WORDS), _TIMES),
    st.builds("monthly on the {} at {}".format, st.sampled_from(_ORDINALS), _TIMES),
    st.integers(0, 59).map(lambda minute: f"every hour at :{minute:02d}"),
    st.sampled_from(["every hour", "hourly", "hourly on weekdays", "every minute"]),
)
_UNITS = {"m": 60 * 24 * 365, "minutes": 600, "h": 24 * 365, "hours": 48, "d": 365, "days": 30, "w": 520, "weeks": 52}
_AMOUNTS = st.sampled_from(sorted(_UNITS)).flatmap(
    lambda unit: st.integers(1, _UNITS[unit]).map(lambda n: f"{n}{unit}")
)


def _once(after: datetime) -> st.SearchStrategy[str]:
    iso = st.integers(60, 5 * 365 * 86400).map(
        lambda seconds: (after + timedelta(seconds=seconds)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return st.one_of(_AMOUNTS.map(lambda amount: f"in {amount}"), iso)


def schedules(
    *,
    kinds: Sequence[str] = ("cron", "phrase", "interval", "once"),
    zones: Sequence[str] = ZONES,
    now: datetime | None = None,
) -> st.SearchStrategy[ScheduleText]:
    """Schedule texts the real grammar parses, each with a time zone.

    Args:
        kinds: which forms to draw: ``cron`` (five fields, ``@daily`` aliases), ``phrase``
            ("weekdays at 9am", "every hour at :30"…), ``interval`` ("every 90m") and ``once``
            ("in 2h", or an ISO instant up to five years after ``now``).
        zones: the IANA zones to pair them with (default :data:`ZONES`).
        now: the instant one-shots are after (default: the current time). Parse with the same
            ``now``: ``schedule.parse(now)``.
    """
    after = now or datetime.now(UTC)
    forms: dict[str, tuple[st.SearchStrategy[str], str]] = {
        "cron": (_CRON, "cron"),
        "phrase": (_PHRASES, "cron"),
        "interval": (_AMOUNTS.map(lambda amount: f"every {amount}"), "interval"),
        "once": (_once(after), "once"),
    }
    unknown = sorted(set(kinds) - set(forms))
    if unknown or not kinds:
        raise ValueError(f"unknown schedule kinds {unknown}; choose from {sorted(forms)}")
    zone = st.sampled_from(list(zones))
    options: list[st.SearchStrategy[ScheduleText]] = []
    for name in kinds:
        texts, parsed_kind = forms[name]
        options.append(st.builds(ScheduleText, texts, zone, st.just(parsed_kind)))
    return st.one_of(options)
