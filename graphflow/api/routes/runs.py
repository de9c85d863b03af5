"""Runs: an automation's runs, one run with its journal, cancelling a run."""

from __future__ import annotations

from starlette.responses import Response

from graphflow.api.models import RunListQuery, RunOut, RunPage
from graphflow.api.operations import Call, Operation, json_response
from graphflow.api.routes.automations import check_cursor

__all__ = ["OPERATIONS"]

RUN = "/apps/{app_id}/automations/runs/{run_id}"


async def list_runs(call: Call) -> Response:
    query = call.query(RunListQuery)
    page = await call.engine.automations.runs(
        call.app_id,
        call.path("automation_id"),
        status=query.status,
        cursor=check_cursor(query.cursor, "atr_"),
        limit=query.limit,
    )
    return json_response({"data": [run.to_dict(journal=False) for run in page.data], "next_cursor": page.next_cursor})


async def get_run(call: Call) -> Response:
    run = await call.engine.automations.run(call.app_id, call.path("run_id"))
    return json_response(run.to_dict())


async def cancel_run(call: Call) -> Response:
    await call.json(optional=True)
    run = await call.engine.automations.cancel_run(call.app_id, call.path("run_id"))
    return json_response(run.to_dict())


OPERATIONS = [
    Operation("GET", RUN, get_run, "getRun", "A run with its journal.", "runs", response=RunOut),
    Operation("POST", RUN + "/cancel", cancel_run, "cancelRun",
              "Cancel a pending or executing run (a finished one is returned unchanged).", "runs",
              response=RunOut, body={"type": "object", "additionalProperties": False, "properties": {}},
              body_required=False),
    Operation("GET", "/apps/{app_id}/automations/{automation_id}/runs", list_runs, "listRuns",
              "An automation's runs, newest first.", "runs", response=RunPage, query=RunListQuery),
]  # fmt: skip
