"""What the example automations' tests share: a real local HTTP API, the engine's env, the loader.

Every example calls HTTP APIs whose base URLs come from ``env`` (``CHAT_API``, ``CALENDAR_API``…).
Here they all point at one real HTTP server on 127.0.0.1 that records the requests it gets and
answers from a table the test fills; the egress policy lets the HTTP nodes reach loopback.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from graphflow.nodes.egress import EgressPolicy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Answer = tuple[int, Any]


@dataclass
class Request:
    """One request the local API received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    idempotency_key: str | None


@dataclass
class LocalApi:
    """A real HTTP server: records requests; answers ``routes[(method, path)]`` (a value or a callable)."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    routes: dict[tuple[str, str], Answer | Callable[[Request], Answer]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, method: str, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def answer(self, request: Request) -> Answer:
        route = self.routes.get((request.method, request.path), (200, {"ok": True}))
        return route(request) if callable(route) else route


def _handler(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw and "json" in (self.headers.get("content-type") or "") else raw.decode()
            request = Request(
                self.command, parts.path, parse_qs(parts.query), body, self.headers.get("idempotency-key")
            )
            with api.lock:
                api.requests.append(request)
            status, answer = api.answer(request)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def local_api() -> Iterator[LocalApi]:
    api = LocalApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, name="local-api", daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def example_env(local_api: LocalApi) -> dict[str, str]:
    """The env every example reads; the APIs are the local one."""
    return {
        "CHAT_API": local_api.url,
        "CALENDAR_API": local_api.url,
        "METRICS_API": local_api.url,
        "PAGER_API": local_api.url,
        "CONTENT_API": local_api.url,
        "SOCIAL_API": local_api.url,
        "ALERTS_API": local_api.url,
        "GUIDE_URL": "https://docs.example.com/start",
        "BRIEFING_THREAD": "thr_briefing",
        "OPS_THREAD": "thr_ops",
        "MARKETING_THREAD": "thr_marketing",
    }


@pytest.fixture
def graphflow_engine_options(example_env: dict[str, str]) -> dict[str, Any]:
    loopback = EgressPolicy(allow_networks=(ip_network("127.0.0.1/32"),))
    return {"env": example_env, "services": {"egress_policy": loopback}}


def example(name: str) -> tuple[Path, dict[str, Any]]:
    """An example's graph file and the automation fields of its ``automation.yaml``."""
    folder = EXAMPLES / name
    graph = next(path for path in sorted(folder.glob("*.yaml")) if path.name != "automation.yaml")
    return graph, yaml.safe_load((folder / "automation.yaml").read_text(encoding="utf-8"))
