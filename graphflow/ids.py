"""Ids and their prefixes (the seeds' contract: ``cfg_``, ``aut_``, ``atr_``, ``evt_``), and the id checks.

Ids are plain ``str`` at the public API: they arrive from JSON, URLs and databases, and a
``NewType`` per kind would make every caller wrap them for the type checker to gain nothing the
prefixes do not already say.

An id is ``<prefix>`` + 26 characters of a time-ordered, Crockford base32 ULID-like value, so
ids sort by creation time (cursor pagination relies on it) and are unique without coordination.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from graphflow.exceptions import NotFoundError, Problem, ValidationError

__all__ = [
    "check_app",
    "check_event_id",
    "check_id",
    "is_plain_id",
    "new_id",
]

PREFIXES: dict[str, str] = {
    "config": "cfg_",
    "automation": "aut_",
    "run": "atr_",
    "event": "evt_",
    "journal": "wdr_",
    "steering_request": "str_",
    "event_wait": "wfe_",
}

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lowercase: sorts like the values
#: byte -> one alphabet character from its low 5 bits (``bytes.translate``: 5 random bits per byte, in C).
_RANDOM_CHARS = bytes(ord(_ALPHABET[byte & 31]) for byte in range(256))
#: Each id takes 16 characters (80 random bits) from here; ``popleft`` is atomic, so threads never
#: share one. One urandom syscall per 256 ids instead of one per id.
_pool: deque[str] = deque()
#: The last millisecond seen and its 10 characters (ids made in one millisecond share them).
_last: tuple[int, str] = (-1, "")


def _reset_pool() -> None:
    _pool.clear()


# A forked child must not reuse its parent's random bytes.
os.register_at_fork(after_in_child=_reset_pool)


def _refill() -> None:
    text = os.urandom(16 * 256).translate(_RANDOM_CHARS).decode("ascii")
    _pool.extend(text[start : start + 16] for start in range(0, len(text), 16))


def _time_chars(ms: int) -> str:
    value = ms << 2  # 48 bits of milliseconds, padded to 50 = 10 characters
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(45, -1, -5))


def new_id(prefix: str) -> str:
    """Return a new id: ``prefix`` + 26 base32 chars (48 bits of milliseconds, 80 random bits).

    The first 10 characters encode the time, so ids sort by the millisecond they were made in;
    ids of the same millisecond sort randomly. About 0.4 µs: the time characters are computed once
    per millisecond and the random ones come from a pool filled in bulk.
    """
    global _last
    ms = time.time_ns() // 1_000_000
    last = _last
    if last[0] != ms:
        last = _last = (ms, _time_chars(ms))
    try:
        tail = _pool.popleft()
    except IndexError:
        _refill()
        tail = _pool.popleft()
    return prefix + last[1] + tail


#: Longest app id a caller may pass (the seeds' ids are far shorter).
MAX_APP_ID_CHARS = 100
#: Longest id of a record: a longer one cannot exist, so it is simply not found.
MAX_ID_CHARS = 100


def check_app(app_id: Any) -> str:
    """Refuse a missing or malformed app id: there is never a default app to fall back to.

    Every operation, reads included, calls this before touching a store.

    Raises:
        ValidationError: with path ``$.app_id`` (code ``validation_error``).
    """
    if type(app_id) is not str or not app_id or len(app_id) > MAX_APP_ID_CHARS or not app_id.isprintable():
        raise ValidationError(
            [
                Problem(
                    "$.app_id",
                    f"app_id must be a non-empty string of at most {MAX_APP_ID_CHARS} printable characters, "
                    f"not {_describe(app_id)}",
                    "pass the id of the tenant (app) the request acts for",
                )
            ],
            subject="request",
        )
    return app_id


def check_id(kind: str, value: Any) -> str:
    """Return ``value`` if it can be the id of a ``kind`` record; anything else is not found.

    A malformed id is answered exactly like an unknown one, so ids cannot be probed.

    Raises:
        NotFoundError: ``value`` is not a string of at most :data:`MAX_ID_CHARS` printable characters.
    """
    if not is_plain_id(value):
        raise NotFoundError(kind, repr(value)[:MAX_ID_CHARS])
    return str(value)


def is_plain_id(value: Any) -> bool:
    """Whether ``value`` can be an id: a non-empty ``str`` of at most :data:`MAX_ID_CHARS` printable characters.

    Printable excludes control characters (NUL…) and lone surrogates, which no store can hold alike.
    """
    return type(value) is str and 0 < len(value) <= MAX_ID_CHARS and value.isprintable()


def check_event_id(value: Any) -> str:
    """Check an event id a caller chose (``publish(..., id=...)``).

    Raises:
        ValidationError: with path ``$.id``: not a non-empty string of printable characters, at most 100.
    """
    if not is_plain_id(value):
        raise ValidationError(
            [
                Problem(
                    "$.id",
                    f"an event id must be a non-empty string of at most {MAX_ID_CHARS} printable characters",
                    "omit it to get a generated evt_ id",
                )
            ],
            subject="event",
        )
    if str(value).startswith(RESERVED_EVENT_ID_PREFIX):
        raise ValidationError(
            [
                Problem(
                    "$.id", f"event ids starting with {RESERVED_EVENT_ID_PREFIX!r} are graphflow's (idempotent invokes)"
                )
            ],
            subject="event",
        )
    return str(value)


#: Event ids graphflow makes for idempotent invokes (``invoke:<automation>:<key>``); a host's
#: published events cannot take them, so a key can never name another automation's run.
RESERVED_EVENT_ID_PREFIX = "invoke:"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return "an empty string" if not value else f"a string of {len(value)} characters"
    return "None" if value is None else f"a {type(value).__name__}"
