"""``EngineMetrics``: the counts agree with the store after a known workload, on every store; labels stay bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from graphflow.engine.engine import Engine
from graphflow.exceptions import StoreUnavailableError
from graphflow.observability.metrics import EngineMetrics
from graphflow.observability.registry import OTHER, BoundedLabel, Registry
from graphflow.records import AutomationRun
from graphflow.stores.memory import MemoryStore
from tests.conftest import eventually, graph_dict
from tests.gates import GATES, reset_gates
from tests.observability.prometheus import Family, parse
from tests.pg import postgres_url

pytestmark = pytest.mark.anyio

APP = "app_metrics"
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}
TRIGGER = "thread.member_joined"


async def _automation(engine: Engine, node: dict[str, Any], name: str) -> str:
    config = await engine.configs.create(APP, graph_dict(node, trigger=TRIGGER, name=name))
    automation = await engine.automations.create(
        APP, name=name, type="trigger", trigger=TRIGGER, config_id=config.id, enabled=True
    )
    return automation.id


async def _runs(engine: Engine, automation_id: str) -> list[AutomationRun]:
    return (await engine.automations.runs(APP, automation_id, limit=100)).data


async def _scrape(metrics: EngineMetrics) -> dict[str, Family]:
    return parse(await metrics.collect())


async def test_counts_agree_with_the_store_after_a_known_workload(engine: Engine) -> None:
    reset_gates()
    metrics = EngineMetrics(engine, node_durations=True)
    ok = await _automation(engine, {"kind": "WorkflowScript", "id": "echo", "source": "$"}, "ok")
    broken = await _automation(engine, {"kind": "WorkflowScript", "id": "boom", "source": "1 / 0"}, "broken")
    for i in range(4):
        await engine.publish(APP, TRIGGER, JOINED, id=f"evt_{i}")
    assert (await engine.publish(APP, TRIGGER, JOINED, id="evt_0")).duplicate
    gated = await _automation(engine, {"kind": "TestGate", "id": "wait", "gate": "metrics"}, "gated")
    held = (await engine.publish(APP, TRIGGER, JOINED, id="evt_held")).run_ids
    held_run = (await _runs(engine, gated))[0].id
    for run_id in held:
        if run_id != held_run:
            await engine.wait_for_run(APP, run_id, timeout=10)

    async def executing() -> bool:
        return (await engine.automations.run(APP, held_run)).status == "running"

    await eventually(executing, "the gated run executing")
    await engine.cancel_run(APP, held_run)
    for automation_id in (ok, broken):
        for run in await _runs(engine, automation_id):
            await engine.wait_for_run(APP, run.id, timeout=10)
    GATES["metrics"].set()

    families = await _scrape(metrics)
    finished = families["graphflow_runs_finished"]
    stored = {aid: await _runs(engine, aid) for aid in (ok, broken, gated)}
    for aid, runs in stored.items():
        for status in ("completed", "failed", "cancelled"):
            expected = sum(r.status == status for r in runs)
            assert finished.value("_total", automation=aid, status=status) == expected, (aid, status)
    assert finished.total("_total", status="completed") == 5  # 4 + the ok run of the held event
    assert finished.total("_total", status="failed") == 5
    assert finished.total("_total", status="cancelled") == 1
    started = families["graphflow_runs_started"]
    assert started.total("_total") == sum(r.started_at is not None for runs in stored.values() for r in runs) == 11
    assert families["graphflow_run_duration_seconds"].total("_count") == 10  # completed and failed
    assert families["graphflow_node_duration_seconds"].total("_count") >= 10  # trigger + echo nodes
    assert families["graphflow_events_duplicate"].value("_total") == 1
    assert families["graphflow_store_up"].value() == 1
    assert families["graphflow_queue_depth"].value() == 0
    assert families["graphflow_automation_labels"].value() == 3
    assert families["graphflow_leases_lost"].value("_total") == 1  # the cancel took the held run over
    metrics.close()
    assert engine.observer is None


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_queue_depth_and_age_are_read_from_the_store(backend: str, tmp_path: Path) -> None:
    async def check(url: str) -> None:
        async with Engine(url, max_concurrent_runs=0) as publisher:  # publishes; no worker claims
            metrics = EngineMetrics(publisher)
            await _automation(publisher, {"kind": "WorkflowScript", "id": "echo", "source": "$"}, "queued")
            for i in range(3):
                await publisher.publish(APP, TRIGGER, JOINED, id=f"evt_q{i}")
            families = await _scrape(metrics)
            assert families["graphflow_queue_depth"].value() == 3
            assert families["graphflow_queue_oldest_age_seconds"].value() >= 0
            assert families["graphflow_runs_running"].value() == 0
            assert families["graphflow_workers_seen"].value() == 0
            status = await publisher.store.status(publisher.clock.now())
            assert status.pending == 3 and status.oldest_pending_at is not None
            assert status.schema_version == status.expected_schema_version > 0

    if backend == "postgres":
        with postgres_url() as url:
            await check(url)
    else:
        await check(f"sqlite:///{tmp_path / 'queue.db'}")


async def test_a_worker_holding_leases_is_seen(tmp_path: Path) -> None:
    reset_gates()
    async with Engine(f"sqlite:///{tmp_path / 'w.db'}", worker_id="host:1:abc") as engine:
        await _automation(engine, {"kind": "TestGate", "id": "wait", "gate": "seen"}, "held")
        (run_id,) = (await engine.publish(APP, TRIGGER, JOINED)).run_ids

        async def seen() -> bool:
            return bool((await engine.store.status(engine.clock.now())).workers)

        await eventually(seen, "the worker seen holding a lease")
        status = await engine.store.status(engine.clock.now())
        assert [(w.worker_id, w.runs) for w in status.workers] == [("host:1:abc", 1)]
        assert status.workers[0].lease_expires_at > engine.clock.now() and status.running == 1
        GATES["seen"].set()
        await engine.wait_for_run(APP, run_id, timeout=10)


def test_automation_labels_stay_bounded_under_10000_automations() -> None:
    label = BoundedLabel(100)
    registry = Registry()
    runs = registry.counter("runs", "runs", ["automation"])
    for i in range(10_000):
        runs.inc((label(f"aut_{i:05d}"),))
    assert len(runs.values) == 101 and len(label) == 100
    assert runs.values[(OTHER,)] == 9_900
    assert runs.values[("aut_00000",)] == 1
    assert label("aut_00001") == "aut_00001"  # a kept label keeps its series for the life of the process
    families = parse(registry.render())
    assert len(families["runs"].samples) == 101


async def test_engine_metrics_bound_automation_labels(engine: Engine) -> None:
    metrics = EngineMetrics(engine, max_automations=2)
    ids = [await _automation(engine, {"kind": "WorkflowScript", "id": "e", "source": "$"}, f"a{i}") for i in range(4)]
    run_ids = (await engine.publish(APP, TRIGGER, JOINED)).run_ids
    for run_id in run_ids:
        await engine.wait_for_run(APP, run_id, timeout=10)
    finished = (await _scrape(metrics))["graphflow_runs_finished"]
    labels = {ls["automation"] for _, ls, _ in finished.samples}
    assert len(labels) == 3 and OTHER in labels and labels - {OTHER} <= set(ids)
    assert finished.total("_total") == 4 and finished.value("_total", automation=OTHER, status="completed") == 2


async def test_a_store_that_does_not_answer_is_reported_not_raised(tmp_path: Path) -> None:
    async with Engine(f"sqlite:///{tmp_path / 'gone.db'}") as engine:
        metrics = EngineMetrics(engine)
        await engine.store.close()  # the database goes away under a running engine
        families = await _scrape(metrics)
        assert families["graphflow_store_up"].value() == 0
        assert "graphflow_queue_depth" in families and not families["graphflow_queue_depth"].samples
        await engine.store.start()


def test_the_renderer_escapes_label_values_and_the_parser_is_strict() -> None:
    registry = Registry()
    registry.counter("c", 'help with "quotes"\nand a line', ["automation"]).inc(('a"b\\c\nd',))
    registry.histogram("h", "h", [0.1, 1.0]).observe(0.5)
    families = parse(registry.render())
    assert families["c"].samples == [("c_total", {"automation": 'a\\"b\\\\c\\nd'}, 1.0)]
    assert families["h"].value("_count") == 1 and families["h"].value("_bucket", le="1") == 1
    with pytest.raises(ValueError, match="outside its family"):
        parse("# TYPE a counter\nb_total 1\n")
    with pytest.raises(ValueError, match="not cumulative"):
        parse('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 1\n')
    _ = anyio


class BlinkingStore(MemoryStore):
    """A memory store whose next ``outages`` run updates find the database unreachable."""

    outages = 0

    async def update_run(self, run: AutomationRun, *, fence: int | None = None) -> None:
        if self.outages:
            self.outages -= 1
            raise StoreUnavailableError("cannot reach postgresql://app:***@db/graphflow")
        await super().update_run(run, fence=fence)


async def test_store_retries_are_counted_and_the_run_still_completes() -> None:
    store = BlinkingStore()
    async with Engine(store) as engine:
        metrics = EngineMetrics(engine)
        await _automation(engine, {"kind": "WorkflowScript", "id": "echo", "source": "$"}, "blink")
        store.outages = 2
        (run_id,) = (await engine.publish(APP, TRIGGER, JOINED)).run_ids
        assert (await engine.wait_for_run(APP, run_id, timeout=10)).status == "completed"
        families = await _scrape(metrics)
        assert families["graphflow_store_retries"].value("_total") == 2
        assert families["graphflow_runs_finished"].total("_total", status="completed") == 1


async def test_a_run_whose_worker_died_is_recovered_and_counted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dead.db'}"
    async with Engine(url, max_concurrent_runs=0) as publisher:
        await _automation(publisher, {"kind": "WorkflowScript", "id": "echo", "source": "$"}, "orphan")
        (run_id,) = (await publisher.publish(APP, TRIGGER, JOINED)).run_ids
        # A worker claims it with a lease it never renews, and dies.
        assert await publisher.store.claim_runs("dead:1:abc", lease=0.05, limit=1, run_ids=[run_id])
    async with Engine(url, poll_interval=0.05) as engine:
        metrics = EngineMetrics(engine)
        assert (await engine.wait_for_run(APP, run_id, timeout=10)).status == "completed"
        families = await _scrape(metrics)
        assert families["graphflow_runs_recovered"].value("_total") == 1
        assert families["graphflow_runs_resumed"].total("_total") == 1  # it had started on the dead worker
        assert families["graphflow_leases_expired"].value() == 0
