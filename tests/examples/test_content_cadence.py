"""examples/content-cadence: the Monday variations are posted only once the marketing lead approves."""

from __future__ import annotations

import pytest

import graphflow
from graphflow.records import Automation
from graphflow.testing import EngineHarness, assert_path

from .conftest import LocalApi, example

pytestmark = pytest.mark.anyio


@pytest.fixture
def graphflow_start() -> str:
    return "2027-06-06T12:00:00Z"  # a Sunday


@pytest.fixture
async def cadence(graphflow_harness: EngineHarness, local_api: LocalApi) -> Automation:
    local_api.routes[("GET", "/videos/top")] = (200, {"id": "vid_42", "title": "Unboxing the X1"})
    graph, fields = example("content-cadence")
    return await graphflow_harness.add_automation(graph, **fields)


async def test_approved_variations_are_posted(
    graphflow_harness: EngineHarness, cadence: Automation, local_api: LocalApi
) -> None:
    [run] = await graphflow_harness.advance_to("2027-06-07T08:00:00Z")  # Monday 10:00 in Paris
    assert run.status == "running" and run.scheduled_at == graphflow.testing.clock.instant("2027-06-07T07:00:00Z")
    [request] = await graphflow_harness.steering_requests(run=run)
    assert request.message == "Post 5 variations of 'Unboxing the X1' this week?"
    assert local_api.received("POST", "/scheduled-posts") == []  # nothing is posted before the answer

    with pytest.raises(graphflow.exceptions.ForbiddenError):
        await graphflow_harness.respond(request, "approve", by="usr_intern")
    done = await graphflow_harness.respond(request, "approve", by="usr_marketing_lead")

    assert done.status == "completed"
    assert_path(done, ["monday", "top_video", "draft", "review", "publish"])
    [posted] = local_api.received("POST", "/scheduled-posts")
    assert posted.body == {
        "video_id": "vid_42",
        "captions": [f"Unboxing the X1 (take {n})" for n in range(1, 6)],
        "approved_by": "usr_marketing_lead",
    }


async def test_a_rejection_posts_nothing(
    graphflow_harness: EngineHarness, cadence: Automation, local_api: LocalApi
) -> None:
    [run] = await graphflow_harness.advance_to("2027-06-07T08:00:00Z")
    [request] = await graphflow_harness.steering_requests(run=run)
    done = await graphflow_harness.respond(request, "reject", by="usr_marketing_lead", note="launch moved")
    assert_path(done, ["monday", "top_video", "draft", "review", "note_rejected"])
    assert local_api.received("POST", "/scheduled-posts") == []
    [note] = local_api.received("POST", "/threads/thr_marketing/messages")
    assert note.body == {"text": "Skipping this week's variations of 'Unboxing the X1' (launch moved)."}


async def test_without_an_answer_in_a_day_nothing_is_posted(
    graphflow_harness: EngineHarness, cadence: Automation, local_api: LocalApi
) -> None:
    await graphflow_harness.advance_to("2027-06-07T08:00:00Z")
    await graphflow_harness.advance_to("2027-06-08T08:00:00Z")  # the request expired at 07:00
    [run] = await graphflow_harness.runs(cadence)
    assert run.status == "completed"
    assert_path(run, ["monday", "top_video", "draft", "review", "note_expired"])
    assert local_api.received("POST", "/scheduled-posts") == []
    assert await graphflow_harness.steering_requests() == []
