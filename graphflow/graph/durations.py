"""Durations written as ``30s``, ``5m``, ``2h``, ``1d``, ``500ms``, ``1h30m`` or a number of seconds."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ["Duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
MAX_SECONDS = 366 * 86400.0


def parse_duration(value: Any) -> float:
    """Return ``value`` in seconds.

    Raises:
        ValueError: not a non-negative number or a duration string, or longer than a year.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '30s' or '2h'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos = 0
        seconds = 0.0
        for m in _PART.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNITS[m.group(2).lower()]
            pos = m.end()
        if pos != len(text) or not text:
            raise ValueError(f"{value!r} is not a duration; write e.g. '500ms', '30s', '5m', '2h', '1d' or '1h30m'")
    else:
        raise ValueError("a duration is a number of seconds or a string such as '30s' or '2h'")
    if not 0 <= seconds <= MAX_SECONDS or seconds != seconds:
        raise ValueError(f"a duration must be between 0 and 366 days, got {value!r}")
    return seconds


#: A pydantic field type: accepts numbers (seconds) and duration strings, stores float seconds.
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*)+$"},
            ],
            "description": "Seconds, or a duration such as '500ms', '30s', '5m', '2h', '1d'.",
        }
    ),
]
