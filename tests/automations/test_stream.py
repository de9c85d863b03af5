"""``engine.stream``: the app's event log as the SSE streams read it, through the Python API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow
from graphflow.engine.engine import Engine
from graphflow.exceptions import ValidationError
from graphflow.records import STREAM_EVENT_TYPES
from tests.conftest import graph_dict

pytestmark = pytest.mark.anyio

WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}


@graphflow.node("StreamBoom")
async def stream_boom(input: Any, ctx: graphflow.NodeContext) -> Any:
    raise RuntimeError("boom")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with Engine(f"sqlite:///{tmp_path / 'stream.db'}") as started:
        yield started


async def welcome(engine: Engine, app_id: str = "app_a", source: Any = WELCOME) -> graphflow.Automation:
    cfg = await engine.configs.create(app_id, source)
    fields = {"name": "Welcome", "type": "trigger", "trigger": "thread.member_joined", "config_id": cfg.id}
    return await engine.automations.create(app_id, fields, enabled=True)


async def test_a_runs_life_is_in_its_apps_stream_in_order(engine: Engine) -> None:
    automation = await welcome(engine)
    (run_id,) = (await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids
    await engine.wait_for_run("app_a", run_id, timeout=30)
    events = await engine.stream.read("app_a")
    assert [e.type for e in events][:2] == ["config.created", "automation.created"]
    mine = await engine.stream.read("app_a", run_id=run_id)
    types = [e.type for e in mine]
    assert types[:2] == ["run.created", "run.started"] and types[-1] == "run.completed"
    assert set(types[2:-1]) <= {"run.node_completed"}
    assert {e.automation_id for e in mine} == {automation.id}
    assert [e.seq for e in events] == sorted({e.seq for e in events})
    assert await engine.stream.last_seq("app_a") == events[-1].seq
    assert await engine.stream.read("app_b") == [] and await engine.stream.last_seq("app_b") == 0


async def test_resuming_after_a_seq_loses_nothing_and_repeats_nothing(engine: Engine) -> None:
    await welcome(engine)
    for n in range(3):
        (run_id,) = (await engine.publish("app_a", "thread.member_joined", JOINED, id=f"evt_{n}")).run_ids
        await engine.wait_for_run("app_a", run_id, timeout=30)
    whole = await engine.stream.read("app_a", limit=1000)
    seen: list[int] = []
    after = 0
    while page := await engine.stream.read("app_a", after, limit=2):
        seen += [e.seq for e in page]
        after = page[-1].seq
    assert seen == [e.seq for e in whole]


async def test_a_failed_run_sets_last_error_and_a_success_clears_it(engine: Engine) -> None:
    failing = await welcome(
        engine, source=graph_dict({"kind": "StreamBoom", "id": "b"}, trigger="thread.member_joined")
    )
    (run_id,) = (await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids
    finished = await engine.wait_for_run("app_a", run_id, timeout=30)
    assert finished.status == "failed"
    details = await engine.automations.get("app_a", failing.id)
    assert details.automation.last_run_status == "failed"
    assert details.automation.last_error is not None and "boom" in details.automation.last_error
    (failed,) = await engine.stream.read("app_a", run_id=run_id, types={"run.failed"})
    assert failed.data["status"] == "failed" and "boom" in failed.data["error"]
    await engine.configs.update("app_a", failing.config_id or "", WELCOME)
    (run_id,) = (await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids
    assert (await engine.wait_for_run("app_a", run_id, timeout=30)).status == "completed"
    assert (await engine.automations.get("app_a", failing.id)).automation.last_error is None


async def test_another_engine_on_the_database_sees_the_events(engine: Engine, tmp_path: Path) -> None:
    async with Engine(f"sqlite:///{tmp_path / 'stream.db'}", max_concurrent_runs=0) as watcher:
        start = await watcher.stream.last_seq("app_a")
        await welcome(engine)
        events = await watcher.stream.read("app_a", start)
        assert [e.type for e in events] == ["config.created", "automation.created"]


async def test_wait_returns_when_this_process_appends(engine: Engine) -> None:
    woken = anyio.Event()

    async def watch() -> None:
        await engine.stream.wait(3600)
        woken.set()

    with anyio.fail_after(30):  # far below the wait's own timeout: the append woke it
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            while not woken.is_set():  # whether the watcher waits yet is not observable: append until it wakes
                await engine.configs.create("app_a", WELCOME)
                with anyio.move_on_after(0.2):
                    await woken.wait()


@pytest.mark.parametrize(
    ("arguments", "paths"),
    [
        ({"after": -1}, ["$.after"]),
        ({"after": "5"}, ["$.after"]),
        ({"after": True}, ["$.after"]),
        ({"limit": 0}, ["$.limit"]),
        ({"limit": 1001}, ["$.limit"]),
        ({"types": "run.failed"}, ["$.types"]),
        ({"types": []}, ["$.types"]),
        ({"types": ["run.failed", "run.exploded"]}, ["$.types"]),
        ({"types": [1]}, ["$.types"]),
        ({"after": -1, "limit": 0, "types": ["nope"]}, ["$.after", "$.limit", "$.types"]),
    ],
)
async def test_bad_reads_are_refused_with_every_problem(
    engine: Engine, arguments: dict[str, Any], paths: list[str]
) -> None:
    after = arguments.pop("after", 0)
    with pytest.raises(ValidationError) as caught:
        await engine.stream.read("app_a", after, **arguments)
    assert [p.path for p in caught.value.problems] == paths


async def test_every_type_can_be_asked_for_and_a_foreign_run_id_yields_nothing(engine: Engine) -> None:
    await welcome(engine)
    assert await engine.stream.read("app_a", types=STREAM_EVENT_TYPES)
    assert await engine.stream.read("app_a", run_id="atr_not_a_run") == []
    assert await engine.stream.read("app_a", run_id="x" * 500) == []
    with pytest.raises(ValidationError):
        await engine.stream.read("", 0)
