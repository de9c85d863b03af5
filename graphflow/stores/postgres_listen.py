"""WorkListener: the LISTEN side of PostgresStore's wake-up hint, and ChangePoller, its stand-in.

Writes that make a run claimable send ``NOTIFY graphflow_work, '<schema>'`` in their transaction
(see :mod:`graphflow.stores.postgres_schema`). A worker with nothing to do waits here instead of
polling hard: on one dedicated connection (a pooled one would be handed to other operations and
miss notifications in between). Notifications that arrive while nobody waits are kept by the
connection and end the next wait at once, so work published between a claim and the next wait
is not slept through.

It is a hint: when the connection breaks, waiting becomes sleeping until the timeout, and the
connection is reopened after a back-off. The engine claims after every wake-up either way.

Behind a pooler that hands each transaction to any server connection (PgBouncer's transaction
pooling), a LISTEN stays on a server connection this process no longer holds: its notifications
go to whichever client gets that connection next. There :class:`ChangePoller` reads a cheap
value (the newest event ``seq``) every few hundred milliseconds instead, one reader per process.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import psycopg

from graphflow.exceptions import GraphflowError

__all__ = ["ChangePoller", "Wakeup", "WorkListener"]

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


class Wakeup(ABC):
    """A wake-up hint that one caller reads and concurrent callers share."""

    def __init__(self) -> None:
        self._reading = anyio.Lock()
        self._woken = anyio.Event()

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Start watching (best effort: a failure is retried by a later :meth:`wait`)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop watching (idempotent)."""

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up; return whether one came.

        One caller reads; concurrent callers share its wake-up.
        """
        if self._reading.locked():
            with anyio.move_on_after(timeout):
                await self._woken.wait()
                return True
            return False
        async with self._reading:
            woken = self._woken
            if await self._read(time.monotonic() + timeout):
                self._woken = anyio.Event()
                woken.set()
                return True
            return False

    @abstractmethod
    async def _read(self, deadline: float) -> bool:
        """Wait until ``deadline`` (``time.monotonic()``) for a wake-up; return whether one came."""


class ChangePoller(Wakeup):
    """Wakes when the value ``probe`` returns has changed since the last wake-up (or :meth:`open`).

    Args:
        probe: reads the value (one cheap statement); a store error counts as no change.
        interval: seconds between reads while somebody waits.
    """

    def __init__(self, probe: Callable[[], Awaitable[object]], *, interval: float) -> None:
        super().__init__()
        self._probe = probe
        self.interval = interval
        self._seen: object = None

    async def open(self) -> None:
        """Read the value that later changes are compared with."""
        self._seen = await self._value()

    async def _value(self) -> object:
        try:
            return await self._probe()
        except GraphflowError:  # the server is away: a hint only, so nothing changed
            return self._seen

    async def _read(self, deadline: float) -> bool:
        while True:
            value = await self._value()
            if value != self._seen:
                self._seen = value
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await anyio.sleep(min(self.interval, remaining))


class WorkListener(Wakeup):
    """Waits for ``channel`` notifications whose payload is ``payload`` (the store's schema).

    Args:
        connect: opens a new autocommit connection (bounded by its own timeout).
        channel: the NOTIFY channel.
        payload: the notifications meant for this store; others are ignored.
        backoff: seconds between attempts to reopen a broken connection.
    """

    def __init__(
        self, connect: Callable[[], Awaitable[Connection]], channel: str, payload: str, *, backoff: float = 5.0
    ) -> None:
        super().__init__()
        self._connect = connect
        self._channel = channel
        self.payload = payload
        self.backoff = backoff
        self._conn: Connection | None = None
        self._retry_at = 0.0

    async def open(self) -> None:
        """Start listening (best effort: a failure is retried by a later :meth:`wait`)."""
        await self._listen()

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _read(self, deadline: float) -> bool:
        conn = self._conn
        if (conn is None or conn.closed) and time.monotonic() >= self._retry_at:
            with anyio.move_on_after(deadline - time.monotonic()):
                conn = await self._listen()
        if conn is None or conn.closed:
            await anyio.sleep(max(0.0, deadline - time.monotonic()))
            return False
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                # aclosing: leaving the generator early must release the connection's lock now.
                async with contextlib.aclosing(conn.notifies(timeout=remaining, stop_after=1)) as notes:
                    async for note in notes:
                        if note.payload == self.payload:
                            return True
        except psycopg.Error:
            self._conn = None
            self._retry_at = time.monotonic() + self.backoff
            await conn.close()
            await anyio.sleep(max(0.0, deadline - time.monotonic()))
        return False

    async def _listen(self) -> Connection | None:
        """Open the connection and LISTEN; ``None`` (try again after the back-off) on failure."""
        self._retry_at = time.monotonic() + self.backoff
        try:
            conn = await self._connect()
        except (psycopg.Error, TimeoutError):
            return None
        try:
            await conn.execute(f"LISTEN {self._channel}")
        except psycopg.Error:
            await conn.close()
            return None
        self._conn = conn
        return conn
