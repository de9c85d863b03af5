"""Operating graphflow: metrics (:mod:`.metrics`, :mod:`.registry`, :mod:`.otel`), health, structured logs.

Nothing here is imported by the engine: a process that creates no
:class:`~graphflow.observability.metrics.EngineMetrics` pays nothing for it. See ``docs/howto/operate.md``.
"""
