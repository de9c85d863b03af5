"""``/v1/apps/{app_id}/automations``: create, list, read, change, delete, and the lifecycle moves."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from graphflow.api.errors import WaitTimeoutError
from graphflow.api.models import (
    AutomationListQuery,
    AutomationOut,
    AutomationPage,
    AutomationWithRuns,
    CatalogueOut,
    InvokeIn,
    MemoryOut,
    PauseIn,
    RunOut,
    StatusOut,
    StatusQuery,
    TriggerIn,
    TriggerOut,
)
from graphflow.api.operations import Call, Operation, json_response
from graphflow.automations.inputs import AutomationFields
from graphflow.exceptions import Problem, ValidationError

__all__ = ["OPERATIONS", "check_cursor"]

BASE = "/apps/{app_id}/automations"
#: How long ``POST …/invoke`` with ``wait`` waits when no ``timeout`` is given (seconds).
DEFAULT_WAIT = 30.0
ONE = BASE + "/{automation_id}"


def check_cursor(cursor: str | None, prefix: str) -> str | None:
    """Refuse a cursor that cannot be an id this listing handed out.

    Raises:
        ValidationError: with path ``$.cursor``.
    """
    if cursor is not None and not (cursor.startswith(prefix) and cursor[len(prefix) :].isalnum()):
        raise ValidationError(
            [Problem("$.cursor", "cursor must be the next_cursor of a previous page", "omit it for the first page")],
            subject="query string",
        )
    return cursor


async def list_automations(call: Call) -> Response:
    query = call.query(AutomationListQuery)
    page = await call.engine.automations.list(
        call.app_id, type=query.type, cursor=check_cursor(query.cursor, "aut_"), limit=query.limit
    )
    return json_response(page.to_dict())


async def create_automation(call: Call) -> Response:
    automation = await call.engine.automations.create(call.app_id, await call.json())
    return json_response(automation.to_dict(), 201)


async def get_automation(call: Call) -> Response:
    details = await call.engine.automations.get(call.app_id, call.path("automation_id"))
    return json_response(details.to_dict())


async def update_automation(call: Call) -> Response:
    automation = await call.engine.automations.update(call.app_id, call.path("automation_id"), await call.json())
    return json_response(automation.to_dict())


async def delete_automation(call: Call) -> Response:
    await call.engine.automations.delete(call.app_id, call.path("automation_id"))
    return json_response(None, 204)


async def activate_automation(call: Call) -> Response:
    await call.json(optional=True)  # a body, if any, must still be JSON within the limit
    automation = await call.engine.automations.activate(call.app_id, call.path("automation_id"))
    return json_response(automation.to_dict())


async def pause_automation(call: Call) -> Response:
    body = await call.body(PauseIn, optional=True)
    automation = await call.engine.automations.pause(call.app_id, call.path("automation_id"), body.reason)
    return json_response(automation.to_dict())


async def reset_automation(call: Call) -> Response:
    await call.json(optional=True)
    automation = await call.engine.automations.reset(call.app_id, call.path("automation_id"))
    return json_response(automation.to_dict())


async def trigger_automation(call: Call) -> Response:
    body = await call.body(TriggerIn, optional=True)
    run_id = await call.engine.automations.trigger(call.app_id, call.path("automation_id"), body.payload)
    return json_response({"run_id": run_id}, 202)


async def invoke_automation(call: Call) -> Response:
    body = await call.body(InvokeIn, optional=True)
    header = call.request.headers.get("idempotency-key")
    key = body.idempotency_key if body.idempotency_key is not None else header
    if body.idempotency_key is not None and header is not None and header != body.idempotency_key:
        raise ValidationError(
            [Problem("$.idempotency_key", "the Idempotency-Key header and idempotency_key differ; send one")],
            subject="request",
        )
    try:
        run = await call.engine.automations.invoke(
            call.app_id,
            call.path("automation_id"),
            body.payload,
            idempotency_key=key,
            wait=body.wait,
            timeout=(body.timeout or DEFAULT_WAIT) if body.wait else None,
        )
    except TimeoutError:
        raise WaitTimeoutError(body.timeout or DEFAULT_WAIT) from None
    return json_response(run.to_dict(journal=body.wait), 200 if body.wait else 202)


async def automation_memory(call: Call) -> Response:
    return json_response({"memory": await call.engine.automations.memory(call.app_id, call.path("automation_id"))})


async def event_catalogue(call: Call) -> Response:
    return json_response({"data": await call.engine.automations.events(call.app_id)})


async def running_status(call: Call) -> Response:
    query = call.query(StatusQuery)
    return json_response({"data": await call.engine.automations.status(call.app_id, query.automation_id)})


def _update_schema() -> dict[str, Any]:
    schema = AutomationFields.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("required", None)
    schema["title"] = "AutomationUpdate"
    return schema


_EMPTY: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}

OPERATIONS = [
    Operation("GET", BASE, list_automations, "listAutomations", "List automations, newest first.", "automations",
              response=AutomationPage, query=AutomationListQuery),
    Operation("POST", BASE, create_automation, "createAutomation",
              "Create an automation (draft; enabled: true activates it).", "automations",
              status=201, response=AutomationOut, body=AutomationFields, errors=(409,)),
    Operation("GET", BASE + "/events", event_catalogue, "listAutomationEvents",
              "The events trigger automations can listen for.", "automations", response=CatalogueOut),
    Operation("GET", BASE + "/status", running_status, "automationStatus",
              "The running runs with their elapsed seconds (all, or one automation's).", "automations",
              response=StatusOut, query=StatusQuery),
    Operation("GET", ONE, get_automation, "getAutomation", "An automation with its recent runs.", "automations",
              response=AutomationWithRuns),
    Operation("PATCH", ONE, update_automation, "updateAutomation",
              "Change any create field (enabled: false pauses).", "automations",
              response=AutomationOut, body=_update_schema(), errors=(409,)),
    Operation("DELETE", ONE, delete_automation, "deleteAutomation",
              "Delete an automation (pending runs are cancelled, past runs kept).", "automations", status=204),
    Operation("POST", ONE + "/activate", activate_automation, "activateAutomation", "draft/paused → running.",
              "automations", body=_EMPTY, body_required=False, response=AutomationOut, errors=(409,)),
    Operation("POST", ONE + "/pause", pause_automation, "pauseAutomation", "running → paused.", "automations",
              body=PauseIn, body_required=False, response=AutomationOut, errors=(409,)),
    Operation("POST", ONE + "/reset", reset_automation, "resetAutomation", "paused → draft.", "automations",
              body=_EMPTY, body_required=False, response=AutomationOut, errors=(409,)),
    Operation("POST", ONE + "/trigger", trigger_automation, "triggerAutomation",
              "Start a run now; watch it on the run stream.", "automations",
              status=202, response=TriggerOut, body=TriggerIn, body_required=False, errors=(409,)),
    Operation("GET", ONE + "/memory", automation_memory, "getAutomationMemory",
              "The automation's memory document, as its WorkflowRemember nodes last wrote it.", "automations",
              response=MemoryOut),
    Operation("POST", ONE + "/invoke", invoke_automation, "invokeAutomation",
              "Invoke an invoked automation: its payload checked against input_schema, repeatable with an "
              "idempotency key; with wait, answer once the run ended (200).", "automations",
              status=202, response=RunOut, body=InvokeIn, body_required=False, errors=(409, 504)),
]  # fmt: skip
