"""The cross-app matrix: every route with another app's key, or another app's ids, is 404 and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from graphflow.api.app import OPERATIONS
from graphflow.api.operations import Operation
from tests.api.conftest import JOINED, WELCOME, App, Seeded, error_of, seed
from tests.api.server import Live

#: The routes of one app (the operator routes span apps: tests/observability/test_endpoints.py).
PRIVATE = [op for op in OPERATIONS if "{app_id}" in op.path]


def _body(op: Operation, ids: Seeded) -> dict[str, Any]:
    if op.yaml:
        return {"content": WELCOME, "headers": {"content-type": "application/yaml"}}
    bodies: dict[str, Any] = {
        "createAutomation": {"name": "x", "trigger": "thread.member_joined", "config_id": ids.config_id},
        "updateAutomation": {"config_id": ids.config_id},
        "triggerAutomation": {"payload": JOINED},
        "publishEvent": {"name": "thread.member_joined", "payload": JOINED},
        "explainEvent": {"name": "thread.member_joined"},
        "answerSteeringRequest": {"choice": "approve"},
    }
    return {"json": bodies[op.operation_id]} if op.operation_id in bodies else {}


def _path(op: Operation, app_id: str, ids: Seeded) -> str:
    return "/v1" + op.path.format(
        app_id=app_id,
        automation_id=ids.automation_id,
        run_id=ids.run_id,
        config_id=ids.config_id,
        request_id=ids.request_id,
    )


def _state(live: Live, app: App, ids: Seeded) -> Any:
    automation = live.call(live.engine.automations.get, app.id, ids.automation_id).to_dict()
    config = live.call(live.engine.configs.get, app.id, ids.config_id).to_dict()
    runs = live.call(live.engine.automations.runs, app.id, ids.automation_id).to_dict()
    steering = live.call(live.engine.steering.list, app.id).to_dict()
    return automation, config, runs, steering


@pytest.fixture
def victim(live: Live, a: App) -> Seeded:
    return seed(live, a, steering=True)


def test_the_matrix_covers_every_private_route() -> None:
    assert len(PRIVATE) == len({(op.method, op.path) for op in PRIVATE}) >= 20


@pytest.mark.parametrize("op", PRIVATE, ids=lambda op: op.operation_id)
def test_another_apps_path_is_404(live: Live, a: App, b: App, victim: Seeded, op: Operation) -> None:
    before = _state(live, a, victim)
    request = b.http.build_request(op.method, _path(op, a.id, victim), **_body(op, victim))
    error_of(b.http.send(request), 404, "not_found")
    assert _state(live, a, victim) == before


@pytest.mark.parametrize(
    "op", [op for op in PRIVATE if "{" in op.path.replace("{app_id}", "")], ids=lambda op: op.operation_id
)
def test_another_apps_ids_under_my_path_are_404(live: Live, a: App, b: App, victim: Seeded, op: Operation) -> None:
    before = _state(live, a, victim)
    request = b.http.build_request(op.method, _path(op, b.id, victim), **_body(op, victim))
    error_of(b.http.send(request), 404, "not_found")
    assert _state(live, a, victim) == before


def test_another_apps_config_id_in_a_body_is_404(live: Live, a: App, b: App, victim: Seeded) -> None:
    body = {"name": "x", "trigger": "thread.member_joined", "config_id": victim.config_id}
    error_of(b.http.post(b.url("/automations"), json=body), 404, "not_found")
    assert live.call(live.engine.automations.list, b.id).data == []


def test_listings_show_only_my_records(live: Live, a: App, b: App, victim: Seeded) -> None:
    for path in ("/automations", "/configs", "/automations/status"):
        assert b.http.get(b.url(path)).json()["data"] == []
    assert b.http.post(b.url("/events/explain"), json={"name": "thread.member_joined"}).json() == {"data": []}
    published = b.http.post(b.url("/events"), json={"name": "thread.member_joined", "payload": JOINED}).json()
    assert published["run_ids"] == []
