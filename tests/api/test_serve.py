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

import httpx

from graphflow.cli import main


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
