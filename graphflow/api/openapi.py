"""``/v1/openapi.json``: an OpenAPI 3.1 document built from the operations and their pydantic models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import graphflow
from graphflow.api.bodies import JSON_TYPES, YAML_TYPES
from graphflow.api.models import ErrorOut
from graphflow.api.operations import Operation

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_REASONS = {
    400: "invalid input (validation_error: every problem with its path)",
    401: "missing, invalid or revoked credentials (unauthorized)",
    403: "the caller may not do this to it, e.g. answer a request assigned to others (forbidden)",
    404: "no such resource in this app, or another app's (not_found)",
    409: "the current state refuses it (invalid_transition, already_running, conflict, request_closed)",
    413: "the body is larger than the server accepts (payload_too_large)",
    415: "a Content-Type the operation does not read (unsupported_media_type)",
    503: "the store is unavailable (unavailable)",
    504: "a wait for a run gave up first; the run goes on (timeout)",
}
_ID = {"type": "string", "minLength": 1, "maxLength": 200}


def _models(operations: Iterable[Operation]) -> tuple[dict[str, Any], dict[type[BaseModel], Any]]:
    inputs = {op.body for op in operations if isinstance(op.body, type)} | {ErrorOut}
    outputs = {op.response for op in operations if op.response is not None}
    keys: list[tuple[type[BaseModel], Any]] = [(m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)]
    keys += [(m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)]
    refs, top = models_json_schema(keys, ref_template=_REF)
    return top.get("$defs", {}), {model: refs[(model, mode)] for model, mode in keys}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
    params: list[dict[str, Any]] = [{"name": n, "in": "path", "required": True, "schema": _ID} for n in names]
    if op.query is not None:
        for name, schema in op.query.model_json_schema(ref_template=_REF)["properties"].items():
            schema.pop("title", None)
            params.append({"name": name, "in": "query", "required": False, "schema": schema})
    if op.stream:
        params.append({"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}})
    return params


def _operation(op: Operation, refs: dict[type[BaseModel], Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": refs[ErrorOut]}}
    statuses = [400, 404, 503] if op.public else [400, 401, 404, 503]
    if op.body is not None:
        statuses += [413, 415]
    responses: dict[str, Any] = {
        str(s): {"description": _REASONS[s], "content": error} for s in [*statuses, *op.errors]
    }
    ok: dict[str, Any] = {"description": "success"}
    if op.stream:
        ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    elif op.media_type is not None:
        ok["content"] = {op.media_type: {"schema": {"type": "string"}}}
    elif op.response is not None:
        ok["content"] = {"application/json": {"schema": refs[op.response]}}
    responses[str(op.status)] = ok
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op),
        "responses": dict(sorted(responses.items())),
    }
    if op.public:
        spec["security"] = []
    if op.body is not None:
        schema = refs[op.body] if isinstance(op.body, type) else op.body
        content = {kind: {"schema": schema} for kind in JSON_TYPES}
        if op.yaml:
            content[YAML_TYPES[0]] = {"schema": schema}
        spec["requestBody"] = {"required": op.body_required, "content": content}
    return spec


def openapi_document(operations: Iterable[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (paths under ``/v1``)."""
    operations = list(operations)
    schemas, refs = _models(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault("/v1" + op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "graphflow",
            "version": graphflow.__version__,
            "description": "Configs, automations, runs and events of one app per key; SSE streams of what happens.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key (gfk_…)"}},
        },
        "security": [{"bearer": []}],
    }
