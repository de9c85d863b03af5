"""One reader of an app's event log for every stream following it.

A hundred clients on one app's stream must not read the store a hundred times per event. Each
app being followed has an :class:`AppFeed`: the newest events (up to ``keep``) held in memory,
complete from ``base`` to ``last``. A stream asking for what follows a seq inside that window is
answered from memory; the first one finding nothing new reads the store (and waits on its hint)
for everyone, while the others wait for the feed to grow. A stream further behind (a resume, a
replay from the start) reads the store directly, filtered, until it is inside the window. The
store's seq is in commit order, so reading after ``last`` never skips an event.

Fan-out is paid once per event, not once per stream: each event's SSE frame is encoded when it
enters the window and shared by every follower, a follower gets all it is owed as one chunk
(one send), and reads are paced (at most one every ``pace`` seconds while events keep coming),
so a hundred streams wake once per batch of events, not once per commit.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

import anyio

from graphflow.records import StreamEvent

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine

__all__ = ["AppFeed", "Batch", "Feeds", "frame"]

PAGE = 100
Match = Callable[[StreamEvent], bool]


def frame(event: StreamEvent) -> bytes:
    """The SSE frame of ``event``: ``id``, ``event`` and one ``data`` line of compact JSON.

    ``json.dumps`` escapes every control character (CR and LF included), so no payload can split
    a frame; the type is one of the log's fixed names.
    """
    data = json.dumps(event.to_dict(), separators=(",", ":"))
    return f"id: {event.seq}\r\nevent: {event.type}\r\ndata: {data}\r\n\r\n".encode()


class Batch(NamedTuple):
    """What a follower gets from one :meth:`AppFeed.next`."""

    events: list[StreamEvent]
    frames: bytes  # the events' SSE frames, in order, as one chunk
    after: int  # the seq to ask after next time


class AppFeed:
    """The tail of one app's event log, shared by the streams following it."""

    def __init__(self, engine: Engine, app_id: str, keep: int = 2048, pace: float = 0.01) -> None:
        self._engine = engine
        self._app_id = app_id
        self._pace = pace
        self._read_at = 0.0  # monotonic time before which the next read waits (events kept coming)
        self._events: deque[tuple[StreamEvent, bytes]] = deque(maxlen=keep)
        self._base = -1  # every event with base < seq <= last is in _events (-1: nothing read yet)
        self._last = -1
        self._reading = anyio.Lock()
        self._grew = anyio.Event()
        self.followers = 0

    async def next(self, after: int, *, run_id: str | None, types: frozenset[str] | None, timeout: float) -> Batch:
        """The matching events after ``after`` (up to a page), their frames, and where to go on.

        Waits up to ``timeout`` seconds when there is nothing new yet.
        """

        def match(event: StreamEvent) -> bool:
            return (run_id is None or event.run_id == run_id) and (types is None or event.type in types)

        if self._base < 0:
            await self._pull(0.0)  # the window starts where the log is now
        waited = False
        while True:
            if after < self._base:  # behind the window: the store, filtered, until caught up
                last = self._last
                read = await self._engine.stream.read(self._app_id, after, run_id=run_id, types=types, limit=PAGE)
                frames = b"".join(frame(event) for event in read)
                if len(read) == PAGE:
                    return Batch(read, frames, read[-1].seq)
                return Batch(read, frames, max(read[-1].seq if read else after, last))
            batch = self._window(after, match)
            if batch.events or waited:
                return batch
            after, waited = batch.after, True
            if self._reading.locked():  # another stream is reading for everyone: wait for what it finds
                with anyio.move_on_after(timeout):
                    await self._grew.wait()
            else:
                await self._pull(timeout)

    def _window(self, after: int, match: Match) -> Batch:
        newer: list[tuple[StreamEvent, bytes]] = []
        for entry in reversed(self._events):  # from the newest: the cost is what is new, not the window
            if entry[0].seq <= after:
                break
            newer.append(entry)
        found: list[StreamEvent] = []
        frames: list[bytes] = []
        for event, encoded in reversed(newer):
            if match(event):
                found.append(event)
                frames.append(encoded)
                if len(found) == PAGE:
                    return Batch(found, b"".join(frames), event.seq)
        return Batch(found, b"".join(frames), max(after, self._last))

    async def _pull(self, timeout: float) -> None:
        """Read what the log gained (waiting up to ``timeout`` for it), for every follower.

        The store's ``wait`` bounds the wait; the reads themselves are never cut short.
        """
        async with self._reading:
            stream, app_id = self._engine.stream, self._app_id
            if self._base < 0:
                self._base = self._last = await stream.last_seq(app_id)
                return
            early = self._read_at - time.monotonic()
            if early > 0:  # events kept coming: let them gather, one wake-up for the batch
                await anyio.sleep(min(early, timeout))
            new = await stream.read(app_id, self._last, limit=PAGE)
            if not new and timeout > 0:
                await stream.wait(timeout)
                new = await stream.read(app_id, self._last, limit=PAGE)
            if not new:
                return
            self._read_at = time.monotonic() + self._pace
            for event in new:
                if len(self._events) == self._events.maxlen:
                    self._base = self._events[0][0].seq  # the oldest leaves the window
                self._events.append((event, frame(event)))
            self._last = new[-1].seq
            grew, self._grew = self._grew, anyio.Event()
            grew.set()


class Feeds:
    """The feeds of the apps being followed; a feed lives while a stream follows it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._feeds: dict[str, AppFeed] = {}

    @contextmanager
    def follow(self, app_id: str) -> Iterator[AppFeed]:
        """The app's feed, for the duration of one stream."""
        feed = self._feeds.get(app_id)
        if feed is None:
            feed = self._feeds[app_id] = AppFeed(self._engine, app_id)
        feed.followers += 1
        try:
            yield feed
        finally:
            feed.followers -= 1
            if not feed.followers:
                del self._feeds[app_id]
