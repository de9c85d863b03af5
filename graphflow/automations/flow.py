"""Validation of a trigger automation's event flow control: debounce, throttle, concurrency, cancel_on.

The policies (see :attr:`graphflow.records.Automation.debounce` and the fields after it) are
checked here, at the service boundary, and stored normalised: durations in seconds, every key
absent or a script that compiles. What they do at run time is :mod:`graphflow.engine.flow`.

Rules beyond each field's own:

* only trigger automations have them (they shape a stream of events);
* at most one of ``debounce``, ``throttle`` and ``concurrency`` (each decides when a run may
  start; combined, their decisions would contradict: a debounced run that a throttle delays…);
* a ``cancel_on`` entry with a ``key`` needs runs that have keys: the automation's
  ``debounce``, ``throttle`` or ``concurrency`` names the key its runs are grouped by.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graphflow.automations.problems import model_problems
from graphflow.exceptions import GraphflowError, Problem
from graphflow.graph.durations import Duration
from graphflow.stores.flow import MAX_FLOW_PERIOD

__all__ = [
    "POLICIES",
    "CancelOnInput",
    "ConcurrencyInput",
    "DebounceInput",
    "ThrottleInput",
    "flow_problems",
    "key_problems",
]

#: The policies that decide when a trigger automation's runs start (at most one per automation).
POLICIES = ("debounce", "throttle", "concurrency")
_KEY = Field(None, min_length=1, max_length=500, description="a script over the event's payload ($)")


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DebounceInput(_Policy):
    """``debounce: {period, max_wait, key}`` — a burst of events starts one run, with the last payload."""

    period: Duration = Field(description="quiet time after the last event before the run starts")
    max_wait: Duration | None = Field(None, description="the run starts at most this long after the first event")
    key: str | None = _KEY


class ThrottleInput(_Policy):
    """``throttle: {limit, period, key, overflow}`` — at most ``limit`` runs start per ``period`` per key."""

    limit: int = Field(ge=1, le=1000, strict=True)
    period: Duration
    key: str | None = _KEY
    overflow: Literal["drop", "delay"] = "drop"


class ConcurrencyInput(_Policy):
    """``concurrency: {limit, key}`` — at most ``limit`` active runs per key; the others queue, in order."""

    limit: int = Field(ge=1, le=1000, strict=True)
    key: str | None = _KEY


class CancelOnInput(_Policy):
    """``cancel_on: [{event, key, filter}]`` — an event that cancels the automation's active runs (for a key)."""

    event: str = Field(min_length=1, max_length=100)
    key: str | None = _KEY
    filter: str | None = Field(None, min_length=1, max_length=2000)


_MODELS: dict[str, type[_Policy]] = {
    "debounce": DebounceInput,
    "throttle": ThrottleInput,
    "concurrency": ConcurrencyInput,
}


def flow_problems(values: dict[str, Any], failed: frozenset[str]) -> list[Problem]:
    """Why the flow policies in ``values`` cannot be used; normalises them in place (plain dicts).

    ``values`` are an automation's fields as validated (the policies are dicts, unchecked, or
    ``None``); ``failed`` names the fields that already failed.
    """
    get = values.get
    if get("debounce") is None and get("throttle") is None and get("concurrency") is None and not get("cancel_on"):
        return []  # the usual automation: nothing to check (on the path of every create)
    import pydantic

    problems: list[Problem] = []
    kind = values.get("type")
    given = [name for name in (*POLICIES, "cancel_on") if values.get(name) not in (None, []) and name not in failed]
    if kind != "trigger":
        return [
            Problem(f"$.{name}", f"a {kind} automation has no '{name}' (it shapes a stream of events)")
            for name in given
        ]
    for name in (*POLICIES, "cancel_on"):
        if name not in given:
            continue
        raw = values[name]
        items = list(enumerate(raw)) if name == "cancel_on" else [(None, raw)]
        model = CancelOnInput if name == "cancel_on" else _MODELS[name]
        normal: list[dict[str, Any]] = []
        for index, item in items:
            where = f"$.{name}" if index is None else f"$.{name}[{index}]"
            try:
                policy = model.model_validate(item)
            except pydantic.ValidationError as exc:
                problems.extend(model_problems(exc, where))
                continue
            data = policy.model_dump()
            problems.extend(_policy_problems(where, data))
            normal.append(data)
        if len(normal) == len(items):
            values[name] = normal if name == "cancel_on" else normal[0]
    chosen = [name for name in POLICIES if values.get(name)]
    if len(chosen) > 1:
        problems.append(
            Problem(
                f"$.{chosen[1]}",
                f"an automation has at most one of debounce, throttle and concurrency (it has {' and '.join(chosen)})",
                "use two automations, or keep the policy that matters most",
            )
        )
    keyed = any(isinstance(values.get(name), dict) and values[name].get("key") for name in chosen)
    for index, entry in enumerate(values.get("cancel_on") or []):
        if isinstance(entry, dict) and entry.get("key") and not keyed:
            problems.append(
                Problem(
                    f"$.cancel_on[{index}].key",
                    "cancel_on with a key needs runs grouped by a key",
                    "set 'key' on the automation's debounce, throttle or concurrency (or drop this key: "
                    "the event then cancels every active run)",
                )
            )
    return problems


def _policy_problems(where: str, data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for name in ("period", "max_wait"):
        value = data.get(name)
        if value is not None and not 0 < value <= MAX_FLOW_PERIOD:
            problems.append(Problem(f"{where}.{name}", f"{name} must be more than 0 and at most 7 days, got {value}s"))
    period, max_wait = data.get("period"), data.get("max_wait")
    if max_wait is not None and period is not None and max_wait < period:
        problems.append(Problem(f"{where}.max_wait", "max_wait must be at least the period"))
    for name in ("key", "filter"):
        if data.get(name) is not None:
            problems.extend(key_problems(f"{where}.{name}", data[name]))
    return problems


def key_problems(path: str, source: str) -> list[Problem]:
    """Why a key or filter script cannot be used (it must compile as a script over ``$``)."""
    from graphflow.scripts import Script

    try:
        Script.compile(source)
    except GraphflowError as exc:
        return [Problem(path, f"the script does not compile: {exc.message}", "e.g. $.thread.id")]
    return []
