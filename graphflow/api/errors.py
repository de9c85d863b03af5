"""Every failure as ``{"error": {"code", "message", "details"?}}`` with its HTTP status; never a traceback.

A :class:`~graphflow.exceptions.GraphflowError` keeps its own ``code``; the status comes from
:data:`STATUSES`. Starlette's own refusals (an unknown path, a wrong method) get the same shape,
and anything unexpected is a 500 ``internal_error`` whose body names no exception (the traceback
goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graphflow.exceptions import EngineNotStartedError, GraphflowError, StoreError

__all__ = [
    "STATUSES",
    "PayloadTooLargeError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
    "error_response",
    "exception_handlers",
]

logger = logging.getLogger("graphflow.api")

#: The HTTP status of each error code; a code not listed is a 400 (the request was refused).
STATUSES: dict[str, int] = {
    "validation_error": 400,
    "limit_exceeded": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "invalid_transition": 409,
    "already_running": 409,
    "conflict": 409,
    "request_closed": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "unavailable": 503,
    "timeout": 504,
}


class UnauthorizedError(GraphflowError, PermissionError):
    """The request has no valid credentials (missing, malformed, unknown or revoked key)."""

    code = "unauthorized"


class WaitTimeoutError(GraphflowError, TimeoutError):
    """A request that waits for a run (``invoke`` with ``wait``) gave up first; the run goes on."""

    code = "timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the run did not end within {seconds:g} s; it goes on: read it later (GET …/automations/runs/{{id}}) "
            "or invoke again with the same idempotency key",
            details={"timeout": seconds},
        )


class PayloadTooLargeError(GraphflowError, ValueError):
    """The request body is larger than the server accepts."""

    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes; send less", details={"limit": limit})


class UnsupportedMediaTypeError(GraphflowError, ValueError):
    """The request body's ``Content-Type`` is not one the route reads."""

    code = "unsupported_media_type"

    def __init__(self, got: str, accepted: tuple[str, ...]) -> None:
        super().__init__(
            f"unsupported Content-Type {got or '(none)'!r}; send {' or '.join(accepted)}",
            details={"accepted": list(accepted)},
        )


def error_response(code: str, message: str, details: dict[str, Any] | None = None, *, status: int = 0) -> Response:
    """The JSON error body for ``code`` (status from :data:`STATUSES` unless given)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse(
        {"error": body}, status_code=status or STATUSES.get(code, 400), headers={"x-content-type-options": "nosniff"}
    )


async def _graphflow_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GraphflowError)
    if isinstance(exc, StoreError | EngineNotStartedError):
        # The store (or the engine behind it) cannot serve now: the client may retry; the message
        # names the database with its password hidden and says nothing of the request.
        logger.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc.message)
        return error_response("unavailable", f"the store is unavailable, retry later ({exc.code})", status=503)
    return error_response(exc.code, exc.message, exc.details)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response("not_found", f"no route {request.url.path!r}; see /v1/openapi.json")
    if exc.status_code == 405:
        response = error_response("method_not_allowed", f"{request.method} is not allowed on {request.url.path!r}")
        response.headers.update(exc.headers or {})  # Allow: the methods that are
        return response
    return error_response("http_error", str(exc.detail), status=exc.status_code)


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response("internal_error", "an internal error occurred; it was logged on the server", status=500)


#: Starlette's ``exception_handlers`` for :func:`graphflow.api.create_app`.
exception_handlers = {GraphflowError: _graphflow_error, HTTPException: _http_error, Exception: _internal_error}
