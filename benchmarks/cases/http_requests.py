"""HTTP requests per second through the ``WorkflowHttpRequest`` node, against a loopback server.

The server is a separate process (so it does not share this interpreter's GIL): a minimal
asyncio HTTP/1.1 keep-alive server answering every GET with a small JSON body. One iteration is
a batch of 200 runs of ``trigger → WorkflowHttpRequest GET http://127.0.0.1:PORT/items/{{$.id}}``
from 10 concurrent tasks through one ``Executor``, whose services hold an ``EgressClient`` (pooled
connections, every address checked against an ``EgressPolicy`` allowing 127.0.0.1) — divided by
the batch. The floor is bare ``httpx.AsyncClient`` GETs of the same URLs with the same
concurrency: what the node adds is the template, the egress check, the response decoding, the
journal and the run around it.
"""

from __future__ import annotations

import atexit
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import anyio

from benchmarks.harness import Case, deferred_async

BATCH = 200
CONCURRENCY = 10

_SERVER = r"""
import asyncio, sys

BODY = b'{"ok": true, "items": [1, 2, 3]}'
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""
_port: list[int] = []


def _server_port() -> int:
    """Start the loopback server once per process; return its port."""
    if _port:
        return _port[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    atexit.register(process.terminate)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    _port.append(port)
    return port


async def _batch(request: Callable[[int], Any]) -> None:
    async def worker(first: int) -> None:
        for index in range(first, BATCH, CONCURRENCY):
            await request(index)

    async with anyio.create_task_group() as tg:
        for first in range(CONCURRENCY):
            tg.start_soon(worker, first)


def _graphflow() -> Any:
    async def build() -> Callable[[], Any]:
        import ipaddress

        import httpx

        import graphflow
        from graphflow.nodes.egress import EgressPolicy
        from graphflow.nodes.http import EgressClient

        port = _server_port()
        policy = EgressPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),))
        client = EgressClient(policy, limits=httpx.Limits(max_keepalive_connections=CONCURRENCY))
        executor = graphflow.Executor(services={"egress_policy": policy, "http_client": client})
        graph = graphflow.load_graph(
            {
                "kind": "WorkflowGraph",
                "version": 1,
                "name": "http",
                "start_node": "t",
                "nodes": [
                    {"kind": "WorkflowTrigger", "id": "t", "trigger": "bench.http", "on_success": "get"},
                    {
                        "kind": "WorkflowHttpRequest",
                        "id": "get",
                        "method": "GET",
                        "url": f"http://127.0.0.1:{port}/items/{{{{$.id}}}}",
                    },
                ],
            }
        )

        async def request(index: int) -> None:
            result = await executor.run(graph, {"trigger": "bench.http", "payload": {"id": index}})
            assert result.status == "completed", result.error

        async def iteration() -> None:
            await _batch(request)

        return iteration

    return deferred_async(build)


def _floor() -> Any:
    async def build() -> Callable[[], Any]:
        import httpx

        port = _server_port()
        client = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=CONCURRENCY))

        async def request(index: int) -> None:
            response = await client.get(f"http://127.0.0.1:{port}/items/{index}")
            assert response.json()["ok"] is True

        async def iteration() -> None:
            await _batch(request)

        return iteration

    return deferred_async(build)


CASES = [
    Case(
        name="http_requests",
        title=f"HTTP GET through WorkflowHttpRequest, loopback server, {CONCURRENCY} concurrent",
        unit="µs/request",
        divisor=BATCH,
        per_repeat=3,
        contenders={"graphflow": _graphflow(), "floor": _floor()},
        floor="bare httpx.AsyncClient GETs of the same URLs, same concurrency",
        note="requests/s = 1e6 / value; the server is another process on 127.0.0.1",
    ),
]
