"""The management verbs in server mode, against a real ``graphflow.api`` server on a loopback port."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.server import Live, live_server, token_auth
from tests.cli.runner import Cli, Result

WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}
INVOKED = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "plus one",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "unwrap($.n, 0) + 1"},
    ],
}


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    with live_server(auth=token_auth) as server:
        yield server


@pytest.fixture
def app(live: Live, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh app; the CLI finds the server, the app and its key in the environment."""
    app_id = f"app_{uuid.uuid4().hex[:10]}"
    monkeypatch.delenv("GRAPHFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("GRAPHFLOW_SERVER", live.url)
    monkeypatch.setenv("GRAPHFLOW_API_KEY", f"key-{app_id}")
    monkeypatch.setenv("GRAPHFLOW_APP", app_id)
    return app_id


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def data(result: Result) -> Any:
    return json.loads(ok(result).out)


def test_the_lifecycle_over_http(cli: Cli, live: Live, app: str, tmp_path: Path) -> None:
    graph = tmp_path / "plus.json"
    graph.write_text(json.dumps(INVOKED))
    config = data(cli("create", "config", "-f", str(graph), "--json"))
    assert config["version"] == 1 and config["name"] == "plus one"
    assert [c["id"] for c in data(cli("list", "configs", "--json"))["data"]] == [config["id"]]

    created = data(cli("create", "automation", "-n", "adder", "-t", "invoked", "--config-id", config["id"], "--json"))
    aid = created["id"]
    direct = live.call(live.engine.automations.get, app, aid).automation.to_dict()
    assert created == direct  # the same shape as the Python API's to_dict()
    assert ok(cli("activate", "automation", aid)).out.strip() == f"activated {aid} (adder): invoked, running"

    run_id = data(cli("trigger", "automation", aid, "-p", '{"n": 1}', "--json"))["run_id"]
    live.call(live.engine.wait_for_run, app, run_id, timeout=10)  # the server executes it
    waited = data(cli("trigger", "automation", aid, "-p", '{"n": 2}', "--wait", "--timeout", "20", "--json"))
    assert waited["status"] == "completed" and waited["result"]["payload"] == 3
    run = data(cli("describe", "automationrun", run_id, "--json"))
    assert run == live.call(live.engine.automations.run, app, run_id).to_dict()
    assert run["status"] == "completed" and run["result"]["payload"] == 2
    assert "node_completed" in ok(cli("describe", "automationrun", run_id)).out
    runs = data(cli("list", "automationruns", "--automation", aid, "--status", "completed", "--json"))
    assert [r["id"] for r in runs["data"]] == [waited["id"], run_id]
    assert run_id in ok(cli("describe", "automation", aid)).out

    renamed = data(cli("update", "automation", aid, "--name", "adder two", "--json"))
    assert renamed["name"] == "adder two"
    paused = data(cli("pause", "automation", aid, "--reason", "maintenance", "--json"))
    assert paused["status"] == "paused" and paused["paused_reason"] == "maintenance"
    assert data(cli("reset", "automation", aid, "--json"))["status"] == "draft"
    assert [a["id"] for a in data(cli("list", "automations", "--type", "invoked", "--json"))["data"]] == [aid]
    assert ok(cli("delete", "automation", aid)).out.strip() == f"deleted {aid}"
    gone = cli("describe", "automation", aid)
    assert gone.exit_code == 1 and f"not_found: automation {aid!r} not found" in gone.err


def test_publish_and_cancel_over_http(cli: Cli, live: Live, app: str) -> None:
    config_id = data(cli("create", "config", "-f", str(WELCOME), "--json"))["id"]  # sent as YAML
    ok(cli("create", "automation", "-n", "welcome", "--trigger", "thread.member_joined", "--config-id", config_id,
           "--enabled"))  # fmt: skip
    published = data(cli("publish", "thread.member_joined", "-p", json.dumps(JOINED), "--id", "evt_1", "--json"))
    assert published["duplicate"] is False and len(published["run_ids"]) == 1
    assert "duplicate" in ok(cli("publish", "thread.member_joined", "-p", json.dumps(JOINED), "--id", "evt_1")).out
    run_id = published["run_ids"][0]
    live.call(live.engine.wait_for_run, app, run_id, timeout=10)
    assert data(cli("cancel", "automationrun", run_id, "--json"))["status"] == "completed"  # finished: unchanged


def test_server_errors_are_one_line_with_their_code(cli: Cli, live: Live, app: str, tmp_path: Path) -> None:
    invalid = cli("publish", "thread.member_joined", "-p", "{}")
    assert invalid.exit_code == 1 and invalid.err.startswith("graphflow: validation_error:")
    assert "$.payload.thread_id" in invalid.err and "Traceback" not in invalid.output
    refused = cli("create", "automation", "-n", "x", "-t", "invoked", "--config-id", "cfg_nope")
    assert refused.exit_code == 1 and "not_found" in refused.err
    bad_key = cli("list", "automations", "--key", "wrong")
    assert bad_key.exit_code == 1 and bad_key.err.startswith("graphflow: unauthorized:")
    other = cli("list", "automations", "--key", "key-app_someone_else")  # a key of another app: 404, never 403
    assert other.exit_code == 1 and "not_found" in other.err
    keys = cli("keys", "list")
    assert keys.exit_code == 2 and "works on the database" in keys.err
    bad_graph = tmp_path / "bad.json"
    bad_graph.write_text('{"kind": "WorkflowGraph"}')
    rejected = cli("create", "config", "-f", str(bad_graph))  # the server validates it
    assert rejected.exit_code == 1 and "validation_error" in rejected.err and "$." in rejected.err


def test_explicit_database_url_wins_over_the_server_in_the_environment(cli: Cli, app: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'local.db'}"
    result = cli("list", "automations", "--database-url", url)
    assert result.exit_code == 2 and "no database at" in result.err  # direct mode: it never asked the server


def test_watch_a_run_over_sse(cli: Cli, live: Live, app: str, tmp_path: Path) -> None:
    graph = tmp_path / "plus.json"
    graph.write_text(json.dumps(INVOKED))
    config_id = data(cli("create", "config", "-f", str(graph), "--json"))["id"]
    aid = data(cli("create", "automation", "-n", "w", "-t", "invoked", "--config-id", config_id, "--enabled", "--json"))
    run_id = data(cli("trigger", "automation", aid["id"], "--json"))["run_id"]
    result = cli("watch", run_id, "--json")  # replayed from its creation, closed by the server after its end
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.out.splitlines()]
    assert events[0]["type"] == "run.created" and events[-1]["type"] == "run.completed"
    assert {e["run_id"] for e in events} == {run_id} and len({e["seq"] for e in events}) == len(events)
    text = cli("watch", run_id)
    assert text.exit_code == 0 and "run.completed" in text.out.splitlines()[-1]
    missing = cli("watch", "atr_nope")
    assert missing.exit_code == 1 and "not_found" in missing.err


def test_steer_over_http(cli: Cli, live: Live, app: str) -> None:
    from tests.api.conftest import App, steering_request

    with live.client(f"key-{app}") as http:
        request_id = steering_request(live, App(app, http))
    listed = data(cli("list", "steeringrequests", "--status", "pending", "--json"))
    assert [r["id"] for r in listed["data"]] == [request_id]
    assert request_id in ok(cli("list", "steeringrequests")).out
    assert "Welcome usr_9?" in ok(cli("describe", "steeringrequest", request_id)).out
    wrong = cli("steer", request_id, "maybe")
    assert wrong.exit_code == 1 and "validation_error" in wrong.err and "approve, reject" in wrong.err
    answered = ok(cli("steer", request_id, "approve", "--by", "usr_1", "--note", "fine"))
    assert f"{request_id}: answered (approve)" in answered.out
    again = cli("steer", request_id, "reject")
    assert again.exit_code == 1 and "request_closed" in again.err and "Traceback" not in again.output
    foreign = cli("steer", request_id, "approve", "--app", "app_someone_else", "--key", "key-app_someone_else")
    assert foreign.exit_code == 1 and "not_found" in foreign.err
