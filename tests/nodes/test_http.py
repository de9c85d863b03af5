"""WorkflowHttpRequest against a real local HTTP server, and the egress policy that guards it."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpcore
import httpx
import pytest

import graphflow
from graphflow.abc import NodeContext, RunState
from graphflow.exceptions import NodeExecutionError
from graphflow.graph.model import GraphContext
from graphflow.nodes.egress import DEFAULT_EGRESS_POLICY, EgressPolicy, address_denial
from graphflow.nodes.http import EgressClient, HttpRequestNode
from graphflow.nodes.registry import NodeRegistry
from tests.conftest import graph_dict
from tests.servers import serving

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the local server -----------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive responses wait ~40 ms on delayed ACKs
    server: LocalServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.hits.append(parts.path)
        path = parts.path
        if path == "/json":
            self._send(
                200,
                {
                    "method": self.command,
                    "path": path,
                    "query": query,
                    "body": body,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                },
            )
        elif path == "/text":
            self._send(200, "hello, world", "text/plain; charset=utf-8")
        elif path == "/badjson":
            self._send(200, "not json", "application/json")
        elif path == "/redirect":
            self._redirect(int(query.get("status", 302)), query["to"])
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            if left:
                self._redirect(302, f"/chain/{left - 1}")
            else:
                self._send(200, {"done": True})
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            self._send(status, {"error": f"status {status}"})
        elif path == "/huge":
            self._send(200, "x" * (6 * MIB), "text/plain")
        elif path == "/gzip-bomb":
            data = gzip.compress(b"\0" * (20 * MIB))
            self._raw(200, data, [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")])
        elif path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"y" * 65536)
            except OSError:
                self.close_connection = True
        elif path == "/slow":
            time.sleep(float(query.get("delay", 2)))
            self._send(200, {"slow": True})
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                self.close_connection = True
        else:
            self._send(404, {"error": "no such path"})

    def _redirect(self, status: int, location: str) -> None:
        self._raw(status, b"", [("Location", location)])

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self._raw(status, data, [("Content-Type", content_type)])

    def _raw(self, status: int, data: bytes, headers: Sequence[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(data)
            except OSError:
                self.close_connection = True


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with serving(LocalServer(), "test-http-server") as srv:
        yield srv


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address a TCP connection was actually attempted to (a spy on httpcore's backend)."""
    attempts: list[str] = []
    original = httpcore.AnyIOBackend.connect_tcp

    async def spy(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        attempts.append(host)
        return await original(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", spy)
    return attempts


# --- helpers ----------------------------------------------------------------------------------


def fake_resolver(answers: dict[str, list[list[str]]]) -> Any:
    """A resolver giving each name its answers in turn (the last one repeats)."""
    calls: dict[str, int] = {}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"unknown test host {host}")
        n = calls.get(host, 0)
        calls[host] = n + 1
        return answers[host][min(n, len(answers[host]) - 1)]

    return resolve


def make_node(**fields: Any) -> HttpRequestNode:
    node = HttpRequestNode(id="h", **fields)
    graph = GraphContext({})
    node.prepare(graph)
    assert graph.problems == [], graph.problems
    return node


def problems_of(**fields: Any) -> list[str]:
    node = HttpRequestNode(id="h", **fields)
    graph = GraphContext({})
    node.prepare(graph)
    return [str(p) for p in graph.problems]


def make_ctx(services: dict[str, Any]) -> NodeContext:
    state = RunState(
        run_id="atr_test",
        graph=None,
        executor=None,
        journal=None,
        env={},  # type: ignore[arg-type]
        app_id=None,
        automation_id=None,
        emit=None,
        services=services,
    )
    ctx = NodeContext(state)
    ctx.node_id = "h"
    return ctx


async def call(node: HttpRequestNode, services: dict[str, Any] | None = None, input: Any = None) -> Any:
    return await node.run({"x": 1} if input is None else input, make_ctx(services or {}))


async def refusal(
    node: HttpRequestNode, services: dict[str, Any] | None = None, input: Any = None
) -> NodeExecutionError:
    with pytest.raises(NodeExecutionError) as info:
        await call(node, services, input)
    return info.value


@pytest.fixture
def local() -> dict[str, Any]:
    """Services allowing the local server (127.0.0.1 only)."""
    return {"egress_policy": EgressPolicy(allow_networks=LOOPBACK)}


# --- requests and responses -------------------------------------------------------------------


async def test_get_json_with_templates(server: LocalServer, local: dict[str, Any]) -> None:
    node = make_node(
        url=server.url("/json?a=1"),
        headers={"X-Token": "t-{{$.x}}"},
        query={"b": "{{$.x + 1}}", "c": ["p", "q"], "skip": "{{null}}"},
    )
    out = await call(node, local)
    assert out["status"] == 200
    assert out["headers"]["content-type"] == "application/json"
    body = out["body"]
    assert body["method"] == "GET"
    assert body["query"] == {"a": "1", "b": "2", "c": ["p", "q"]}
    assert body["headers"]["x-token"] == "t-1"
    assert "idempotency-key" not in body["headers"]


async def test_post_json_body_sends_idempotency_key(server: LocalServer, local: dict[str, Any]) -> None:
    node = make_node(method="post", url=server.url("/json"), body={"a": "{{$.x}}", "b": [True]})
    body = (await call(node, local))["body"]
    assert body["method"] == "POST"
    assert json.loads(body["body"]) == {"a": 1, "b": [True]}
    assert body["headers"]["content-type"] == "application/json"
    assert body["headers"]["idempotency-key"] == "atr_test:h"


async def test_text_body_and_idempotency_overrides(server: LocalServer, local: dict[str, Any]) -> None:
    node = make_node(method="PUT", url=server.url("/json"), body="hi {{$.x}}", headers={"idempotency-key": "mine"})
    body = (await call(node, local))["body"]
    assert body["body"] == "hi 1"
    assert body["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert body["headers"]["idempotency-key"] == "mine"
    node = make_node(method="DELETE", url=server.url("/json"), idempotency_header=None)
    assert "idempotency-key" not in (await call(node, local))["body"]["headers"]


async def test_text_response_and_head(server: LocalServer, local: dict[str, Any]) -> None:
    assert (await call(make_node(url=server.url("/text")), local))["body"] == "hello, world"
    out = await call(make_node(method="HEAD", url=server.url("/json")), local)
    assert out["status"] == 200 and out["body"] is None


async def test_invalid_json_response(server: LocalServer, local: dict[str, Any]) -> None:
    error = await refusal(make_node(url=server.url("/badjson")), local)
    assert error.code == "http_invalid_json" and not error.retryable


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (404, "http_status_4xx", False),
        (400, "http_status_4xx", False),
        (408, "http_status_408", True),
        (429, "http_status_429", True),
        (500, "http_status_5xx", True),
        (503, "http_status_5xx", True),
    ],
)
async def test_status_errors(
    server: LocalServer, local: dict[str, Any], status: int, code: str, retryable: bool
) -> None:
    error = await refusal(make_node(url=server.url(f"/status/{status}?secret=s3cr3t")), local)
    assert (error.code, error.retryable) == (code, retryable)
    assert error.details["status"] == status and "status" in error.details["body"]
    assert "s3cr3t" not in error.message


async def test_fail_on_status_off_returns_the_response(server: LocalServer, local: dict[str, Any]) -> None:
    out = await call(make_node(url=server.url("/status/404"), fail_on_status=False), local)
    assert out["status"] == 404 and out["body"] == {"error": "status 404"}


# --- size and time limits ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "limit"), [("/huge", 5 * MIB), ("/endless", 100_000), ("/gzip-bomb", MIB)])
async def test_response_too_large(server: LocalServer, local: dict[str, Any], path: str, limit: int) -> None:
    error = await refusal(make_node(url=server.url(path), max_response_bytes=limit), local)
    assert error.code == "http_response_too_large" and not error.retryable


@pytest.mark.parametrize("path", ["/slow?delay=2", "/trickle"])
async def test_timeouts(server: LocalServer, local: dict[str, Any], path: str) -> None:
    started = time.monotonic()
    error = await refusal(make_node(url=server.url(path), request_timeout="300ms"), local)
    assert error.code == "http_timeout" and error.retryable
    assert time.monotonic() - started < 1.5


# --- redirects --------------------------------------------------------------------------------


async def test_redirects_are_followed(server: LocalServer, local: dict[str, Any]) -> None:
    out = await call(make_node(url=server.url("/redirect?to=/json")), local)
    assert out["status"] == 200 and out["url"].endswith("/json")
    assert (await call(make_node(url=server.url("/chain/5")), local))["body"] == {"done": True}
    error = await refusal(make_node(url=server.url("/chain/6")), local)
    assert error.code == "http_too_many_redirects"
    out = await call(make_node(url=server.url("/redirect?to=/json"), follow_redirects=False), local)
    assert out["status"] == 302 and out["headers"]["location"] == "/json"


async def test_303_turns_post_into_get(server: LocalServer, local: dict[str, Any]) -> None:
    node = make_node(method="POST", url=server.url("/redirect?status=303&to=/json"), body={"a": 1})
    body = (await call(node, local))["body"]
    assert body["method"] == "GET" and body["body"] == ""
    node = make_node(method="POST", url=server.url("/redirect?status=307&to=/json"), body={"a": 1})
    body = (await call(node, local))["body"]
    assert body["method"] == "POST" and json.loads(body["body"]) == {"a": 1}


async def test_cross_origin_redirect_drops_credentials(server: LocalServer) -> None:
    policy = EgressPolicy(allow_networks=LOOPBACK, resolver=fake_resolver({"other.test": [["127.0.0.1"]]}))
    target = server.url("/json", host="other.test")
    node = make_node(
        url=server.url(f"/redirect?to={target}"),
        headers={"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "a/b"},
    )
    headers = (await call(node, {"egress_policy": policy}))["body"]["headers"]
    assert "authorization" not in headers and "x-api-key" not in headers
    assert headers["accept"] == "a/b"


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:169.254.169.254]/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
    ],
)
async def test_redirect_to_a_blocked_target_is_refused(
    server: LocalServer, local: dict[str, Any], connects: list[str], target: str
) -> None:
    error = await refusal(make_node(url=server.url(f"/redirect?to={target}")), local)
    assert error.code == "egress_denied" and not error.retryable
    assert set(connects) == {"127.0.0.1"}


async def test_redirect_to_loopback_by_another_name_is_refused(server: LocalServer, connects: list[str]) -> None:
    # api.test is trusted by name; sneaky.test is not, and it resolves to loopback.
    policy = EgressPolicy(
        allow_hosts=frozenset({"api.test"}),
        resolver=fake_resolver({"api.test": [["127.0.0.1"]], "sneaky.test": [["127.0.0.1"]]}),
    )
    target = server.url("/json", host="sneaky.test")
    node = make_node(url=server.url(f"/redirect?to={target}", host="api.test"))
    hits = len(server.hits)
    error = await refusal(node, {"egress_policy": policy})
    assert error.code == "egress_denied" and "sneaky.test" in error.message
    assert server.hits[hits:] == ["/redirect"] and connects == ["127.0.0.1"]


# --- the egress policy at run time -------------------------------------------------------------

BLOCKED_BY_DEFAULT = [
    "http://127.0.0.1:{port}/json",
    "http://localhost:{port}/json",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/",
    "http://100.100.100.200/",
    "http://[fd00:ec2::254]/",
    "http://[::1]:{port}/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[0:0:0:0:0:ffff:a9fe:a9fe]/",
    "http://0.0.0.0:{port}/",
    "http://0/",
    "http://127.1/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://017700000001/",
    "http://100.64.0.1/",
    "http://[fe80::1%25eth0]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://[ff02::1]/",
    "http://[fc00::1]/",
]
BAD_URLS = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "dict://127.0.0.1:11211/",
    "ftp://example.com/",
    "http+unix://%2Frun%2Fdocker.sock/",
    "http://user:pass@example.com/",
    "http://user@127.0.0.1/",
]


@pytest.mark.parametrize("url", BLOCKED_BY_DEFAULT + BAD_URLS)
async def test_default_policy_refuses_without_connecting(server: LocalServer, connects: list[str], url: str) -> None:
    hits = len(server.hits)
    node = make_node(url="{{$.url}}")
    error = await refusal(node, {}, {"url": url.format(port=server.port)})
    assert error.code == "egress_denied" and not error.retryable, error.message
    assert connects == [] and len(server.hits) == hits


async def test_unparsable_octal_address_is_refused(connects: list[str]) -> None:
    # httpx refuses to parse 0177.0.0.1 at all, so it can never be connected to.
    error = await refusal(make_node(url="{{$.url}}"), {}, {"url": "http://0177.0.0.1/"})
    assert error.code == "invalid_url" and connects == []


async def test_denial_says_how_to_allow(server: LocalServer) -> None:
    error = await refusal(make_node(url="{{$.url}}"), {}, {"url": "http://10.1.2.3/"})
    assert "'10.1.2.3'" in error.message and "private" in error.message
    assert "allow_networks=['10.1.2.3/32']" in error.message and "allow_private=True" in error.message


async def test_dns_rebinding_is_checked_on_every_connection(server: LocalServer, connects: list[str]) -> None:
    policy = EgressPolicy(
        allow_networks=LOOPBACK, resolver=fake_resolver({"rebind.test": [["127.0.0.1"], ["10.0.0.1"]]})
    )
    node = make_node(url=server.url("/json", host="rebind.test"))
    out = await call(node, {"egress_policy": policy})
    assert out["status"] == 200 and out["body"]["headers"]["host"] == f"rebind.test:{server.port}"
    assert connects == ["127.0.0.1"]  # pinned: the checked address, not the name again
    error = await refusal(node, {"egress_policy": policy})
    assert error.code == "egress_denied" and "10.0.0.1" in error.message
    assert connects == ["127.0.0.1"]


async def test_every_resolved_address_is_checked(server: LocalServer, connects: list[str]) -> None:
    policy = EgressPolicy(
        allow_networks=LOOPBACK, resolver=fake_resolver({"mixed.test": [["127.0.0.1", "169.254.169.254"]]})
    )
    error = await refusal(make_node(url=server.url("/json", host="mixed.test")), {"egress_policy": policy})
    assert error.code == "egress_denied" and "169.254.169.254" in error.message and connects == []


async def test_unresolvable_name_is_a_retryable_dns_error() -> None:
    policy = EgressPolicy(resolver=fake_resolver({}))
    error = await refusal(make_node(url="http://nowhere.test/"), {"egress_policy": policy})
    assert error.code == "dns_error" and error.retryable


async def test_allowed_ports(server: LocalServer) -> None:
    policy = EgressPolicy(allow_networks=LOOPBACK, allowed_ports=frozenset({443}))
    error = await refusal(make_node(url=server.url("/json")), {"egress_policy": policy})
    assert error.code == "egress_denied" and f"port {server.port}" in error.message


async def test_header_injection_is_refused(server: LocalServer, local: dict[str, Any]) -> None:
    node = make_node(url=server.url("/json"), headers={"X-A": "{{$.v}}"})
    error = await refusal(node, local, {"v": "a\r\nMetadata-Flavor: Google"})
    assert error.code == "invalid_request"


# --- the shared client ------------------------------------------------------------------------


async def test_shared_client_reuses_connections(server: LocalServer, connects: list[str]) -> None:
    policy = EgressPolicy(allow_networks=LOOPBACK)
    node = make_node(url=server.url("/json"))
    async with EgressClient(policy) as client:
        for _ in range(3):
            assert (await call(node, {"http_client": client}))["status"] == 200
        assert (await call(node, {"http_client": client, "egress_policy": policy}))["status"] == 200
    assert connects == ["127.0.0.1"]


async def test_shared_client_must_enforce_the_policy(server: LocalServer) -> None:
    node = make_node(url=server.url("/json"))
    async with httpx.AsyncClient() as plain:
        error = await refusal(node, {"http_client": plain})
    assert error.code == "egress_misconfigured"
    async with EgressClient() as client:
        error = await refusal(node, {"http_client": client, "egress_policy": EgressPolicy(allow_private=True)})
    assert error.code == "egress_misconfigured"


async def test_egress_client_refuses_internal_addresses_on_its_own(connects: list[str]) -> None:
    async with EgressClient() as client:
        with pytest.raises(NodeExecutionError) as info:
            await client.get("http://[::ffff:127.0.0.1]/")
    assert info.value.code == "egress_denied" and connects == []


# --- TLS: certificates are verified against the name, the connection goes to the checked address


def make_tls(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A CA and a certificate for ``name``: (server context, client context trusting the CA)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("graphflow test CA", ca_key, "graphflow test CA", ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(name, key, "graphflow test CA", ca_key, False)
    pem = serialization.Encoding.PEM
    (directory / "cert.pem").write_bytes(cert.public_bytes(pem))
    (directory / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client_ctx = ssl.create_default_context(cadata=ca_cert.public_bytes(pem).decode())
    return server_ctx, client_ctx


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, ssl.SSLContext]]:
    server_ctx, client_ctx = make_tls(tmp_path_factory.mktemp("tls"), "secure.test")
    srv = LocalServer()
    srv.socket = server_ctx.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, name="test-https-server", daemon=True)
    thread.start()
    try:
        yield srv, client_ctx
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


async def test_https_verifies_the_name_and_connects_to_the_checked_address(
    tls_server: tuple[LocalServer, ssl.SSLContext], connects: list[str]
) -> None:
    srv, client_ctx = tls_server
    policy = EgressPolicy(
        allow_networks=LOOPBACK, resolver=fake_resolver({"secure.test": [["127.0.0.1"]], "wrong.test": [["127.0.0.1"]]})
    )
    async with EgressClient(policy, verify=client_ctx) as client:
        services = {"http_client": client}
        out = await call(make_node(url=f"https://secure.test:{srv.port}/json"), services)
        assert out["status"] == 200 and out["body"]["headers"]["host"] == f"secure.test:{srv.port}"
        # Same address, other name: a fresh connection whose certificate check fails; the
        # pooled connection verified for secure.test is not reused for it.
        error = await refusal(make_node(url=f"https://wrong.test:{srv.port}/json"), services)
        assert error.code == "http_connection_error" and "certificate" in error.message.lower()
    assert connects == ["127.0.0.1", "127.0.0.1"]


# --- loading ----------------------------------------------------------------------------------


def test_prepare_reports_problems() -> None:
    assert any("$.url" in p for p in problems_of(url="file:///etc/passwd"))
    assert any("$.url" in p for p in problems_of(url="http://user:pw@example.com/"))
    assert any("$.url" in p and "template" in p for p in problems_of(url="http://x/{{ $.a "))
    assert any("$.headers.Bad Name" in p for p in problems_of(url="http://x/", headers={"Bad Name": "v"}))
    assert any("$.headers.Host" in p for p in problems_of(url="http://x/", headers={"Host": "v"}))
    assert any("$.idempotency_header" in p for p in problems_of(url="http://x/", idempotency_header="a b"))
    assert any("$.body" in p for p in problems_of(url="http://x/", body={"a": "{{ 1 + }}"}))
    assert problems_of(url="https://{{$.host}}/a", headers={"A": "{{$.b}}"}) == []


async def test_runs_in_a_graph_through_the_executor(server: LocalServer) -> None:
    registry = NodeRegistry()
    registry.register(HttpRequestNode)
    graph = graphflow.load_graph(
        graph_dict(
            {
                "kind": "WorkflowHttpRequest",
                "id": "call",
                "method": "POST",
                "url": server.url("/json"),
                "body": {"n": "{{$.n}}"},
                "retry": {"max_attempts": 2, "initial_interval": 0},
            },
        ),
        registry=registry,
    )
    executor = graphflow.Executor(services={"egress_policy": EgressPolicy(allow_networks=LOOPBACK)})
    result = await executor.run(graph, {"trigger": "test.run", "payload": {"n": 7}}, run_id="atr_1")
    assert result.status == "completed", result.error
    assert json.loads(result.payload["body"]["body"]) == {"n": 7}
    assert result.payload["body"]["headers"]["idempotency-key"] == "atr_1:call"
    failed = await graphflow.Executor().run(graph, {"trigger": "test.run", "payload": {"n": 1}})
    assert failed.status == "failed" and "egress denied" in (failed.error or "")


# --- address classification -------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.1.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",
        "224.0.0.251",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "::",
        "::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "fd00:ec2::254",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "2002:7f00:1::",
        "2002:a00:1::1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:db8::1",
        "100::1",
        "::7f00:1",
    ],
)
def test_addresses_refused_by_default(address: str) -> None:
    assert address_denial(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_denial(ipaddress.ip_address(address)) is None


def test_allow_private_opens_private_ranges_only() -> None:
    policy = EgressPolicy(allow_private=True)
    for address in ("10.0.0.1", "192.168.1.1", "fd12::1", "100.64.0.1"):
        policy.check_address("internal", address)
    for address in ("127.0.0.1", "169.254.169.254", "fd00:ec2::254", "100.100.100.200"):
        with pytest.raises(NodeExecutionError):
            policy.check_address("internal", address)


async def test_allow_hosts_wildcards_and_literal_encodings() -> None:
    policy = EgressPolicy(
        allow_hosts=frozenset({"*.corp.test", "Exact.Test."}),
        resolver=fake_resolver(
            {"a.b.corp.test": [["10.0.0.5"]], "exact.test": [["10.0.0.6"]], "corp.test": [["10.0.0.7"]]}
        ),
    )
    assert await policy.resolve_and_check("a.b.corp.test", 80) == ["10.0.0.5"]
    assert await policy.resolve_and_check("exact.test", 80) == ["10.0.0.6"]
    with pytest.raises(NodeExecutionError):
        await policy.resolve_and_check("corp.test", 80)
    for host in ("2130706433", "0x7f000001", "0177.0.0.1", "127.1", "017700000001"):
        with pytest.raises(NodeExecutionError, match=r"127\.0\.0\.1"):
            await DEFAULT_EGRESS_POLICY.resolve_and_check(host, 80)


async def test_system_resolver_turns_numeric_forms_into_loopback() -> None:
    # What the system resolver does with these forms: why literal hosts are parsed the same way.
    import anyio

    for host in ("2130706433", "0x7f000001", "0177.0.0.1"):
        infos = await anyio.getaddrinfo(host, 80)
        assert {info[4][0] for info in infos} == {"127.0.0.1"}


def test_allow_networks_accepts_strings() -> None:
    policy = EgressPolicy(allow_networks=("127.0.0.0/8",))  # type: ignore[arg-type]
    policy.check_address("localhost", "127.0.0.2")
    policy.check_address("localhost", "::ffff:127.0.0.2")
