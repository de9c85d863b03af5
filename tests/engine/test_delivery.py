"""Result delivery: webhooks against a real local HTTP server, emit and callback sinks, retries with
the fake clock, delivery status apart from run status, durable pickup by another engine."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from graphflow.clock import FakeClock
from graphflow.engine.engine import Engine
from graphflow.events import DeliveryAttempted
from graphflow.exceptions import ValidationError
from graphflow.nodes.egress import EgressPolicy
from graphflow.records import AutomationRun
from graphflow.triggers.catalogue import EventCatalogue
from tests.conftest import graph_dict
from tests.pg import postgres_url
from tests.servers import serving

pytestmark = pytest.mark.anyio

APP = "app_d"
SECRET = "whsec_0123456789abcdef"
LOCAL = EgressPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),))
T0 = 1_767_225_600.0
GRAPH = graph_dict(
    {"kind": "WorkflowScript", "id": "s", "source": '$.ok ? {"answer": 42} : $.missing.key'}, trigger="workflow.invoked"
)


# --- a webhook receiver ---------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Hooks

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            seen = self.server.requests.setdefault(parts.path, [])
            seen.append((dict(self.headers.items()), body))
            count = len(seen)
        self.server.received.set()
        if parts.path.startswith("/hang") and count == 1:
            self.server.release.wait(10)
        status = 503 if count <= int(query.get("fail", "0")) else int(query.get("status", "200"))
        reply = b"not now" if status >= 300 else b"ok"
        if "big" in query:
            reply = b"x" * 4_000_000
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except OSError:  # the client stopped reading (a bounded response, a timeout)
            self.close_connection = True


class Hooks(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Receiver)
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.received = threading.Event()
        self.requests: dict[str, list[tuple[dict[str, str], bytes]]] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    try:
        with serving(server, "test-webhooks"):
            yield server
    finally:
        server.release.set()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (docs/automations.md has the same recipe)."""
    timestamp = headers["Graphflow-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["Graphflow-Signature"], f"v1={expected}")


# --- engines over every store, on a fake clock --------------------------------------------------


EngineFactory = Callable[..., Engine]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with postgres_url() as url:
            yield url
        return
    yield {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path / 'd.db'}"}[request.param]


def make_engine(url: str, clock: FakeClock | None = None, **options: Any) -> Engine:
    options.setdefault("services", {"egress_policy": LOCAL})
    return Engine(url, clock=clock or FakeClock(T0), poll_interval=0.02, **options)


class Attempts:
    """The DeliveryAttempted events of an engine, awaited one by one."""

    def __init__(self, engine: Engine) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[DeliveryAttempted](100)
        engine.subscribe(self._send.send_nowait, (DeliveryAttempted,))

    async def next(self) -> DeliveryAttempted:
        with anyio.fail_after(10):
            return await self._receive.receive()


async def invoked(engine: Engine, deliver: list[dict[str, Any]]) -> str:
    config = await engine.configs.create(APP, GRAPH)
    created = await engine.automations.create(
        APP, name="delivers", type="invoked", config_id=config.id, enabled=True, deliver=deliver
    )
    return created.id


async def finish(engine: Engine, aut: str, ok: bool = True) -> AutomationRun:
    return await engine.automations.invoke(APP, aut, {"ok": ok}, wait=True, timeout=10)


# --- webhooks -------------------------------------------------------------------------------


async def test_a_webhook_is_retried_with_backoff_until_it_is_delivered(database: str, hooks: Hooks) -> None:
    clock = FakeClock(T0)
    path = f"/flaky-{database[:6]}"
    async with make_engine(database, clock, delivery_backoff=10.0) as engine:
        attempts = Attempts(engine)
        sink = {"kind": "webhook", "url": hooks.url(f"{path}?fail=2"), "secret": SECRET, "headers": {"X-Team": "ops"}}
        aut = await invoked(engine, [sink])
        run = await finish(engine, aut)
        assert run.status == "completed"
        first = await attempts.next()
        assert (first.run_id, first.attempt, first.status) == (run.id, 1, "pending"), first.error
        assert first.error is not None and "returned 503" in first.error
        assert first.next_at is not None and T0 + 5 <= first.next_at <= T0 + 10  # backoff 10s, jittered
        await clock.set(first.next_at)
        second = await attempts.next()
        assert (second.attempt, second.status) == (2, "pending")
        assert second.next_at is not None and 10 <= second.next_at - first.next_at <= 20
        await clock.set(second.next_at)
        third = await attempts.next()
        assert (third.attempt, third.status, third.error) == (3, "delivered", None)
        stored = await engine.automations.run(APP, run.id)
        assert (stored.status, stored.result) == ("completed", run.result)  # the run never changes
        shown = stored.to_dict()["delivery"]
        assert {k: shown[k] for k in ("status", "attempts", "last_error", "next_at")} == {
            "status": "delivered",
            "attempts": 3,
            "last_error": None,
            "next_at": None,
        }
        assert shown["delivered_at"] is not None
        assert (await engine.automations.get(APP, aut)).automation.last_delivery_error is None
    requests = hooks.requests[path]
    assert len(requests) == 3
    ids = {headers["Graphflow-Delivery-Id"] for headers, _ in requests}
    assert len(ids) == 1 and ids.pop().startswith(f"{run.id}.")  # the same on every retry: receivers dedupe by it
    for headers, body in requests:
        assert verify(SECRET, headers, body) and headers["X-Team"] == "ops"
        assert not verify("another-secret-of-16", headers, body)
    body = json.loads(requests[-1][1])
    assert (body["run_id"], body["automation_id"], body["app_id"], body["status"]) == (run.id, aut, APP, "completed")
    assert body["result"] == run.result and body["attempt"] == 3


async def test_a_delivery_that_exhausts_its_attempts_fails_and_leaves_the_run_alone(
    hooks: Hooks, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    async with make_engine(
        f"sqlite:///{tmp_path / 'x.db'}", clock, delivery_attempts=2, delivery_backoff=1.0
    ) as engine:
        attempts = Attempts(engine)
        aut = await invoked(engine, [{"kind": "webhook", "url": hooks.url("/down?status=500")}])
        run = await finish(engine, aut)
        first = await attempts.next()
        assert first.status == "pending" and first.next_at is not None
        await clock.set(first.next_at)
        last = await attempts.next()
        assert (last.attempt, last.status) == (2, "failed")
        assert last.error is not None and "returned 500" in last.error
        stored = await engine.automations.run(APP, run.id)
        assert stored.status == "completed" and stored.result is not None and "output" in stored.result
        assert stored.delivery is not None and (stored.delivery["status"], stored.delivery["attempts"]) == ("failed", 2)
        automation = (await engine.automations.get(APP, aut)).automation
        assert automation.last_delivery_error == last.error
        assert automation.last_run_status == "completed" and automation.last_error is None
        renamed = await engine.automations.update(APP, aut, name="renamed")  # an edit keeps the error
        assert renamed.last_delivery_error == last.error
        assert (await engine.automations.get(APP, aut)).automation.last_delivery_error == last.error
        await clock.advance(3600)
        await engine.automations.update(APP, aut, deliver=[{"kind": "webhook", "url": hooks.url("/up")}])
        await finish(engine, aut)
        assert (await attempts.next()).status == "delivered"
        assert (await engine.automations.get(APP, aut)).automation.last_delivery_error is None
        assert hooks.requests["/down"] and len(hooks.requests["/down"]) == 2


async def test_only_the_outcomes_a_sink_is_on_are_delivered(hooks: Hooks) -> None:
    async with make_engine("memory://") as engine:
        attempts = Attempts(engine)
        aut = await invoked(engine, [{"kind": "webhook", "url": hooks.url("/failures"), "on": ["failed"]}])
        ok = await finish(engine, aut, ok=True)
        assert ok.delivery == {"status": "skipped", "attempts": 0, "last_error": None}  # written with the outcome
        failed = await finish(engine, aut, ok=False)
        assert failed.status == "failed"
        event = await attempts.next()
        assert (event.run_id, event.status) == (failed.id, "delivered")
    assert [json.loads(body)["run_id"] for _, body in hooks.requests["/failures"]] == [failed.id]


async def test_a_webhook_is_bounded_in_time_and_in_what_it_reads(hooks: Hooks) -> None:
    hooks.release.clear()
    try:
        async with make_engine("memory://", delivery_attempts=1, delivery_timeout=0.5) as engine:
            attempts = Attempts(engine)
            aut = await invoked(engine, [{"kind": "webhook", "url": hooks.url("/hang-timeout")}])
            await finish(engine, aut)
            timed_out = await attempts.next()
            assert timed_out.status == "failed" and timed_out.error is not None
            assert "timed out after 0.5s" in timed_out.error
            await engine.automations.update(
                APP, aut, deliver=[{"kind": "webhook", "url": hooks.url("/big?status=500&big=1")}]
            )
            await finish(engine, aut)
            big = await attempts.next()
            assert big.status == "failed" and big.error is not None
            assert "returned 500" in big.error and len(big.error) < 400  # 4 MB answered, a few hundred bytes kept
    finally:
        hooks.release.set()


async def test_a_hanging_webhook_never_holds_a_run_worker(hooks: Hooks) -> None:
    hooks.release.clear()
    hooks.received.clear()
    try:
        async with make_engine("memory://", max_concurrent_runs=1, delivery_timeout=30.0) as engine:
            attempts = Attempts(engine)
            aut = await invoked(engine, [{"kind": "webhook", "url": hooks.url("/hang-worker")}])
            first = await finish(engine, aut)
            await anyio.to_thread.run_sync(hooks.received.wait, 10)  # its delivery hangs in the receiver
            second = await finish(engine, aut)  # the only run worker is free
            assert (first.status, second.status) == ("completed", "completed")
            hooks.release.set()
            delivered = {(await attempts.next()).run_id, (await attempts.next()).run_id}
            assert delivered == {first.id, second.id}
    finally:
        hooks.release.set()


# --- what create and update refuse --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://2130706433/x",
        "ftp://a.example/x",
    ],
)
async def test_webhooks_the_egress_policy_refuses_are_refused_at_create(url: str) -> None:
    async with Engine("memory://") as engine:  # the default policy: public addresses only
        config = await engine.configs.create(APP, GRAPH)
        with pytest.raises(ValidationError) as info:
            await engine.automations.create(
                APP, name="x", type="invoked", config_id=config.id, deliver=[{"kind": "webhook", "url": url}]
            )
        (problem,) = info.value.problems
        assert problem.path == "$.deliver[0].url"
        assert problem.message.startswith(("egress_denied:", "invalid_url:"))
        assert info.value.code == "validation_error"
        assert (await engine.automations.list(APP)).data == []  # nothing stored


async def test_header_values_are_never_shown_and_two_webhooks_of_one_url_keep_their_secrets(hooks: Hooks) -> None:
    async with make_engine("memory://") as engine:
        url = hooks.url("/same")
        first = {"kind": "webhook", "url": url, "secret": "a" * 16, "headers": {"Authorization": "Bearer sk_live_1"}}
        second = {"kind": "webhook", "url": url, "secret": "b" * 16}
        aut = await invoked(engine, [first, second])
        details = await engine.automations.get(APP, aut)
        shown = details.to_dict()
        assert shown["deliver"][0]["headers"] == {"Authorization": "<redacted>"}
        assert "sk_live_1" not in json.dumps(shown) and "sk_live_1" not in repr(details.automation)
        shown["deliver"][1]["on"] = ["failed"]  # sent back as shown, one field changed
        await engine.automations.update(APP, aut, deliver=shown["deliver"])
        stored = (await engine.automations.get(APP, aut)).automation.deliver
        assert [(s["secret"], s["headers"]) for s in stored] == [
            ("a" * 16, {"Authorization": "Bearer sk_live_1"}),
            ("b" * 16, {}),
        ]
        bad = [
            {"kind": "webhook", "url": url, "headers": {"X-A": "é"}},
            {"kind": "webhook", "url": url, "headers": {"X-A": "1", "x-a": "2"}},
            {"kind": "webhook", "url": url, "headers": {"Graphflow-Foo": "1", "User-Agent": "evil"}},
            {"kind": "webhook", "url": url, "headers": {"X-B": "a\x01b"}},
        ]
        with pytest.raises(ValidationError) as info:
            await engine.automations.update(APP, aut, deliver=bad)
        assert sorted(p.path for p in info.value.problems) == [
            "$.deliver[0].headers.X-A",
            "$.deliver[1].headers",
            "$.deliver[2].headers",
            "$.deliver[2].headers",
            "$.deliver[3].headers.X-B",
        ]


async def test_sinks_are_checked_on_update_and_secrets_never_shown(hooks: Hooks) -> None:
    async with make_engine("memory://", catalogue=_catalogue()) as engine:
        sink = {"kind": "webhook", "url": hooks.url("/x"), "secret": SECRET}
        aut = await invoked(engine, [sink])
        shown = (await engine.automations.get(APP, aut)).to_dict()
        assert shown["deliver"][0]["secret"] == "<redacted>" and SECRET not in json.dumps(shown)
        assert shown["deliver"][0]["on"] == ["completed", "failed"]  # normalised
        # Sent back as shown, the sink keeps its secret.
        await engine.automations.update(APP, aut, deliver=[*shown["deliver"], {"kind": "emit", "event": "run.done"}])
        stored = (await engine.automations.get(APP, aut)).automation
        assert stored.deliver[0]["secret"] == SECRET and stored.deliver[1]["event"] == "run.done"
        bad = [
            {"kind": "webhook", "url": "http://10.0.0.1/x"},
            {"kind": "emit", "event": "no.such_event"},
            {"kind": "webhook", "url": "https://h.example/x", "headers": {"Host": "evil"}},
            {"kind": "webhook", "url": "https://elsewhere.example/x", "secret": "<redacted>"},
        ]
        with pytest.raises(ValidationError) as info:
            await engine.automations.update(APP, aut, deliver=bad)
        paths = sorted(p.path for p in info.value.problems)
        assert paths == ["$.deliver[0].url", "$.deliver[1].event", "$.deliver[2].headers", "$.deliver[3].secret"]
        with pytest.raises(ValidationError) as info:
            nul = {"kind": "webhook", "url": "https://a.example/x", "secret": "s" * 16 + "\x00"}
            await engine.automations.update(APP, aut, deliver=[{"kind": "carrier-pigeon"}, {"kind": "emit"}, nul])
        paths = sorted(p.path for p in info.value.problems)
        assert paths == ["$.deliver[0].kind", "$.deliver[1].event", "$.deliver[2]"]
        with pytest.raises(ValidationError):
            await engine.automations.update(APP, aut, deliver=[sink] * 5)  # at most 4
        assert (await engine.automations.get(APP, aut)).automation.deliver == stored.deliver  # nothing changed


# --- emit and callback sinks --------------------------------------------------------------------


def _catalogue() -> EventCatalogue:
    catalogue = EventCatalogue()
    catalogue.register("run.done", "A run's result was delivered")
    return catalogue


async def test_an_emit_sink_publishes_the_result_and_loops_stay_bounded() -> None:
    async with make_engine("memory://", catalogue=_catalogue(), max_event_depth=3) as engine:
        attempts = Attempts(engine)
        aut = await invoked(engine, [{"kind": "emit", "event": "run.done"}])
        listener = await engine.configs.create(
            APP, graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.run_id"}, trigger="run.done")
        )
        # An automation triggered by the event it delivers: a loop the cascade depth bounds.
        looping = await engine.automations.create(
            APP, name="loops", trigger="run.done", config_id=listener.id, enabled=True, overlap="allow",
            deliver=[{"kind": "emit", "event": "run.done"}],
        )  # fmt: skip
        run = await finish(engine, aut)
        events = [await attempts.next() for _ in range(4)]
        assert [e.status for e in events] == ["delivered", "delivered", "delivered", "failed"]
        assert events[0].run_id == run.id
        assert events[-1].error is not None and "chain of events" in events[-1].error
        runs = (await engine.automations.runs(APP, looping.id)).data
        assert len(runs) == 3 and all(r.status == "completed" for r in runs)
        (first,) = [r for r in runs if r.causation is not None and r.causation["depth"] == 1]
        assert first.payload["run_id"] == run.id and first.payload["result"] == run.result


async def test_callbacks_are_called_and_a_failing_or_hanging_one_never_breaks_the_engine() -> None:
    received: list[AutomationRun] = []
    hang = anyio.Event()

    async def record(run: AutomationRun) -> None:
        received.append(run)

    async def boom(run: AutomationRun) -> None:
        raise RuntimeError("the host's bug")

    async def stuck(run: AutomationRun) -> None:
        await hang.wait()

    callbacks: dict[str, Any] = {"record": record, "boom": boom, "stuck": stuck, "billing": (record, {"app_other"})}
    async with make_engine(
        "memory://", delivery_callbacks=callbacks, delivery_attempts=1, delivery_timeout=0.2
    ) as engine:
        for name, index in (("missing", 0), ("billing", 0)):  # unknown, or offered to another app only
            with pytest.raises(ValidationError, match=rf"\$\.deliver\[{index}\]\.name: no delivery callback named"):
                await invoked(engine, [{"kind": "callback", "name": name}])
        attempts = Attempts(engine)
        aut = await invoked(engine, [{"kind": "callback", "name": name} for name in ("record", "boom", "stuck")])
        run = await finish(engine, aut)
        event = await attempts.next()
        assert event.status == "failed" and event.error is not None
        assert "RuntimeError: the host's bug" in event.error
        assert "'stuck' did not return within 0.2s" in event.error
        assert [r.id for r in received] == [run.id] and received[0].status == "completed"
        stored = await engine.automations.run(APP, run.id)
        assert stored.delivery is not None and len(stored.delivery["done"]) == 1  # a retry would skip it
        assert (await finish(engine, aut)).status == "completed"  # the engine goes on
        assert (await attempts.next()).status == "failed"


# --- durable pickup -----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with postgres_url() as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'durable.db'}"


async def test_a_delivery_left_by_an_engine_that_stopped_is_finished_by_another(durable: str, hooks: Hooks) -> None:
    path = f"/hang-then-ok-{durable[:6]}"
    hooks.release.clear()
    hooks.received.clear()
    async with make_engine(durable, FakeClock(T0)) as engine:
        aut = await invoked(engine, [{"kind": "webhook", "url": hooks.url(path)}])
        run = await finish(engine, aut)
        stored = await engine.automations.run(APP, run.id)
        assert stored.delivery is not None and stored.delivery["status"] == "pending"
        lease = engine.delivery_lease
        await anyio.to_thread.run_sync(hooks.received.wait, 10)  # the first attempt is under way
    hooks.release.set()
    # The first engine stopped without recording its attempt: pending, held until its lease ends.
    later = FakeClock(T0 + lease - 1)
    async with make_engine(durable, later) as second:
        attempts = Attempts(second)
        stored = await second.automations.run(APP, run.id)
        assert stored.delivery is not None and (stored.delivery["status"], stored.delivery["attempts"]) == (
            "pending",
            1,
        )
        await later.advance(2)  # the lease ran out: the attempt is this engine's now
        event = await attempts.next()
        assert (event.run_id, event.attempt, event.status) == (run.id, 2, "delivered")
        done = await second.automations.run(APP, run.id)
        assert done.status == "completed" and done.delivery is not None and done.delivery["attempts"] == 2
    assert len(hooks.requests[path]) == 2
