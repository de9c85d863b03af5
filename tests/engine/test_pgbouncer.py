"""Engine tests through PgBouncer, in session and in transaction pooling mode.

A few tests of other modules run here again on an ``engine`` whose store URL goes through a
PgBouncer (``tests/pgbouncer.py``: skipped when the binary is missing): flow control (per-key
advisory transaction locks), event waits, emitted events, and a run published by one engine and
executed by another — which, in transaction mode, no notification wakes: the worker's poll claims it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from graphflow.engine.engine import Engine
from tests.conftest import graph_dict
from tests.engine.test_engine import (
    test_emitted_events_start_automations_of_the_same_app,
    test_only_running_trigger_automations_of_that_app_and_event_run,
)
from tests.engine.test_event_waits import test_a_matching_event_wakes_the_run_and_others_do_not
from tests.engine.test_flow_control import (
    test_a_burst_of_events_leaves_one_holder_per_key_with_the_last_payload,
    test_cancel_on_cancels_the_active_runs_of_the_key,
    test_concurrency_queues_runs_over_the_limit_in_order,
)
from tests.pg import fresh_schema
from tests.pgbouncer import PgBouncer, pgbouncer

__all__ = [
    "test_a_burst_of_events_leaves_one_holder_per_key_with_the_last_payload",
    "test_a_matching_event_wakes_the_run_and_others_do_not",
    "test_cancel_on_cancels_the_active_runs_of_the_key",
    "test_concurrency_queues_runs_over_the_limit_in_order",
    "test_emitted_events_start_automations_of_the_same_app",
    "test_only_running_trigger_automations_of_that_app_and_event_run",
]

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture(scope="module", params=["session", "transaction"])
def bouncer(request: pytest.FixtureRequest) -> Iterator[PgBouncer]:
    with pgbouncer(request.param) as started:
        yield started


@pytest.fixture
async def url(bouncer: PgBouncer) -> AsyncIterator[str]:
    async with fresh_schema() as (_, schema):
        with bouncer.schema_url(schema) as through_bouncer:
            yield through_bouncer


@pytest.fixture
async def engine(url: str) -> AsyncIterator[Engine]:
    async with Engine(url, poll_interval=0.05, sync_interval=0.05) as started:
        yield started


async def test_a_run_published_by_one_engine_is_executed_by_another(url: str) -> None:
    graph = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$.thread_id"}, trigger="thread.created")
    async with Engine(url, max_concurrent_runs=0) as web:
        config = await web.configs.create("app_1", graph)
        await web.automations.create("app_1", name="echo", trigger="thread.created", config_id=config.id, enabled=True)
        published = await web.publish("app_1", "thread.created", {"thread_id": "thr_1"})
        async with Engine(url, poll_interval=0.05):  # the web engine executes nothing
            run = await web.wait_for_run("app_1", published.run_ids[0], timeout=30)
        assert (run.status, run.result) == ("completed", {"payload": "thr_1", "output": []})
