"""``GET /metrics``, ``/v1/status`` and ``/v1/health/{live,ready}`` on a real server: auth, shapes, readiness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from graphflow.api import Settings
from graphflow.engine.engine import Engine
from graphflow.observability.health import readiness
from tests.api.server import live_server, token_auth
from tests.observability.prometheus import parse
from tests.pg import postgres_url

WELCOME = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml").read_text()
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}


def test_metrics_need_a_key_and_count_what_the_server_did(tmp_path: Path) -> None:
    with live_server(f"sqlite:///{tmp_path / 'm.db'}", auth=token_auth) as live:
        with live.client("key-app_m") as client:
            config = client.post(
                "/v1/apps/app_m/configs", content=WELCOME, headers={"content-type": "application/yaml"}
            )
            automation = client.post(
                "/v1/apps/app_m/automations",
                json={"name": "w", "type": "trigger", "trigger": "thread.member_joined",
                      "config_id": config.json()["id"], "enabled": True},
            ).json()  # fmt: skip
            event = {"name": "thread.member_joined", "payload": JOINED, "id": "evt_once"}
            (run_id,) = client.post("/v1/apps/app_m/events", json=event).json()["run_ids"]
            assert client.post("/v1/apps/app_m/events", json=event).json()["duplicate"] is True
            live.call(live.engine.wait_for_run, "app_m", run_id, 10)
            response = client.get("/metrics")
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
            families = parse(response.text)
            finished = families["graphflow_runs_finished"]
            assert finished.value("_total", automation=automation["id"], status="completed") == 1
            assert families["graphflow_events_duplicate"].value("_total") == 1
            status = client.get("/v1/status").json()
            assert status["queue"]["pending"] == 0 and status["late_schedules"] == []
            assert client.get("/v1/status?limit=0").status_code == 400
        with live.client() as anonymous:
            for path in ("/metrics", "/v1/status"):
                refused = anonymous.get(path)
                assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
            assert anonymous.get("/v1/health/live").json()["status"] == "ok"
        with live.client("not-a-key") as wrong:
            assert wrong.get("/metrics").status_code == 401


def test_a_metrics_app_is_the_only_one_reading_metrics_and_public_needs_none() -> None:
    operator = Settings(metrics_app="app_ops")
    with (
        live_server("memory://", auth=token_auth, settings=operator) as live,
        live.client("key-app_ops") as ops,
        live.client("key-app_tenant") as tenant,
    ):
        assert ops.get("/metrics").status_code == 200 and ops.get("/v1/status").status_code == 200
        assert tenant.get("/metrics").status_code == 401 and tenant.get("/v1/status").status_code == 401
    public = Settings(metrics_public=True)
    with live_server("memory://", auth=token_auth, settings=public) as live, live.client() as anonymous:
        assert parse(anonymous.get("/metrics").text)["graphflow_store_up"].value() == 1


def test_ready_until_the_store_goes_away(tmp_path: Path) -> None:
    with live_server(f"sqlite:///{tmp_path / 'r.db'}", auth=token_auth) as live, live.client() as client:
        ready = client.get("/v1/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert set(ready.json()["checks"]) == {"store", "migrations", "scheduler", "lag"}
        live.call(live.engine.store.close)
        try:
            gone = client.get("/v1/health/ready")
            assert gone.status_code == 503 and gone.json()["status"] == "not_ready"
            assert gone.json()["checks"]["store"]["ok"] is False and gone.json()["checks"]["store"]["error"]
            assert client.get("/v1/health/live").status_code == 200  # alive, not ready
        finally:
            live.call(live.engine.store.start)


@pytest.mark.postgres
def test_not_ready_when_the_database_schema_is_newer() -> None:
    with postgres_url() as url, live_server(url, auth=token_auth) as live, live.client() as client:
        assert client.get("/v1/health/ready").status_code == 200
        dsn, schema = url.split("?schema=")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'INSERT INTO "{schema}".schema_version (version) VALUES (99)')
        answer = client.get("/v1/health/ready")
        assert answer.status_code == 503
        migrations = answer.json()["checks"]["migrations"]
        assert migrations["ok"] is False and migrations["schema_version"] == 99 and "upgrade" in migrations["error"]


def test_an_engine_on_a_wrong_dsn_is_not_ready() -> None:
    engine = Engine("postgresql://graphflow@127.0.0.1:1/none?connect_timeout=1")  # nothing listens on port 1

    async def check() -> dict[str, Any]:
        return await readiness(engine, timeout=5)

    answer = anyio.run(check)
    assert answer["status"] == "not_ready"
    assert answer["checks"]["store"]["ok"] is False and answer["checks"]["scheduler"]["ok"] is False
