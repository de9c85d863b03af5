"""``create_app(engine)``: the graphflow HTTP API as a Starlette app a host mounts or ``graphflow serve`` runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graphflow.api.auth import Authenticator, HostAuth
from graphflow.api.bodies import parse_query
from graphflow.api.errors import exception_handlers
from graphflow.api.feed import Feeds
from graphflow.api.openapi import openapi_document
from graphflow.api.operations import Call, Endpoint, Operation, Settings
from graphflow.api.routes import automations, configs, events, health, runs, steering, stream, views

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine

__all__ = ["OPERATIONS", "create_app"]

#: Every operation of the API, in matching order (fixed path segments before ``{id}`` ones).
OPERATIONS: tuple[Operation, ...] = (
    *health.OPERATIONS,
    *views.OPERATIONS,
    *runs.OPERATIONS,
    *stream.OPERATIONS,
    *automations.OPERATIONS,
    *configs.OPERATIONS,
    *events.OPERATIONS,
    *steering.OPERATIONS,
)


def _endpoint(
    op: Operation, engine: Engine, authenticator: Authenticator, settings: Settings, feeds: Feeds
) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        app_id: str = request.path_params.get("app_id", "")
        if not op.public:
            await authenticator.authorize(request, app_id)
        parse_query(op.query, request)  # refused before anything runs; handlers read it typed
        call = Call(request, engine, app_id, settings, authenticator, feeds)
        tracing = engine.executor.tracing
        if tracing is None:
            return await op.handler(call)
        with tracing.continued(request.headers):  # a client's traceparent: the runs it starts continue it
            return await op.handler(call)

    endpoint.__name__ = op.operation_id
    return endpoint


def create_app(
    engine: Engine,
    *,
    auth: HostAuth | None = None,
    settings: Settings | None = None,
    operations: Iterable[Operation] = OPERATIONS,
    dashboard: bool = False,
) -> Starlette:
    """The HTTP API over ``engine`` (started and stopped by the host, or by ``graphflow serve``).

    Every route is under ``/v1``: mount the app at ``/`` (or anywhere) next to the host's own.

    Args:
        engine: the engine serving the operations; the app neither starts nor stops it.
        auth: the host's authentication, instead of API keys: an async callable given the
            request and returning the id of the app it may act for (``None``: 401).
        settings: body limit, SSE heartbeat and key re-verification interval.
        operations: the operations to serve (default: all of them).
        dashboard: also serve the dashboard page at ``/`` (:mod:`graphflow.api.dashboard`).
    """
    settings = settings or Settings()
    authenticator = Authenticator(engine, auth)
    feeds = Feeds(engine)
    operations = tuple(operations)
    document = openapi_document(operations)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes = [Route("/v1/openapi.json", openapi, methods=["GET"])]
    routes += [
        Route("/v1" + op.path, _endpoint(op, engine, authenticator, settings, feeds), methods=[op.method])
        for op in operations
    ]
    if dashboard:
        from graphflow.api.dashboard import dashboard_routes

        routes += dashboard_routes()
    handlers: Any = exception_handlers
    return Starlette(routes=routes, exception_handlers=handlers)
