"""The shared feed: one store read per app for all its streams, and no loss for a stream far behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graphflow.api.feed import AppFeed
from graphflow.engine.engine import Engine
from graphflow.stores.sqlite import SQLiteStore
from tests.api.conftest import WELCOME
from tests.api.server import live_server, token_auth
from tests.api.sse import events


class CountingStore(SQLiteStore):
    reads = 0

    async def read_events(self, *args: Any, **kwargs: Any) -> Any:
        CountingStore.reads += 1
        return await super().read_events(*args, **kwargs)


def test_many_streams_of_one_app_share_each_store_read(tmp_path: Path) -> None:
    store = CountingStore(str(tmp_path / "g.db"))
    followers = 20
    with live_server(store, auth=token_auth) as live:
        clients = [live.client("key-app_f") for _ in range(followers)]
        streams = [c.stream("GET", "/v1/apps/app_f/stream") for c in clients]
        responses = [s.__enter__() for s in streams]
        try:
            before = CountingStore.reads
            with live.client("key-app_f") as writer:
                created = writer.post(
                    "/v1/apps/app_f/configs", content=WELCOME, headers={"content-type": "application/yaml"}
                )
                assert created.status_code == 201
            got = [next(events(r)).event for r in responses]
            reads = CountingStore.reads - before
        finally:
            for s in streams:
                s.__exit__(None, None, None)
            for c in clients:
                c.close()
    assert got == ["config.created"] * followers
    assert reads < followers  # one reader per wake-up, not one per stream


@pytest.mark.anyio
async def test_a_follower_behind_the_window_gets_everything_once() -> None:
    async with Engine("memory://") as engine:
        feed = AppFeed(engine, "app_w", keep=3)
        start = await engine.stream.last_seq("app_w")
        await feed.next(start, run_id=None, types=None, timeout=0)  # the window opens now
        made = [(await engine.configs.create("app_w", text=WELCOME)).id for _ in range(10)]
        seen: list[int] = []
        after = start
        for _ in range(50):
            page, _, after = await feed.next(after, run_id=None, types=None, timeout=0)
            seen += [e.seq for e in page]
            if len(seen) >= len(made):
                break
        logged = [e.seq for e in await engine.stream.read("app_w", start)]
        assert seen == logged and len(seen) == len(made) == len(set(seen))
        late, _, _ = await feed.next(start, run_id=None, types=frozenset({"config.created"}), timeout=0)
        assert [e.seq for e in late] == logged  # behind the window: read from the store, filtered
