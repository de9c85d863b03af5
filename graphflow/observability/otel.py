"""OpenTelemetry metrics: the registry of an :class:`~.metrics.EngineMetrics` as OpenTelemetry instruments.

Optional (``pip install 'graphflow[otel]'``) and free when unused: nothing here is imported
unless a host calls :func:`export_metrics`, and it does nothing without ``opentelemetry-api`` or
without a ``MeterProvider`` (the API's default provider is a no-op: we do not even register).

Counters and gauges become *observable* instruments: the SDK's reader calls back into the
registry when it collects, so a run pays nothing for them. Histograms cannot be read on demand,
so each observation is also recorded to an OpenTelemetry histogram (one call per run, in memory;
the SDK exports from its own thread). A failing exporter loses observations, counted in
``graphflow_metrics_dropped_total``; it never fails or slows a run.

The store's gauges (queue depth, workers seen…) are those of the last :meth:`EngineMetrics.refresh`
(``graphflow serve`` refreshes on each ``/metrics`` scrape; an OpenTelemetry-only host calls
:meth:`EngineMetrics.refresh` on its own schedule, e.g. every 15 s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from graphflow.observability.registry import Family, Histogram

if TYPE_CHECKING:
    from graphflow.observability.metrics import EngineMetrics

__all__ = ["export_metrics"]


def export_metrics(metrics: EngineMetrics, meter_provider: Any = None) -> bool:
    """Publish ``metrics`` through OpenTelemetry; ``False`` (and nothing done) without the API or a provider.

    Args:
        metrics: the engine's metrics.
        meter_provider: the provider to use (default: the global one, if the host set one).
    """
    try:
        from opentelemetry import metrics as otel
    except ImportError:
        return False
    provider = meter_provider if meter_provider is not None else otel.get_meter_provider()
    if _is_default(otel, provider):
        return False
    meter = provider.get_meter("graphflow")
    for family in metrics.registry.families.values():
        if isinstance(family, Histogram):
            histogram = meter.create_histogram(family.name, unit="s", description=family.help)
            family.sink = histogram.record
        elif family.type == "counter":
            meter.create_observable_counter(family.name, callbacks=[_callback(otel, family)], description=family.help)
        else:
            meter.create_observable_gauge(family.name, callbacks=[_callback(otel, family)], description=family.help)
    return True


def _is_default(otel: Any, provider: Any) -> bool:
    """Whether ``provider`` is the API's no-op (or the proxy that stands for "none set yet")."""
    defaults = tuple(
        cls
        for cls in (getattr(otel, "NoOpMeterProvider", None), getattr(otel._internal, "_ProxyMeterProvider", None))
        if isinstance(cls, type)
    )
    return isinstance(provider, defaults)


def _callback(otel: Any, family: Family) -> Callable[[Any], Iterable[Any]]:
    def observe(options: Any) -> Iterable[Any]:
        return [
            otel.Observation(value, dict(pairs))
            for suffix, pairs, value in family.samples()
            if suffix in ("", "_total")
        ]

    return observe
