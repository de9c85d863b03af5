"""The management verbs in direct mode, end to end on a SQLite file: what a person and a script see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest

from graphflow import Engine
from tests.cli.runner import Cli, Result
from tests.conftest import eventually

APP = "app_cli"
INVOKED = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "plus one",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "s"},
        {"kind": "WorkflowTrigger", "id": "w", "trigger": "workflow.scheduled", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "unwrap($.n, 0) + 1"},
    ],
}
WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("GRAPHFLOW_DATABASE_URL", "GRAPHFLOW_SERVER", "GRAPHFLOW_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRAPHFLOW_APP", APP)
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{tmp_path / 'gf.db'}"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def data(result: Result) -> Any:
    return json.loads(ok(result).out)


def execute(url: str, run_id: str) -> None:
    """Execute the pending run as a worker would (the CLI's engine never executes)."""

    async def go() -> None:
        async with Engine(url, max_concurrent_runs=1, poll_interval=0.05) as worker:
            await worker.wait_for_run(APP, run_id, timeout=20)

    anyio.run(go)


def test_the_lifecycle_end_to_end(cli: Cli, url: str, tmp_path: Path) -> None:
    db = ["--database-url", url]
    graph = tmp_path / "plus.json"
    graph.write_text(json.dumps(INVOKED))

    created = ok(cli("create", "config", "-f", str(graph), *db))
    assert created.out.startswith("created config cfg_") and "(plus one, version 1)" in created.out
    config = data(cli("list", "configs", *db, "--json"))["data"][0]
    assert config["name"] == "plus one" and config["version"] == 1 and config["config"]["start_node"] == "t"
    assert "plus one" in ok(cli("list", "configs", *db)).out

    automation = data(
        cli("create", "automation", "-n", "adder", "-t", "invoked", "--config-id", config["id"], *db, "--json")
    )
    aid = automation["id"]
    assert automation["status"] == "draft" and automation["enabled"] is False and automation["type"] == "invoked"

    activated = ok(cli("activate", "automation", aid, *db))
    assert activated.out.strip() == f"activated {aid} (adder): invoked, running"

    started = data(cli("trigger", "automation", aid, "-p", '{"n": 41}', *db, "--json"))
    run_id = started["run_id"]
    assert set(started) == {"run_id"} and run_id.startswith("atr_")

    pending = data(cli("list", "automationruns", "--automation", aid, *db, "--json"))
    assert [(r["id"], r["status"]) for r in pending["data"]] == [(run_id, "pending")]
    assert "journal" not in pending["data"][0] and pending["next_cursor"] is None

    execute(url, run_id)
    run = data(cli("describe", "automationrun", run_id, *db, "--json"))
    assert run["status"] == "completed" and run["result"]["payload"] == 42 and run["payload"] == {"n": 41}
    assert [e["node_id"] for e in run["journal"] if e["type"] == "node_completed"] == ["t", "s"]
    shown = ok(cli("describe", "automationrun", run_id, *db)).out
    assert "status:" in shown and "completed" in shown and "journal (" in shown and "node_completed" in shown

    table = ok(cli("list", "automationruns", "--automation", aid, "--status", "completed", *db)).out
    assert run_id in table and "completed" in table
    assert run_id not in ok(cli("list", "automationruns", "--automation", aid, "--status", "failed", *db)).out

    described = ok(cli("describe", "automation", aid, *db)).out
    assert "adder" in described and "running" in described and "recent runs (1):" in described and run_id in described

    paused = data(cli("pause", "automation", aid, "--reason", "maintenance", *db, "--json"))
    assert paused["status"] == "paused" and paused["paused_reason"] == "maintenance"
    assert ok(cli("reset", "automation", aid, *db)).out.strip() == f"reset {aid} (adder): invoked, draft"

    assert ok(cli("delete", "automation", aid, *db)).out.strip() == f"deleted {aid}"
    gone = cli("describe", "automation", aid, *db)
    assert (
        gone.exit_code == 1 and f"not_found: automation {aid!r} not found" in gone.err and "Traceback" not in gone.err
    )
    # the run outlives its automation
    assert data(cli("describe", "automationrun", run_id, *db, "--json"))["status"] == "completed"


def test_scheduled_automation_update_and_listing(cli: Cli, url: str, tmp_path: Path) -> None:
    db = ["--database-url", url]
    graph = tmp_path / "plus.yaml"
    graph.write_text(json.dumps(INVOKED))  # JSON is YAML
    config_id = data(cli("create", "config", "-f", str(graph), *db, "--json"))["id"]
    # Herm's shape: a schedule and no type makes a scheduled automation
    weekly = data(
        cli("create", "automation", "-n", "weekly", "--schedule", "0 9 * * 1", "--config-id", config_id,
            "--enabled", "--metadata", '{"team": "ops"}', *db, "--json")
    )  # fmt: skip
    assert weekly["type"] == "scheduled" and weekly["status"] == "running" and weekly["metadata"] == {"team": "ops"}
    assert weekly["schedule_display"] == "Weekly, Mondays at 9:00 AM" and weekly["next_run_at"].endswith("T09:00:00Z")
    invoked = data(
        cli("create", "automation", "-n", "by hand", "-t", "invoked", "--config-id", config_id, *db, "--json")
    )

    listed = ok(cli("list", "automations", *db)).out.splitlines()
    assert listed[0].split() == ["id", "name", "type", "status", "starts", "on", "next", "run", "last", "run"]
    assert any("weekly" in line and "Weekly, Mondays at 9:00 AM" in line for line in listed)
    only = data(cli("list", "automations", "--type", "scheduled", *db, "--json"))["data"]
    assert [a["id"] for a in only] == [weekly["id"]]
    first = data(cli("list", "automations", "--limit", "1", *db, "--json"))
    assert len(first["data"]) == 1 and first["next_cursor"]
    page = ok(cli("list", "automations", "--limit", "1", *db)).out
    assert f"more: graphflow list automations --cursor {first['next_cursor']}" in page
    rest = data(cli("list", "automations", "--limit", "1", "--cursor", first["next_cursor"], *db, "--json"))
    assert {a["id"] for a in first["data"] + rest["data"]} == {weekly["id"], invoked["id"]}

    moved = data(
        cli("update", "automation", weekly["id"], "--name", "weekly paris", "--timezone", "Europe/Paris", *db, "--json")
    )
    assert moved["name"] == "weekly paris" and moved["timezone"] == "Europe/Paris" and moved["status"] == "running"
    assert moved["next_run_at"].endswith(("T08:00:00Z", "T07:00:00Z"))  # 9:00 in Paris
    off = data(cli("update", "automation", weekly["id"], "--disabled", *db, "--json"))
    assert off["status"] == "paused" and off["next_run_at"] is None
    on = data(cli("update", "automation", weekly["id"], "--enabled", *db, "--json"))
    assert on["status"] == "running"
    refused = cli("update", "automation", weekly["id"], "--schedule", "whenever", *db)
    assert refused.exit_code == 1 and "validation_error" in refused.err and "$.schedule" in refused.err
    assert data(cli("describe", "automation", weekly["id"], *db, "--json"))["schedule"] == "0 9 * * 1"


def test_publish_cancel_and_another_apps_ids(cli: Cli, url: str) -> None:
    db = ["--database-url", url]
    config_id = data(cli("create", "config", "-f", str(WELCOME), *db, "--json"))["id"]
    aid = data(
        cli("create", "automation", "-n", "welcome", "--trigger", "thread.member_joined", "--config-id", config_id,
            "--enabled", *db, "--json")
    )["id"]  # fmt: skip
    published = data(cli("publish", "thread.member_joined", "-p", json.dumps(JOINED), "--id", "evt_1", *db, "--json"))
    assert published["duplicate"] is False and len(published["run_ids"]) == 1 and published["event_id"] == "evt_1"
    again = ok(cli("publish", "thread.member_joined", "-p", json.dumps(JOINED), "--id", "evt_1", *db)).out
    assert "duplicate" in again and "nothing started" in again
    bad = cli("publish", "thread.member_joined", "-p", "{}", *db)
    assert bad.exit_code == 1 and "validation_error" in bad.err and "$.payload.thread_id" in bad.err

    run_id = published["run_ids"][0]
    cancelled = ok(cli("cancel", "automationrun", run_id, *db)).out
    assert cancelled.strip() == f"{run_id}: cancelled"
    assert data(cli("describe", "automationrun", run_id, *db, "--json"))["status"] == "cancelled"

    other = ["--app", "app_other", *db]  # another app sees nothing of this one's, and changes nothing
    for args in (
        ["describe", "automation", aid],
        ["pause", "automation", aid],
        ["delete", "automation", aid],
        ["trigger", "automation", aid],
        ["describe", "automationrun", run_id],
        ["cancel", "automationrun", run_id],
        ["list", "automationruns", "--automation", aid],
    ):
        result = cli(*args, *other)
        assert result.exit_code == 1 and "not_found" in result.err, (args, result.output)
    assert data(cli("list", "automations", *other, "--json")) == {"data": [], "next_cursor": None}
    assert data(cli("describe", "automation", aid, *db, "--json"))["status"] == "running"


def test_create_config_refuses_an_invalid_graph_before_touching_the_database(
    cli: Cli, url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: WorkflowGraph\nversion: 1\nname: b\nstart_node: t\nnodes:\n"
                   "  - {kind: WorkflowTrigger, id: t, trigger: a.b, on_success: ghost}\n")  # fmt: skip
    result = cli("create", "config", "-f", str(bad), "--database-url", url)
    assert result.exit_code == 1 and "$.nodes[0].on_success" in result.out and "ghost" in result.out
    as_json = cli("create", "config", "-f", str(bad), "--database-url", url, "--json")
    assert json.loads(as_json.out)["error"]["code"] == "validation_error"
    assert not (tmp_path / "gf.db").exists()


def test_trigger_wait_prints_the_run_once_a_worker_ran_it(cli: Cli, url: str, tmp_path: Path) -> None:
    db = ["--database-url", url]
    graph = tmp_path / "plus.json"
    graph.write_text(json.dumps(INVOKED))
    config_id = data(cli("create", "config", "-f", str(graph), *db, "--json"))["id"]
    aid = data(cli("create", "automation", "-n", "a", "-t", "invoked", "--config-id", config_id, "--enabled", *db,
                   "--json"))["id"]  # fmt: skip

    late = cli("trigger", "automation", aid, "--wait", "--timeout", "0.2", *db)  # no worker: it gives up
    assert late.exit_code == 1 and "did not end within 0.2s" in late.err and "graphflow watch atr_" in late.err

    with anyio.from_thread.start_blocking_portal() as portal:
        worker = Engine(url, max_concurrent_runs=1, poll_interval=0.05)
        with portal.wrap_async_context_manager(worker):
            done = cli("trigger", "automation", aid, "-p", '{"n": 6}', "--wait", "--timeout", "30", *db)
            failed = cli("trigger", "automation", aid, "-p", '{"n": "x"}', "--wait", "--timeout", "30", *db, "--json")
    assert done.exit_code == 0, done.output
    assert done.out.startswith("run atr_") and " completed\n" in done.out and done.out.endswith("7\n")
    assert failed.exit_code == 1 and json.loads(failed.out)["status"] == "failed"


GATED = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "gated",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "gate"},
        {"kind": "WorkflowApproval", "id": "gate", "message": "Ship {{ $.n }}?", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "$.input.n + 1"},
    ],
}


def test_steer_a_parked_run_on_the_database(cli: Cli, url: str, tmp_path: Path) -> None:
    db = ["--database-url", url]
    graph = tmp_path / "gated.json"
    graph.write_text(json.dumps(GATED))
    config = data(cli("create", "config", "-f", str(graph), *db, "--json"))["id"]
    automation = data(
        cli("create", "automation", "-n", "g", "-t", "invoked", "--config-id", config, "--enabled", *db, "--json")
    )
    run_id = data(cli("trigger", "automation", automation["id"], "-p", '{"n": 41}', *db, "--json"))["run_id"]

    async def park() -> None:
        async with Engine(url, max_concurrent_runs=1, poll_interval=0.05) as worker:

            async def parked() -> bool:
                return (await worker.automations.run(APP, run_id)).waiting_for is not None

            await eventually(parked, "the run to park on its steering request")

    anyio.run(park)
    assert ok(cli("list", "steeringrequests", *db)).out.count("pending") == 1
    request = data(cli("list", "steeringrequests", *db, "--json"))["data"][0]
    assert request["message"] == "Ship 41?"
    ok(cli("steer", request["id"], "approve", *db))
    execute(url, run_id)
    run = data(cli("describe", "automationrun", run_id, *db, "--json"))
    assert (run["status"], run["result"]["payload"]) == ("completed", 42)
    assert cli("steer", request["id"], "approve", *db).exit_code == 1


def test_invoke_with_a_schema_and_a_key(cli: Cli, url: str, tmp_path: Path) -> None:
    db = ["--database-url", url]
    graph = tmp_path / "plus.json"
    graph.write_text(json.dumps(INVOKED))
    config = data(cli("create", "config", "-f", str(graph), *db, "--json"))["id"]
    created = data(
        cli("create", "automation", "-n", "p", "-t", "invoked", "--config-id", config, "--enabled", *db, "--json")
    )
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    ok(cli("update", "automation", created["id"], "--input-schema", json.dumps(schema), *db))
    first = data(cli("invoke", "automation", created["id"], "-p", '{"n": 1}', "--idempotency-key", "k", *db, "--json"))
    again = data(cli("invoke", "automation", created["id"], "-p", '{"n": 2}', "--idempotency-key", "k", *db, "--json"))
    assert again["id"] == first["id"] and again["payload"] == {"n": 1}
    bad = cli("invoke", "automation", created["id"], "-p", '{"n": "x"}', *db)
    assert bad.exit_code == 1 and "$.payload.n" in bad.err and "Traceback" not in bad.output
    execute(url, first["id"])
    shown = ok(cli("invoke", "automation", created["id"], "--idempotency-key", "k", "--wait", *db))
    assert f"run {first['id']} completed" in shown.out


def test_tenants_text_cannot_drive_the_terminal(cli: Cli, url: str, tmp_path: Path) -> None:
    db = ["--database-url", url]
    graph = tmp_path / "plus.json"
    graph.write_text(json.dumps(INVOKED))
    config = data(cli("create", "config", "-f", str(graph), *db, "--json"))["id"]
    ok(cli("create", "automation", "-n", "evil\x1b]0;pwned\x07\x1b[2J", "-t", "invoked", "--config-id", config, *db))
    shown = ok(cli("list", "automations", *db)).out
    assert "\x1b" not in shown and "\x07" not in shown and "evil\\x1b]0;pwned\\x07\\x1b[2J" in shown


def test_deliver_sinks_from_a_file_with_the_secret_redacted(cli: Cli, url: str, tmp_path: Path) -> None:
    db = ["--database-url", url]
    graph = tmp_path / "plus.json"
    graph.write_text(json.dumps(INVOKED))
    config = data(cli("create", "config", "-f", str(graph), *db, "--json"))["id"]
    sinks = tmp_path / "sinks.json"
    secret = "whsec_cli_0123456789"
    sinks.write_text(json.dumps([{"kind": "webhook", "url": "https://hooks.example/run", "secret": secret}]))
    created = data(
        cli("create", "automation", "-n", "d", "-t", "invoked", "--config-id", config, "--deliver", f"@{sinks}",
            *db, "--json")
    )  # fmt: skip
    assert created["deliver"][0]["secret"] == "<redacted>" and created["last_delivery_error"] is None
    described = ok(cli("describe", "automation", created["id"], *db)).out
    assert "deliver:" in described and "https://hooks.example/run" in described and secret not in described
    refused = cli(
        "update", "automation", created["id"], "--deliver", '[{"kind": "webhook", "url": "http://10.1.2.3/"}]', *db
    )
    assert refused.exit_code == 1 and "$.deliver[0].url" in refused.err and "egress_denied" in refused.err
    cleared = data(cli("update", "automation", created["id"], "--deliver", "[]", *db, "--json"))
    assert cleared["deliver"] == []
