"""Steering requests: a ``WorkflowApproval`` parks its run until a person answers, on every store.

On SQLite and PostgreSQL a parked run holds no worker, task or connection: it is ``pending`` with
``waiting_for`` until the answer (or the expiry) makes it claimable; on the memory store it waits
in-process. Every answer is a conditional write: twice, late, foreign or wrong → a clear error,
nothing changes.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from graphflow.engine.engine import Engine
from graphflow.events import SteeringAnswered, SteeringRequested
from graphflow.exceptions import ForbiddenError, NotFoundError, ValidationError, WaitClosedError
from graphflow.records import Wait
from tests.conftest import eventually, graph_dict

pytestmark = pytest.mark.anyio

APP = "app_s"
JOINED = {"thread_id": "thr_1", "user_id": "usr_1"}


def gated(**approval: Any) -> dict[str, Any]:
    gate = {
        "kind": "WorkflowApproval",
        "id": "gate",
        "message": "Welcome {{ $.user_id }} to {{ $.thread_id }}?",
        "routes": {"reject": "dropped"},
        "on_success": "posted",
        **approval,
    }
    targets = {gate.get("on_success"), gate.get("on_timeout"), *gate["routes"].values()}
    steps = [
        {"kind": "WorkflowScript", "id": "posted", "source": "'posted ' + $.input.user_id"},
        {"kind": "WorkflowScript", "id": "dropped", "source": "'dropped'"},
        {"kind": "WorkflowScript", "id": "late", "source": "'expired'"},
        {"kind": "WorkflowScript", "id": "later", "source": "'asked to wait: ' + $.note"},
    ]
    return graph_dict(gate, *(s for s in steps if s["id"] in targets), trigger="thread.member_joined")


async def started(engine: Engine, app: str = APP, **approval: Any) -> Wait:
    """Publish to an automation whose graph asks first; return the request once raised."""
    config = await engine.configs.create(app, gated(**approval))
    automation = await engine.automations.create(
        app, name="gated", trigger="thread.member_joined", config_id=config.id, enabled=True
    )
    run_id = await engine.automations.trigger(app, automation.id, JOINED)
    found: list[Wait] = []

    async def raised() -> bool:
        found[:] = (await engine.steering.list(app, run_id=run_id)).data
        return bool(found)

    await eventually(raised, "the steering request")
    near = approval.get("expires_after", engine.timer_threshold) < engine.timer_threshold  # waited out in-process
    if engine.store.durable and not near:  # the request is registered before the run parks: wait for the park

        async def parked() -> bool:
            return (await engine.automations.run(app, run_id)).waiting_for is not None

        await eventually(parked, "the run to park")
    return found[0]


async def test_an_answer_continues_the_run_on_the_edge_for_its_choice(engine: Engine) -> None:
    request = await started(engine)
    assert (request.status, request.message, request.choices) == (
        "pending",
        "Welcome usr_1 to thr_1?",
        ["approve", "reject"],
    )
    run = await engine.automations.run(APP, request.run_id)
    if engine.store.durable:  # parked: no task, no worker; it shows what it waits for
        assert run.status == "pending"
        assert run.waiting_for == {
            "kind": "steering",
            "steering_request_id": request.id,
            "node_id": "gate",
            "until": None,
        }
        assert request.run_id not in engine.executor.active_runs
    answered = await engine.steering.respond(APP, request.id, "approve", note="welcome!", by="usr_9")
    assert (answered.status, answered.resolution) == (
        "answered",
        {"choice": "approve", "note": "welcome!", "by": "usr_9"},
    )
    done = await engine.wait_for_run(APP, request.run_id, timeout=10)
    assert (done.status, done.result) == ("completed", {"payload": "posted usr_1", "output": []})
    assert done.waiting_for is None
    nodes = [e["node_id"] for e in done.journal if e["type"] == "node_completed"]
    assert nodes.count("gate") == 1 and "dropped" not in nodes


async def test_reject_follows_its_route(engine: Engine) -> None:
    request = await started(engine)
    await engine.steering.respond(APP, request.id, "reject")
    done = await engine.wait_for_run(APP, request.run_id, timeout=10)
    assert done.result == {"payload": "dropped", "output": []}


async def test_custom_choices_follow_their_routes(engine: Engine) -> None:
    request = await started(engine, choices=["post", "hold"], routes={"hold": "later"}, message="Post {{ $.user_id }}?")
    await engine.steering.respond(APP, request.id, "hold", note="after lunch")
    done = await engine.wait_for_run(APP, request.run_id, timeout=10)
    assert done.result == {"payload": "asked to wait: after lunch", "output": []}


async def test_an_expired_request_takes_on_timeout(engine: Engine) -> None:
    request = await started(engine, expires_after=0.3, on_timeout="late")
    done = await engine.wait_for_run(APP, request.run_id, timeout=10)
    assert done.result == {"payload": "expired", "output": []}
    expired = await engine.steering.get(APP, request.id)
    assert expired.status == "expired"
    with pytest.raises(WaitClosedError) as closed:
        await engine.steering.respond(APP, request.id, "approve")
    assert closed.value.code == "request_closed" and closed.value.details["status"] == "expired"


async def test_an_expired_request_without_on_timeout_fails_the_node(engine: Engine) -> None:
    request = await started(engine, expires_after=0.2)
    done = await engine.wait_for_run(APP, request.run_id, timeout=10)
    assert done.status == "failed" and "expired unanswered" in done.result["error"]  # type: ignore[index]


async def test_answering_twice_changes_nothing(engine: Engine) -> None:
    request = await started(engine)
    await engine.steering.respond(APP, request.id, "reject", by="usr_1")
    with pytest.raises(WaitClosedError, match="already answered"):
        await engine.steering.respond(APP, request.id, "approve", by="usr_2")
    kept = await engine.steering.get(APP, request.id)
    assert kept.resolution == {"choice": "reject", "note": None, "by": "usr_1"}


async def test_concurrent_answers_exactly_one_wins(engine: Engine) -> None:
    request = await started(engine)
    outcomes: list[str] = []

    async def answer(choice: str) -> None:
        try:
            await engine.steering.respond(APP, request.id, choice)
            outcomes.append(f"won:{choice}")
        except WaitClosedError:
            outcomes.append("closed")

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(answer, "approve" if n % 2 else "reject")
    assert outcomes.count("closed") == 7
    (winner,) = [o for o in outcomes if o.startswith("won:")]
    done = await engine.wait_for_run(APP, request.run_id, timeout=10)
    assert done.result["payload"] == ("posted usr_1" if winner == "won:approve" else "dropped")  # type: ignore[index]


async def test_bad_answers_are_refused_and_change_nothing(engine: Engine) -> None:
    request = await started(engine, assignees=["usr_boss"])
    with pytest.raises(ValidationError, match=r"\$\.choice"):
        await engine.steering.respond(APP, request.id, "maybe", by="usr_boss")
    with pytest.raises(ValidationError, match=r"\$\.note"):
        await engine.steering.respond(APP, request.id, "approve", note="x" * 5000, by="usr_boss")
    with pytest.raises(ForbiddenError, match="usr_boss"):
        await engine.steering.respond(APP, request.id, "approve", by="usr_intern")
    with pytest.raises(ForbiddenError):
        await engine.steering.respond(APP, request.id, "approve")
    for foreign in (request.id, "str_unknown", "", "x" * 500, "str_\x00"):
        with pytest.raises(NotFoundError):
            await engine.steering.respond("app_other", foreign, "approve", by="usr_boss")
    with pytest.raises(NotFoundError):
        await engine.steering.get("app_other", request.id)
    assert (await engine.steering.list("app_other")).data == []
    assert (await engine.steering.get(APP, request.id)).status == "pending"
    await engine.steering.respond(APP, request.id, "approve", by="usr_boss")
    assert (await engine.wait_for_run(APP, request.run_id, timeout=10)).status == "completed"


async def test_listing_by_status_and_run(engine: Engine) -> None:
    first = await started(engine)
    second = await started(engine)
    await engine.steering.respond(APP, first.id, "approve")
    pending = await engine.steering.list(APP, status="pending")
    assert [r.id for r in pending.data] == [second.id]
    assert [r.id for r in (await engine.steering.list(APP, run_id=first.run_id)).data] == [first.id]
    with pytest.raises(ValidationError, match=r"\$\.status"):
        await engine.steering.list(APP, status="open")


async def test_cancelling_a_waiting_run_cancels_its_request(engine: Engine) -> None:
    request = await started(engine)
    await engine.cancel_run(APP, request.run_id)
    assert (await engine.wait_for_run(APP, request.run_id, timeout=10)).status == "cancelled"

    async def cancelled() -> bool:
        return (await engine.steering.get(APP, request.id)).status == "cancelled"

    await eventually(cancelled, "the request to be cancelled with its run")
    with pytest.raises(WaitClosedError, match="cancelled"):
        await engine.steering.respond(APP, request.id, "approve")


async def test_requests_and_answers_are_announced(engine: Engine) -> None:
    seen: list[Any] = []
    engine.subscribe(seen.append, (SteeringRequested, SteeringAnswered))
    request = await started(engine)
    await engine.steering.respond(APP, request.id, "approve", by="usr_2")
    await engine.wait_for_run(APP, request.run_id, timeout=10)
    kinds = [(type(e).__name__, e.request_id) for e in seen]
    assert kinds == [("SteeringRequested", request.id), ("SteeringAnswered", request.id)]
    assert seen[0].message == "Welcome usr_1 to thr_1?" and seen[1].by == "usr_2"


async def test_the_app_stream_carries_the_request_and_the_answer(engine: Engine) -> None:
    start = await engine.stream.last_seq(APP)
    request = await started(engine)
    await engine.steering.respond(APP, request.id, "reject")
    await engine.wait_for_run(APP, request.run_id, timeout=10)
    events = await engine.stream.read(APP, start, types=["steering.requested", "steering.answered"])
    assert [(e.type, e.data["request_id"]) for e in events] == [
        ("steering.requested", request.id),
        ("steering.answered", request.id),
    ]
    assert events[1].data["choice"] == "reject"


async def test_an_approval_inside_a_graph_run_without_an_engine_fails_clearly() -> None:
    import graphflow

    graph = graphflow.load_graph(gated())
    result = await graphflow.run_graph(graph, {"trigger": "thread.member_joined", "payload": JOINED})
    assert result.status == "failed" and "need an engine" in (result.error or "")


def test_bad_approval_configs_are_refused_with_a_path() -> None:
    import graphflow
    from graphflow.exceptions import ValidationError as Invalid

    bad = [
        ({"routes": {"maybe": "posted"}}, "routes name choices that are not in choices"),
        ({"on_timeout": "late"}, "on_timeout needs expires_after"),
        ({"choices": ["a", "a"]}, "distinct"),
        ({"choices": []}, "choices"),
        ({"expires_after": "-5s"}, "expires_after"),
        ({"timeout": "5s"}, "expires_after"),
        ({"routes": {"reject": "nowhere"}}, "nowhere"),
        ({"message": "{{ $.nope( }}"}, "message"),
    ]
    for fields, expected in bad:
        with pytest.raises(Invalid) as refused:
            graphflow.load_graph(gated(**fields))
        text = str(refused.value)
        assert "$.nodes[1]" in text and expected in text, (fields, text)


async def test_pausing_the_automation_cancels_its_waiting_runs_and_requests(engine: Engine) -> None:
    request = await started(engine)
    await engine.automations.pause(APP, request.automation_id, reason="holiday")
    assert (await engine.wait_for_run(APP, request.run_id, timeout=10)).status == "cancelled"

    async def cancelled() -> bool:
        return (await engine.steering.get(APP, request.id)).status == "cancelled"

    await eventually(cancelled, "the request to be cancelled with its run")
