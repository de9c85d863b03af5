"""Validation of automation create/update requests (the service boundary).

One pydantic model checks every field and reports all problems at once with ``$.field`` paths;
cross-field rules (a trigger for ``trigger`` automations, a schedule for ``scheduled`` ones, the
event existing in the catalogue, the schedule parsing) are checked after it, in the same error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from graphflow.exceptions import Problem, ValidationError
from graphflow.graph.durations import Duration

__all__ = ["MAX_LIMIT", "AutomationFields", "check_limit", "parse_fields"]

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
    enabled: bool | None = None


def parse_fields(data: Mapping[str, Any], *, partial: bool, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate ``data``; with ``partial``, merge it over ``base`` (an update).

    Returns the validated fields that were given (all fields when not partial).

    Raises:
        ValidationError: listing every problem with its ``$.field`` path.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("the request body must be an object", subject="automation")
    merged = {**(base or {}), **data}
    try:
        model = AutomationFields.model_validate(merged)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown field {str(error['loc'][-1])!r}"
            problems.append(Problem(f"${loc}", message))
        raise ValidationError(problems, subject="automation") from None
    problems = []
    try:
        encoded = json.dumps(model.metadata)
    except (TypeError, ValueError):
        problems.append(Problem("$.metadata", "metadata must be a JSON object"))
    else:
        if len(encoded) > _METADATA_MAX_CHARS:
            problems.append(Problem("$.metadata", f"metadata is larger than {_METADATA_MAX_CHARS} characters"))
    if model.type == "trigger" and not model.trigger:
        problems.append(Problem("$.trigger", "a trigger automation needs 'trigger' (an event name)",
                                "list events with engine.automations.events(app_id)"))
    if model.type != "trigger" and model.trigger:
        problems.append(Problem("$.trigger", f"a {model.type} automation has no 'trigger'"))
    if model.type == "scheduled" and not model.schedule:
        problems.append(Problem("$.schedule", "a scheduled automation needs 'schedule'",
                                "e.g. '0 9 * * *' or 'every monday at 9am'"))
    if model.type != "scheduled" and model.schedule:
        problems.append(Problem("$.schedule", f"a {model.type} automation has no 'schedule'"))
    if problems:
        raise ValidationError(problems, subject="automation")
    values = model.model_dump()
    if values["repeat"] is None:
        values["repeat"] = {"times": None}
    return values if not partial else {k: values[k] for k in merged}


def check_limit(limit: int) -> int:
    """Check a page size (1-100).

    Raises:
        ValidationError: out of range.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError([Problem("$.limit", f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")],
                              subject="request")
    return limit
