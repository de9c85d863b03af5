"""Validation of automation create/update requests (the service boundary).

One pydantic model checks every field; cross-field rules (a trigger for ``trigger`` automations,
a schedule for ``scheduled`` ones) and the caller's checks (the event existing in the catalogue,
the schedule parsing) run as well, and every problem is reported at once with its ``$.field`` path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from graphflow.automations.flow import flow_problems
from graphflow.automations.problems import model_problems
from graphflow.automations.sinks import sink_problems
from graphflow.exceptions import GraphflowError, Problem, StoreError, ValidationError
from graphflow.graph.durations import Duration
from graphflow.ids import is_plain_id
from graphflow.stores.base import encode_json
from graphflow.triggers.catalogue import schema_problems

__all__ = ["MAX_LIMIT", "AutomationFields", "ExtraCheck", "check_limit", "check_page", "parse_fields"]

MAX_LIMIT = 100
_METADATA_MAX_CHARS = 16_384


class RepeatInput(BaseModel):
    """``repeat: {times: N}`` — fire at most N times (scheduled automations)."""

    model_config = ConfigDict(extra="forbid")

    times: int | None = Field(None, ge=1, le=1_000_000)


class AutomationFields(BaseModel):
    """Every field a caller may set on create or update."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    type: Literal["trigger", "scheduled", "invoked"] = "trigger"
    description: str | None = Field(None, max_length=2000)
    trigger: str | None = Field(None, max_length=100)
    schedule: str | None = Field(None, max_length=200)
    timezone: str = Field("UTC", max_length=64)
    config_id: str | None = Field(None, pattern=r"^cfg_[0-9a-z]{1,64}$")
    run_as_user_id: str | None = Field(None, max_length=100)
    lookup_key: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_\-.]{0,99}$")
    metadata: dict[str, Any] = Field(default_factory=dict)
    repeat: RepeatInput | None = None
    overlap: Literal["skip", "buffer_one", "allow"] = "skip"
    catchup: Literal["none", "latest", "all"] = "latest"
    misfire_grace: Duration = 60.0
    max_catchup_runs: int = Field(10, ge=1, le=1000)
    jitter: Duration = 0.0
    input_schema: dict[str, Any] | None = None
    max_consecutive_failures: int | None = Field(None, ge=1, le=1000, strict=True)
    filter: str | None = Field(None, min_length=1, max_length=2000)
    starts_at: str | float | None = Field(None, description="ISO-8601 time (naive: UTC) or UNIX seconds")
    ends_at: str | float | None = Field(None, description="ISO-8601 time (naive: UTC) or UNIX seconds")
    debounce: dict[str, Any] | None = None
    throttle: dict[str, Any] | None = None
    concurrency: dict[str, Any] | None = None
    cancel_on: list[dict[str, Any]] = Field(default_factory=list, max_length=8)
    deliver: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=4,
        description="sinks for a finished run's result: {kind: webhook, url, secret?, headers?, on?}, "
        "{kind: emit, event, on?} or {kind: callback, name, on?} (see docs/automations.md)",
    )
    enabled: bool | None = None


#: Extra checks a caller adds (event names, schedules): given the values — validated where they
#: could be, raw otherwise — and the names of the fields that already failed, return problems.
ExtraCheck = Callable[[Mapping[str, Any], frozenset[str]], list[Problem]]


def parse_fields(
    data: Mapping[str, Any],
    *,
    partial: bool,
    base: Mapping[str, Any] | None = None,
    extra: ExtraCheck | None = None,
) -> dict[str, Any]:
    """Validate ``data``; with ``partial``, merge it over ``base`` (an update).

    On create, a missing ``type`` is inferred as the seeds do: ``schedule`` without ``trigger``
    makes a ``scheduled`` automation, anything else a ``trigger`` one.

    Field checks, cross-field rules and the caller's ``extra`` checks all run, so one error lists
    every problem; a rule is skipped only when a field it reads has already failed.

    Returns the validated fields that were given (all fields when not partial).

    Raises:
        ValidationError: listing every problem with its ``$.field`` path.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("the request body must be an object", subject="automation")
    if not partial and "type" not in data and data.get("schedule") is not None and data.get("trigger") is None:
        data = {**data, "type": "scheduled"}  # Herm's shape: a name and a schedule make a scheduled automation
    merged = {**(base or {}), **data}
    problems: list[Problem] = []
    try:
        model = AutomationFields.model_validate(merged)
    except pydantic.ValidationError as exc:
        problems.extend(model_problems(exc))
        # Go on with the raw values so the rules below still report their own problems.
        values = {k: v.strip() if isinstance(v, str) else v for k, v in merged.items()}
        values.setdefault("type", "trigger")
    else:
        # The fields as validated (what model_dump() gives, at a third of its cost): the values
        # are plain, and pydantic built ``metadata`` afresh; only ``repeat`` is a model.
        values = dict(model.__dict__)
        if model.repeat is not None:
            values["repeat"] = {"times": model.repeat.times}
    failed = frozenset(p.path[2:].split(".")[0].split("[")[0] for p in problems)
    for name, value in values.items():  # text every store can hold alike (no NUL, no lone surrogate)
        if type(value) is str and name not in failed and not _storable_text(value):
            problems.append(Problem(f"$.{name}", "holds a NUL character or a lone surrogate, which cannot be stored"))
    if "metadata" not in failed and values.get("metadata"):
        try:
            encoded = encode_json(values["metadata"], "metadata")
        except StoreError as exc:
            problems.append(Problem("$.metadata", f"metadata must be a JSON object: {exc.message}"))
        else:
            if len(encoded) > _METADATA_MAX_CHARS:
                problems.append(Problem("$.metadata", f"metadata is larger than {_METADATA_MAX_CHARS} characters"))
            else:
                values["metadata"] = json.loads(encoded)  # a private copy, in JSON's own types
    kind = values.get("type")
    if "type" not in failed:
        if "trigger" not in failed:
            if kind == "trigger" and not values.get("trigger"):
                problems.append(
                    Problem(
                        "$.trigger",
                        "a trigger automation needs 'trigger' (an event name)",
                        "list events with engine.automations.events(app_id)",
                    )
                )
            if kind != "trigger" and values.get("trigger"):
                problems.append(Problem("$.trigger", f"a {kind} automation has no 'trigger'"))
        if "schedule" not in failed:
            if kind == "scheduled" and not values.get("schedule"):
                problems.append(
                    Problem(
                        "$.schedule",
                        "a scheduled automation needs 'schedule'",
                        "e.g. '0 9 * * *' or 'every monday at 9am'",
                    )
                )
            if kind != "scheduled" and values.get("schedule"):
                problems.append(Problem("$.schedule", f"a {kind} automation has no 'schedule'"))
    if values.get("filter") is not None and "filter" not in failed:
        if kind != "trigger":
            problems.append(Problem("$.filter", f"a {kind} automation has no 'filter' (it filters events)"))
        else:
            problems.extend(filter_problems(values["filter"]))
    for name in ("starts_at", "ends_at"):
        if values.get(name) is not None and name not in failed:
            instant = _instant(values[name])
            if instant is None:
                problems.append(Problem(f"$.{name}", f"{name} must be an ISO-8601 time, e.g. 2027-01-01T09:00:00Z"))
            elif kind != "scheduled":
                problems.append(Problem(f"$.{name}", f"a {kind} automation has no '{name}' (it bounds a schedule)"))
            else:
                values[name] = instant
    starts, ends = values.get("starts_at"), values.get("ends_at")
    if isinstance(starts, float) and isinstance(ends, float) and ends <= starts:
        problems.append(Problem("$.ends_at", "the window ends before it starts", "ends_at must be after starts_at"))
    problems.extend(flow_problems(values, failed))  # normalises the policies in place
    problems.extend(sink_problems(values, failed))
    if values.get("input_schema") is not None and "input_schema" not in failed:
        if kind != "invoked":
            problems.append(Problem("$.input_schema", f"a {kind} automation has no 'input_schema'", _INVOKED_HINT))
        else:
            problems.extend(schema_problems(values["input_schema"]))
    if extra is not None:
        failed = frozenset(p.path[2:].split(".")[0].split("[")[0] for p in problems)
        problems.extend(extra(values, failed))
    if problems:
        raise ValidationError(problems, subject="automation")
    if values["repeat"] is None:
        values["repeat"] = {"times": None}
    return values if not partial else {k: values[k] for k in data}


def _instant(value: Any) -> float | None:
    """An ISO-8601 time (naive: UTC) or finite UNIX seconds as a float; ``None`` when it is neither."""
    import math
    from datetime import UTC, datetime

    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and 0 <= value < 253_402_300_800 else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def filter_problems(source: str) -> list[Problem]:
    """Why a trigger automation's ``filter`` cannot be used (it must compile as a script over ``$``)."""
    from graphflow.scripts import Script

    try:
        Script.compile(source)
    except GraphflowError as exc:
        return [Problem("$.filter", f"the filter does not compile: {exc.message}", "e.g. $.priority == 'high'")]
    return []


_INVOKED_HINT = "only invoked automations check their payload against a schema (trigger ones use the event's)"


def _storable_text(text: str) -> bool:
    return "\x00" not in text and (text.isascii() or _utf8(text))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_limit(limit: int) -> int:
    """Check a page size (1-100).

    Raises:
        ValidationError: out of range.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            [Problem("$.limit", f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")], subject="request"
        )
    return limit


def check_page(limit: int, cursor: str | None) -> int:
    """Check a page request: ``limit`` as :func:`check_limit`, ``cursor`` one this API handed out (an id).

    Raises:
        ValidationError: with path ``$.limit`` or ``$.cursor``.
    """
    if cursor is not None and not is_plain_id(cursor):
        raise ValidationError(
            [Problem("$.cursor", "cursor must be the next_cursor of a previous page", "omit it for the first page")],
            subject="request",
        )
    return check_limit(limit)
