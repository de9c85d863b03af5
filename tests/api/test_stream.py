"""SSE: the app stream and the run stream, resumption with Last-Event-ID, heartbeats, revocation."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from graphflow.api import feed
from graphflow.records import StreamEvent
from tests.api.conftest import JOINED, App, error_of, seed
from tests.api.server import REVOKED, Live
from tests.api.sse import Frame, events, frames

TERMINAL = {"run.completed", "run.failed", "run.cancelled"}


def _until_terminal(stream: Iterator[Frame], run_id: str) -> list[Frame]:
    seen = []
    for frame in stream:
        seen.append(frame)
        if frame.event in TERMINAL and frame.json["run_id"] == run_id:
            return seen
    raise AssertionError(f"the stream ended before run {run_id} did: {[f.event for f in seen]}")


def _publish(a: App) -> str:
    response = a.http.post(a.url("/events"), json={"name": "thread.member_joined", "payload": JOINED})
    assert response.status_code == 202, response.text
    return str(response.json()["run_ids"][0])


def test_run_stream_replays_a_finished_run_and_closes(live: Live, a: App) -> None:
    seeded = seed(live, a)
    with a.http.stream("GET", a.url(f"/automations/runs/{seeded.run_id}/stream")) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        got = list(events(response))  # the server closes after the terminal event
    kinds = [f.event for f in got]
    # welcome.yaml's nodes are pure (no checkpoints): its log is its status changes.
    assert kinds == ["run.created", "run.started", "run.completed"]
    ids = [int(f.id or 0) for f in got]
    assert ids == sorted(set(ids)) and all(f.json["seq"] == int(f.id or 0) for f in got)
    assert all(f.json["run_id"] == seeded.run_id and f.json["app_id"] == a.id for f in got)


def test_app_stream_follows_live_events(live: Live, a: App) -> None:
    seed(live, a)
    with a.http.stream("GET", a.url("/stream")) as response:
        assert response.status_code == 200  # the stream starts from now: the seed's events are past
        run_id = _publish(a)
        got = _until_terminal(events(response), run_id)
    assert got[0].event == "run.created"
    assert all(f.json["app_id"] == a.id for f in got)


def test_types_filter(live: Live, a: App) -> None:
    seed(live, a)
    with a.http.stream("GET", a.url("/stream"), params={"types": "run.completed,run.failed"}) as response:
        run_id = _publish(a)
        got = _until_terminal(events(response), run_id)
    assert [f.event for f in got] == ["run.completed"]
    error_of(a.http.get(a.url("/stream"), params={"types": "run.exploded"}), 400, "validation_error")


def test_last_event_id_resumes_with_nothing_lost_and_nothing_twice(live: Live, a: App) -> None:
    seed(live, a)
    start = live.call(live.engine.stream.last_seq, a.id)
    with a.http.stream("GET", a.url("/stream")) as response:
        run_id = _publish(a)
        stream = events(response)
        first = [next(stream)]  # run.created, then the connection drops mid-run
    live.call(live.engine.wait_for_run, a.id, run_id, timeout=10)
    resumed_from = first[-1].id or ""
    with a.http.stream("GET", a.url("/stream"), headers={"last-event-id": resumed_from}) as response:
        rest = _until_terminal(events(response), run_id)
    received = [int(f.id or 0) for f in first + rest]
    logged = [e.seq for e in live.call(live.engine.stream.read, a.id, start, limit=100)]
    assert received == logged[: len(received)] and received[-1] == logged[-1]
    assert len(received) == len(set(received))


def test_another_apps_last_event_id_yields_nothing_of_theirs(live: Live, a: App, b: App) -> None:
    seed(live, a)
    theirs = str(live.call(live.engine.stream.last_seq, a.id) - 1)  # a seq of a's, not b's
    with b.http.stream("GET", b.url("/stream"), headers={"last-event-id": theirs}) as response:
        created = b.http.post(b.url("/automations"), json={"name": "mine", "type": "invoked"})
        assert created.status_code == 201, created.text
        frame = next(events(response))
    assert frame.event == "automation.created" and frame.json["app_id"] == b.id


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "9" * 40])
def test_a_malformed_last_event_id_is_400(a: App, value: str) -> None:
    error_of(a.http.get(a.url("/stream"), headers={"last-event-id": value}), 400, "validation_error")


def test_heartbeats_keep_an_idle_stream_alive(a: App) -> None:
    with a.http.stream("GET", a.url("/stream")) as response:
        first = next(frames(response))  # nothing happens in this app: only heartbeats come
    assert first.comment is not None and first.id is None


def test_revoking_the_key_closes_its_open_stream(live: Live, a: App) -> None:
    key = f"key-{a.id}"
    with a.http.stream("GET", a.url("/stream")) as response:
        assert response.status_code == 200
        REVOKED.add(key)
        try:
            rest = list(events(response))  # returns once the server closes the stream
        finally:
            REVOKED.discard(key)
    assert rest == []


def test_a_run_stream_of_another_app_is_404_before_any_frame(live: Live, a: App, b: App) -> None:
    seeded = seed(live, a)
    error_of(b.http.get(b.url(f"/automations/runs/{seeded.run_id}/stream")), 404, "not_found")


def test_no_payload_can_split_a_frame() -> None:
    event = StreamEvent(seq=7, app_id="app_1", type="run.failed", at=0.0, data={"error": "a\r\nb\nc\rd\u2028e"})
    encoded = feed.frame(event).decode()
    body = [line for line in encoded.splitlines() if line]
    assert body == ["id: 7", "event: run.failed", "data: " + json.dumps(event.to_dict(), separators=(",", ":"))]
