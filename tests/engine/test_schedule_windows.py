"""Schedule windows: ``starts_at`` / ``ends_at`` bound a scheduled automation's fires (the kit's clock drives them)."""

from __future__ import annotations

from typing import Any

import pytest

from graphflow.exceptions import ValidationError
from graphflow.testing.harness import EngineHarness
from tests.conftest import graph_dict

pytestmark = pytest.mark.anyio

TICK = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.scheduled_at"}, trigger="workflow.scheduled")


async def hourly(harness: EngineHarness, **fields: Any) -> Any:
    return await harness.add_automation(TICK, name="hourly", type="scheduled", schedule="0 * * * *", **fields)


async def test_no_fire_before_starts_at_nor_after_ends_at(graphflow_harness: EngineHarness) -> None:
    automation = await hourly(graphflow_harness, starts_at="2026-01-01T03:30:00Z", ends_at="2026-01-01T06:00:00Z")
    assert automation.to_dict()["next_run_at"] == "2026-01-01T04:00:00Z"
    assert automation.to_dict()["starts_at"] == "2026-01-01T03:30:00Z"
    runs = await graphflow_harness.advance_to("2026-01-01T12:00:00Z")
    assert [r.payload["scheduled_at"] for r in runs] == [
        "2026-01-01T04:00:00Z",
        "2026-01-01T05:00:00Z",
        "2026-01-01T06:00:00Z",
    ]
    ended = (await graphflow_harness.engine.automations.get(automation.app_id, automation.id)).automation
    assert (ended.status, ended.paused_reason, ended.next_run_at) == ("paused", "ended", None)


async def test_an_engine_down_past_ends_at_fires_only_what_was_due_before(graphflow_harness: EngineHarness) -> None:
    automation = await hourly(graphflow_harness, ends_at="2026-01-01T02:30:00Z", catchup="all")
    runs = await graphflow_harness.advance_to("2026-01-01T09:00:00Z")  # one jump, as if the engine had been down
    assert [r.payload["scheduled_at"] for r in runs] == ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]
    ended = (await graphflow_harness.engine.automations.get(automation.app_id, automation.id)).automation
    assert (ended.status, ended.paused_reason) == ("paused", "ended")


async def test_bad_windows_are_refused_with_a_path(graphflow_harness: EngineHarness) -> None:
    for fields, path in (
        ({"starts_at": "2026-01-02T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"}, "$.ends_at"),
        ({"starts_at": "next tuesday"}, "$.starts_at"),
        ({"ends_at": float("nan")}, "$.ends_at"),
        ({"ends_at": "2025-06-01T00:00:00Z"}, "$.ends_at"),  # already over: it would never fire
    ):
        with pytest.raises(ValidationError, match=path.replace("$", r"\$").replace(".", r"\.")):
            await hourly(graphflow_harness, **fields)
    with pytest.raises(ValidationError, match=r"has no 'starts_at'"):
        await graphflow_harness.add_automation(
            graph_dict({"kind": "WorkflowScript", "id": "s", "source": "1"}, trigger="thread.created"),
            name="t",
            trigger="thread.created",
            starts_at="2026-01-02T00:00:00Z",
        )


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_window_is_stored_on_the_sql_stores(store: str, tmp_path: Any) -> None:
    from graphflow.engine.engine import Engine
    from tests.pg import postgres_url

    async def round_trip(url: str) -> None:
        async with Engine(url) as engine:
            config = await engine.configs.create("app_w", TICK)
            created = await engine.automations.create(
                "app_w", name="w", type="scheduled", schedule="0 * * * *", config_id=config.id,
                starts_at="2030-01-01T00:00:00Z", ends_at="2030-02-01T00:00:00Z", enabled=True,
            )  # fmt: skip
            stored = (await engine.automations.get("app_w", created.id)).automation
            assert (stored.to_dict()["starts_at"], stored.to_dict()["ends_at"]) == (
                "2030-01-01T00:00:00Z",
                "2030-02-01T00:00:00Z",
            )
            assert stored.to_dict()["next_run_at"] == "2030-01-01T00:00:00Z"

    if store == "postgres":
        with postgres_url() as url:
            await round_trip(url)
    else:
        await round_trip(f"sqlite:///{tmp_path / 'w.db'}")
