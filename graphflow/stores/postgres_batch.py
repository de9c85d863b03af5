"""Group commit: a process's concurrent writes of one kind sent together, in one round trip and one transaction.

:class:`~graphflow.stores.postgres.PostgresStore` sends its hottest writes (accepting an event,
a claim by id, a run's final write) through a :class:`GroupCommit`. The first caller sends its
statement at once, alone, exactly as before; callers that arrive while a send is in flight
queue up, and the next send takes them all: their statements go in **one pipelined
transaction** (psycopg pipeline mode: ``BEGIN``, the statements, ``COMMIT`` in one round trip).
Each caller still gets its own statement's rows, and returns only once its write is committed.
Nothing waits for a batch to fill, so a lone caller pays nothing; under load one commit (one WAL
flush, the dearest part of a small write) and one round trip serve many writes, and fewer
transactions contend for the same rows.

Each statement does what it did alone: a transaction of several is what the statements would
have done one after another, committed together. If the batch fails for a reason of one of its
statements (a constraint, a deadlock), nothing of it was committed, and each statement is sent
again on its own, so each caller gets its own outcome. A lost connection fails every caller (the
store's own rule decides whether it is retried first: only if every statement is idempotent).

Batches are sorted by a key the caller gives (automation first, for accepts and final writes),
so two processes' batches take their row locks in one order (claims skip locked rows); final
writes of one automation's runs go in the order the runs started, so each counts in its outcome
(a failure streak) as if they had finished in that order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import psycopg

from graphflow.exceptions import GraphflowError, StoreUnavailableError

__all__ = ["GroupCommit"]

Connection = psycopg.AsyncConnection[tuple[Any, ...]]
Rows = list[tuple[Any, ...]]
Params = Sequence[Any] | Mapping[str, Any]
#: ``PostgresStore._call``: run an operation on a pooled connection, translating driver errors.
Call = Callable[..., Awaitable[Any]]
#: How long a send goes on after its caller was cancelled (the others in the batch wait for it).
_SHIELD = 30.0


class _Write:
    __slots__ = ("done", "error", "idempotent", "key", "params", "query", "rows")

    def __init__(self, query: str, params: Params, idempotent: bool, key: tuple[Any, ...]) -> None:
        self.query = query
        self.params = params
        self.idempotent = idempotent
        self.key = key
        self.done = False
        self.rows: Rows = []
        self.error: BaseException | None = None


class GroupCommit:
    """Sends concurrent statements together (see the module's docstring).

    Args:
        call: the store's ``_call(op, idempotent=...)``.
    """

    def __init__(self, call: Call) -> None:
        self._call = call
        self._queue: list[_Write] = []
        self._sending = anyio.Lock()

    async def fetchall(
        self, query: str, params: Params, *, idempotent: bool = False, key: tuple[Any, ...] = ()
    ) -> Rows:
        """The rows of ``query``, committed: sent alone, or with the statements queued meanwhile."""
        write = _Write(query, params, idempotent, key)
        self._queue.append(write)
        try:
            # One send at a time: the lock's turn comes after the send before it, so that send
            # either took this write (it is done) or left it for this one to take. Acquiring
            # yields once, which lets writes made in the same turn of the event loop join.
            async with self._sending:
                if not write.done:
                    batch, self._queue = self._queue, []
                    # The others in the batch wait for its outcome: a cancelled caller lets the
                    # send finish (bounded) rather than leave their writes undecided.
                    with anyio.CancelScope(shield=True, deadline=anyio.current_time() + _SHIELD):
                        await self._send(batch)
        except BaseException:
            if not write.done and write in self._queue:  # cancelled while it queued: never sent
                self._queue.remove(write)
            raise
        if write.error is not None:
            raise write.error
        return write.rows

    async def _send(self, batch: list[_Write]) -> None:
        try:
            if len(batch) == 1:
                await self._alone(batch[0])
            else:
                await self._together(batch)
        except BaseException as exc:  # cancelled (the bound ran out) or worse: the outcome is unknown
            _fail(batch, f"no answer from PostgreSQL within {_SHIELD:g} s; the write may or may not be stored", exc)
            raise

    async def _together(self, batch: list[_Write]) -> None:
        batch.sort(key=lambda write: write.key)

        async def op(conn: Connection) -> list[Rows]:
            async with conn.pipeline(), conn.transaction():
                cursors = [await conn.execute(write.query, write.params) for write in batch]
            return [await cursor.fetchall() for cursor in cursors]

        try:
            results = await self._call(op, idempotent=all(write.idempotent for write in batch))
        except StoreUnavailableError as exc:  # the connection: every write shares its fate
            _fail(batch, exc.message, exc)
            return
        except GraphflowError:  # one statement's fault: nothing committed, each goes alone
            for write in batch:
                await self._alone(write)
            return
        for write, rows in zip(batch, results, strict=True):
            write.rows, write.done = rows, True

    async def _alone(self, write: _Write) -> None:
        async def op(conn: Connection) -> Rows:
            return await (await conn.execute(write.query, write.params)).fetchall()

        try:
            write.rows = await self._call(op, idempotent=write.idempotent)
        except Exception as exc:
            write.error = exc
        write.done = True


def _fail(batch: list[_Write], message: str, cause: BaseException) -> None:
    """Fail each write not yet decided, each with an error of its own (one raised in many tasks tangles tracebacks)."""
    for write in batch:
        if not write.done:
            write.error = StoreUnavailableError(message)
            write.error.__cause__ = cause.__cause__ if isinstance(cause, StoreUnavailableError) else cause
            write.done = True
