"""examples/morning-briefing: one briefing every weekday at 6:30 in New York, across the DST change."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from graphflow.records import Automation
from graphflow.testing import EngineHarness, assert_path

from .conftest import LocalApi, Request, example

pytestmark = pytest.mark.anyio
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def graphflow_start() -> str:
    return "2027-03-07T00:00:00Z"  # a Sunday; the US moves to summer time on Sunday 14 March 2027


@pytest.fixture
async def briefing(graphflow_harness: EngineHarness, local_api: LocalApi) -> Automation:
    def agenda(request: Request) -> tuple[int, object]:
        day = request.query["at"][0][:10]
        if day == "2027-03-10":
            return 200, {"events": []}
        if day == "2027-03-11":
            return 403, {"error": "calendar access revoked"}
        return 200, {"events": [{"start": "09:00", "title": "Standup"}, {"start": "14:00", "title": f"Review {day}"}]}

    local_api.routes[("GET", "/agenda")] = agenda
    graph, fields = example("morning-briefing")
    return await graphflow_harness.add_automation(graph, **fields)


async def test_one_briefing_each_weekday_morning(
    graphflow_harness: EngineHarness, briefing: Automation, local_api: LocalApi
) -> None:
    runs = await graphflow_harness.advance_to("2027-03-16T00:00:00Z")

    local = [datetime.fromtimestamp(run.scheduled_at or 0, NEW_YORK) for run in runs]
    assert [(t.day, t.hour, t.minute) for t in local] == [(d, 6, 30) for d in (8, 9, 10, 11, 12, 15)]
    assert [t.utcoffset().total_seconds() / 3600 for t in local] == [-5] * 5 + [-4]  # type: ignore[union-attr]
    assert [run.status for run in runs] == ["completed"] * 6
    posts = [r.body["text"] for r in local_api.received("POST", "/threads/thr_briefing/messages")]
    assert posts[0] == "Good morning! 2 things today:\n- 09:00 Standup\n- 14:00 Review 2027-03-08"
    assert posts[2] == "Good morning! Nothing on your calendar today."
    assert posts[3] == "Good morning! I could not read your calendar today (http_status_4xx)."
    assert len(posts) == 6
    assert_path(runs[3], ["wake", "agenda", "no_agenda", "post"])
    assert len(local_api.received("GET", "/agenda")) == 6  # a 4xx is not retried


async def test_a_briefing_missed_while_down_is_sent_once_late(
    graphflow_harness: EngineHarness, briefing: Automation, local_api: LocalApi
) -> None:
    await graphflow_harness.advance_to("2027-03-08T11:00:00Z")  # 06:00 in New York: nothing yet
    assert local_api.received("POST", "/threads/thr_briefing/messages") == []
    await graphflow_harness.engine.automations.pause(briefing.app_id, briefing.id)
    await graphflow_harness.advance_to("2027-03-08T11:45:00Z")  # 06:45: paused, nothing fires
    await graphflow_harness.engine.automations.activate(briefing.app_id, briefing.id)
    runs = await graphflow_harness.advance_to("2027-03-09T12:00:00Z")
    assert [datetime.fromtimestamp(r.scheduled_at or 0, NEW_YORK).day for r in runs] == [
        9
    ]  # a paused backlog is not replayed
