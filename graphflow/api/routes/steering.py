"""``/v1/apps/{app_id}/steering_requests``: the requests ``WorkflowApproval`` nodes raise, and their answers."""

from __future__ import annotations

from starlette.responses import Response

from graphflow.api.models import SteeringListQuery, SteeringOut, SteeringPage, SteeringResponseIn
from graphflow.api.operations import Call, Operation, json_response
from graphflow.api.routes.automations import check_cursor

__all__ = ["OPERATIONS"]

BASE = "/apps/{app_id}/steering_requests"


async def list_requests(call: Call) -> Response:
    query = call.query(SteeringListQuery)
    page = await call.engine.steering.list(
        call.app_id,
        run_id=query.run_id,
        status=query.status,
        cursor=check_cursor(query.cursor, "str_"),
        limit=query.limit,
    )
    return json_response(page.to_dict())


async def get_request(call: Call) -> Response:
    request = await call.engine.steering.get(call.app_id, call.path("request_id"))
    return json_response(request.to_dict())


async def answer_request(call: Call) -> Response:
    body = await call.body(SteeringResponseIn)
    answered = await call.engine.steering.respond(
        call.app_id, call.path("request_id"), body.choice, note=body.note, by=body.by
    )
    return json_response(answered.to_dict())


OPERATIONS = [
    Operation("GET", BASE, list_requests, "listSteeringRequests",
              "The app's steering requests, newest first (?status=pending: awaiting an answer).", "steering",
              response=SteeringPage, query=SteeringListQuery),
    Operation("GET", BASE + "/{request_id}", get_request, "getSteeringRequest", "One steering request.",
              "steering", response=SteeringOut),
    Operation("POST", BASE + "/{request_id}", answer_request, "answerSteeringRequest",
              "Answer a pending request: its run continues on the edge for the choice.", "steering",
              response=SteeringOut, body=SteeringResponseIn, errors=(403, 409)),
]  # fmt: skip
