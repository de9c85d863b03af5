"""API keys (``engine.keys``): one app's bearer credentials, stored hashed, shown once.

A secret is ``gfk_`` followed by 43 URL-safe characters (256 random bits). The store keeps only
its SHA-256 (a slow hash adds nothing for random 256-bit secrets), and a key is found by that
hash. Verification never compares the secret itself: the store's lookup compares digests, whose
timing tells nothing usable about a secret (finding a secret from its digest is a preimage
attack), which is what a constant-time comparison would protect.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from graphflow.exceptions import NotFoundError, Problem, ValidationError
from graphflow.ids import check_app, is_plain_id, new_id
from graphflow.records import ApiKey

if TYPE_CHECKING:
    from graphflow.automations.host import ServiceHost

__all__ = ["KEY_PREFIX", "MAX_KEY_NAME_CHARS", "KeyService", "hash_secret"]

#: Every secret starts with this, so a leaked one is recognisable (and scanners can find it).
KEY_PREFIX = "gfk_"
#: Longest key name.
MAX_KEY_NAME_CHARS = 200
_SECRET_CHARS = len(KEY_PREFIX) + 43


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest a store keeps for ``secret``."""
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyService:
    """Creates, lists, revokes and verifies API keys."""

    def __init__(self, host: ServiceHost) -> None:
        self._host = host

    async def create(self, app_id: str, name: str | None = None) -> tuple[ApiKey, str]:
        """Create a key for ``app_id``; return it and its secret (shown this once, never stored).

        Raises:
            ValidationError: ``app_id`` or ``name`` is malformed; nothing is stored.
        """
        check_app(app_id)
        _check_name(name)
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(id=new_id("key_"), app_id=app_id, name=name, created_at=self._host.clock.now())
        await self._host.store.create_api_key(key, hash_secret(secret))
        return key, secret

    async def list(self, app_id: str) -> list[ApiKey]:
        """The app's keys, revoked ones included, oldest first (never their secrets)."""
        check_app(app_id)
        return await self._host.store.list_api_keys(app_id)

    async def revoke(self, app_id: str, key_id: str) -> ApiKey:
        """Revoke one of the app's keys (again: no change); return it.

        Raises:
            NotFoundError: the app has no such key (another app's key is not found either).
        """
        check_app(app_id)
        if not is_plain_id(key_id):
            raise NotFoundError("api key", repr(key_id)[:100])
        key = await self._host.store.revoke_api_key(app_id, key_id, self._host.clock.now())
        if key is None:
            raise NotFoundError("api key", key_id)
        return key

    async def verify(self, secret: Any) -> ApiKey | None:
        """The live key whose secret this is, or ``None`` (unknown, malformed or revoked)."""
        if type(secret) is not str or len(secret) != _SECRET_CHARS or not secret.startswith(KEY_PREFIX):
            return None
        key = await self._host.store.api_key_by_hash(hash_secret(secret))
        return None if key is None or key.revoked_at is not None else key


def _check_name(name: Any) -> None:
    if name is None:
        return
    if type(name) is not str or not name or len(name) > MAX_KEY_NAME_CHARS or not name.isprintable():
        raise ValidationError(
            [
                Problem(
                    "$.name",
                    f"a key name must be a non-empty string of at most {MAX_KEY_NAME_CHARS} printable characters",
                    "name the key after who or what uses it, e.g. 'ci'",
                )
            ],
            subject="request",
        )
