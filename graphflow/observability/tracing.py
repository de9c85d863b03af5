"""OpenTelemetry traces of runs (``pip install 'graphflow[otel]'``): a span per run and per node.

graphflow imports only the OpenTelemetry **API**, and only when tracing is on; the host brings
the SDK, its exporters and its sampler. Whether tracing is on is decided once, when an engine
starts (:func:`tracing_for`): ``Engine(tracing=None)`` (the default) traces when the host has
already imported ``opentelemetry.trace`` and installed a real tracer provider
(``trace.set_tracer_provider(...)``, or ``opentelemetry-instrument``); ``tracing=True`` always
uses the global provider (installed later too); a ``TracerProvider`` is used as it is; ``False``
never traces. Off, the engine holds ``None`` and pays one ``is None`` test per node and per run.

What is traced:

* ``publish <event>`` (a producer span, child of the caller's current span) around
  :meth:`~graphflow.engine.engine.Engine.publish`; the runs it creates store its W3C context
  (:attr:`~graphflow.records.AutomationRun.trace_context`), as runs created by ``trigger``,
  ``invoke`` and by events that runs emit store the context current when they were created;
* ``run <trigger>`` (a consumer span) for each attempt of a run, in whichever process claims it,
  a child of the stored context, so one trace shows publish → queue wait → execution;
* ``node <id>`` for each node execution, a child of the run's (or of the branching node's) span,
  with retries and timeouts as span events and failures recorded on it;
* HTTP nodes send ``traceparent`` (and ``tracestate``) to the services they call.

Exporting is the SDK's: use a ``BatchSpanProcessor`` (a bounded queue, exported from a thread;
spans are dropped, never waited for, when it is full) so that a slow or failing back-end never
slows or fails a run. The SDK's processors catch what an exporter raises.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

    from graphflow.engine.executor import NodeFailure
    from graphflow.records import AutomationRun

__all__ = ["NAMES", "NodeSpan", "Tracing", "tracing_for"]

#: Every span attribute and span event name graphflow sets (documented in docs/howto/tracing.md).
NAMES = frozenset(
    {
        *("graphflow.app_id", "graphflow.automation_id", "graphflow.run_id", "graphflow.trigger"),
        *("graphflow.event", "graphflow.event_id", "graphflow.runs", "graphflow.config_id"),
        *("graphflow.config_version", "graphflow.attempt", "graphflow.recoveries", "graphflow.queue_wait"),
        *("graphflow.status", "graphflow.node.id", "graphflow.node.kind", "graphflow.node.scope"),
        *("graphflow.node.attempt", "graphflow.node.status", "graphflow.retry", "graphflow.timeout"),
    }
)
#: A stored ``tracestate`` longer than this is dropped (W3C: propagate at least 512 characters).
MAX_TRACESTATE = 512
_FINISHED = frozenset({"completed", "failed", "cancelled"})


def tracing_for(setting: bool | TracerProvider | None) -> Tracing | None:
    """The tracing an engine started with ``Engine(tracing=setting)`` uses (``None``: off).

    ``None`` decides without importing anything: tracing is on only when the host has imported
    ``opentelemetry.trace`` and set a tracer provider other than the API's default (proxy or
    no-op) one.

    Raises:
        ImportError: ``setting`` asks for tracing and ``opentelemetry-api`` is not installed.
    """
    if setting is False:
        return None
    if setting is None:
        api = sys.modules.get("opentelemetry.trace")
        if api is None:
            return None
        provider = api.get_tracer_provider()
        if isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
            return None
        return Tracing(provider)
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError as exc:
        raise ImportError("Engine(tracing=...) needs OpenTelemetry: pip install 'graphflow[otel]'") from exc
    return Tracing(None if setting is True else setting)


class Tracing:
    """Makes graphflow's spans with one tracer (see the module docstring).

    Args:
        provider: the tracer provider (``None``: the global one, looked up as each span starts).
    """

    __slots__ = ("_api", "_context", "_propagator", "_tracer")

    def __init__(self, provider: TracerProvider | None = None) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._api = trace
        self._context = context
        self._propagator = TraceContextTextMapPropagator()
        self._tracer = trace.get_tracer("graphflow", tracer_provider=provider)

    def carrier(self) -> dict[str, str] | None:
        """The current span's W3C trace context, to store with a run (``None``: no span is current)."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        if "traceparent" not in carrier:
            return None
        if len(carrier.get("tracestate", "")) > MAX_TRACESTATE:
            del carrier["tracestate"]
        return carrier

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """Add the current span's ``traceparent``/``tracestate`` to outgoing HTTP headers (not over the graph's own)."""
        if not any(name.lower() == "traceparent" for name in headers):
            self._propagator.inject(headers)

    @contextmanager
    def continued(self, headers: Mapping[str, str]) -> Iterator[None]:
        """Make the ``traceparent`` of an incoming request current, unless a span already is.

        The REST API wraps each request in it, so a client's trace continues through the runs it
        starts without an ASGI instrumentation (with one, its server span is current already).
        """
        if "traceparent" not in headers or self._api.get_current_span().get_span_context().is_valid:
            yield
            return
        token = self._context.attach(self._propagator.extract(headers))
        try:
            yield
        finally:
            self._context.detach(token)

    @contextmanager
    def publishing(self, app_id: str, name: str) -> Iterator[Span]:
        """The ``publish <event>`` span, current while the event's runs are created (their parent)."""
        with self._tracer.start_as_current_span(
            f"publish {name}",
            kind=self._api.SpanKind.PRODUCER,
            attributes={"graphflow.app_id": app_id, "graphflow.event": name},
        ) as span:
            yield span

    @contextmanager
    def executing(self, run: AutomationRun, now: float) -> Iterator[Span]:
        """The ``run <trigger>`` span of one attempt of ``run``, current while it executes.

        Its parent is the context stored with the run (a new trace when there is none); its
        status is set from the run's outcome when the block ends.
        """
        api = self._api
        stored = run.trace_context
        parent = self._propagator.extract(stored) if stored else self._context.Context()
        attributes: dict[str, Any] = {
            "graphflow.app_id": run.app_id,
            "graphflow.automation_id": run.automation_id,
            "graphflow.run_id": run.id,
            "graphflow.trigger": run.trigger,
            "graphflow.attempt": run.fence,
            "graphflow.recoveries": run.recoveries,
        }
        if run.event_id is not None:
            attributes["graphflow.event_id"] = run.event_id
        if run.config_id is not None:
            attributes["graphflow.config_id"] = run.config_id
        if run.fence <= 1:  # time spent queued: from the run's creation (by the creator's clock)
            attributes["graphflow.queue_wait"] = max(0.0, now - run.created_at)
        span = self._tracer.start_span(
            f"run {run.trigger}", context=parent, kind=api.SpanKind.CONSUMER, attributes=attributes
        )
        token = self._context.attach(api.set_span_in_context(span))
        try:
            yield span
        except BaseException as exc:
            status = _interrupted(exc)
            span.set_attribute("graphflow.status", status)
            if status == "failed":
                span.record_exception(exc)
                span.set_status(api.StatusCode.ERROR, str(exc))
            raise
        else:
            status = run.status if run.status in _FINISHED else "suspended"
            span.set_attribute("graphflow.status", status)
            if run.config_version is not None:
                span.set_attribute("graphflow.config_version", run.config_version)
            if status == "failed":
                error = (run.result or {}).get("error")
                span.set_status(api.StatusCode.ERROR, str(error) if error is not None else None)
        finally:
            self._context.detach(token)
            span.end()

    def node_started(self, node_id: str, kind: str, run_id: str, scope: str) -> NodeSpan | None:
        """Start a node's span and make it current until :meth:`NodeSpan.end`.

        Only under a recording span (the run's, or a host's own around ``Executor.run``): a node
        of a run the sampler left out, or of no traced run at all, costs one check and no span.
        """
        if not self._api.get_current_span().is_recording():
            return None
        attributes: dict[str, Any] = {
            "graphflow.node.id": node_id,
            "graphflow.node.kind": kind,
            "graphflow.run_id": run_id,
        }
        if scope:
            attributes["graphflow.node.scope"] = scope
        span = self._tracer.start_span(f"node {node_id}", attributes=attributes)
        return NodeSpan(self, span, self._context.attach(self._api.set_span_in_context(span)))

    def published(self, span: Span, event_id: str, runs: int) -> None:
        """Record on a ``publish`` span the event's id and how many runs it started."""
        span.set_attributes({"graphflow.event_id": event_id, "graphflow.runs": runs})

    def retrying(self, attempt: int, failure: NodeFailure, delay: float) -> None:
        """A ``graphflow.retry`` event on the current (node's) span: ``attempt`` failed, retried after ``delay``."""
        self._api.get_current_span().add_event(
            "graphflow.retry",
            {"graphflow.node.attempt": attempt, "error": failure.message, "code": failure.code, "delay": delay},
        )

    def timed_out(self, timeout: float, attempt: int | None = None) -> None:
        """A ``graphflow.timeout`` event on the current span: a node's attempt (or the whole run) timed out."""
        attributes: dict[str, Any] = {"timeout": timeout}
        if attempt is not None:
            attributes["graphflow.node.attempt"] = attempt
        self._api.get_current_span().add_event("graphflow.timeout", attributes)


def _interrupted(exc: BaseException) -> str:
    """The status a span ends with when ``exc`` ends it: ``suspended``, ``cancelled``, ``lease_lost`` or ``failed``."""
    from graphflow.abc import Suspended
    from graphflow.exceptions import LeaseLostError

    if isinstance(exc, Suspended):
        return "suspended"
    if isinstance(exc, LeaseLostError):
        return "lease_lost"
    if not isinstance(exc, Exception):  # cancellation (asyncio.CancelledError, trio.Cancelled)
        return "cancelled"
    return "failed"


class NodeSpan:
    """The span of one node execution, current from :meth:`Tracing.node_started` until :meth:`end`."""

    __slots__ = ("_span", "_token", "_tracing")

    def __init__(self, tracing: Tracing, span: Span, token: object) -> None:
        self._tracing = tracing
        self._span = span
        self._token = token

    def end(self, attempt: int, error: BaseException | None) -> None:
        """End the span: ``error`` is the node's failure (recorded), or the exception that interrupted it."""
        span = self._span
        self._tracing._context.detach(self._token)
        if error is None:
            span.set_attributes({"graphflow.node.attempt": attempt, "graphflow.node.status": "completed"})
        else:
            status = _interrupted(error)
            span.set_attributes({"graphflow.node.attempt": attempt, "graphflow.node.status": status})
            if status == "failed":
                cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
                span.record_exception(cause)
                span.set_status(self._tracing._api.StatusCode.ERROR, str(error))
        span.end()
