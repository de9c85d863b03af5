"""Helper functions scripts may call, in either style: ``split(s, ',')`` or ``s.split(',')``.

The CEL binding ships only the core language; these fill the everyday gaps (strings, lists,
maps). Each takes and returns plain data, never reaches an object's attributes, and bounds what
it creates *before* creating it (a result's size is computed from its inputs first), so a helper
cannot become a way around the sandbox or the cost guard. A script only receives the helpers it
names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from graphflow.exceptions import ScriptLimitError

__all__ = ["FUNCTIONS", "MAX_RESULT_CHARS"]

#: The largest string or list a helper may build.
MAX_RESULT_CHARS = 1_048_576


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}() needs a string, got {type(value).__name__}")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{name}() needs a list, got {type(value).__name__}")
    return value


def _numbers(value: Any, name: str) -> list[Any]:
    items = _list(value, name)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{name}() needs a list of numbers")
    return items


def _refuse_over(size: int, name: str) -> None:
    """Refuse *before* building a value of ``size`` items/characters."""
    if size > MAX_RESULT_CHARS:
        raise ScriptLimitError(
            f"{name}() would build a value of {size:,} items/characters (limit {MAX_RESULT_CHARS:,})"
        )


def split(s: Any, sep: Any = None, limit: Any = -1) -> list[str]:
    """``'a,b'.split(',')`` → ``['a', 'b']``; no separator splits on whitespace."""
    text = _str(s, "split")
    if sep == "":
        _refuse_over(len(text), "split")
        return list(text)
    if sep is not None:
        _refuse_over(text.count(_str(sep, "split")) + 1, "split")
    else:
        _refuse_over(len(text) // 2 + 1, "split")
    return text.split(sep, int(limit))


def join(items: Any, sep: Any = "") -> str:
    """``['a', 'b'].join('-')`` → ``'a-b'`` (non-strings are rendered as JSON)."""
    values_, separator = _list(items, "join"), _str(sep, "join")
    _refuse_over(len(separator) * max(len(values_) - 1, 0), "join")
    parts: list[str] = []
    total_ = len(separator) * max(len(values_) - 1, 0)
    for v in values_:
        part = v if isinstance(v, str) else json.dumps(v)
        total_ += len(part)
        _refuse_over(total_, "join")
        parts.append(part)
    return separator.join(parts)


def replace(s: Any, old: Any, new: Any, count: Any = -1) -> str:
    """``'a-b'.replace('-', '+')``; ``count`` limits the replacements."""
    text, before, after = _str(s, "replace"), _str(old, "replace"), _str(new, "replace")
    limit = int(count)
    # '' matches before every character and at the end.
    matches = len(text) + 1 if before == "" else text.count(before)
    if limit >= 0:
        matches = min(matches, limit)
    _refuse_over(len(text) + matches * (len(after) - len(before)), "replace")
    return text.replace(before, after, limit)


def substring(s: Any, start: Any, end: Any = None) -> str:
    """``'hello'.substring(1, 3)`` → ``'el'``."""
    return _str(s, "substring")[int(start) : None if end is None else int(end)]


def index_of(s: Any, sub: Any) -> int:
    """Position of ``sub`` in a string or list, or -1."""
    if isinstance(s, list):
        return s.index(sub) if sub in s else -1
    return _str(s, "indexOf").find(_str(sub, "indexOf"))


def total(items: Any) -> Any:
    """``[1, 2].sum()`` → ``3``."""
    numbers = _numbers(items, "sum")
    return sum(numbers) if numbers else 0


def smallest(items: Any) -> Any:
    """``[3, 1].min()`` → ``1`` (null for an empty list)."""
    values = _list(items, "min")
    return min(values) if values else None


def largest(items: Any) -> Any:
    """``[3, 1].max()`` → ``3`` (null for an empty list)."""
    values = _list(items, "max")
    return max(values) if values else None


def keys(m: Any) -> list[Any]:
    """The keys of a map (maps built inside a script do not keep key order)."""
    if not isinstance(m, Mapping):
        raise TypeError(f"keys() needs a map, got {type(m).__name__}")
    return list(m.keys())


def values(m: Any) -> list[Any]:
    """The values of a map, in order."""
    if not isinstance(m, Mapping):
        raise TypeError(f"values() needs a map, got {type(m).__name__}")
    return list(m.values())


def flatten(items: Any) -> list[Any]:
    """``[[1], [2, 3]].flatten()`` → ``[1, 2, 3]`` (one level)."""
    values_ = _list(items, "flatten")
    _refuse_over(sum(len(item) if isinstance(item, list) else 1 for item in values_), "flatten")
    out: list[Any] = []
    for item in values_:
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out


def distinct(items: Any) -> list[Any]:
    """Items with duplicates removed, first occurrence kept."""
    out: list[Any] = []
    seen: set[str] = set()
    for item in _list(items, "distinct"):
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def first(items: Any) -> Any:
    """The first item, or null."""
    values_ = _list(items, "first")
    return values_[0] if values_ else None


def last(items: Any) -> Any:
    """The last item, or null."""
    values_ = _list(items, "last")
    return values_[-1] if values_ else None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "split": split,
    "join": join,
    "replace": replace,
    "substring": substring,
    "indexOf": index_of,
    "trim": lambda s: _str(s, "trim").strip(),
    "lowerAscii": lambda s: _str(s, "lowerAscii").lower(),
    "upperAscii": lambda s: _str(s, "upperAscii").upper(),
    "sum": total,
    "min": smallest,
    "max": largest,
    "sort": lambda items: sorted(_list(items, "sort")),
    "reverse": lambda items: list(reversed(_list(items, "reverse"))),
    "slice": lambda items, start, end=None: _list(items, "slice")[int(start) : None if end is None else int(end)],
    "flatten": flatten,
    "distinct": distinct,
    "first": first,
    "last": last,
    "keys": keys,
    "values": values,
}
