"""``graphflow watch``: one line per event, a run's stream ends with its exit code, a dropped stream resumes."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from graphflow import Engine
from graphflow.cli import remote
from tests.cli.runner import Cli

SERVER = ["--server", "http://gf.test", "--key", "gfk_test", "--app", "app_w"]


def frame(seq: int, type: str, **fields: Any) -> bytes:
    event = {"seq": seq, "type": type, "at": "2026-03-02T09:00:00.250000Z", "app_id": "app_w", **fields}
    return f"id: {seq}\nevent: {type}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def serve(monkeypatch: pytest.MonkeyPatch, answer: Callable[[httpx.Request], httpx.Response]) -> list[httpx.Request]:
    """Send the CLI's HTTP requests to ``answer``; return the requests it got."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    transport = httpx.MockTransport(handler)
    monkeypatch.setattr(remote.httpx, "AsyncClient", functools.partial(httpx.AsyncClient, transport=transport))
    monkeypatch.setattr(remote, "RETRY", 0.0)
    for name in ("GRAPHFLOW_DATABASE_URL", "GRAPHFLOW_SERVER", "GRAPHFLOW_API_KEY", "GRAPHFLOW_APP"):
        monkeypatch.delenv(name, raising=False)
    return seen


def sse(*chunks: bytes, drop: bool = False) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
        if drop:
            raise httpx.ReadError("connection reset by peer")

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


def test_a_run_stream_resumes_after_a_drop_and_ends_with_the_run(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "last-event-id" not in request.headers:  # the first connection replays, then drops mid-frame
            return sse(
                frame(1, "run.created", run_id="atr_1", data={"status": "pending"}),
                b": heartbeat\n\n",
                frame(2, "run.started", run_id="atr_1", data={"status": "running"}),
                b"id: 3\nevent: run.node",
                drop=True,
            )
        assert request.headers["last-event-id"] == "2"
        return sse(
            frame(3, "run.node_completed", run_id="atr_1", data={"key": "s"}),
            frame(4, "run.completed", run_id="atr_1", data={"status": "completed", "note": "a\r\nb"}),
        )

    seen = serve(monkeypatch, answer)
    result = cli("watch", "atr_1", *SERVER)
    assert result.exit_code == 0, result.output
    lines = result.out.splitlines()
    assert [line.split()[1:3] for line in lines] == [
        ["1", "run.created"], ["2", "run.started"], ["3", "run.node_completed"], ["4", "run.completed"]
    ]  # fmt: skip
    assert lines[0].startswith("2026-03-02T09:00:00Z") and "atr_1" in lines[0] and 'status="pending"' in lines[0]
    assert 'note="a\\r\\nb"' in lines[3]  # CR/LF in data stay escaped: one event, one line
    assert [r.url.path for r in seen] == ["/v1/apps/app_w/automations/runs/atr_1/stream"] * 2
    assert all(r.headers["authorization"] == "Bearer gfk_test" for r in seen)


def test_a_failed_run_exits_1_and_json_is_one_object_per_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, lambda request: sse(frame(7, "run.failed", run_id="atr_2", data={"error": "boom"})))
    result = cli("watch", "atr_2", *SERVER, "--json")
    assert result.exit_code == 1
    assert [json.loads(line)["type"] for line in result.out.splitlines()] == ["run.failed"]


def test_a_run_stream_that_ends_early_says_so(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, lambda request: sse(frame(1, "run.started", run_id="atr_3")))
    result = cli("watch", "atr_3", *SERVER)
    assert result.exit_code == 1 and "ended before the run did" in result.err


def test_the_app_stream_passes_types_and_resumes_after(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = serve(monkeypatch, lambda request: sse(frame(11, "automation.paused", automation_id="aut_1")))
    result = cli("watch", *SERVER, "--types", "automation.paused, run.failed", "--after", "10")
    assert result.exit_code == 0, result.output
    assert "automation.paused" in result.out and "aut_1" in result.out
    request = seen[0]
    assert request.url.path == "/v1/apps/app_w/stream" and request.headers["last-event-id"] == "10"
    assert request.url.params["types"] == "automation.paused,run.failed"


def test_a_refused_stream_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"error": {"code": "not_found", "message": "run 'atr_x' not found"}}
    serve(monkeypatch, lambda request: httpx.Response(404, json=body))
    result = cli("watch", "atr_x", *SERVER)
    assert result.exit_code == 1 and result.err.strip() == "graphflow: not_found: run 'atr_x' not found"


def test_a_stream_that_keeps_dropping_gives_up(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = serve(monkeypatch, lambda request: sse(frame(1, "run.started", run_id="atr_4"), drop=True))
    result = cli("watch", "atr_4", *SERVER)
    assert result.exit_code == 1 and "did not answer" in result.err and "Traceback" not in result.output
    assert len(seen) == remote.RECONNECTS + 1
    assert result.out.count("run.started") == 1  # replayed on every reconnect, printed once


def test_direct_mode_replays_a_run_from_the_event_log(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GRAPHFLOW_DATABASE_URL", "GRAPHFLOW_SERVER", "GRAPHFLOW_API_KEY", "GRAPHFLOW_APP"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    db = ["--app", "app_w", "--database-url", url]
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps(GRAPH))
    config_id = json.loads(cli("create", "config", "-f", str(graph), *db, "--json").out)["id"]
    aid = json.loads(
        cli(
            "create", "automation", "-n", "w", "-t", "invoked", "--config-id", config_id, "--enabled", *db, "--json"
        ).out
    )["id"]
    run_id = json.loads(cli("trigger", "automation", aid, *db, "--json").out)["run_id"]

    async def execute() -> None:
        async with Engine(url, max_concurrent_runs=1, poll_interval=0.05) as worker:
            await worker.wait_for_run("app_w", run_id, timeout=20)

    anyio.run(execute)
    result = cli("watch", run_id, *db, "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.out.splitlines()]
    assert events[0]["type"] == "run.created" and events[-1]["type"] == "run.completed"
    assert {e["run_id"] for e in events} == {run_id}
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})  # ascending, no duplicate
    assert "run.started" in [e["type"] for e in events]
    text = cli("watch", run_id, *db).out.splitlines()
    assert len(text) == len(events) and "run.completed" in text[-1] and run_id in text[-1]

    async def follow_app() -> list[dict[str, Any]]:
        from graphflow.cli.client import Target
        from graphflow.cli.direct import DirectClient

        seen: list[dict[str, Any]] = []
        async with DirectClient.open(Target("app_w", database_url=url)) as client:
            async for event in client.events(after=0, run_id=None, types=frozenset({"automation.created"})):
                seen.append(event)
                break
        return seen

    assert [(e["type"], e["automation_id"]) for e in anyio.run(follow_app)] == [("automation.created", aid)]


GRAPH = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "w",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "1"},
    ],
}
