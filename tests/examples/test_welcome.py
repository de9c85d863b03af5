"""examples/welcome: every valid thread.member_joined payload gets exactly one greeting posted."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings

from graphflow.records import Automation
from graphflow.testing import EngineHarness, assert_path
from graphflow.testing.strategies import payloads

from .conftest import LocalApi, example

pytestmark = pytest.mark.anyio


@pytest.fixture
async def welcome(graphflow_harness: EngineHarness) -> Automation:
    graph, fields = example("welcome")
    return await graphflow_harness.add_automation(graph, **fields)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads("thread.member_joined"))
async def test_every_member_is_greeted_once(
    graphflow_harness: EngineHarness, welcome: Automation, local_api: LocalApi, payload: dict[str, Any]
) -> None:
    [run] = await graphflow_harness.publish_and_wait("thread.member_joined", payload)

    assert run.status == "completed", run.result
    agent = payload.get("member_type") == "agent"
    assert_path(run, ["joined", "is_agent", "hello_agent" if agent else "welcome_person", "post"])
    posted = [r for r in local_api.requests if r.idempotency_key == f"{run.id}:post"]
    assert len(posted) == 1
    # A hole in the URL's path is one percent-encoded segment (the schema's ``$`` lets "thr_x\n" through).
    assert posted[0].path == f"/threads/{quote(payload['thread_id'], safe='')}/messages"
    if agent:
        assert posted[0].body == {"text": f"Hello, {payload.get('agent_id', 'agent')}."}
    else:
        who = payload.get("user_id", "there")
        assert posted[0].body == {"text": f"Welcome, {who}! Start here: https://docs.example.com/start"}


async def test_a_redelivered_event_greets_once(
    graphflow_harness: EngineHarness, welcome: Automation, local_api: LocalApi
) -> None:
    event = {"thread_id": "thr_9", "user_id": "usr_ada", "member_type": "user"}
    first = await graphflow_harness.publish_and_wait("thread.member_joined", event, id="evt_join_1")
    again = await graphflow_harness.publish_and_wait("thread.member_joined", event, id="evt_join_1")
    assert [r.status for r in first] == ["completed"] and again == []
    assert len(local_api.received("POST", "/threads/thr_9/messages")) == 1


async def test_the_chat_api_refusing_fails_the_run_without_retrying(
    graphflow_harness: EngineHarness, welcome: Automation, local_api: LocalApi
) -> None:
    local_api.routes[("POST", "/threads/thr_gone/messages")] = (404, {"error": "no such thread"})
    [run] = await graphflow_harness.publish_and_wait("thread.member_joined", {"thread_id": "thr_gone"})
    assert run.status == "failed"
    assert "404" in run.result["error"]
    assert len(local_api.received("POST", "/threads/thr_gone/messages")) == 1  # http_status_4xx is not retried
