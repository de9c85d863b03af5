"""Fixtures of the dashboard's browser tests: Debian's Chromium driven by Playwright, one per module.

Chromium must be at ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs
it). Locally a missing browser skips these tests; in CI (``CI=true``) it fails them.
``GRAPHFLOW_SCREENSHOTS=1`` saves a screenshot of each page into ``docs/img/``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.server import Dashboard, dashboard_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
TIMEOUT = 10_000  # ms: the longest any expectation waits (a pass is usually a few ms)


def _browser_missing() -> None:
    message = f"Chromium is not at {CHROMIUM}: apt-get install chromium"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    if not CHROMIUM.exists():
        _browser_missing()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The API and the dashboard on a SQLite file; its engine executes nothing (see ``worker``)."""
    database = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'graphflow.db'}"
    with dashboard_server(database) as live:
        yield live


@dataclass
class App:
    """A fresh app with a key and an HTTP client holding it."""

    id: str
    key: str
    http: httpx.Client

    def url(self, path: str) -> str:
        return f"/v1/apps/{self.id}{path}"


@pytest.fixture
def app(server: Dashboard) -> Iterator[App]:
    app_id = f"app_{uuid.uuid4().hex[:10]}"
    key = server.key(app_id)
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {key}"}, timeout=10) as http:
        yield App(app_id, key, http)


@pytest.fixture
def page(browser: Any, server: Dashboard) -> Iterator[Any]:
    """A new browser context and page; fails the test on any dialog or script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    problems: list[str] = []
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # The browser logs every 4xx answer as an error; those are expected (refusals are tested). A
    # Content-Security-Policy violation or a script error is not.
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    page.problems = problems
    try:
        yield page
    finally:
        context.close()
    assert not problems, problems


def sign_in(page: Any, server: Dashboard, app: App, key: str | None = None, *, refused: bool = False) -> None:
    """Open the dashboard and sign in as ``app`` (with ``key``, default its own).

    Waits until the page is signed in, unless the key is expected to be ``refused``.
    """
    from playwright.sync_api import expect

    page.goto(server.url + "/")
    page.get_by_label("App id").fill(app.id)
    page.get_by_label("API key").fill(key or app.key)
    page.get_by_role("button", name="Sign in").click()
    if not refused:
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def screenshot(page: Any, name: str) -> None:
    """Save ``docs/img/dashboard-NAME.png`` when ``GRAPHFLOW_SCREENSHOTS=1``."""
    if os.environ.get("GRAPHFLOW_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / f"dashboard-{name}.png"), full_page=True)
