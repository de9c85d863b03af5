"""``/v1/openapi.json`` kept true: schemathesis drives the live server from it (positive and negative cases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation

from graphflow.api.app import OPERATIONS
from tests.api.conftest import JOINED, WELCOME
from tests.api.server import Live, live_server, token_auth

APP = "app_fuzz"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Live]:
    with live_server(auth=token_auth) as live, live.client(f"key-{APP}") as client:
        # Real records, so generated requests also meet ids that exist.
        config = client.post(
            f"/v1/apps/{APP}/configs", content=WELCOME, headers={"content-type": "application/yaml"}
        ).json()
        client.post(
            f"/v1/apps/{APP}/automations",
            json={"name": "w", "trigger": "thread.member_joined", "config_id": config["id"], "enabled": True},
        )
        client.post(f"/v1/apps/{APP}/events", json={"name": "thread.member_joined", "payload": JOINED})
        yield live


@pytest.fixture(scope="module")
def api_schema(fuzzed: Live) -> Any:
    return schemathesis.openapi.from_dict(httpx.get(f"{fuzzed.url}/v1/openapi.json").json())


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex=r"/stream$")


def test_every_operation_is_in_the_document(fuzzed: Live) -> None:
    paths = httpx.get(f"{fuzzed.url}/v1/openapi.json").json()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert documented == {(op.method, "/v1" + op.path) for op in OPERATIONS}


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_live_server_honours_its_document(case: Any, fuzzed: Live) -> None:
    # The key's own app and a valid key, so requests reach the handlers, unless that part is the
    # deliberately invalid one of a negative case.
    if case.path_parameters and not case.meta.is_negative_at(ParameterLocation.PATH):
        case.path_parameters["app_id"] = APP
    headers = {} if case.meta.is_negative_at(ParameterLocation.HEADER) else {"authorization": f"Bearer key-{APP}"}
    case.call_and_validate(base_url=fuzzed.url, headers=headers, checks=CHECKS)
