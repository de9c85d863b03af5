"""``engine.keys``: API keys of one app, stored hashed, shown once, revocable."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graphflow.automations.keys import KEY_PREFIX, hash_secret
from graphflow.engine.engine import Engine
from graphflow.exceptions import NotFoundError, ValidationError

pytestmark = pytest.mark.anyio


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "keys.db"


@pytest.fixture
async def engine(db: Path) -> AsyncIterator[Engine]:
    async with Engine(f"sqlite:///{db}") as started:
        yield started


async def test_a_created_key_verifies_and_its_secret_is_not_stored(engine: Engine, db: Path) -> None:
    key, secret = await engine.keys.create("app_a", name="ci")
    assert key.id.startswith("key_") and (key.app_id, key.name, key.revoked_at) == ("app_a", "ci", None)
    assert secret.startswith(KEY_PREFIX) and len(secret) == len(KEY_PREFIX) + 43
    assert await engine.keys.verify(secret) == key
    stored = sqlite3.connect(db).execute("SELECT * FROM api_keys").fetchall()
    assert secret not in str(stored)
    assert hash_secret(secret) == hashlib.sha256(secret.encode()).hexdigest() and hash_secret(secret) in str(stored)
    assert "secret" not in key.to_dict() and hash_secret(secret) not in str(key.to_dict())


async def test_each_key_has_its_own_secret(engine: Engine) -> None:
    made = [await engine.keys.create("app_a") for _ in range(3)]
    assert len({secret for _, secret in made}) == 3
    for key, secret in made:
        assert await engine.keys.verify(secret) == key


@pytest.mark.parametrize(
    "secret",
    [None, 42, "", "gfk_", "Bearer x", "gfk_" + "A" * 43, "gfx_" + "A" * 43, "gfk_" + "A" * 44],
)
async def test_unknown_or_malformed_secrets_verify_as_nothing(engine: Engine, secret: object) -> None:
    await engine.keys.create("app_a")
    assert await engine.keys.verify(secret) is None


async def test_a_revoked_key_no_longer_verifies(engine: Engine) -> None:
    key, secret = await engine.keys.create("app_a")
    revoked = await engine.keys.revoke("app_a", key.id)
    assert revoked.id == key.id and revoked.revoked_at is not None
    assert await engine.keys.verify(secret) is None
    again = await engine.keys.revoke("app_a", key.id)  # revoking twice changes nothing
    assert again.revoked_at == revoked.revoked_at
    (listed,) = await engine.keys.list("app_a")
    assert listed.revoked_at == revoked.revoked_at


async def test_keys_belong_to_one_app(engine: Engine) -> None:
    mine, _ = await engine.keys.create("app_a", name="mine")
    theirs, their_secret = await engine.keys.create("app_b", name="theirs")
    assert [k.id for k in await engine.keys.list("app_a")] == [mine.id]
    assert [k.id for k in await engine.keys.list("app_c")] == []
    with pytest.raises(NotFoundError):
        await engine.keys.revoke("app_a", theirs.id)  # another app's key is not found, never forbidden
    verified = await engine.keys.verify(their_secret)
    assert verified is not None and verified.app_id == "app_b"  # untouched


async def test_bad_input_is_refused_and_stores_nothing(engine: Engine) -> None:
    for name in ("", "x" * 201, "tab\there", 5):
        with pytest.raises(ValidationError) as caught:
            await engine.keys.create("app_a", name=name)  # type: ignore[arg-type]
        assert [p.path for p in caught.value.problems] == ["$.name"]
    with pytest.raises(ValidationError):
        await engine.keys.create("")
    assert await engine.keys.list("app_a") == []
    for key_id in ("key_missing", "", "x" * 500, None):
        with pytest.raises(NotFoundError):
            await engine.keys.revoke("app_a", key_id)  # type: ignore[arg-type]


async def test_keys_survive_a_restart(db: Path) -> None:
    async with Engine(f"sqlite:///{db}") as first:
        key, secret = await first.keys.create("app_a")
    async with Engine(f"sqlite:///{db}") as second:
        assert await second.keys.verify(secret) == key
