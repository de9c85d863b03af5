"""A spinner on standard error while a command waits, shown only when a person is watching."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["spinner"]

FRAMES = "|/-\\"
#: Seconds between frames.
TICK = 0.1


@asynccontextmanager
async def spinner(text: str) -> AsyncIterator[None]:
    """Show ``text`` with a spinner and the seconds waited, on a terminal, for the ``async with`` block."""
    if not sys.stderr.isatty():
        yield
        return
    started = time.monotonic()

    async def spin() -> None:
        frame = 0
        while True:
            sys.stderr.write(f"\r{FRAMES[frame % len(FRAMES)]} {text} ({time.monotonic() - started:.0f}s)")
            sys.stderr.flush()
            frame += 1
            await anyio.sleep(TICK)

    async with anyio.create_task_group() as tg:
        tg.start_soon(spin, name="graphflow-cli-spinner")
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
