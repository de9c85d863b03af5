"""``graphflow serve`` as a real process: it listens, answers, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import pytest

from graphflow.cli import main
from graphflow.engine.engine import Engine
from tests.api.conftest import JOINED, WELCOME
from tests.api.sse import events
from tests.pg import postgres_url


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``graphflow serve ARGS --port 0``, once it says where it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphflow", "serve", "--port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks until the server speaks (or dies: the loop ends)
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                yield proc, found.group(1)
                return
        raise AssertionError(f"graphflow serve exited {proc.wait()} without listening")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with serving("--database-url", f"sqlite:///{tmp_path / 'g.db'}") as (proc, url):
        assert httpx.get(f"{url}/v1/health").json()["status"] == "ok"
        assert httpx.get(f"{url}/v1/apps/app_1/automations").status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        assert "stopped cleanly" in proc.stderr.read()


def test_serve_with_no_workers_in_process(tmp_path: Path) -> None:
    with serving("--database-url", f"sqlite:///{tmp_path / 'g.db'}", "--workers-in-process", "0") as (proc, url):
        assert httpx.get(f"{url}/v1/health").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_serve_refuses_bad_set_ups(capsys: object) -> None:
    assert main(["serve", "--database-url", "memory://", "--workers-in-process", "0"]) == 2
    assert main(["serve", "--database-url", "nope://x"]) == 2
    assert main(["serve", "--port", "70000"]) == 2


def test_serve_refuses_a_taken_port() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--database-url", "memory://", "--port", str(port)]) == 2


def _key(url: str, app_id: str) -> str:
    async def create() -> str:
        async with Engine(url, max_concurrent_runs=0 if "postgresql" in url else 1) as engine:
            return (await engine.keys.create(app_id))[1]

    return anyio.run(create)


def test_sigterm_ends_open_streams_and_exits_0(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    secret = _key(url, "app_s")
    with serving("--database-url", url) as (proc, base):
        headers = {"authorization": f"Bearer {secret}"}
        with (
            httpx.Client(base_url=base, headers=headers, timeout=30) as client,
            client.stream("GET", "/v1/apps/app_s/stream") as response,
        ):
            assert response.status_code == 200
            proc.send_signal(signal.SIGTERM)
            assert list(events(response)) == []  # the server ended the stream
        assert proc.wait(timeout=30) == 0


@pytest.mark.postgres
def test_a_stream_sees_runs_executed_by_another_process() -> None:
    with postgres_url() as url:
        secret = _key(url, "app_pg")
        with serving("--database-url", url, "--workers-in-process", "0") as (proc, base):
            headers = {"authorization": f"Bearer {secret}"}
            with httpx.Client(base_url=f"{base}/v1/apps/app_pg", headers=headers, timeout=30) as client:
                config = client.post("/configs", content=WELCOME, headers={"content-type": "application/yaml"})
                body = {"name": "w", "trigger": "thread.member_joined", "config_id": config.json()["id"]}
                assert client.post("/automations", json=body | {"enabled": True}).status_code == 201
                worker = subprocess.Popen(
                    [sys.executable, "-m", "graphflow", "worker", "--database-url", url, "--status-every", "0"],
                    stderr=subprocess.DEVNULL,
                )
                try:
                    with client.stream("GET", "/stream", params={"types": "run.started,run.completed"}) as response:
                        published = client.post("/events", json={"name": "thread.member_joined", "payload": JOINED})
                        run_id = published.json()["run_ids"][0]
                        stream = events(response)
                        seen = [next(stream).event, next(stream).event]
                    assert seen == ["run.started", "run.completed"]  # executed by the worker: serve runs none
                    got = client.get(f"/automations/runs/{run_id}")
                    assert got.status_code == 200, got.text
                    assert got.json()["status"] == "completed"
                finally:
                    worker.send_signal(signal.SIGTERM)
                    worker.wait(timeout=30)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
