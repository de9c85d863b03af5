"""Fixtures of the HTTP API tests: one live server per module, two apps and their keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphflow.api import Settings
from tests.api.server import Live, live_server, token_auth

WELCOME = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml").read_text()
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}
#: A graph that stops at a steering request (answered approve → a greeting).
GATED = """
kind: WorkflowGraph
version: 1
name: gated welcome
start_node: joined
nodes:
  - {kind: WorkflowTrigger, id: joined, trigger: thread.member_joined, on_success: gate}
  - kind: WorkflowApproval
    id: gate
    message: "Welcome {{ $.user_id }}?"
    on_success: greet
  - {kind: WorkflowScript, id: greet, source: "'welcome ' + $.input.user_id"}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The API on a SQLite file (durable: runs checkpoint each node, so run streams show nodes)."""
    database = tmp_path_factory.mktemp("api") / "graphflow.db"
    settings = Settings(max_body=64 * 1024, heartbeat=0.2, reverify=0.2)
    with live_server(f"sqlite:///{database}", auth=token_auth, settings=settings) as server:
        yield server


@dataclass
class App:
    """An app of its own for one test, and a client holding its key."""

    id: str
    http: httpx.Client

    def url(self, path: str) -> str:
        return f"/v1/apps/{self.id}{path}"


@pytest.fixture
def a(live: Live) -> Iterator[App]:
    app_id = f"app_a{uuid.uuid4().hex[:8]}"
    with live.client(f"key-{app_id}") as client:
        yield App(app_id, client)


@pytest.fixture
def b(live: Live) -> Iterator[App]:
    app_id = f"app_b{uuid.uuid4().hex[:8]}"
    with live.client(f"key-{app_id}") as client:
        yield App(app_id, client)


@dataclass
class Seeded:
    """One app's records: a config, a running trigger automation and a finished run (and a steering request)."""

    config_id: str
    automation_id: str
    run_id: str
    request_id: str = "str_none"


def steering_request(live: Live, app: App) -> str:
    """Start a run of a gated automation (overlap allowed) and return its pending steering request's id."""
    client, app_id = app.http, app.id
    config = client.post(f"/v1/apps/{app_id}/configs", content=GATED, headers={"content-type": "application/yaml"})
    assert config.status_code == 201, config.text
    body = {"name": "Gated", "trigger": "thread.member_joined", "config_id": config.json()["id"], "enabled": True}
    automation = client.post(f"/v1/apps/{app_id}/automations", json={**body, "overlap": "allow"})
    assert automation.status_code == 201, automation.text
    triggered = client.post(
        f"/v1/apps/{app_id}/automations/{automation.json()['id']}/trigger", json={"payload": JOINED}
    )
    assert triggered.status_code in (200, 201, 202), triggered.text
    run_id = triggered.json()["run_id"]
    for _ in range(500):
        page = client.get(f"/v1/apps/{app_id}/steering_requests", params={"run_id": run_id}).json()["data"]
        parked = not live.engine.store.durable or live.call(live.engine.automations.run, app_id, run_id).waiting_for
        if page and parked:
            return str(page[0]["id"])
        live.call(anyio_sleep, 0.02)
    raise AssertionError(f"run {run_id} raised no steering request")


async def anyio_sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


def seed(live: Live, app: App, *, steering: bool = False) -> Seeded:
    client, app_id = app.http, app.id
    config = client.post(f"/v1/apps/{app_id}/configs", content=WELCOME, headers={"content-type": "application/yaml"})
    assert config.status_code == 201, config.text
    automation = client.post(
        f"/v1/apps/{app_id}/automations",
        json={"name": "Welcome", "trigger": "thread.member_joined", "config_id": config.json()["id"], "enabled": True},
    )
    assert automation.status_code == 201, automation.text
    published = client.post(f"/v1/apps/{app_id}/events", json={"name": "thread.member_joined", "payload": JOINED})
    assert published.status_code == 202, published.text
    run_id = published.json()["run_ids"][0]
    live.call(live.engine.wait_for_run, app_id, run_id, timeout=10)
    request_id = steering_request(live, app) if steering else "str_none"
    return Seeded(config.json()["id"], automation.json()["id"], run_id, request_id)


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is the error ``code`` with ``status`` in the API's shape; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    return body["error"]  # type: ignore[no-any-return]
