"""Schedule metrics (fires, catch-up, lateness, missed fires) on a FakeClock, and the JSON log lines they come with."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from graphflow.clock import FakeClock
from graphflow.engine.engine import Engine
from graphflow.observability.logs import JsonFormatter, configure_logging, run_logger
from graphflow.observability.metrics import EngineMetrics
from tests.observability.prometheus import parse
from tests.triggers.test_scheduler import DAY, HOUR, NINE, T0, fired, scheduled

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with Engine("memory://", clock=FakeClock(T0)) as started:
        yield started


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the ``graphflow`` logger tree writes, as JSON lines."""
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    yield stream
    root = logging.getLogger("graphflow")
    root.removeHandler(handler)
    root.propagate = True
    root.setLevel(logging.NOTSET)


async def test_fires_catchup_lateness_and_missed_fires_are_counted(engine: Engine, lines: io.StringIO) -> None:
    metrics = EngineMetrics(engine)
    kept = await scheduled(engine, "0 9 * * *", catchup="all", max_catchup_runs=10)
    dropped = await scheduled(engine, "0 9 * * *", catchup="none")
    assert isinstance(engine.clock, FakeClock)
    await engine.clock.set(NINE + 3 * DAY + HOUR)
    runs = await fired(engine, kept, 4)
    await fired(engine, dropped, 0)
    families = parse(await metrics.collect())
    assert families["graphflow_schedule_fires"].value("_total", automation=kept.id) == len(runs) == 4
    assert families["graphflow_schedule_catchup_runs"].value("_total", automation=kept.id) == 4  # all past the grace
    lateness = families["graphflow_schedule_lateness_seconds"]
    assert lateness.value("_count") == 4 and lateness.value("_sum") == sum(3 * DAY + HOUR - d * DAY for d in range(4))
    assert families["graphflow_schedule_missed_fires"].value("_total") == 4
    assert families["graphflow_scheduler_lag_seconds"].value() == 0
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    [missed] = [r for r in records if "missed" in r["message"]]
    assert missed["automation_id"] == dropped.id and missed["app_id"] == "app_a"
    assert missed["level"] == "WARNING" and missed["logger"] == "graphflow.triggers.scheduler"


def test_json_lines_carry_the_ids_a_run_logger_binds() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("graphflow.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log = run_logger(logger, run_id="atr_1", automation_id="aut_1", app_id="app_1")
        log.info("step %s done", "x", extra={"attempt": 2})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
        logger.info("no ids", extra={"odd": object()})
    finally:
        logger.removeHandler(handler)
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "step x done" and first["attempt"] == 2
    assert (first["run_id"], first["automation_id"], first["app_id"]) == ("atr_1", "aut_1", "app_1")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc"] and second["run_id"] == "atr_1"
    assert "run_id" not in third and third["odd"].startswith("<object")
    assert first["ts"].endswith("Z")


def test_configure_logging_twice_keeps_one_handler() -> None:
    root = logging.getLogger("graphflow")
    before = list(root.handlers)
    try:
        configure_logging("text", stream=io.StringIO())
        configure_logging("json", stream=io.StringIO())
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1 and isinstance(ours[0].formatter, JsonFormatter)
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        root.propagate = True
        root.setLevel(logging.NOTSET)
