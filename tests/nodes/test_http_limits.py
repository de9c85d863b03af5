"""HTTP node limits that are what they say, against a real loopback server (issue 9 item 7).

* A compressed response bomb is decoded step by step and stopped at ``max_response_bytes``:
  the memory it takes stays near the cap, not near the bomb's size.
* A value placed into a templated URL is encoded for where it stands, so it cannot change the
  URL's path, query or fragment.
"""

from __future__ import annotations

import functools
import gzip
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from graphflow.graph.model import GraphContext
from graphflow.nodes.egress import EgressPolicy
from graphflow.nodes.http import HttpRequestNode
from graphflow.nodes.http_decode import BoundedBody
from graphflow.nodes.http_url import Position, compile_url
from tests.nodes.test_http import make_ctx
from tests.servers import serving

MIB = 1024 * 1024
BOMB_SIZE = 256 * MIB


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@functools.cache
def bomb(coding: str) -> bytes:
    """BOMB_SIZE zero bytes, compressed (~250 KiB), built in pieces."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS)
    zeros = bytes(MIB)
    return b"".join(packer.compress(zeros) for _ in range(BOMB_SIZE // MIB)) + packer.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # the raw request target, as sent
        route = urlsplit(self.path).path
        if route.startswith("/bomb/"):
            coding = route.removeprefix("/bomb/")
            status = 200
            if coding.endswith("-404"):
                coding, status = coding.removesuffix("-404"), 404
            data = bomb(coding.split(",")[0])
            if coding == "gzip,gzip":
                data = gzip.compress(data)
            self._send(status, data, [("Content-Type", "text/plain"), ("Content-Encoding", coding.replace(",", ", "))])
        elif route == "/small-gzip":
            self._send(
                200,
                gzip.compress(b'{"ok": true}'),
                [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            )
        elif route == "/brotli":
            self._send(200, b"\x0b\x02\x80hi\x03", [("Content-Type", "text/plain"), ("Content-Encoding", "br")])
        else:
            self._send(200, b"ok", [("Content-Type", "text/plain")])

    def _send(self, status: int, data: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.paths: list[str] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hangs up on a bomb on purpose

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serving(Server(), "test-http-limits") as srv:
        yield srv


SERVICES = {"egress_policy": EgressPolicy(allow_networks=("127.0.0.1/32",))}


def make_node(**fields: Any) -> HttpRequestNode:
    node = HttpRequestNode(id="h", **fields)
    graph = GraphContext({})
    node.prepare(graph)
    assert graph.problems == [], graph.problems
    return node


async def call(node: HttpRequestNode, input: Any = None) -> Any:
    return await node.run({} if input is None else input, make_ctx(SERVICES))


# --- compressed bombs -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("coding", ["gzip", "deflate", "gzip,gzip"])
async def test_a_compressed_bomb_stops_at_the_cap_without_expanding(server: Server, coding: str) -> None:
    bomb("gzip" if coding.startswith("gzip") else coding)  # built before memory is traced
    node = make_node(url=server.url(f"/bomb/{coding}"))
    tracemalloc.start()
    try:
        with pytest.raises(Exception) as info:
            await call(node)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert getattr(info.value, "code", None) == "http_response_too_large"
    # The cap is 5 MiB; the bomb is 256 MiB. Kept body + one decoding step + the raw bytes.
    assert peak < 16 * MIB, f"peak {peak / MIB:.0f} MiB"


@pytest.mark.anyio
async def test_an_error_status_reads_only_a_snippet_of_a_bomb(server: Server) -> None:
    node = make_node(url=server.url("/bomb/gzip-404"))
    tracemalloc.start()
    try:
        with pytest.raises(Exception) as info:
            await call(node)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert getattr(info.value, "code", None) == "http_status_4xx"
    assert peak < 16 * MIB, f"peak {peak / MIB:.0f} MiB"


@pytest.mark.anyio
async def test_small_compressed_bodies_still_decode(server: Server) -> None:
    result = await call(make_node(url=server.url("/small-gzip")))
    assert result["body"] == {"ok": True}


@pytest.mark.anyio
async def test_an_unrequested_coding_is_a_clear_error(server: Server) -> None:
    with pytest.raises(Exception) as info:
        await call(make_node(url=server.url("/brotli")))
    assert getattr(info.value, "code", None) == "http_unsupported_encoding"


def test_the_decoder_never_holds_more_than_the_limit() -> None:
    body = BoundedBody("gzip", 1000)
    assert body.feed(bomb("gzip")[:4096]) is False
    assert body.overflowed and len(body.body) == 1000


# --- URL templates ----------------------------------------------------------------------------


HOSTILE = "../../admin?x=1#"


@pytest.mark.anyio
async def test_a_path_hole_is_one_segment(server: Server) -> None:
    await call(make_node(url=server.url("/users/{{$.id}}/profile")), {"id": HOSTILE})
    assert server.paths[-1] == "/users/..%2F..%2Fadmin%3Fx%3D1%23/profile"
    await call(make_node(url=server.url("/users/{{$.id}}/profile")), {"id": ".."})
    assert server.paths[-1] == "/users/%2E%2E/profile"


@pytest.mark.anyio
async def test_a_query_hole_is_one_value(server: Server) -> None:
    await call(make_node(url=server.url("/search?q={{$.q}}&page=2")), {"q": "a&page=9#x y"})
    assert server.paths[-1] == "/search?q=a%26page%3D9%23x%20y&page=2"


@pytest.mark.anyio
async def test_a_whole_url_or_origin_hole_stays_as_it_is(server: Server) -> None:
    await call(make_node(url="{{$.url}}"), {"url": server.url("/a/b?c=d")})
    assert server.paths[-1] == "/a/b?c=d"
    await call(make_node(url="{{$.base}}/items/{{$.id}}"), {"base": server.url("/v1"), "id": "x/y"})
    assert server.paths[-1] == "/v1/items/x%2Fy"


@pytest.mark.parametrize(
    ("template", "positions"),
    [
        ("{{$.url}}", [Position.ORIGIN]),
        ("https://{{$.host}}:{{$.port}}/x", [Position.ORIGIN, Position.ORIGIN]),
        (
            "{{env.API}}/a/{{$.id}}?q={{$.q}}#{{$.f}}",
            [Position.ORIGIN, Position.PATH, Position.QUERY, Position.FRAGMENT],
        ),
        ("https://api.example.com/{{$.a}}-{{$.b}}", [Position.PATH, Position.PATH]),
        ("https://api.example.com/x?a={{'}}'}}", [Position.QUERY]),
    ],
)
def test_positions(template: str, positions: list[Position]) -> None:
    graph = GraphContext({})
    compiled = compile_url(template, graph)
    assert graph.problems == [] and compiled is not None
    assert [part[1] for part in compiled.parts if not isinstance(part, str)] == positions
