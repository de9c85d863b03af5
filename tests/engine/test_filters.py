"""A trigger automation's ``filter``: events it does not hold for start nothing, on every store."""

from __future__ import annotations

import pytest

from graphflow.engine.engine import Engine
from graphflow.exceptions import ValidationError
from tests.conftest import graph_dict

pytestmark = pytest.mark.anyio

APP = "app_q"
ECHO = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.thread_id"}, trigger="thread.created")


async def test_only_events_the_filter_holds_for_start_runs(engine: Engine) -> None:
    config = await engine.configs.create(APP, ECHO)
    vip = await engine.automations.create(
        APP, name="vip", trigger="thread.created", config_id=config.id, enabled=True,
        filter="$.thread_id.startsWith('thr_vip')",
    )  # fmt: skip
    everyone = await engine.automations.create(APP, name="all", trigger="thread.created", config_id=config.id)
    await engine.automations.activate(APP, everyone.id)
    plain = await engine.publish(APP, "thread.created", {"thread_id": "thr_1"})
    assert len(plain.run_ids) == 1
    special = await engine.publish(APP, "thread.created", {"thread_id": "thr_vip_7"})
    assert len(special.run_ids) == 2
    assert engine.flow_counts[(vip.id, "filtered")] == 1
    assert [a.id for a in await engine.explain(APP, "thread.created", {"thread_id": "thr_2"})] == [everyone.id]
    assert (await engine.automations.get(APP, vip.id)).automation.filter == "$.thread_id.startsWith('thr_vip')"


async def test_a_filter_that_fails_holds_for_nothing(engine: Engine) -> None:
    config = await engine.configs.create(APP, ECHO)
    await engine.automations.create(
        APP, name="f", trigger="thread.created", config_id=config.id, enabled=True, filter="$.missing.key == 1"
    )
    assert (await engine.publish(APP, "thread.created", {"thread_id": "thr_1"})).run_ids == ()


async def test_bad_filters_are_refused_with_a_path(engine: Engine) -> None:
    config = await engine.configs.create(APP, ECHO)
    for bad in ("$.a ==", "nope.x", "", "x" * 3000):
        with pytest.raises(ValidationError, match=r"\$\.filter"):
            await engine.automations.create(APP, name="f", trigger="thread.created", config_id=config.id, filter=bad)
    with pytest.raises(ValidationError, match="has no 'filter'"):
        await engine.automations.create(
            APP, name="s", type="scheduled", schedule="every 1h", config_id=config.id, filter="true"
        )
    assert (await engine.automations.list(APP)).data == []
