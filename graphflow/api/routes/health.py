"""``/v1/health`` (is the store reachable?) and ``/v1/openapi.json``."""

from __future__ import annotations

from starlette.responses import Response

import graphflow
from graphflow.api.models import HealthOut
from graphflow.api.operations import Call, Operation, json_response

__all__ = ["OPERATIONS"]


async def health(call: Call) -> Response:
    store = call.engine.store
    # One indexed read: a store that cannot answer raises StoreError, which is a 503 ``unavailable``.
    await store.get_config("graphflow-health", "cfg_0")
    return json_response({"status": "ok", "version": graphflow.__version__, "store": type(store).__name__})


OPERATIONS = [
    Operation("GET", "/health", health, "health", "The server answers and its store is reachable.", "health",
              response=HealthOut),
]  # fmt: skip
