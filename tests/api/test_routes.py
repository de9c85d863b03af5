"""Every route against a live server: what it answers and what it changes."""

from __future__ import annotations

import json

from tests.api.conftest import JOINED, WELCOME, App, error_of, seed
from tests.api.server import Live


def test_health_and_openapi_need_no_key(live: Live) -> None:
    with live.client() as anonymous:
        health = anonymous.get("/v1/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "version": health.json()["version"], "store": "SQLiteStore"}
        spec = anonymous.get("/v1/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    assert "/v1/apps/{app_id}/automations/{automation_id}/trigger" in spec["paths"]


def test_configs_in_json_and_yaml_are_versioned(a: App) -> None:
    created = a.http.post(a.url("/configs"), content=WELCOME, headers={"content-type": "application/yaml"})
    assert created.status_code == 201, created.text
    config = created.json()
    assert config["version"] == 1 and config["app_id"] == a.id
    document = config["config"] | {"name": "Renamed"}
    replaced = a.http.put(a.url(f"/configs/{config['id']}"), json=document)
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert a.http.get(a.url(f"/configs/{config['id']}")).json()["name"] == "Renamed"
    assert a.http.get(a.url(f"/configs/{config['id']}"), params={"version": 1}).json()["name"] == config["name"]
    listed = a.http.get(a.url("/configs")).json()
    assert [c["id"] for c in listed["data"]] == [config["id"]] and listed["next_cursor"] is None
    assert a.http.delete(a.url(f"/configs/{config['id']}")).status_code == 204
    error_of(a.http.get(a.url(f"/configs/{config['id']}")), 404, "not_found")


def test_config_in_use_cannot_be_deleted(live: Live, a: App) -> None:
    seeded = seed(live, a)
    error_of(a.http.delete(a.url(f"/configs/{seeded.config_id}")), 409, "conflict")


def test_automation_lifecycle_over_http(live: Live, a: App) -> None:
    seeded = seed(live, a)
    one = a.url(f"/automations/{seeded.automation_id}")
    details = a.http.get(one).json()
    assert details["status"] == "running" and [r["id"] for r in details["recent_runs"]] == [seeded.run_id]
    assert "journal" not in details["recent_runs"][0]
    paused = a.http.post(one + "/pause", json={"reason": "maintenance"})
    assert paused.status_code == 200 and paused.json()["paused_reason"] == "maintenance"
    error_of(a.http.post(one + "/pause"), 409, "invalid_transition")
    assert a.http.post(one + "/reset").json()["status"] == "draft"
    assert a.http.post(one + "/activate").json()["status"] == "running"
    patched = a.http.patch(one, json={"description": "says hello", "enabled": False})
    assert patched.status_code == 200
    assert patched.json()["description"] == "says hello" and patched.json()["status"] == "paused"
    assert a.http.delete(one).status_code == 204
    error_of(a.http.get(one), 404, "not_found")


def test_list_automations_filters_and_pages(live: Live, a: App) -> None:
    config = a.http.post(a.url("/configs"), content=WELCOME, headers={"content-type": "application/yaml"}).json()
    ids = [
        a.http.post(
            a.url("/automations"),
            json={"name": f"n{i}", "trigger": "thread.member_joined", "config_id": config["id"]},
        ).json()["id"]
        for i in range(3)
    ]
    first = a.http.get(a.url("/automations"), params={"limit": 2}).json()
    second = a.http.get(a.url("/automations"), params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [x["id"] for x in first["data"] + second["data"]] == ids[::-1] and second["next_cursor"] is None
    assert a.http.get(a.url("/automations"), params={"type": "scheduled"}).json()["data"] == []


def test_trigger_returns_the_run_and_runs_list_newest_first(live: Live, a: App) -> None:
    seeded = seed(live, a)
    one = a.url(f"/automations/{seeded.automation_id}")
    triggered = a.http.post(one + "/trigger", json={"payload": JOINED})
    assert triggered.status_code == 202
    run_id = triggered.json()["run_id"]
    live.call(live.engine.wait_for_run, a.id, run_id, timeout=10)
    runs = a.http.get(one + "/runs").json()
    assert [r["id"] for r in runs["data"]] == [run_id, seeded.run_id]
    assert a.http.get(one + "/runs", params={"status": "failed"}).json()["data"] == []
    run = a.http.get(a.url(f"/automations/runs/{run_id}")).json()
    assert run["status"] == "completed" and run["journal"]
    cancelled = a.http.post(a.url(f"/automations/runs/{run_id}/cancel"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "completed"  # finished: unchanged


def test_events_publish_explain_and_deduplicate(live: Live, a: App) -> None:
    seeded = seed(live, a)
    explained = a.http.post(a.url("/events/explain"), json={"name": "thread.member_joined", "payload": JOINED})
    assert [x["id"] for x in explained.json()["data"]] == [seeded.automation_id]
    body = {"name": "thread.member_joined", "payload": JOINED, "id": "evt_once"}
    first = a.http.post(a.url("/events"), json=body).json()
    again = a.http.post(a.url("/events"), json=body).json()
    assert len(first["run_ids"]) == 1 and not first["duplicate"]
    assert again == {"event_id": "evt_once", "duplicate": True, "run_ids": [], "woken_run_ids": []}


def test_catalogue_and_status(live: Live, a: App) -> None:
    names = [e["name"] for e in a.http.get(a.url("/automations/events")).json()["data"]]
    assert "thread.member_joined" in names and "workflow.scheduled" not in names
    assert a.http.get(a.url("/automations/status")).json() == {"data": []}
    seeded = seed(live, a)
    one = a.http.get(a.url("/automations/status"), params={"automation_id": seeded.automation_id})
    assert one.json() == {"data": []}  # its run has finished
    error_of(a.http.get(a.url("/automations/status"), params={"automation_id": "aut_nope"}), 404, "not_found")


def test_responses_are_compact_json_with_the_python_api_field_names(live: Live, a: App) -> None:
    seeded = seed(live, a)
    body = a.http.get(a.url(f"/automations/{seeded.automation_id}")).json()
    stored = live.call(live.engine.automations.get, a.id, seeded.automation_id).to_dict()
    assert json.loads(json.dumps(stored)) == body


def test_deliver_sinks_and_run_delivery_over_http(live: Live, a: App) -> None:
    config = a.http.post(a.url("/configs"), content=WELCOME, headers={"content-type": "application/yaml"}).json()
    secret = "whsec_http_0123456789"
    sink = {"kind": "webhook", "url": "https://hooks.example/runs", "secret": secret, "on": ["failed"]}
    created = a.http.post(
        a.url("/automations"),
        json={"name": "d", "trigger": "thread.member_joined", "config_id": config["id"], "enabled": True,
              "deliver": [sink]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["deliver"][0]["secret"] == "<redacted>" and secret not in created.text
    one = a.url(f"/automations/{created.json()['id']}")
    refused = error_of(
        a.http.patch(one, json={"deliver": [{"kind": "webhook", "url": "http://127.0.0.1/"}]}), 400, "validation_error"
    )
    assert [p["path"] for p in refused["details"]["problems"]] == ["$.deliver[0].url"]
    published = a.http.post(a.url("/events"), json={"name": "thread.member_joined", "payload": JOINED}).json()
    (run_id,) = published["run_ids"]
    live.call(live.engine.wait_for_run, a.id, run_id, timeout=10)
    run = a.http.get(a.url(f"/automations/runs/{run_id}")).json()
    assert run["status"] == "completed"
    assert run["delivery"] == {
        "status": "skipped",
        "attempts": 0,
        "last_error": None,
        "next_at": None,
        "delivered_at": None,
    }
    details = a.http.get(one).json()
    assert details["last_delivery_error"] is None and secret not in json.dumps(details)
