"""Invoked automations: ``input_schema`` checks the payload, an idempotency key makes a call repeatable.

Concurrent repeats create exactly one run — by the store's uniqueness of the accepted event id,
not by a check first — on every store.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from graphflow.engine.engine import Engine
from graphflow.exceptions import ConflictError, InvalidTransitionError, NotFoundError, ValidationError

pytestmark = pytest.mark.anyio

APP = "app_i"
PLUS_ONE = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "plus one",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "$.n + 1"},
    ],
}
SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 0}, "tag": {"type": "string", "maxLength": 8}},
    "required": ["n"],
    "additionalProperties": False,
}


async def invoked(engine: Engine, **fields: Any) -> str:
    config = await engine.configs.create(APP, PLUS_ONE)
    values: dict[str, Any] = {"input_schema": SCHEMA, "overlap": "allow", "enabled": True, **fields}
    automation = await engine.automations.create(APP, name="plus", type="invoked", config_id=config.id, **values)
    return automation.id


async def test_invoke_checks_the_payload_against_the_input_schema(engine: Engine) -> None:
    aut = await invoked(engine)
    run = await engine.automations.invoke(APP, aut, {"n": 41}, wait=True, timeout=10)
    assert (run.status, run.result, run.trigger) == ("completed", {"payload": 42, "output": []}, "workflow.invoked")
    with pytest.raises(ValidationError) as refused:
        await engine.automations.invoke(APP, aut, {"n": -1, "tag": "far too long", "x": 1})
    paths = {p.path for p in refused.value.problems}
    assert {"$.payload.n", "$.payload.tag", "$.payload"} <= paths, paths
    with pytest.raises(ValidationError, match=r"\$\.payload\.n: is required"):
        await engine.automations.invoke(APP, aut, {})
    runs = (await engine.automations.runs(APP, aut)).data
    assert [r.id for r in runs] == [run.id]  # the refused calls stored nothing


async def test_a_repeat_with_the_same_key_returns_the_first_run(engine: Engine) -> None:
    aut = await invoked(engine)
    first = await engine.automations.invoke(APP, aut, {"n": 1}, idempotency_key="order-17", wait=True, timeout=10)
    again = await engine.automations.invoke(APP, aut, {"n": 99}, idempotency_key="order-17")
    assert again.id == first.id and again.payload == {"n": 1} and again.result == {"payload": 2, "output": []}
    other = await engine.automations.invoke(APP, aut, {"n": 1}, idempotency_key="order-18")
    assert other.id != first.id
    assert len((await engine.automations.runs(APP, aut)).data) == 2


async def test_concurrent_repeats_create_exactly_one_run(engine: Engine) -> None:
    aut = await invoked(engine)
    got: list[str] = []

    async def call() -> None:
        got.append((await engine.automations.invoke(APP, aut, {"n": 5}, idempotency_key="once")).id)

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(call)
    assert len(got) == 8 and len(set(got)) == 1
    assert [r.id for r in (await engine.automations.runs(APP, aut)).data] == got[:1]


async def test_the_same_key_is_independent_per_automation_and_app(engine: Engine) -> None:
    one, two = await invoked(engine), await invoked(engine)
    a = await engine.automations.invoke(APP, one, {"n": 1}, idempotency_key="k")
    b = await engine.automations.invoke(APP, two, {"n": 1}, idempotency_key="k")
    assert a.id != b.id
    with pytest.raises(NotFoundError):
        await engine.automations.invoke("app_other", one, {"n": 1}, idempotency_key="k")


async def test_invoke_refuses_what_it_cannot_do_and_stores_nothing(engine: Engine) -> None:
    aut = await invoked(engine, enabled=False)
    with pytest.raises(InvalidTransitionError, match="draft"):
        await engine.automations.invoke(APP, aut, {"n": 1})
    await engine.automations.activate(APP, aut)
    for key in ("", "x" * 201, "bad\x00key", 7):
        with pytest.raises(ValidationError, match=r"\$\.idempotency_key"):
            await engine.automations.invoke(APP, aut, {"n": 1}, idempotency_key=key)  # type: ignore[arg-type]
    for timeout in (0, -1, "5", True):
        with pytest.raises(ValidationError, match=r"\$\.timeout"):
            await engine.automations.invoke(APP, aut, {"n": 1}, wait=True, timeout=timeout)  # type: ignore[arg-type]
    assert (await engine.automations.runs(APP, aut)).data == []
    config = await engine.configs.create(APP, PLUS_ONE | {"nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "thread.created", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "1"},
    ]})  # fmt: skip
    trigger = await engine.automations.create(APP, name="t", trigger="thread.created", config_id=config.id)
    with pytest.raises(ValidationError, match="only invoked ones are invoked"):
        await engine.automations.invoke(APP, trigger.id, {"thread_id": "thr_1"})


async def test_bad_input_schemas_are_refused_with_a_path(engine: Engine) -> None:
    config = await engine.configs.create(APP, PLUS_ONE)
    for schema, expected in (
        ({"type": "objecty"}, "$.input_schema.type"),
        ({"$ref": "https://example.com/s.json"}, "$.input_schema.$ref"),
        ({"properties": {"a": {"$ref": "file:///etc/passwd"}}}, "not local"),
        ({"description": "x" * 70_000}, "larger than"),
    ):
        with pytest.raises(ValidationError) as refused:
            await engine.automations.create(APP, name="bad", type="invoked", config_id=config.id, input_schema=schema)
        assert expected in str(refused.value), (schema, str(refused.value))
    with pytest.raises(ValidationError, match="a trigger automation has no 'input_schema'"):
        await engine.automations.create(
            APP, name="bad", trigger="thread.created", config_id=config.id, input_schema={"type": "object"}
        )
    assert (await engine.automations.list(APP)).data == []


async def test_input_schema_is_stored_and_updated(engine: Engine) -> None:
    aut = await invoked(engine)
    assert (await engine.automations.get(APP, aut)).automation.input_schema == SCHEMA
    await engine.automations.update(APP, aut, input_schema={"type": "object", "required": ["m"]})
    with pytest.raises(ValidationError, match=r"\$\.payload\.m"):
        await engine.automations.invoke(APP, aut, {"n": 1})
    await engine.automations.update(APP, aut, input_schema=None)
    run = await engine.automations.invoke(APP, aut, {"n": 3}, wait=True, timeout=10)
    assert run.result == {"payload": 4, "output": []}


async def test_hostile_input_schemas_fetch_nothing_and_stall_nothing(engine: Engine) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/latest/meta-data"
    config = await engine.configs.create(APP, PLUS_ONE)
    try:
        for schema, expected in (
            ({"$schema": url, "type": "object"}, "$.input_schema.$schema"),
            ({"$ref": url}, "not local"),
            ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "$.input_schema"),
            ({"properties": {"a": {"items": {"items": {"items": {"items": {}}}}}}} | _nested(40), "deeper than"),
        ):
            with pytest.raises(ValidationError) as refused:
                await engine.automations.create(
                    APP, name="bad", type="invoked", config_id=config.id, input_schema=schema
                )
            assert expected in str(refused.value), (schema, str(refused.value))
        with pytest.raises(BlockingIOError):  # nobody connected to the listener
            listener.accept()
    finally:
        listener.close()
    aut = await invoked(engine, input_schema={
        "type": "object",
        "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}, "a": {"type": "array", "uniqueItems": True},
                       "n": {"type": "integer"}},
    })  # fmt: skip
    with pytest.raises(ValidationError, match=r"\$\.payload\.s"):  # a backtracking pattern: bounded, at once
        await engine.automations.invoke(APP, aut, {"s": "a" * 40 + "!"})
    with pytest.raises(ValidationError, match=r"\$\.payload\.n"):
        await engine.automations.invoke(APP, aut, {"a": [{"k": i} for i in range(8000)], "n": "x"})


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    for _ in range(depth):
        schema = {"properties": {"x": schema}}
    return schema


async def test_invoke_keys_cannot_be_reached_through_published_event_ids(engine: Engine) -> None:
    aut = await invoked(engine)
    with pytest.raises(ValidationError, match=r"\$\.id"):
        await engine.publish(APP, "thread.created", {"thread_id": "thr_1"}, id=f"invoke:{aut}:k")
    # A key whose earlier call stored no run (the automation was paused between its check and its
    # write) is refused clearly, never answered with another run.
    assert await engine.store.accept_event(APP, f"invoke:{aut}:burnt", "workflow.invoked", {}, []) == []
    with pytest.raises(ConflictError, match="new key"):
        await engine.automations.invoke(APP, aut, {"n": 1}, idempotency_key="burnt")
