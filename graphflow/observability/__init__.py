"""Operating graphflow: traces (:mod:`.tracing`), metrics (:mod:`.metrics`, :mod:`.otel`), health, logs.

The engine imports :mod:`.tracing` only when tracing is on; the rest only when the host creates
an :class:`~graphflow.observability.metrics.EngineMetrics` (``graphflow serve`` and ``graphflow
worker`` do). See ``docs/howto/tracing.md`` and ``docs/howto/operate.md``.
"""
