"""The dashboard: one HTML page, one script and one style sheet, served next to the API.

``create_app(engine, dashboard=True)`` serves the page at ``/`` and its two assets under
``/dashboard/``. Nothing is built at install time and nothing is fetched from the network at
view time: the files are in the package. The page signs in with an app id and an API key (kept
in ``sessionStorage``, sent as ``Authorization: Bearer`` on every request, never in a URL), so
every request goes through the API's own authentication: a key sees its app only.

Every answer carries a Content-Security-Policy that allows scripts, styles and requests from
the page's own origin only (no inline script, no ``eval``), pictures from the origin and from
``blob:`` (the graph pictures the script fetches with the key), and no framing.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["CONTENT_SECURITY_POLICY", "dashboard_routes"]

#: The policy of the page and its assets.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "app.css": "text/css; charset=utf-8"}  # fmt: skip


def _asset(name: str) -> Route:
    body = (resources.files(__name__) / "static" / name).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**_HEADERS, "etag": etag, "cache-control": "no-cache"}
    path = "/" if name == "index.html" else f"/dashboard/{name}"

    async def serve(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=_FILES[name], headers=headers)

    serve.__name__ = f"dashboard_{name.replace('.', '_')}"
    return Route(path, serve, methods=["GET", "HEAD"])


def dashboard_routes() -> list[Route]:
    """The page at ``/`` and its assets under ``/dashboard/`` (read from the package once)."""
    return [_asset(name) for name in _FILES]
