"""``GET /v1/status``: the database's queue, the workers seen and overdue schedules, for operators.

It spans every app, so it is authorized as ``/metrics`` is (an operator endpoint: see
:class:`~graphflow.api.operations.Settings` ``metrics_public`` and ``metrics_app``).
"""

from __future__ import annotations

from starlette.responses import Response

from graphflow.api.models import OperatorStatusOut, OperatorStatusQuery
from graphflow.api.operations import Call, Operation, json_response
from graphflow.observability.health import status_document

__all__ = ["OPERATIONS"]


async def status(call: Call) -> Response:
    query = call.query(OperatorStatusQuery)
    now = call.engine.clock.now()
    found = await call.engine.store.status(now, late_after=query.late_after, limit=query.limit)
    return json_response(status_document(found, now))


OPERATIONS = [
    Operation("GET", "/status", status, "getStatus",
              "Queue depth, workers seen (by their leases) and overdue schedules, across apps (operator).",
              "health", response=OperatorStatusOut, query=OperatorStatusQuery, operator=True),
]  # fmt: skip
