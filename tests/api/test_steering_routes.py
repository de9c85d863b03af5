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


PLUS_ONE = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "plus one",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "$.n + 1"},
    ],
}


def _invoked(a: App, **fields: object) -> str:
    config = a.http.post(a.url("/configs"), json=PLUS_ONE).json()["id"]
    body = {"name": "plus", "type": "invoked", "config_id": config, "enabled": True, "overlap": "allow", **fields}
    created = a.http.post(a.url("/automations"), json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_invoke_over_http(live: Live, a: App) -> None:
    aut = _invoked(a, input_schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    path = a.url(f"/automations/{aut}/invoke")
    waited = a.http.post(path, json={"payload": {"n": 1}, "wait": True, "timeout": 10})
    assert waited.status_code == 200, waited.text
    assert (waited.json()["status"], waited.json()["result"]) == ("completed", {"payload": 2, "output": []})
    first = a.http.post(path, json={"payload": {"n": 5}}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 202 and first.json()["status"] == "pending"
    again = a.http.post(path, json={"payload": {"n": 6}, "idempotency_key": "k-1"})
    assert again.json()["id"] == first.json()["id"] and again.json()["payload"] == {"n": 5}
    error = error_of(a.http.post(path, json={"payload": {"n": "x"}}), 400, "validation_error")
    assert "$.payload.n" in str(error)
    both = {"payload": {"n": 1}, "idempotency_key": "a"}
    error_of(a.http.post(path, json=both, headers={"Idempotency-Key": "b"}), 400, "validation_error")
    error_of(a.http.post(path, json={"payload": {"n": 1}, "timeout": 0}), 400, "validation_error")
    error_of(a.http.post(a.url("/automations/aut_nope/invoke"), json={}), 404, "not_found")


def test_invoke_waiting_past_its_timeout_is_504_and_the_run_goes_on(live: Live, a: App) -> None:
    gated = {
        **PLUS_ONE,
        "nodes": [
            {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "gate"},
            {"kind": "WorkflowApproval", "id": "gate", "message": "go?", "on_success": "s"},
            {"kind": "WorkflowScript", "id": "s", "source": "1"},
        ],
    }
    config = a.http.post(a.url("/configs"), json=gated).json()["id"]
    body = {"name": "gated", "type": "invoked", "config_id": config, "enabled": True}
    aut = a.http.post(a.url("/automations"), json=body).json()["id"]
    late = a.http.post(
        a.url(f"/automations/{aut}/invoke"), json={"wait": True, "timeout": 0.3, "idempotency_key": "slow"}
    )
    error = error_of(late, 504, "timeout")
    assert "goes on" in error["message"]
    run = a.http.post(a.url(f"/automations/{aut}/invoke"), json={"idempotency_key": "slow"}).json()
    assert run["status"] in ("pending", "running")


def test_an_automations_memory_over_http(live: Live, a: App, b: App) -> None:
    remembering = {
        **PLUS_ONE,
        "nodes": [
            {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "keep"},
            {"kind": "WorkflowRemember", "id": "keep", "value": "{'last': $.n}"},
        ],
    }
    config = a.http.post(a.url("/configs"), json=remembering).json()["id"]
    body = {"name": "remembers", "type": "invoked", "config_id": config, "enabled": True}
    aut = a.http.post(a.url("/automations"), json=body).json()["id"]
    assert a.http.get(a.url(f"/automations/{aut}/memory")).json() == {"memory": None}
    done = a.http.post(a.url(f"/automations/{aut}/invoke"), json={"payload": {"n": 7}, "wait": True, "timeout": 10})
    assert done.json()["status"] == "completed", done.text
    assert a.http.get(a.url(f"/automations/{aut}/memory")).json() == {"memory": {"last": 7}}
    error_of(b.http.get(b.url(f"/automations/{aut}/memory")), 404, "not_found")
