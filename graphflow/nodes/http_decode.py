"""Decode a response body (``Content-Encoding``) step by step, never past a byte limit.

httpx decodes each network chunk in one go: a 64 KiB chunk of a gzip bomb becomes ~64 MiB at
once, before any limit can look at it (a 5 MiB cap peaked at 137 MiB). :class:`BoundedBody`
feeds the raw bytes through ``zlib`` with ``max_length``, so at most :data:`STEP` decoded bytes
exist at a time beyond what it keeps, and it stops as soon as the body passes its limit.

Supported codings are the ones graphflow asks for (``Accept-Encoding: gzip, deflate``) and
``identity``; a chain (``gzip, gzip``) is decoded stage by stage, each bounded the same way.
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = ["ACCEPT_ENCODING", "STEP", "BodyDecodingError", "BoundedBody"]

#: What requests ask for: only codings decoded here, step by step.
ACCEPT_ENCODING = "gzip, deflate"
#: The most decoded bytes one decompression step produces.
STEP = 64 * 1024


class BodyDecodingError(Exception):
    """The body uses a coding graphflow does not decode, or is not valid in its coding."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


class _Full(Exception):
    pass


class _Deflate:
    """HTTP "deflate": zlib-wrapped as the RFC says, or raw deflate as some servers send."""

    def __init__(self) -> None:
        self._inner: Any = zlib.decompressobj()
        self._started = False

    @property
    def unconsumed_tail(self) -> bytes:
        return bytes(self._inner.unconsumed_tail)

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if not self._started and data:
            self._started = True
            try:
                return bytes(self._inner.decompress(data, max_length))
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self._inner.decompress(data, max_length))


def _stage(coding: str) -> Any:
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _Deflate()
    raise BodyDecodingError(
        f"the response is encoded with {coding!r}, which graphflow does not decode "
        f"(it asks for {ACCEPT_ENCODING}); do not set Accept-Encoding to other codings",
        unsupported=True,
    )


class BoundedBody:
    """Collects a body's decoded bytes up to ``limit``; :attr:`overflowed` tells if it had more.

    Args:
        content_encoding: the response's ``Content-Encoding`` header (may be empty).
        limit: the most decoded bytes kept.

    Raises:
        BodyDecodingError: an unsupported coding (at construction) or invalid data (when fed).
    """

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        # Codings are listed in the order they were applied: undo the last one first.
        self._stages = [_stage(c) for c in reversed(codings) if c and c != "identity"]
        self._limit = limit
        self.body = bytearray()
        self.overflowed = False

    def feed(self, data: bytes) -> bool:
        """Decode ``data``; return ``False`` once the body is past the limit (stop reading)."""
        if self.overflowed:
            return False
        try:
            self._run(0, data)
        except _Full:
            self.overflowed = True
            return False
        except zlib.error as exc:
            raise BodyDecodingError(f"the response body is not valid in its Content-Encoding: {exc}") from None
        return True

    def _run(self, index: int, data: bytes) -> None:
        if index == len(self._stages):
            room = self._limit - len(self.body)
            self.body += data[: room + 1] if room >= 0 else b""
            if len(self.body) > self._limit:
                del self.body[self._limit :]
                raise _Full
            return
        stage = self._stages[index]
        while True:
            out = stage.decompress(data, STEP)
            data = stage.unconsumed_tail
            if out:
                self._run(index + 1, out)
            elif not data:
                return  # everything fed so far is decoded
