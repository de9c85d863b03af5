"""OpenTelemetry traces: spans per publish, run and node; the trace context stored with runs and continued.

Each test gives its engine a ``TracerProvider`` of its own (``Engine(tracing=provider)``) with an
``InMemorySpanExporter``: the global provider can be set once per process, so the test of the
default (``tracing=None`` follows the global provider) runs in a child process.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from graphflow.engine.engine import Engine
from graphflow.exceptions import ValidationError
from graphflow.nodes.egress import EgressPolicy
from graphflow.records import AutomationRun
from tests.conftest import eventually, graph_dict
from tests.gates import reset_gates
from tests.pg import postgres_url

pytestmark = pytest.mark.anyio

EVENT = "thread.member_joined"
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_gates() -> None:
    reset_gates()


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def script(node_id: str, source: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "WorkflowScript", "id": node_id, "source": source, **fields}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A graph running ``nodes`` one after the other (each ``on_success`` the next)."""
    linked = [dict(node) for node in nodes]
    for node, after in itertools.pairwise(linked):
        node.setdefault("on_success", after["id"])
    return graph_dict(*linked, trigger=EVENT)


async def listening(engine: Engine, graph: dict[str, Any], app_id: str = "app_a") -> str:
    config = await engine.configs.create(app_id, graph)
    automation = await engine.automations.create(
        app_id, name="on join", type="trigger", trigger=EVENT, config_id=config.id, enabled=True
    )
    return automation.id


async def published_run(engine: Engine, app_id: str = "app_a") -> AutomationRun:
    result = await engine.publish(app_id, EVENT, JOINED)
    (run_id,) = result.run_ids
    return await engine.wait_for_run(app_id, run_id, timeout=10)


def by_name(spans: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def traceparent(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


# --- spans of a run ---------------------------------------------------------------------------


async def test_a_published_run_has_a_publish_span_a_run_span_and_a_span_per_node() -> None:
    provider, exporter = traced()
    async with Engine("memory://", tracing=provider) as engine:
        automation_id = await listening(engine, chain(script("a", "$.user_id"), script("b", "'hi ' + $")))
        run = await published_run(engine)
    assert run.status == "completed"
    spans = by_name(exporter.get_finished_spans())
    assert set(spans) == {f"publish {EVENT}", f"run {EVENT}", "node t", "node a", "node b"}
    publish, executed = spans[f"publish {EVENT}"], spans[f"run {EVENT}"]
    assert publish.kind is SpanKind.PRODUCER and executed.kind is SpanKind.CONSUMER
    assert {span.context.trace_id for span in spans.values()} == {publish.context.trace_id}
    assert parent_id(publish) is None and parent_id(executed) == publish.context.span_id
    assert dict(publish.attributes or {}) == {
        "graphflow.app_id": "app_a",
        "graphflow.event": EVENT,
        "graphflow.event_id": run.event_id,
        "graphflow.runs": 1,
    }
    attributes = dict(executed.attributes or {})
    assert attributes.pop("graphflow.queue_wait") >= 0
    assert attributes == {
        "graphflow.app_id": "app_a",
        "graphflow.automation_id": automation_id,
        "graphflow.run_id": run.id,
        "graphflow.trigger": EVENT,
        "graphflow.event_id": run.event_id,
        "graphflow.config_id": run.config_id,
        "graphflow.config_version": 1,
        "graphflow.attempt": 1,
        "graphflow.recoveries": 0,
        "graphflow.status": "completed",
    }
    assert executed.status.status_code is StatusCode.UNSET
    for node_id, kind in (("t", "WorkflowTrigger"), ("a", "WorkflowScript"), ("b", "WorkflowScript")):
        node = spans[f"node {node_id}"]
        assert parent_id(node) == executed.context.span_id
        assert dict(node.attributes or {}) == {
            "graphflow.node.id": node_id,
            "graphflow.node.kind": kind,
            "graphflow.run_id": run.id,
            "graphflow.node.attempt": 1,
            "graphflow.node.status": "completed",
        }
    # nodes run in order, inside their run
    assert executed.start_time <= spans["node t"].start_time <= spans["node a"].start_time <= spans["node b"].start_time
    assert spans["node b"].end_time <= executed.end_time
    assert run.trace_context is not None
    assert run.trace_context == {"traceparent": traceparent(publish.context)}


async def test_a_failed_node_records_its_error_and_fails_the_run_span() -> None:
    provider, exporter = traced()
    async with Engine("memory://", tracing=provider) as engine:
        await listening(engine, chain(script("a", "$"), script("boom", "1 / 0")))
        run = await published_run(engine)
    assert run.status == "failed"
    spans = by_name(exporter.get_finished_spans())
    boom, executed = spans["node boom"], spans[f"run {EVENT}"]
    assert boom.status.status_code is StatusCode.ERROR and "boom" in (boom.status.description or "")
    assert (boom.attributes or {})["graphflow.node.status"] == "failed"
    assert [event.name for event in boom.events] == ["exception"]
    assert spans["node a"].status.status_code is StatusCode.UNSET
    assert executed.status.status_code is StatusCode.ERROR
    assert executed.status.description == (run.result or {})["error"]
    assert (executed.attributes or {})["graphflow.status"] == "failed"


async def test_a_failure_routed_to_on_failure_fails_the_node_span_not_the_run() -> None:
    provider, exporter = traced()
    graph = chain(script("boom", "1 / 0", on_failure="rescue"), script("rescue", "'rescued'"))
    async with Engine("memory://", tracing=provider) as engine:
        await listening(engine, graph)
        run = await published_run(engine)
    assert run.status == "completed"
    spans = by_name(exporter.get_finished_spans())
    assert spans["node boom"].status.status_code is StatusCode.ERROR
    assert spans["node rescue"].status.status_code is StatusCode.UNSET
    assert spans[f"run {EVENT}"].status.status_code is StatusCode.UNSET


async def test_retries_and_timeouts_are_events_of_the_node_span() -> None:
    provider, exporter = traced()
    no_wait = {"max_attempts": 3, "initial_interval": 0, "jitter": 0}
    graph = chain(
        script("flaky", "1 / 0", retry=no_wait, on_failure="slow"),
        # a gate nobody opens: the node's timeout ends each attempt
        {"kind": "TestGate", "id": "slow", "gate": "never", "timeout": 0.05, "retry": {**no_wait, "max_attempts": 2}},
    )
    async with Engine("memory://", tracing=provider) as engine:
        await listening(engine, graph)
        run = await published_run(engine)
    assert run.status == "failed"
    spans = by_name(exporter.get_finished_spans())
    flaky, slow = spans["node flaky"], spans["node slow"]
    assert [event.name for event in flaky.events] == ["graphflow.retry", "graphflow.retry", "exception"]
    assert [(event.attributes or {})["graphflow.node.attempt"] for event in flaky.events[:2]] == [1, 2]
    assert (flaky.attributes or {})["graphflow.node.attempt"] == 3
    assert [event.name for event in slow.events] == [
        "graphflow.timeout",
        "graphflow.retry",
        "graphflow.timeout",
        "exception",
    ]
    assert (slow.events[0].attributes or {})["timeout"] == 0.05
    assert slow.status.status_code is StatusCode.ERROR and "timed out" in (slow.status.description or "")


async def test_branches_are_children_of_the_node_that_started_them() -> None:
    provider, exporter = traced()
    graph = chain(
        {"kind": "WorkflowParallel", "id": "fork", "branches": ["left", "right"]},
        script("left", "1"),
        script("right", "2"),
    )
    for node in graph["nodes"][1:]:  # the fork's branches are its successors; nothing runs after them
        node.pop("on_success", None)
    async with Engine("memory://", tracing=provider) as engine:
        await listening(engine, graph)
        run = await published_run(engine)
    assert run.status == "completed", run.result
    spans = by_name(exporter.get_finished_spans())
    fork = spans["node fork"]
    assert parent_id(fork) == spans[f"run {EVENT}"].context.span_id
    for branch in ("node left", "node right"):
        assert parent_id(spans[branch]) == fork.context.span_id
        assert (spans[branch].attributes or {})["graphflow.node.scope"].startswith("fork")


async def test_a_run_started_inside_a_host_span_continues_its_trace() -> None:
    provider, exporter = traced()
    tracer = provider.get_tracer("host")
    async with Engine("memory://", tracing=provider) as engine:
        automation_id = await listening(engine, chain(script("a", "$")))
        config = await engine.configs.create("app_a", graph_dict(script("b", "$"), trigger="workflow.invoked"))
        invoked = await engine.automations.create(
            "app_a", name="invoked", type="invoked", config_id=config.id, enabled=True
        )
        with tracer.start_as_current_span("request") as request:
            run = await published_run(engine)
            triggered = await engine.wait_for_run(
                "app_a", await engine.automations.trigger("app_a", automation_id, JOINED), timeout=10
            )
            called = await engine.automations.invoke("app_a", invoked.id, {"x": 1}, wait=True, timeout=10)
    trace_id = request.get_span_context().trace_id
    runs = [span for span in exporter.get_finished_spans() if span.name.startswith("run ")]
    assert len(runs) == 3 and {span.context.trace_id for span in runs} == {trace_id}
    publish = by_name([span for span in exporter.get_finished_spans() if span.name.startswith("publish ")])
    assert parent_id(publish[f"publish {EVENT}"]) == request.get_span_context().span_id
    for stored in (triggered, called):  # no publish span: the host's span is the parent
        assert stored.trace_context is not None
        assert stored.trace_context["traceparent"] == traceparent(request.get_span_context())
    assert run.trace_context is not None


async def test_a_run_started_by_an_event_a_run_emitted_joins_the_emitting_runs_trace() -> None:
    provider, exporter = traced()
    emit = {"kind": "WorkflowEmitEvent", "id": "emit", "event": "thread.created", "payload": {"thread_id": "thr_1"}}
    async with Engine("memory://", tracing=provider) as engine:
        await listening(engine, chain(emit))
        config = await engine.configs.create("app_a", graph_dict(script("b", "$"), trigger="thread.created"))
        downstream = await engine.automations.create(
            "app_a", name="on created", type="trigger", trigger="thread.created", config_id=config.id, enabled=True
        )
        await published_run(engine)

        async def finished() -> bool:
            runs = (await engine.automations.runs("app_a", downstream.id)).data
            return len(runs) == 1 and runs[0].status == "completed"

        await eventually(finished, "the downstream run")
    spans = by_name([span for span in exporter.get_finished_spans() if span.name != "node t"])  # two triggers
    assert parent_id(spans["run thread.created"]) == spans["node emit"].context.span_id
    assert {span.context.trace_id for span in exporter.get_finished_spans()} == {
        spans[f"publish {EVENT}"].context.trace_id
    }


async def test_each_attempt_of_a_parked_run_is_a_run_span_of_the_same_trace(tmp_path: Path) -> None:
    provider, exporter = traced()
    graph = chain({"kind": "WorkflowDelay", "id": "nap", "duration": 0.05}, script("after", "$"))
    url = f"sqlite:///{tmp_path / 'parked.db'}"
    async with Engine(url, tracing=provider, timer_threshold=0.01, poll_interval=0.02) as engine:
        await listening(engine, graph)
        run = await published_run(engine)
    assert run.status == "completed"
    attempts = sorted(
        (span for span in exporter.get_finished_spans() if span.name == f"run {EVENT}"),
        key=lambda span: span.start_time or 0,
    )
    assert [(span.attributes or {})["graphflow.status"] for span in attempts] == ["suspended", "completed"]
    assert [(span.attributes or {})["graphflow.attempt"] for span in attempts] == [1, 2]
    assert len({parent_id(span) for span in attempts}) == 1  # both children of the publish span
    nap = [span for span in exporter.get_finished_spans() if span.name == "node nap"]
    assert [(span.attributes or {})["graphflow.node.status"] for span in nap] == ["suspended", "completed"]


# --- no tracing -------------------------------------------------------------------------------


async def test_without_tracing_no_span_is_made_and_no_context_stored() -> None:
    provider, exporter = traced()
    tracer = provider.get_tracer("host")
    async with Engine("memory://") as engine:  # no global provider is set in this process
        assert engine.executor.tracing is None
        await listening(engine, chain(script("a", "$")))
        with tracer.start_as_current_span("request"):
            run = await published_run(engine)
    assert run.status == "completed" and run.trace_context is None
    assert [span.name for span in exporter.get_finished_spans()] == ["request"]


async def test_tracing_false_turns_it_off_and_a_bad_value_is_refused() -> None:
    async with Engine("memory://", tracing=False) as engine:
        assert engine.executor.tracing is None
    with pytest.raises(ValidationError) as caught:
        Engine("memory://", tracing="yes")  # type: ignore[arg-type]
    assert caught.value.problems[0].path == "$.tracing"


def test_the_default_follows_the_global_provider_set_before_the_engine_starts(tmp_path: Path) -> None:
    # The global provider can be set once per process: this runs in a child process.
    program = """
import json, sys
import anyio
from graphflow.engine.engine import Engine

async def started(**options):
    async with Engine("memory://", **options) as engine:
        return engine.executor.tracing is not None

report = {"no_api": anyio.run(started)}
from opentelemetry import trace
report["proxy"] = anyio.run(started)
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
report["set"] = anyio.run(started)
report["off"] = anyio.run(lambda: started(tracing=False))
print(json.dumps(report))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"no_api": False, "proxy": False, "set": True, "off": False}


# --- exporters that fail or hang ------------------------------------------------------------------


class Raising(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("the tracing back-end is down")


class Stuck(SpanExporter):
    """Blocks in ``export`` until released (a back-end that does not answer)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        return SpanExportResult.SUCCESS


async def test_an_exporter_that_raises_never_fails_a_run() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Raising()))  # called inline, as each span ends
    provider.add_span_processor(BatchSpanProcessor(Raising(), schedule_delay_millis=1))
    try:
        async with Engine("memory://", tracing=provider) as engine:
            await listening(engine, chain(script("a", "$"), script("b", "$")))
            runs = [await published_run(engine) for _ in range(3)]
        assert [run.status for run in runs] == ["completed"] * 3
    finally:
        provider.shutdown()


async def test_a_stuck_exporter_never_holds_a_run_back() -> None:
    stuck = Stuck()
    provider = TracerProvider()
    # a bounded queue: spans beyond it are dropped while the exporter hangs
    provider.add_span_processor(
        BatchSpanProcessor(stuck, max_queue_size=8, max_export_batch_size=2, schedule_delay_millis=1)
    )
    try:
        async with Engine("memory://", tracing=provider) as engine:
            await listening(engine, chain(script("a", "$"), script("b", "$")))
            await published_run(engine)
            assert await anyio.to_thread.run_sync(stuck.entered.wait, 10), "the exporter was never called"
            runs = [await published_run(engine) for _ in range(10)]  # 50 spans while the exporter hangs
            assert [run.status for run in runs] == ["completed"] * 10
            assert not stuck.release.is_set()
    finally:
        stuck.release.set()
        provider.shutdown()


# --- across processes: PostgreSQL -------------------------------------------------------------


@pytest.mark.postgres
async def test_a_worker_continues_the_trace_of_the_process_that_published() -> None:
    publisher_provider, published = traced()
    worker_provider, executed = traced()
    with postgres_url() as url:
        async with (
            Engine(url, max_concurrent_runs=0, tracing=publisher_provider) as publisher,
            Engine(url, poll_interval=0.05, tracing=worker_provider) as worker,
        ):
            await listening(publisher, chain(script("a", "$"), script("b", "$")))
            with publisher_provider.get_tracer("host").start_as_current_span("request"):
                result = await publisher.publish("app_a", EVENT, JOINED)
            (run_id,) = result.run_ids
            stored = await publisher.automations.run("app_a", run_id)
            assert stored.trace_context is not None  # read back from the database

            async def run_span_exported() -> bool:
                return any(span.name == f"run {EVENT}" for span in executed.get_finished_spans())

            await eventually(run_span_exported, "the worker's run span")
            assert (await worker.wait_for_run("app_a", run_id, timeout=10)).status == "completed"
    publish = by_name(published.get_finished_spans())[f"publish {EVENT}"]
    spans = by_name(executed.get_finished_spans())
    assert set(spans) == {f"run {EVENT}", "node t", "node a", "node b"}
    assert {span.context.trace_id for span in spans.values()} == {publish.context.trace_id}
    assert parent_id(spans[f"run {EVENT}"]) == publish.context.span_id
    assert stored.trace_context["traceparent"].split("-")[2] == f"{publish.context.span_id:016x}"


# --- HTTP: the called service sees the node's span ------------------------------------------------


class Echo(BaseHTTPRequestHandler):
    """Answers every request with the headers it came with."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-echo-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/echo"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def loopback() -> dict[str, Any]:
    import ipaddress

    return {"egress_policy": EgressPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),))}


def http_call(url: str) -> dict[str, Any]:
    return chain({"kind": "WorkflowHttpRequest", "id": "call", "url": url})


async def test_an_http_node_sends_its_span_as_traceparent(echo_url: str, loopback: dict[str, Any]) -> None:
    provider, exporter = traced()
    async with Engine("memory://", services=loopback, tracing=provider) as engine:
        await listening(engine, http_call(echo_url))
        run = await published_run(engine)
    assert run.status == "completed", run.result
    received = (run.result or {})["payload"]["body"]
    call = by_name(exporter.get_finished_spans())["node call"]
    assert received["traceparent"] == traceparent(call.context)


async def test_an_http_node_sends_no_traceparent_without_tracing(echo_url: str, loopback: dict[str, Any]) -> None:
    async with Engine("memory://", services=loopback) as engine:
        await listening(engine, http_call(echo_url))
        run = await published_run(engine)
    assert run.status == "completed", run.result
    assert "traceparent" not in (run.result or {})["payload"]["body"]


# --- REST: a client's traceparent -------------------------------------------------------------


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, httpx.AsyncClient, InMemorySpanExporter]]:
    from graphflow.api import create_app

    provider, exporter = traced()
    async with Engine(f"sqlite:///{tmp_path / 'api.db'}", tracing=provider) as engine:

        async def auth(request: Any) -> str:
            return "app_a"

        transport = httpx.ASGITransport(app=create_app(engine, auth=auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield engine, client, exporter


async def test_a_publish_request_continues_the_clients_trace(
    served: tuple[Engine, httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    engine, client, exporter = served
    await listening(engine, chain(script("a", "$")))
    client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = await client.post(
        "/v1/apps/app_a/events",
        json={"name": EVENT, "payload": JOINED},
        headers={"traceparent": f"00-{client_trace}-{client_span}-01", "tracestate": "vendor=1"},
    )
    assert response.status_code == 202, response.text
    (run_id,) = response.json()["run_ids"]
    run = await engine.wait_for_run("app_a", run_id, timeout=10)
    publish = by_name(exporter.get_finished_spans())[f"publish {EVENT}"]
    assert publish.parent is not None and publish.parent.is_remote
    assert (f"{publish.context.trace_id:032x}", f"{publish.parent.span_id:016x}") == (client_trace, client_span)
    assert run.trace_context == {
        "traceparent": f"00-{client_trace}-{publish.context.span_id:016x}-01",
        "tracestate": "vendor=1",
    }
    # a malformed header is ignored: a new trace starts
    response = await client.post(
        "/v1/apps/app_a/events", json={"name": EVENT, "payload": JOINED}, headers={"traceparent": "00-zz-bad"}
    )
    assert response.status_code == 202, response.text
