"""``/v1/apps/{app_id}/events``: publish a platform event; explain what it would start."""

from __future__ import annotations

from starlette.responses import Response

from graphflow.api.models import EventIn, ExplainIn, ExplainOut, PublishOut
from graphflow.api.operations import Call, Operation, json_response

__all__ = ["OPERATIONS"]

BASE = "/apps/{app_id}/events"


async def publish_event(call: Call) -> Response:
    body = await call.body(EventIn)
    result = await call.engine.publish(call.app_id, body.name, body.payload, body.id)
    return json_response(
        {
            "event_id": result.event_id,
            "duplicate": result.duplicate,
            "run_ids": list(result.run_ids),
            "woken_run_ids": list(result.woken_run_ids),
        },
        202,
    )


async def explain_event(call: Call) -> Response:
    body = await call.body(ExplainIn)
    automations = await call.engine.explain(call.app_id, body.name, body.payload)
    return json_response({"data": [automation.to_dict() for automation in automations]})


OPERATIONS = [
    Operation("POST", BASE, publish_event, "publishEvent",
              "Publish an event: one run per running trigger automation listening for it.", "events",
              status=202, response=PublishOut, body=EventIn),
    Operation("POST", BASE + "/explain", explain_event, "explainEvent",
              "Which automations an event would start, starting nothing.", "events",
              response=ExplainOut, body=ExplainIn),
]  # fmt: skip
