"""One declaration per HTTP operation: its route, its handler, and what the OpenAPI document says of it.

The routes modules list :class:`Operation` objects; :func:`graphflow.api.create_app` turns them
into Starlette routes (authorizing every non-public one first) and
:mod:`graphflow.api.openapi` turns the same objects into ``/v1/openapi.json``. A handler receives a
:class:`Call`: the request, the engine, the authorized app id and the settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graphflow.api.bodies import parse_json, parse_model, parse_query, read_body

if TYPE_CHECKING:
    from graphflow.api.auth import Authenticator
    from graphflow.api.feed import Feeds
    from graphflow.engine.engine import Engine

__all__ = ["Call", "Endpoint", "Handler", "Operation", "Settings", "json_response"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Settings:
    """Server limits and timings.

    Attributes:
        max_body: largest request body, in bytes (larger: 413).
        heartbeat: seconds between SSE heartbeat comments.
        reverify: seconds between re-checks of a stream's credentials (a revoked key's stream
            closes within this).
        metrics_public: serve the operator endpoints (``GET /metrics``, ``GET /v1/status``)
            without credentials (for a server reachable only by the operator's network).
        metrics_app: only credentials of this app (the operator's) may read the operator
            endpoints; unset, any valid API key may. Set it on a server shared by apps that do
            not trust each other: metrics name the automations of every app.
        max_lag: seconds the scheduler may be overdue before ``/v1/health/ready`` says not ready.
    """

    max_body: int = 1_048_576
    heartbeat: float = 15.0
    reverify: float = 1.0
    metrics_public: bool = False
    metrics_app: str | None = None
    max_lag: float = 60.0


@dataclass(frozen=True, slots=True)
class Call:
    """One authorized request, as a handler sees it."""

    request: Request
    engine: Engine
    app_id: str
    settings: Settings
    auth: Authenticator
    feeds: Feeds

    def path(self, name: str) -> str:
        """A path parameter."""
        value: str = self.request.path_params[name]
        return value

    def query(self, model: type[M]) -> M:
        """The query string, validated by ``model``."""
        query = parse_query(model, self.request)
        assert query is not None
        return query

    async def raw(self) -> bytes:
        """The body, within :attr:`Settings.max_body`."""
        return await read_body(self.request, self.settings.max_body)

    async def json(self, *, optional: bool = False) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when ``optional`` and empty)."""
        return parse_json(await self.raw(), self.request, optional=optional)

    async def body(self, model: type[M], *, optional: bool = False) -> M:
        """The JSON body validated by ``model``."""
        return parse_model(model, await self.json(optional=optional))


#: What an operation runs.
Handler = Callable[[Call], Awaitable[Response]]
#: A Starlette endpoint.
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Operation:
    """An HTTP operation under ``/v1``.

    Attributes:
        method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        path: the Starlette path (``/apps/{app_id}/...``); every ``{app_id}`` path is authorized.
        handler: the coroutine answering it.
        operation_id: the OpenAPI ``operationId``.
        summary: one line for the OpenAPI document.
        tag: the noun it belongs to.
        status: the success status.
        response: the success body's model (``None``: no body).
        body: the request body's model, or a JSON Schema for bodies the service checks itself.
        body_required: whether a body must be sent.
        yaml: whether the body may also be YAML.
        query: the query string's model.
        errors: the error statuses it can answer besides 400/401/404/503.
        stream: the answer is a ``text/event-stream``.
        media_type: the success body's type when it is not JSON (``image/svg+xml``).
        operator: an operator endpoint across apps (``/v1/status``), authorized as ``/metrics`` is
            (:attr:`Settings.metrics_public`, :attr:`Settings.metrics_app`).
    """

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    status: int = 200
    response: type[BaseModel] | None = None
    body: type[BaseModel] | dict[str, Any] | None = None
    body_required: bool = True
    yaml: bool = False
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    stream: bool = False
    media_type: str | None = None
    operator: bool = False

    @property
    def public(self) -> bool:
        """Whether it answers without credentials (it names no app and is not an operator endpoint)."""
        return "{app_id}" not in self.path and not self.operator


#: Every API answer: a browser never sniffs one into something else (the dashboard shares the origin).
NOSNIFF = {"x-content-type-options": "nosniff"}


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON response (``204``: an empty one)."""
    if status == 204:
        return Response(status_code=204, headers=NOSNIFF)
    return JSONResponse(data, status_code=status, headers=NOSNIFF)
