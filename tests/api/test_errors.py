"""Every error code over the wire: the shape, the status, and that nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from graphflow.exceptions import StoreUnavailableError
from graphflow.stores.memory import MemoryStore
from tests.api.conftest import WELCOME, App, error_of, seed
from tests.api.server import Live, live_server, token_auth


def _automations(live: Live, app: App) -> list[Any]:
    return live.call(live.engine.automations.list, app.id).data


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{bad", "application/json", 400, "validation_error"),
        (b"[1, 2]", "application/json", 400, "validation_error"),
        (b'{"name": NaN}', "application/json", 400, "validation_error"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 413, "payload_too_large"),
        (b"{" + b" " * (70 * 1024) + b"}", "application/json", 413, "payload_too_large"),
        (b"name: x", "text/plain", 415, "unsupported_media_type"),
        (b"name: x", "application/yaml", 415, "unsupported_media_type"),  # automations read JSON only
        (b"", "application/json", 400, "validation_error"),
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(
    live: Live, a: App, content: bytes, content_type: str, status: int, code: str
) -> None:
    error_of(a.http.post(a.url("/automations"), content=content, headers={"content-type": content_type}), status, code)
    assert _automations(live, a) == []


def test_a_body_streamed_past_the_limit_is_refused(live: Live, a: App) -> None:
    def chunks() -> Any:
        yield b'{"name": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = a.http.post(a.url("/automations"), content=chunks(), headers={"content-type": "application/json"})
    error_of(response, 413, "payload_too_large")
    assert _automations(live, a) == []


def test_validation_lists_every_problem_with_its_path(live: Live, a: App) -> None:
    response = a.http.post(a.url("/automations"), json={"name": "", "type": "weekly", "colour": "red"})
    problems = {p["path"] for p in error_of(response, 400, "validation_error")["details"]["problems"]}
    assert {"$.name", "$.type", "$.colour"} <= problems
    assert _automations(live, a) == []


def test_invalid_config_in_yaml_lists_its_problems(live: Live, a: App) -> None:
    bad = WELCOME.replace("start_node: joined", "start_node: nowhere")
    response = a.http.post(a.url("/configs"), content=bad, headers={"content-type": "application/yaml"})
    assert error_of(response, 400, "validation_error")["details"]["problems"]
    assert live.call(live.engine.configs.list, a.id).data == []


@pytest.mark.parametrize(
    "params",
    [{"limit": 101}, {"limit": 0}, {"limit": "ten"}, {"cursor": "not-an-id"}, {"cursor": "cfg_abc"}, {"type": "x"}],
)
def test_bad_pages_are_refused(a: App, params: dict[str, Any]) -> None:
    body = error_of(a.http.get(a.url("/automations"), params=params), 400, "validation_error")
    assert body["details"]["problems"][0]["path"] in {"$.limit", "$.cursor", "$.type"}


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic a2V5", "Bearer key-", "Bearer nobody"])
def test_missing_or_wrong_credentials_are_401(live: Live, a: App, authorization: str | None) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    with live.client(**headers) as anonymous:
        error_of(anonymous.get(a.url("/automations")), 401, "unauthorized")
        error_of(anonymous.post(a.url("/automations"), json={"name": "x"}), 401, "unauthorized")
    assert _automations(live, a) == []


def test_transitions_and_overlap_are_409(live: Live, a: App) -> None:
    seeded = seed(live, a)
    one = a.url(f"/automations/{seeded.automation_id}")
    body = error_of(a.http.post(one + "/activate"), 409, "invalid_transition")
    assert body["details"]["current"] == "running"
    created = a.http.post(
        a.url("/automations"),
        json={"name": "k", "trigger": "thread.member_joined", "config_id": seeded.config_id, "lookup_key": "dup"},
    )
    assert created.status_code == 201
    again = a.http.post(
        a.url("/automations"),
        json={"name": "k2", "trigger": "thread.member_joined", "config_id": seeded.config_id, "lookup_key": "dup"},
    )
    error_of(again, 409, "conflict")  # fmt: skip


def test_unknown_routes_and_methods(a: App) -> None:
    error_of(a.http.get("/v1/nowhere"), 404, "not_found")
    response = a.http.put(a.url("/automations"))
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


class FlakyStore(MemoryStore):
    """A memory store that can be taken down (unreachable) or broken (a bug)."""

    down = False
    broken = False

    async def get_config(self, app_id: str, config_id: str, version: int | None = None) -> Any:
        if self.down:
            raise StoreUnavailableError("cannot reach postgresql://app:***@db/graphflow")
        if self.broken:
            raise RuntimeError("secret internals /srv/app.py line 3")
        return await super().get_config(app_id, config_id, version)


def test_store_down_is_503_and_a_bug_is_a_500_without_details() -> None:
    store = FlakyStore()
    with live_server(store, auth=token_auth) as live, live.client("key-app_x") as client:
        assert client.get("/v1/health").status_code == 200
        store.down = True
        error_of(client.get("/v1/health"), 503, "unavailable")
        error_of(client.get("/v1/apps/app_x/configs/cfg_1"), 503, "unavailable")
        store.down, store.broken = False, True
        response = client.get("/v1/health")
        error_of(response, 500, "internal_error")
        assert "secret" not in response.text and "RuntimeError" not in response.text


def test_unknown_query_parameters_are_refused(a: App) -> None:
    body = error_of(a.http.get(a.url("/automations"), params={"limt": 5}), 400, "validation_error")
    assert body["details"]["problems"][0]["path"] == "$.limt"
    error_of(a.http.get(a.url("/automations/status"), params={"verbose": 1}), 400, "validation_error")
