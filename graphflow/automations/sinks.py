"""Validation of an automation's ``deliver`` sinks (where a finished run's result goes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphflow.exceptions import Problem

__all__ = ["sink_problems"]


def sink_problems(values: dict[str, Any], failed: frozenset[str]) -> list[Problem]:
    """Why ``values["deliver"]`` cannot be used; normalises the sinks in place."""
    sinks = values.get("deliver")
    if not sinks or "deliver" in failed:
        return []
    return [Problem("$.deliver", "result delivery is not available yet")] if isinstance(sinks, list | Mapping) else []
