"""``engine.automations.create_many``: all of a batch or none of it; and what ``create`` now shares with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graphflow.clock import FakeClock
from graphflow.engine.engine import Engine
from graphflow.events import AutomationActivated, AutomationCreated, EngineEvent
from graphflow.exceptions import ConflictError, ValidationError
from graphflow.records import Automation
from graphflow.stores.memory import MemoryStore
from tests.conftest import graph_dict

pytestmark = pytest.mark.anyio

WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"
SCHEDULED = graph_dict({"kind": "WorkflowEnd", "id": "e"}, trigger="workflow.scheduled")
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, FakeClock's default start


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with Engine("memory://", clock=FakeClock()) as started:
        yield started


async def scheduled_config(engine: Engine, app_id: str = "app_a") -> str:
    return (await engine.configs.create(app_id, SCHEDULED)).id


def digest(config_id: str, index: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"Digest {index}",
        "type": "scheduled",
        "schedule": f"{index} 9 * * *",
        "config_id": config_id,
        "enabled": True,
        **fields,
    }


async def stored(engine: Engine, app_id: str = "app_a") -> list[Automation]:
    return list((await engine.automations.list(app_id, limit=100)).data)


async def test_creates_every_item_in_order_running_and_scheduled(engine: Engine) -> None:
    cfg = await scheduled_config(engine)
    seen: list[EngineEvent] = []
    engine.subscribe(seen.append)
    created = await engine.automations.create_many(
        "app_a",
        [digest(cfg, i) for i in range(5)]
        + [
            {"name": "Draft", "type": "scheduled", "schedule": "every 30m"},  # a draft needs no config
        ],
    )
    assert [a.name for a in created] == [f"Digest {i}" for i in range(5)] + ["Draft"]
    assert [a.status for a in created] == ["running"] * 5 + ["draft"]
    for i, automation in enumerate(created[:5]):
        assert automation.next_run_at == T0 + 9 * 3600 + i * 60
        assert engine.scheduler.due_at(automation.id) == automation.next_run_at
        assert automation.schedule_display == f"Daily at 9:{i:02d} AM"
    assert engine.scheduler.due_at(created[5].id) is None
    assert {a.id for a in await stored(engine)} == {a.id for a in created}
    assert [(type(e).__name__, e.automation_id) for e in seen] == [
        pair
        for a in created
        for pair in [("AutomationCreated", a.id)] + ([("AutomationActivated", a.id)] if a.status == "running" else [])
    ]


async def test_trigger_items_are_indexed(engine: Engine) -> None:
    cfg = await engine.configs.create("app_a", WELCOME)
    created = await engine.automations.create_many(
        "app_a",
        [{"name": f"W{i}", "trigger": "thread.member_joined", "config_id": cfg.id, "enabled": True} for i in range(3)],
    )
    matched = await engine.explain("app_a", "thread.member_joined")
    assert sorted(a.id for a in matched) == sorted(a.id for a in created)


async def test_every_invalid_item_is_reported_and_nothing_is_created(engine: Engine) -> None:
    cfg = await scheduled_config(engine)
    items: list[Any] = [
        digest(cfg, 0),
        digest(cfg, 1, schedule="30m"),  # a bare duration
        digest(cfg, 2),
        {"name": "", "trigger": "thread.nope"},
        "not an object",
    ]
    with pytest.raises(ValidationError) as caught:
        await engine.automations.create_many("app_a", items)
    paths = [p.path for p in caught.value.problems]
    assert "$[1].schedule" in paths and "$[3].name" in paths and "$[3].trigger" in paths and "$[4]" in paths
    assert not any(path.startswith(("$[0]", "$[2]")) for path in paths)
    assert await stored(engine) == [] and len(engine.scheduler) == 0


async def test_an_item_that_cannot_be_activated_stops_the_batch(engine: Engine) -> None:
    """Activation is checked once every item's fields are valid; each config is judged once."""
    cfg = await scheduled_config(engine)
    other_app = await scheduled_config(engine, "app_b")
    welcome = await engine.configs.create("app_a", WELCOME)  # no workflow.scheduled trigger node
    with pytest.raises(ValidationError) as caught:
        await engine.automations.create_many(
            "app_a",
            [
                digest(cfg, 0),
                digest(other_app, 1),
                digest(welcome.id, 2),
                digest(other_app, 3),
            ],
        )
    assert sorted(p.path for p in caught.value.problems) == ["$[1].config_id", "$[2].config_id", "$[3].config_id"]
    assert await stored(engine) == [] and len(engine.scheduler) == 0


async def test_lookup_keys_must_be_unique_in_the_batch_and_the_app(engine: Engine) -> None:
    cfg = await scheduled_config(engine)
    with pytest.raises(ConflictError, match="items 0 and 2"):
        await engine.automations.create_many(
            "app_a",
            [
                digest(cfg, 0, lookup_key="daily"),
                digest(cfg, 1),
                digest(cfg, 2, lookup_key="daily"),
            ],
        )
    assert await stored(engine) == []
    await engine.automations.create("app_a", digest(cfg, 9, lookup_key="taken"))
    with pytest.raises(ConflictError, match="'taken' \\(item 1\\)"):
        await engine.automations.create_many("app_a", [digest(cfg, 0), digest(cfg, 1, lookup_key="taken")])
    assert [a.lookup_key for a in await stored(engine)] == ["taken"]


class RefusingStore(MemoryStore):
    """Refuses the third insert, as a store would when another process took a lookup key meanwhile."""

    inserts = 0

    async def insert_automation(self, automation: Automation) -> None:
        self.inserts += 1
        if self.inserts == 3:
            raise ConflictError("lookup_key taken meanwhile")
        await super().insert_automation(automation)


async def test_a_refused_insert_deletes_what_the_batch_stored() -> None:
    store = RefusingStore()
    async with Engine(store, clock=FakeClock()) as engine:
        cfg = await scheduled_config(engine)
        with pytest.raises(ConflictError, match="meanwhile"):
            await engine.automations.create_many("app_a", [digest(cfg, i) for i in range(4)])
        assert await stored(engine) == [] and len(engine.scheduler) == 0


async def test_an_empty_batch_creates_nothing(engine: Engine) -> None:
    assert await engine.automations.create_many("app_a", []) == []


async def test_create_enabled_stores_a_running_automation_in_one_write(engine: Engine) -> None:
    cfg = await scheduled_config(engine)
    seen: list[EngineEvent] = []
    engine.subscribe(seen.append)
    created = await engine.automations.create("app_a", digest(cfg, 0))
    record = await engine.store.get_automation("app_a", created.id)
    assert record is not None and (record.status, record.revision, record.next_run_at) == ("running", 1, T0 + 9 * 3600)
    assert [type(e) for e in seen] == [AutomationCreated, AutomationActivated]


async def test_changing_a_returned_record_does_not_change_what_the_engine_tracks(engine: Engine) -> None:
    cfg = await engine.configs.create("app_a", WELCOME)
    automation = await engine.automations.create(
        "app_a", name="W", trigger="thread.member_joined", config_id=cfg.id, enabled=True
    )
    automation.config_id = "cfg_elsewhere"
    automation.trigger = "thread.created"
    [matched] = await engine.explain("app_a", "thread.member_joined")
    assert matched.config_id == cfg.id
    matched.config_id = "cfg_elsewhere"  # what explain returns is the caller's too
    assert [a.config_id for a in await engine.explain("app_a", "thread.member_joined")] == [cfg.id]
    scheduled = await engine.automations.create("app_a", digest(await scheduled_config(engine), 5))
    scheduled.next_run_at = 0.0
    assert engine.scheduler.due_at(scheduled.id) == T0 + 9 * 3600 + 300


async def test_metadata_is_a_private_copy_in_json_types(engine: Engine) -> None:
    cfg = await scheduled_config(engine)
    tags = ["a", "b"]
    created = await engine.automations.create("app_a", digest(cfg, 0, metadata={"tags": tags, "pair": (1, 2)}))
    tags.append("c")
    assert created.metadata == {"tags": ["a", "b"], "pair": [1, 2]}
    record = await engine.store.get_automation("app_a", created.id)
    assert record is not None and record.metadata == {"tags": ["a", "b"], "pair": [1, 2]}
