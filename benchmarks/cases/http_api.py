"""The HTTP API on loopback: ``GET`` one automation and ``POST /events`` (one run each), load from another process.

The server is ``graphflow.api.create_app`` on uvicorn in a child process, on a SQLite file, with
the run executor in the same process (what ``graphflow serve`` runs), plus a bare Starlette
"hello JSON" route on the same server: the floor. This process generates the load: a few
keep-alive HTTP/1.1 connections, each sending its next request when the previous answer is read
(a closed loop), for a fixed time. A row reports the time per request at that concurrency
(1e6 / value = requests per second) and, in its ``-p99`` twin, the 99th-percentile latency.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Case, Settings

CONNECTIONS = 16
APP = "app_bench"
KEY = "bench-key"
_server: dict[str, Any] = {}
WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"


def _start() -> dict[str, Any]:
    """The child server (started once per process): its port and the seeded automation's id."""
    if not _server:
        folder = tempfile.mkdtemp(prefix="graphflow-http-bench-")
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.cases.http_api", str(Path(folder) / "bench.db")],
            stdout=subprocess.PIPE,
            text=True,
        )
        atexit.register(proc.terminate)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the child prints its address once it listens
        if not line:
            raise RuntimeError(f"the benchmark server exited {proc.wait()}")
        _server.update(json.loads(line), proc=proc)
    return _server


def _request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {KEY}\r\n"
    if body:
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def _connection(port: int, request: bytes, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            if status >= 300:
                raise RuntimeError(f"status {status}: {head[:200]!r}")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def _load(request: bytes, seconds: float) -> tuple[float, float]:
    """(seconds per request, p99 latency in seconds) of ``seconds`` of closed-loop load."""
    port = _start()["port"]
    latencies: list[float] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_connection(port, request, until, latencies) for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return elapsed / len(latencies), latencies[int(len(latencies) * 0.99)]


def _measure(make: Any, *, p99: bool) -> Any:
    async def measure(n: int, settings: Settings) -> list[float]:
        seconds = 0.3 if settings.quick else 3.0
        await _load(make(), 0.1 if settings.quick else 0.5)  # warm-up
        values = []
        for _ in range(settings.repeats):
            per_request, tail = await _load(make(), seconds)
            values.append(tail * 1e3 if p99 else per_request * 1e6)
        return values

    return measure


def _get() -> bytes:
    return _request("GET", f"/v1/apps/{APP}/automations/{_start()['automation_id']}")


def _hello() -> bytes:
    return _request("GET", "/hello")


def _publish() -> bytes:
    body = {"name": "thread.member_joined", "payload": {"thread_id": "thr_1", "user_id": "usr_9"}}
    return _request("POST", f"/v1/apps/{APP}/events", json.dumps(body).encode())


_FLOOR = "Starlette's bare 'hello JSON' route on the same server"
_NOTE = f"uvicorn, one process, SQLite; {CONNECTIONS} keep-alive connections from another process, closed loop"

CASES = [
    Case(
        name="http-get",
        title="HTTP GET one automation (1e6/value = requests/s)",
        unit="µs/request",
        divisor=1,
        contenders={"graphflow": _measure(_get, p99=False), "floor": _measure(_hello, p99=False)},
        measured=True,
        floor=_FLOOR,
        note=_NOTE,
    ),
    Case(
        name="http-get-p99",
        title="HTTP GET one automation, p99 latency",
        unit="ms",
        divisor=1,
        contenders={"graphflow": _measure(_get, p99=True), "floor": _measure(_hello, p99=True)},
        measured=True,
        floor=_FLOOR,
        note=_NOTE,
    ),
    Case(
        name="http-events",
        title="HTTP POST /events starting one run (1e6/value = requests/s)",
        unit="µs/request",
        divisor=1,
        contenders={"graphflow": _measure(_publish, p99=False), "floor": _measure(_hello, p99=False)},
        measured=True,
        floor=_FLOOR,
        note=_NOTE + "; the runs execute in the server process meanwhile",
    ),
    Case(
        name="http-events-p99",
        title="HTTP POST /events starting one run, p99 latency",
        unit="ms",
        divisor=1,
        contenders={"graphflow": _measure(_publish, p99=True), "floor": _measure(_hello, p99=True)},
        measured=True,
        floor=_FLOOR,
        note=_NOTE,
    ),
]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _sse_client(port: int, counts: list[int], index: int, ready: asyncio.Event, total: int) -> None:
    path = f"/v1/apps/{APP}/stream?types=run.completed"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request("GET", path))
    await reader.readuntil(b"\r\n\r\n")
    ready.set()
    try:
        while counts[index] < total:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"event: run.completed"):
                counts[index] += 1
    finally:
        writer.close()


async def sse_fanout(clients: int = 100, rate: float = 500.0, seconds: float = 60.0) -> dict[str, Any]:
    """``clients`` app streams while runs are published at ``rate``/s for ``seconds``.

    Returns how many runs were published, the fewest and most ``run.completed`` frames a client
    got, and the server's RSS (KiB) when the streams opened, every 10 s of load and at the end.
    """
    server = _start()
    port, pid = server["port"], server["proc"].pid
    total = int(rate * seconds)
    counts = [0] * clients
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = [asyncio.create_task(_sse_client(port, counts, i, readies[i], total)) for i in range(clients)]
    await asyncio.gather(*(r.wait() for r in readies))
    rss_start = _rss_kib(pid)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = _publish()
    started = time.perf_counter()
    samples, sample_every = [], max(1, int(rate * 10))  # the server's RSS every 10 s of load
    for k in range(total):  # paced: the k-th event leaves at started + k / rate
        if k % sample_every == 0:
            samples.append(_rss_kib(pid))
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(x.split(b":", 1)[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length"))
        await reader.readexactly(length)
    sent_in = time.perf_counter() - started
    writer.close()
    with contextlib.suppress(TimeoutError):  # a client short of frames shows in "fewest"
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    return {
        "clients": clients,
        "published": total,
        "publish_seconds": round(sent_in, 1),
        "fewest": min(counts),
        "most": max(counts),
        "drain_seconds": round(time.perf_counter() - started - sent_in, 1),
        "rss_start_kib": rss_start,
        "rss_end_kib": _rss_kib(pid),
        "rss_every_10s_kib": samples,
    }


async def _serve(database: str) -> None:
    """The child: seed an app, serve the API and the floor route, print where, run until killed."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route

    from graphflow.api import create_app
    from graphflow.engine.engine import Engine

    async def auth(request: Request) -> str | None:
        return APP if request.headers.get("authorization") == f"Bearer {KEY}" else None

    async def hello(request: Request) -> Response:
        return JSONResponse({"hello": "world"})

    async with Engine(f"sqlite:///{database}") as engine:
        config = await engine.configs.create(APP, path=WELCOME)
        automation = await engine.automations.create(
            APP, name="Welcome", trigger="thread.member_joined", config_id=config.id, enabled=True
        )
        app = Starlette(routes=[Route("/hello", hello), Mount("/", create_app(engine, auth=auth))])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY
        sock.bind(("127.0.0.1", 0))
        ready = json.dumps({"port": sock.getsockname()[1], "automation_id": automation.id})

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets)
                print(ready, flush=True)  # listening now

        await Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)).serve([sock])


if __name__ == "__main__":
    if sys.argv[1] == "sse":  # python -m benchmarks.cases.http_api sse [CLIENTS RATE SECONDS]
        numbers = [float(x) for x in sys.argv[2:5]] or [100, 500, 60]
        print(json.dumps(asyncio.run(sse_fanout(int(numbers[0]), numbers[1], numbers[2]))))
        _server["proc"].terminate()
    else:
        asyncio.run(_serve(sys.argv[1]))
