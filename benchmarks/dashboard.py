"""The dashboard's automations page with 1,000 automations: server time and time to interactive in Chromium.

Run it with ``python -m benchmarks.dashboard [N] [ROUNDS]`` (default 1,000 automations, 5
rounds). It needs the ``[http]`` extra, Playwright and Chromium at ``/usr/bin/chromium``; it is
not one of ``python -m benchmarks``'s cases because of that browser.

One app gets N automations (a third each scheduled, trigger and invoked; all running) on a
SQLite file; the API and the dashboard are served by uvicorn on loopback. It reports:

- **server**: the time the page's API calls take end to end on loopback, made one after the
  other as the page makes them (the automations in pages of 100: N / 100 calls), and the
  service's own time for the same pages (``engine.automations.list``, no HTTP);
- **browser**: from navigation start to the first rows shown and to the page being interactive
  (every automation loaded, the first 200 rows drawn — scrolling draws more — filters and
  switches live: the ``graphflow:automations-ready`` mark), medians over the rounds of a reload
  of the signed-in page; then a search by name over all of them (typing to the one matching
  row drawn) and drawing every row.
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import httpx
import uvicorn

from graphflow.api import create_app
from graphflow.engine.engine import Engine

APP = "app_bench"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip
CONFIG = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "bench",
    "start_node": "scheduled",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "scheduled", "trigger": "workflow.scheduled", "on_success": "work"},
        {"kind": "WorkflowTrigger", "id": "joined", "trigger": "thread.member_joined", "on_success": "work"},
        {"kind": "WorkflowTrigger", "id": "invoked", "trigger": "workflow.invoked", "on_success": "work"},
        {"kind": "WorkflowScript", "id": "work", "source": "1"},
    ],
}


async def _seed(engine: Engine, count: int) -> str:
    config = await engine.configs.create(APP, CONFIG)
    kinds: list[dict[str, Any]] = [
        {"type": "scheduled", "schedule": "every monday at 9am"},
        {"type": "trigger", "trigger": "thread.member_joined"},
        {"type": "invoked"},
    ]
    for index in range(count):
        fields = {"name": f"Automation {index:04d}", "config_id": config.id, "enabled": True, **kinds[index % 3]}
        await engine.automations.create(APP, fields)
    return (await engine.keys.create(APP))[1]


async def _service_time(engine: Engine) -> float:
    start = time.perf_counter()
    cursor = None
    while True:
        page = await engine.automations.list(APP, cursor=cursor, limit=100)
        cursor = page.next_cursor
        if cursor is None:
            return time.perf_counter() - start


def _http_time(url: str, key: str) -> tuple[float, int]:
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}) as client:
        client.get(f"/v1/apps/{APP}/automations?limit=1")  # the connection, opened
        start = time.perf_counter()
        cursor, calls, rows = None, 0, 0
        while True:
            query = f"?limit=100&cursor={cursor}" if cursor else "?limit=100"
            page = client.get(f"/v1/apps/{APP}/automations{query}").json()
            calls += 1
            rows += len(page["data"])
            cursor = page["next_cursor"]
            if cursor is None:
                return time.perf_counter() - start, calls


def _browser(url: str, key: str, rounds: int) -> tuple[list[float], list[float], list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    first: list[float] = []
    ready: list[float] = []
    search: list[float] = []
    everything: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/")
        page.get_by_label("App id").fill(APP)
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("body[data-ready='automations']", timeout=30_000)
        for _ in range(rounds):
            page.reload()
            page.wait_for_selector("body[data-ready='automations']", timeout=30_000)
            marks = page.evaluate(
                "['graphflow:first-rows', 'graphflow:automations-ready']"
                ".map(name => performance.getEntriesByName(name)[0].startTime)"
            )
            first.append(marks[0])
            ready.append(marks[1])
            rows = page.locator("#automations tbody tr").count()
            assert rows > 0, "no rows"
            search.append(
                page.evaluate(
                    """() => new Promise((done) => {
                      const box = document.getElementById("search"), start = performance.now();
                      box.value = "Automation 0999";
                      box.dispatchEvent(new Event("input"));
                      requestAnimationFrame(() => setTimeout(() => done(performance.now() - start)));
                    })"""
                )
            )
            everything.append(
                page.evaluate(
                    """() => new Promise((done) => {
                      const box = document.getElementById("search"), start = performance.now();
                      box.value = "";
                      box.dispatchEvent(new Event("input"));
                      const more = () => {
                        const button = document.querySelector("#automations tr.more button");
                        if (button) { button.click(); setTimeout(more); }
                        else requestAnimationFrame(() => setTimeout(() => done(performance.now() - start)));
                      };
                      more();
                    })"""
                )
            )
        browser.close()
    return first, ready, search, everything


def main(count: int = 1000, rounds: int = 5) -> None:
    """Seed, serve, measure, print."""
    database = f"sqlite:///{Path(tempfile.mkdtemp(prefix='graphflow-dashboard-bench-')) / 'bench.db'}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    listening = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            listening.set()

    async def serve(*, task_status: anyio.abc.TaskStatus[tuple[Engine, str, Server]]) -> None:
        async with Engine(database, max_concurrent_runs=0) as engine:
            key = await _seed(engine, count)
            server = Server(uvicorn.Config(create_app(engine, dashboard=True), log_level="warning", lifespan="off"))
            task_status.started((engine, key, server))
            await server.serve([sock])

    with sock, anyio.from_thread.start_blocking_portal() as portal:
        seeded = time.perf_counter()
        served, (engine, key, server) = portal.start_task(serve)
        listening.wait(30)
        print(f"{count} automations seeded in {time.perf_counter() - seeded:.1f} s; {url}")
        try:
            service = min(portal.call(_service_time, engine) for _ in range(rounds))
            http = [_http_time(url, key) for _ in range(rounds)]
            best, calls = min(http)
            print(f"server: {calls} list calls (100 a page): {best * 1000:.0f} ms on loopback (best of {rounds}), "
                  f"service alone {service * 1000:.0f} ms")  # fmt: skip
            first, ready, search, everything = _browser(url, key, rounds)
            print(f"browser (Chromium, median of {rounds} reloads): first rows {statistics.median(first):.0f} ms, "
                  f"interactive {statistics.median(ready):.0f} ms after navigation start "
                  f"(all: {', '.join(f'{r:.0f}' for r in ready)}); a search by name over all "
                  f"{statistics.median(search):.0f} ms; drawing all {count} rows "
                  f"{statistics.median(everything):.0f} ms")  # fmt: skip
        finally:
            server.should_exit = True
            served.result(timeout=30)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
