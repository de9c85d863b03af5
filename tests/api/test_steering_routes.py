"""Steering requests over HTTP: list, read, answer; every refusal is a clear error and changes nothing."""

from __future__ import annotations

import pytest

from tests.api.conftest import App, error_of, steering_request
from tests.api.server import Live
from tests.api.sse import events


def test_list_read_and_answer_a_request(live: Live, a: App) -> None:
    request_id = steering_request(live, a)
    listed = a.http.get(a.url("/steering_requests"), params={"status": "pending"}).json()
    assert [r["id"] for r in listed["data"]] == [request_id] and listed["next_cursor"] is None
    one = a.http.get(a.url(f"/steering_requests/{request_id}")).json()
    assert (one["status"], one["message"], one["choices"], one["node_id"]) == (
        "pending",
        "Welcome usr_9?",
        ["approve", "reject"],
        "gate",
    )
    run = a.http.get(a.url(f"/automations/runs/{one['run_id']}")).json()
    assert run["status"] == "pending" and run["waiting_for"]["steering_request_id"] == request_id
    answered = a.http.post(a.url(f"/steering_requests/{request_id}"), json={"choice": "approve", "by": "usr_1"})
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["choice"], answered.json()["answered_by"]) == (
        "answered",
        "approve",
        "usr_1",
    )
    done = live.call(live.engine.wait_for_run, a.id, one["run_id"], timeout=10)
    assert done.result == {"payload": "welcome usr_9", "output": []}
    assert a.http.get(a.url("/steering_requests"), params={"status": "pending"}).json()["data"] == []


def test_refused_answers_change_nothing(live: Live, a: App) -> None:
    request_id = steering_request(live, a)
    path = a.url(f"/steering_requests/{request_id}")
    for body, field in (
        ({"choice": "maybe"}, "$.choice"),
        ({"choice": "approve", "extra": 1}, "extra"),
        ({}, "choice"),
        ({"choice": "approve", "note": "x" * 3000}, "note"),
    ):
        error = error_of(a.http.post(path, json=body), 400, "validation_error")
        assert field in str(error), error
    error_of(a.http.post(path, content=b"{", headers={"content-type": "application/json"}), 400, "validation_error")
    assert a.http.get(path).json()["status"] == "pending"
    assert a.http.post(path, json={"choice": "reject"}).status_code == 200
    closed = error_of(a.http.post(path, json={"choice": "approve"}), 409, "request_closed")
    assert closed["details"]["status"] == "answered"
    assert a.http.get(path).json()["choice"] == "reject"


@pytest.mark.parametrize("bad", ["str_unknown", "atr_x", "%00", "x" * 300])
def test_unknown_requests_are_404(a: App, bad: str) -> None:
    error_of(a.http.get(a.url(f"/steering_requests/{bad}")), 404, "not_found")
    error_of(a.http.post(a.url(f"/steering_requests/{bad}"), json={"choice": "approve"}), 404, "not_found")


def test_bad_listing_queries_are_400(a: App) -> None:
    for params in ({"status": "open"}, {"limit": 101}, {"cursor": "atr_x"}, {"frob": 1}):
        error_of(a.http.get(a.url("/steering_requests"), params=params), 400, "validation_error")


def test_the_app_stream_shows_the_request_and_its_answer(live: Live, a: App) -> None:
    with a.http.stream("GET", a.url("/stream"), params={"types": "steering.requested,steering.answered"}) as stream:
        request_id = steering_request(live, a)
        a.http.post(a.url(f"/steering_requests/{request_id}"), json={"choice": "approve"})
        seen = events(stream)
        first, second = next(seen), next(seen)
    assert (first.event, first.json["data"]["request_id"]) == ("steering.requested", request_id)
    assert (second.event, second.json["data"]["choice"]) == ("steering.answered", "approve")
