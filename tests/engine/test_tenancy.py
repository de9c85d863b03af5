"""Tenancy: an app sees, names and runs only its own things, on every store.

The attack these tests replay: app B names app A's config in an automation (or a store already
holds such a row) and triggers it. Before the fix the run completed with A's graph and output,
because the version pin read ``max(version)`` by config id alone and the compiled-graph cache was
keyed by (config id, version) alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graphflow.engine.engine import Engine
from graphflow.exceptions import NotFoundError, ValidationError
from tests.conftest import graph_dict
from tests.pg import postgres_url

pytestmark = pytest.mark.anyio

SECRET = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "'secret of app_a'"}, trigger="thread.created")
PAYLOAD = {"thread_id": "thr_1"}


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    if request.param == "postgres":
        with postgres_url() as url:
            async with Engine(url) as started:
                yield started
        return
    url = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path / 'tenancy.db'}"}[request.param]
    async with Engine(url) as started:
        yield started


async def a_secret_config(engine: Engine) -> str:
    """App A's config, run once so that its compiled graph sits in the engine's cache."""
    cfg = await engine.configs.create("app_a", SECRET)
    mine = await engine.automations.create("app_a", name="A", trigger="thread.created", config_id=cfg.id, enabled=True)
    ran = await engine.automations.trigger("app_a", mine.id, PAYLOAD)
    assert (await engine.wait_for_run("app_a", ran, timeout=10)).result == {
        "payload": "secret of app_a",
        "output": [],
    }
    return cfg.id


async def test_another_apps_config_cannot_be_named(engine: Engine) -> None:
    theirs = await a_secret_config(engine)
    for enabled in (False, True):
        with pytest.raises(NotFoundError, match=theirs):
            await engine.automations.create(
                "app_b", name="B", trigger="thread.created", config_id=theirs, enabled=enabled
            )
    with pytest.raises(NotFoundError):
        await engine.configs.get("app_b", theirs)
    with pytest.raises(NotFoundError):
        await engine.configs.update("app_b", theirs, SECRET)
    assert (await engine.automations.list("app_b")).data == []


async def test_a_stored_automation_naming_another_apps_config_runs_nothing_of_it(engine: Engine) -> None:
    """Defence in depth: even a row that names a foreign config (old data, a bypassed service) fails cleanly."""
    theirs = await a_secret_config(engine)
    own = await engine.configs.create("app_b", SECRET)
    mine = await engine.automations.create("app_b", name="B", trigger="thread.created", config_id=own.id, enabled=True)
    forged = dataclasses.replace(mine, config_id=theirs, revision=mine.revision + 1)
    await engine.store.update_automation(forged, expected_revision=mine.revision)
    engine.track(forged)
    published = await engine.publish("app_b", "thread.created", PAYLOAD)
    [run_id] = published.run_ids
    run = await engine.wait_for_run("app_b", run_id, timeout=10)
    assert run.status == "failed"
    assert run.config_version is None
    assert "secret" not in str(run.result) and "not found" in str(run.result)


MALFORMED_APPS: list[Any] = ["", None, 5, "x" * 101, ["app_a"], "app\x00", "\ud800", "app\n"]


@pytest.mark.parametrize("app_id", MALFORMED_APPS, ids=repr)
async def test_every_call_refuses_a_malformed_app_id(engine: Engine, app_id: Any) -> None:
    calls = {
        "configs.create": lambda: engine.configs.create(app_id, SECRET),
        "configs.get": lambda: engine.configs.get(app_id, "cfg_x"),
        "configs.list": lambda: engine.configs.list(app_id),
        "configs.update": lambda: engine.configs.update(app_id, "cfg_x", SECRET),
        "configs.delete": lambda: engine.configs.delete(app_id, "cfg_x"),
        "automations.create": lambda: engine.automations.create(app_id, name="x", trigger="thread.created"),
        "automations.list": lambda: engine.automations.list(app_id),
        "automations.get": lambda: engine.automations.get(app_id, "aut_x"),
        "automations.update": lambda: engine.automations.update(app_id, "aut_x", name="y"),
        "automations.delete": lambda: engine.automations.delete(app_id, "aut_x"),
        "automations.activate": lambda: engine.automations.activate(app_id, "aut_x"),
        "automations.pause": lambda: engine.automations.pause(app_id, "aut_x"),
        "automations.reset": lambda: engine.automations.reset(app_id, "aut_x"),
        "automations.trigger": lambda: engine.automations.trigger(app_id, "aut_x"),
        "automations.runs": lambda: engine.automations.runs(app_id, "aut_x"),
        "automations.run": lambda: engine.automations.run(app_id, "atr_x"),
        "automations.cancel_run": lambda: engine.automations.cancel_run(app_id, "atr_x"),
        "automations.events": lambda: engine.automations.events(app_id),
        "publish": lambda: engine.publish(app_id, "thread.created", PAYLOAD),
        "explain": lambda: engine.explain(app_id, "thread.created"),
        "wait_for_run": lambda: engine.wait_for_run(app_id, "atr_x", timeout=5),
        "cancel_run": lambda: engine.cancel_run(app_id, "atr_x"),
    }
    for name, call in calls.items():
        with pytest.raises(ValidationError) as caught:
            await call()
        assert caught.value.code == "validation_error", name
        assert [p.path for p in caught.value.problems] == ["$.app_id"], name


@pytest.mark.parametrize("bad_id", [None, 7, "", "a" * 500, {"$ne": None}, "aut\x00", "\ud800"], ids=repr)
async def test_a_malformed_id_is_simply_not_found(engine: Engine, bad_id: Any) -> None:
    for call in (
        lambda: engine.configs.get("app_a", bad_id),
        lambda: engine.automations.get("app_a", bad_id),
        lambda: engine.automations.run("app_a", bad_id),
        lambda: engine.automations.cancel_run("app_a", bad_id),
        lambda: engine.wait_for_run("app_a", bad_id, timeout=5),
    ):
        with pytest.raises(NotFoundError):
            await call()


async def test_a_malformed_cursor_is_a_validation_error(engine: Engine) -> None:
    for cursor in (5, "", "c" * 500, "atr_\x00", "\udfff"):
        with pytest.raises(ValidationError, match="cursor"):
            await engine.automations.list("app_a", cursor=cursor)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="cursor"):
            await engine.configs.list("app_a", cursor=cursor)  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", [{"v": float("nan")}, {"v": b"raw"}, {"v": "a\u0000b"}, {"v": "\ud800"}], ids=repr)
async def test_an_invoked_payload_that_is_not_json_is_a_validation_error(engine: Engine, payload: Any) -> None:
    graph = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$"}, trigger="workflow.invoked")
    cfg = await engine.configs.create("app_a", graph)
    aut = await engine.automations.create("app_a", name="i", type="invoked", config_id=cfg.id, enabled=True)
    with pytest.raises(ValidationError) as caught:
        await engine.automations.trigger("app_a", aut.id, payload)
    assert [p.path for p in caught.value.problems] == ["$.payload"]
    assert (await engine.automations.runs("app_a", aut.id)).data == []


async def test_a_file_name_given_as_text_is_never_read(engine: Engine, tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("kind: WorkflowGraph\n")
    for source in (str(secret), "/etc/passwd", str(tmp_path / "missing.yaml")):
        with pytest.raises(ValidationError, match="path=") as caught:
            await engine.configs.create("app_a", source)
        assert "secret" not in str(caught.value).replace(str(tmp_path), "") and "No such file" not in str(caught.value)
    with pytest.raises(ValidationError, match="exactly one"):
        await engine.configs.create("app_a", SECRET, text="{}")


@pytest.mark.parametrize("event_id", ["", 5, ["a"], "e" * 101, "evt\x00", "\ud800"], ids=repr)
async def test_a_malformed_event_id_is_a_validation_error(engine: Engine, event_id: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        await engine.publish("app_a", "thread.created", PAYLOAD, id=event_id)
    assert [p.path for p in caught.value.problems] == ["$.id"]
    assert (await engine.publish("app_a", "thread.created", PAYLOAD, id="evt_ok")).event_id == "evt_ok"


@pytest.mark.parametrize("timeout", [float("nan"), "1", -1, True], ids=repr)
async def test_wait_for_run_refuses_a_malformed_timeout(engine: Engine, timeout: Any) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        await engine.wait_for_run("app_a", "atr_x", timeout=timeout)


async def test_configs_are_parsed_and_compiled_off_the_event_loop(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config near its size limit costs seconds of CPU (pure-Python YAML): never on the event loop."""
    import threading

    from graphflow.automations import configs as service

    threads: list[int] = []
    real = service._graph_from

    def recording(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(service, "_graph_from", recording)
    record = await engine.configs.create(
        "app_a",
        text="kind: WorkflowGraph\nversion: 1\nname: g\nstart_node: t\n"
        "nodes:\n  - {kind: WorkflowTrigger, id: t, trigger: thread.created}\n",
    )
    await engine.configs.update("app_a", record.id, SECRET)
    assert len(threads) == 2 and threading.get_ident() not in threads


@pytest.mark.parametrize(
    "fields",
    [
        {"metadata": {"v": float("nan")}},
        {"metadata": {"v": "a\x00b"}},
        {"metadata": {"a\x00": 1}},
        {"metadata": {"v": "\ud800"}},
        {"name": "a\x00b"},
        {"description": "\udfff"},
    ],
    ids=repr,
)
async def test_every_store_refuses_unstorable_automation_fields_alike(engine: Engine, fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        await engine.automations.create("app_a", {"name": "n", "trigger": "thread.created", **fields})
    assert [p.path for p in caught.value.problems] == [f"$.{next(iter(fields))}"]
    draft = await engine.automations.create("app_a", name="n", trigger="thread.created")
    with pytest.raises(ValidationError):
        await engine.automations.update("app_a", draft.id, fields)
    assert (await engine.automations.get("app_a", draft.id)).automation.revision == draft.revision
    with pytest.raises(ValidationError):
        await engine.configs.create("app_a", {**SECRET, "name": "a\x00b"})
