"""The dashboard's HTTP side, without a browser: the page's headers, the SVG and catalogue routes, serve's flag."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import httpx
import pytest

from graphflow.api.dashboard import CONTENT_SECURITY_POLICY
from tests.api.test_serve import serving
from tests.dashboard.conftest import App
from tests.dashboard.server import Dashboard, worker
from tests.dashboard.test_pages import GATED

STATIC = Path(__file__).resolve().parents[2] / "graphflow" / "api" / "dashboard" / "static"


@pytest.mark.parametrize("path", ["/", "/dashboard/app.js", "/dashboard/app.css"])
def test_the_page_and_its_assets_carry_the_policy(server: Dashboard, path: str) -> None:
    response = httpx.get(server.url + path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    again = httpx.get(server.url + path, headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_page_has_no_inline_script_and_fetches_nothing_elsewhere() -> None:
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="dashboard/app.js">']
    assert "style=" not in html and not re.search(r"\son[a-z]+=", html)  # no inline style or handler
    references = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert references and all(not re.match(r"[a-z]+:|/", ref) for ref in references)  # relative: mountable anywhere
    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "EventSource" not in script.replace("EventSource cannot", "")  # headers: fetch streams only
    assert "http://" not in script and "https://" not in script


def test_the_api_alone_serves_no_page(server: Dashboard) -> None:
    from graphflow.api import create_app

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(server.engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
            return await client.get("/")

    response = anyio.run(get)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_page_works_mounted_under_a_prefix(server: Dashboard) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from graphflow.api import create_app

    async def get(*paths: str) -> list[httpx.Response]:
        host = Starlette(routes=[Mount("/ops", create_app(server.engine, dashboard=True))])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://host") as client:
            return [await client.get(path) for path in paths]

    bare, page, script = anyio.run(get, "/ops", "/ops/", "/ops/dashboard/app.js")
    assert bare.status_code == 307 and bare.headers["location"] == "http://host/ops/"  # relative links resolve
    assert page.status_code == 200 and script.status_code == 200


def test_pictures_are_svg_of_this_app_only(server: Dashboard, app: App) -> None:
    config = app.http.post(app.url("/configs"), json=GATED).json()
    picture = app.http.get(app.url(f"/configs/{config['id']}/svg"))
    assert picture.status_code == 200, picture.text
    assert picture.headers["content-type"].startswith("image/svg+xml")
    assert picture.headers["content-security-policy"].startswith("default-src 'none'")
    assert picture.text.startswith("<svg") and "Gated greeting (version 1)" in picture.text
    assert app.http.get(app.url(f"/configs/{config['id']}/svg?version=2")).status_code == 404
    assert app.http.get(app.url(f"/configs/{config['id']}/svg?version=0")).status_code == 400
    other_id = f"{app.id}z"
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {server.key(other_id)}"}) as other:
        assert other.get(f"/v1/apps/{other_id}/configs/{config['id']}/svg").status_code == 404
        assert other.get(app.url(f"/configs/{config['id']}/svg")).status_code == 404
    automation = app.http.post(
        app.url("/automations"), json={"name": "p", "type": "invoked", "config_id": config["id"], "enabled": True}
    ).json()
    with worker(server.database, gate_open=True):
        run_id = app.http.post(app.url(f"/automations/{automation['id']}/trigger"), json={}).json()["run_id"]
        server.call(server.engine.wait_for_run, app.id, run_id, timeout=10)
    path = app.http.get(app.url(f"/automations/runs/{run_id}/svg"))
    assert path.status_code == 200 and 'class="gf-node gf-completed" data-node="gate"' in path.text
    assert app.http.get(app.url("/automations/runs/atr_0/svg")).status_code == 404
    assert httpx.get(server.url + app.url(f"/automations/runs/{run_id}/svg")).status_code == 401


def test_the_catalogue_lists_payload_schemas(app: App) -> None:
    data = app.http.get(app.url("/events/catalogue")).json()["data"]
    joined = next(event for event in data if event["name"] == "thread.member_joined")
    assert joined["schema"]["type"] == "object" and "thread_id" in joined["schema"]["properties"]
    assert not [event for event in data if event["name"].startswith("workflow.")]


def test_graphflow_serve_serves_the_dashboard_unless_told_not_to(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'g.db'}"
    with serving("--database-url", database) as (_, url):
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "dashboard/app.js" in page.text
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    with serving("--database-url", database, "--no-dashboard") as (_, url):
        assert httpx.get(url + "/").status_code == 404
        assert httpx.get(url + "/v1/health").status_code == 200
