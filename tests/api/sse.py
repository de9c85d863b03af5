"""Reading server-sent events in tests: frames as dicts, comments (heartbeats) kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    """One SSE frame (``comment`` set for a ``: ...`` heartbeat line)."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comment: str | None = None

    @property
    def json(self) -> Any:
        return json.loads("\n".join(self.data))


def frames(response: httpx.Response) -> Iterator[Frame]:
    """The frames of a streaming response, as they arrive; ends when the server closes the stream."""
    frame = Frame()
    for line in response.iter_lines():
        if line == "":
            if frame.id is not None or frame.data:
                yield frame
            frame = Frame()
        elif line.startswith(":"):
            yield Frame(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                frame.data.append(value)


def events(response: httpx.Response) -> Iterator[Frame]:
    """The event frames only (heartbeats skipped)."""
    return (f for f in frames(response) if f.comment is None)
