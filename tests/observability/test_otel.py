"""OpenTelemetry export: observable counters and gauges read the registry; histograms record; failures are dropped."""

from __future__ import annotations

from typing import Any

import pytest

from graphflow.engine.engine import Engine
from graphflow.observability.metrics import EngineMetrics
from graphflow.observability.otel import export_metrics
from tests.conftest import graph_dict

metrics_sdk = pytest.importorskip("opentelemetry.sdk.metrics")
export_sdk = pytest.importorskip("opentelemetry.sdk.metrics.export")

pytestmark = pytest.mark.anyio

APP = "app_otel"
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}


def _points(reader: Any) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


async def test_the_registry_is_exported_through_a_meter_provider() -> None:
    reader = export_sdk.InMemoryMetricReader()
    provider = metrics_sdk.MeterProvider(metric_readers=[reader])
    async with Engine("memory://") as engine:
        metrics = EngineMetrics(engine)
        assert export_metrics(metrics, meter_provider=provider)
        config = await engine.configs.create(
            APP, graph_dict({"kind": "WorkflowScript", "id": "e", "source": "$"}, trigger="thread.member_joined")
        )
        automation = await engine.automations.create(
            APP, name="a", type="trigger", trigger="thread.member_joined", config_id=config.id, enabled=True
        )
        for run_id in (await engine.publish(APP, "thread.member_joined", JOINED)).run_ids:
            await engine.wait_for_run(APP, run_id, timeout=10)
        await metrics.refresh()
        points = _points(reader)
        [finished] = points["graphflow_runs_finished"]
        assert finished.value == 1 and dict(finished.attributes) == {"automation": automation.id, "status": "completed"}
        [duration] = points["graphflow_run_duration_seconds"]
        assert duration.count == 1 and dict(duration.attributes) == {"status": "completed"}
        assert points["graphflow_store_up"][0].value == 1

        def broken(value: float, attributes: Any) -> None:
            raise RuntimeError("the exporter is down")

        metrics.run_duration.sink = broken
        for run_id in (await engine.publish(APP, "thread.member_joined", JOINED)).run_ids:
            assert (await engine.wait_for_run(APP, run_id, timeout=10)).status == "completed"
        assert _points(reader)["graphflow_metrics_dropped"][0].value == 1
    provider.shutdown()


def test_nothing_is_exported_without_a_provider() -> None:
    from opentelemetry import metrics as otel

    metrics = EngineMetrics(Engine("memory://"))  # not started: exporting touches no store
    assert export_metrics(metrics, meter_provider=otel.NoOpMeterProvider()) is False
    assert export_metrics(metrics) is False  # the API's default: no provider was set
    assert metrics.run_duration.sink is None
