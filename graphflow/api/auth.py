"""Who is calling: an API key (``Authorization: Bearer gfk_…``) or the host's own ``auth=`` callable.

Either way the answer is one app id. A request without a valid answer is 401 ``unauthorized``; a
request whose path names another app is 404 ``not_found`` exactly as an unknown app would be
(never 403: a key cannot learn which other apps exist).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from graphflow.api.errors import UnauthorizedError
from graphflow.exceptions import NotFoundError

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine

__all__ = ["Authenticator", "HostAuth", "bearer_secret"]

#: A host's authentication: given the request, the id of the app it acts for (``None``: refuse).
HostAuth = Callable[[Request], Awaitable[str | None]]

_MAX_SECRET_CHARS = 200


def bearer_secret(request: Request) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, if well formed."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > _MAX_SECRET_CHARS:
        return None
    return secret


class Authenticator:
    """Answers "which app is this request for?" and refuses requests for any other app.

    Args:
        engine: the engine whose ``keys`` verify bearer secrets.
        auth: the host's callable, used instead of keys when given.
    """

    def __init__(self, engine: Engine, auth: HostAuth | None = None) -> None:
        self._engine = engine
        self._auth = auth

    async def app_of(self, request: Request) -> str | None:
        """The app the request's credentials belong to (``None``: no valid credentials)."""
        if self._auth is not None:
            app_id: Any = await self._auth(request)
            return app_id if isinstance(app_id, str) and app_id else None
        secret = bearer_secret(request)
        if secret is None:
            return None
        key = await self._engine.keys.verify(secret)
        return None if key is None else key.app_id

    async def authorize(self, request: Request, app_id: str) -> None:
        """Let the request act on ``app_id`` or raise.

        Raises:
            UnauthorizedError: missing, malformed, unknown or revoked credentials.
            NotFoundError: the credentials belong to another app.
        """
        owner = await self.app_of(request)
        if owner is None:
            raise UnauthorizedError(
                "missing or invalid credentials; send 'Authorization: Bearer <key>' "
                "(create a key with 'graphflow keys create --app APP')"
            )
        if owner != app_id:
            raise NotFoundError("app", app_id[:100])

    async def authorize_operator(self, request: Request, *, public: bool, app_id: str | None) -> None:
        """Let the request read the operator endpoints (``/metrics``, ``/v1/status``) or raise.

        ``public``: anyone may. Else the credentials must be valid, and belong to ``app_id`` when
        it is given (the operator's app).

        Raises:
            UnauthorizedError: missing or invalid credentials, or another app's.
        """
        if public:
            return
        owner = await self.app_of(request)
        if owner is None or (app_id is not None and owner != app_id):
            whose = "a key of the server's metrics app" if app_id is not None else "an API key"
            raise UnauthorizedError(
                f"the operator endpoints (/metrics, /v1/status) need credentials: send "
                f"'Authorization: Bearer <key>' with {whose}"
            )

    async def still_allowed(self, request: Request, app_id: str) -> bool:
        """Whether the request's credentials still act for ``app_id`` (a revoked key no longer does)."""
        return await self.app_of(request) == app_id
