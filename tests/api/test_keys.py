"""API keys on the wire (no host ``auth=``): a key acts for its own app only; revoked, it is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graphflow.api import Settings
from tests.api.conftest import JOINED, WELCOME, error_of
from tests.api.server import Live, live_server
from tests.api.sse import events


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("keys") / "graphflow.db"
    with live_server(f"sqlite:///{database}", settings=Settings(heartbeat=0.2, reverify=0.2)) as live:
        yield live


def test_a_key_acts_for_its_app_and_no_other(keyed: Live) -> None:
    _, secret = keyed.call(keyed.engine.keys.create, "app_k1", name="ci")
    _, other = keyed.call(keyed.engine.keys.create, "app_k2")
    with keyed.client(secret) as mine, keyed.client(other) as theirs:
        created = mine.post("/v1/apps/app_k1/configs", content=WELCOME, headers={"content-type": "application/yaml"})
        assert created.status_code == 201, created.text
        config_id = created.json()["id"]
        error_of(theirs.get(f"/v1/apps/app_k1/configs/{config_id}"), 404, "not_found")
        error_of(theirs.get(f"/v1/apps/app_k2/configs/{config_id}"), 404, "not_found")
        error_of(mine.get("/v1/apps/app_k2/configs"), 404, "not_found")


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer gfk_" + b"x" * 43, b"Bearer gfk_short", b"Bearer not-a-key", b"Bearer gfk_" + b"\xe9" * 43, b"gfk_"],
)
def test_unknown_or_malformed_keys_are_401(keyed: Live, authorization: bytes) -> None:
    with keyed.client() as client:
        response = client.get("/v1/apps/app_k1/automations", headers={"authorization": authorization})
        error_of(response, 401, "unauthorized")


def test_a_revoked_key_is_refused_and_its_open_stream_closes(keyed: Live) -> None:
    key, secret = keyed.call(keyed.engine.keys.create, "app_k3")
    with keyed.client(secret) as client:
        with client.stream("GET", "/v1/apps/app_k3/stream") as response:
            assert response.status_code == 200
            keyed.call(keyed.engine.keys.revoke, "app_k3", key.id)
            assert list(events(response)) == []  # the server ends the stream
        error_of(client.get("/v1/apps/app_k3/automations"), 401, "unauthorized")
        error_of(client.post("/v1/apps/app_k3/events", json={"name": "thread.member_joined", "payload": JOINED}),
                 401, "unauthorized")  # fmt: skip


def test_keys_are_not_served_over_http(keyed: Live) -> None:
    _, secret = keyed.call(keyed.engine.keys.create, "app_k4")
    with keyed.client(secret) as client:
        error_of(client.get("/v1/apps/app_k4/keys"), 404, "not_found")
