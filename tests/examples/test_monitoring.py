"""examples/monitoring-escalation: warn above 2%, page above 10%, every five minutes."""

from __future__ import annotations

import pytest

from graphflow.records import Automation
from graphflow.testing import EngineHarness, assert_path

from .conftest import LocalApi, Request, example

pytestmark = pytest.mark.anyio

#: The error rate the metrics API reports at each successive check.
SERIES = [0.001, 0.004, 0.025, 0.031, 0.12, 0.2, 0.05, 0.01, 0.0, 0.0, 0.15, 0.002]


@pytest.fixture
async def watch(graphflow_harness: EngineHarness, local_api: LocalApi) -> Automation:
    def rate(request: Request) -> tuple[int, object]:
        index = len(local_api.received("GET", "/metrics/checkout/error-rate")) - 1
        return 200, {"error_rate": SERIES[index], "window": request.query["window"][0]}

    local_api.routes[("GET", "/metrics/checkout/error-rate")] = rate
    graph, fields = example("monitoring-escalation")
    return await graphflow_harness.add_automation(graph, **fields)


async def test_an_hour_of_checks_warns_and_pages_when_it_should(
    graphflow_harness: EngineHarness, watch: Automation, local_api: LocalApi
) -> None:
    runs = await graphflow_harness.advance(3600)

    assert len(runs) == 12 and all(run.status == "completed" for run in runs)
    assert [r.scheduled_at for r in runs] == [graphflow_harness.clock.now() - 3600 + 300 * k for k in range(1, 13)]
    warnings = [r.body["text"] for r in local_api.received("POST", "/threads/thr_ops/messages")]
    assert warnings == [
        "Checkout error rate is 2.5% (over 2%); watching.",
        "Checkout error rate is 3.1% (over 2%); watching.",
        "Checkout error rate is 5% (over 2%); watching.",
    ]
    pages = local_api.received("POST", "/incidents")
    assert [p.body["summary"] for p in pages] == [
        "Checkout error rate is 12% (over 10%)",
        "Checkout error rate is 20% (over 10%)",
        "Checkout error rate is 15% (over 10%)",
    ]
    assert {p.body["dedup_key"] for p in pages} == {"checkout-error-rate"}
    assert_path(runs[0], ["tick", "measure", "rate", "critical", "elevated"])
    assert_path(runs[4], ["tick", "measure", "rate", "critical", "page"])


async def test_checks_missed_while_paused_are_not_replayed(
    graphflow_harness: EngineHarness, watch: Automation, local_api: LocalApi
) -> None:
    await graphflow_harness.engine.automations.pause(watch.app_id, watch.id)
    assert await graphflow_harness.advance(3600) == []
    await graphflow_harness.engine.automations.activate(watch.app_id, watch.id)
    runs = await graphflow_harness.advance(600)
    assert len(runs) == 2
