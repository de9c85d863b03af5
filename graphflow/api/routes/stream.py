"""Server-sent event streams: an app's events, and one run's from its start to its end.

Frames come from the app's event log in the store (``engine.stream``), so a stream sees what
every process on the database did. Each frame is ``id: <seq>``, ``event: <type>``, ``data:
<compact JSON>``; ``json.dumps`` escapes every control character, so no payload can split a
frame. ``Last-Event-ID`` resumes after that seq: nothing lost, nothing twice (within retention).
The caller's credentials are checked again at least every ``Settings.reverify`` seconds: a
revoked key's stream ends then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from sse_starlette import EventSourceResponse
from starlette.responses import Response

from graphflow.api.models import StreamQuery
from graphflow.api.operations import Call, Operation
from graphflow.exceptions import Problem, ValidationError
from graphflow.records import STREAM_EVENT_TYPES, TERMINAL_RUN_STATUSES

__all__ = ["OPERATIONS"]

_TERMINAL = frozenset(f"run.{status}" for status in TERMINAL_RUN_STATUSES)


def _last_event_id(call: Call) -> int | None:
    """The ``Last-Event-ID`` header as a seq (``None`` when absent).

    Raises:
        ValidationError: not a whole number (a seq of another app is fine: it yields nothing of theirs).
    """
    text = call.request.headers.get("last-event-id")
    if text is None or not text.strip():
        return None
    text = text.strip()
    if not text.isdigit() or len(text) > 18:
        raise ValidationError(
            [Problem("$.Last-Event-ID", "Last-Event-ID must be the id of a frame this stream sent")],
            subject="request",
        )
    return int(text)


def _types(text: str | None) -> frozenset[str] | None:
    if text is None or not text.strip():
        return None
    types = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(types - frozenset(STREAM_EVENT_TYPES))
    if unknown:
        raise ValidationError(
            [Problem("$.types", f"unknown event type {unknown[0]!r}", f"use any of: {', '.join(STREAM_EVENT_TYPES)}")],
            subject="query string",
        )
    return types


async def _follow(
    call: Call, after: int, *, run_id: str | None = None, types: frozenset[str] | None = None
) -> AsyncIterator[bytes]:
    """Frames of the app's events after ``after``, live, until the run ends or the credentials lapse.

    Events come through the app's shared feed (one store read for every stream of the app), each
    batch as one chunk of pre-encoded frames. The credentials are checked again every
    ``reverify`` seconds, however busy the stream is.
    """
    every = call.settings.reverify
    with call.feeds.follow(call.app_id) as feed:
        check_at = anyio.current_time() + every
        while True:
            wait = max(0.0, check_at - anyio.current_time())
            batch = await feed.next(after, run_id=run_id, types=types, timeout=wait)
            after = batch.after
            if batch.events:
                yield batch.frames
                if run_id is not None and any(event.type in _TERMINAL for event in batch.events):
                    return  # a run's events end with its terminal one (nothing of it follows)
            now = anyio.current_time()
            if now >= check_at:
                if not await call.auth.still_allowed(call.request, call.app_id):
                    return
                check_at = now + every


async def app_stream(call: Call) -> Response:
    types = _types(call.query(StreamQuery).types)
    after = _last_event_id(call)
    if after is None:  # a new client starts from now
        after = await call.engine.stream.last_seq(call.app_id)
    return EventSourceResponse(_follow(call, after, types=types), ping=call.settings.heartbeat)


async def run_stream(call: Call) -> Response:
    run_id = call.path("run_id")
    after = _last_event_id(call)
    run = await call.engine.automations.run(call.app_id, run_id)  # not this app's: 404 before streaming
    if run.status in TERMINAL_RUN_STATUSES and after is None:
        ended = await call.engine.stream.read(call.app_id, 0, run_id=run_id, types=_TERMINAL, limit=1)
        if not ended:  # written before the log existed: nothing to follow
            return EventSourceResponse(iter(()), ping=call.settings.heartbeat)
    return EventSourceResponse(_follow(call, after or 0, run_id=run_id), ping=call.settings.heartbeat)


OPERATIONS = [
    Operation("GET", "/apps/{app_id}/stream", app_stream, "streamAppEvents",
              "Every run, automation and config event of the app, live (SSE; Last-Event-ID resumes).", "stream",
              query=StreamQuery, stream=True),
    Operation("GET", "/apps/{app_id}/automations/runs/{run_id}/stream", run_stream, "streamRun",
              "A run's events from its creation (replayed) to its end, then the stream closes (SSE).", "stream",
              stream=True),
]  # fmt: skip
