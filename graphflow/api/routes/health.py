"""Health: ``/v1/health`` (the store answers), ``/v1/health/live`` (the process answers), ``/v1/health/ready``.

``/v1/health/ready`` is 200 when the engine can do its work and 503 with the failing checks when
it cannot (see :func:`graphflow.observability.health.readiness`): the store answers, migrations
are current, the engine and its scheduler run, and the scheduler is not overdue by more than
``Settings.max_lag``. None of them needs credentials, and none says anything about any app.
"""

from __future__ import annotations

from starlette.responses import Response

import graphflow
from graphflow.api.models import HealthOut, LiveOut, ReadyOut
from graphflow.api.operations import Call, Operation, json_response
from graphflow.observability.health import readiness

__all__ = ["OPERATIONS"]


async def health(call: Call) -> Response:
    store = call.engine.store
    # One indexed read: a store that cannot answer raises StoreError, which is a 503 ``unavailable``.
    await store.get_config("graphflow-health", "cfg_0")
    return json_response({"status": "ok", "version": graphflow.__version__, "store": type(store).__name__})


async def live(call: Call) -> Response:
    return json_response({"status": "ok", "version": graphflow.__version__})


async def ready(call: Call) -> Response:
    answer = await readiness(call.engine, max_lag=call.settings.max_lag)
    return json_response(answer, 200 if answer["status"] == "ready" else 503)


OPERATIONS = [
    Operation("GET", "/health", health, "health", "The server answers and its store is reachable.", "health",
              response=HealthOut),
    Operation("GET", "/health/live", live, "healthLive",
              "Liveness: the process answers (reads nothing; for a liveness probe).", "health", response=LiveOut),
    Operation("GET", "/health/ready", ready, "healthReady",
              "Readiness: store reachable, migrations current, scheduler running and not lagging (503 when not).",
              "health", response=ReadyOut),
]  # fmt: skip
