"""examples/ingestion-alert: every failed ingestion raises one alert, de-duplicated by its job id."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from graphflow.records import Automation
from graphflow.testing import EngineHarness, assert_path
from graphflow.testing.strategies import payloads

from .conftest import LocalApi, example

pytestmark = pytest.mark.anyio


@pytest.fixture
async def alert(graphflow_harness: EngineHarness) -> Automation:
    graph, fields = example("ingestion-alert")
    return await graphflow_harness.add_automation(graph, **fields)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads("context.ingestion.failed"))
async def test_every_failure_raises_one_alert(
    graphflow_harness: EngineHarness, alert: Automation, local_api: LocalApi, payload: dict[str, Any]
) -> None:
    [run] = await graphflow_harness.publish_and_wait("context.ingestion.failed", payload)

    assert run.status == "completed", run.result
    assert_path(run, ["failed", "summarize", "alert"])
    [sent] = [r for r in local_api.requests if r.idempotency_key == f"{run.id}:alert"]
    body = sent.body
    assert body["dedup_key"] == f"ingestion:{payload['ingestion_id']}"
    assert body["source_id"] == payload.get("source_id") and body["failed_at"] == payload.get("failed_at")
    error = payload.get("error", "no error message")
    shown = error if len(error) <= 300 else error[:300] + "…"
    source = payload.get("source_id", "an unknown source")
    assert body["summary"] == f"Ingestion {payload['ingestion_id']} of {source} failed: {shown}"


async def test_a_long_error_is_cut_in_the_summary(
    graphflow_harness: EngineHarness, alert: Automation, local_api: LocalApi
) -> None:
    event = {"ingestion_id": "ing_1", "source_id": "src_drive", "error": "x" * 1000}
    await graphflow_harness.publish_and_wait("context.ingestion.failed", event)
    [sent] = local_api.received("POST", "/alerts")
    assert sent.body["summary"].endswith("x" * 300 + "…") and len(sent.body["summary"]) < 400
