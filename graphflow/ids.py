"""Typed ids and their prefixes (the seeds' contract: ``cfg_``, ``aut_``, ``atr_``, ``evt_``).

Ids are ``<prefix>`` + 26 characters of a time-ordered, Crockford base32 ULID-like value, so ids
sort by creation time (cursor pagination relies on it) and are unique without coordination.
"""

from __future__ import annotations

import base64
import os
import time
from typing import NewType

__all__ = [
    "AppId",
    "AutomationId",
    "ConfigId",
    "EventId",
    "RunId",
    "new_id",
]

AppId = NewType("AppId", str)
ConfigId = NewType("ConfigId", str)
AutomationId = NewType("AutomationId", str)
RunId = NewType("RunId", str)
EventId = NewType("EventId", str)

PREFIXES: dict[str, str] = {
    "config": "cfg_",
    "automation": "aut_",
    "run": "atr_",
    "event": "evt_",
    "journal": "wdr_",
}

# RFC 4648 base32 (A-Z, 2-7) mapped onto Crockford's lowercase alphabet, which keeps the order.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz")


_pool = bytearray()


def _reset_pool() -> None:
    _pool.clear()


# A forked child must not reuse its parent's random bytes.
os.register_at_fork(after_in_child=_reset_pool)


def _random10() -> bytes:
    # One urandom syscall per 400 ids instead of one per id.
    if len(_pool) < 10:
        _pool.extend(os.urandom(4000))
    chunk = bytes(_pool[-10:])
    del _pool[-10:]
    return chunk


def new_id(prefix: str) -> str:
    """Return a new id: ``prefix`` + 26 base32 chars (48 bits of milliseconds, 80 random bits)."""
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + _random10()
    return prefix + base64.b32encode(raw).translate(_CROCKFORD)[:26].decode()
