"""``/v1/apps/{app_id}/configs``: WorkflowGraph configs, versioned; bodies in JSON or YAML."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from graphflow.api.bodies import JSON_TYPES, YAML_TYPES, media_type, parse_json
from graphflow.api.errors import UnsupportedMediaTypeError
from graphflow.api.models import ConfigOut, ConfigPage, PageQuery, VersionQuery
from graphflow.api.operations import Call, Operation, json_response
from graphflow.api.routes.automations import check_cursor
from graphflow.exceptions import Problem, ValidationError

__all__ = ["OPERATIONS"]

BASE = "/apps/{app_id}/configs"
ONE = BASE + "/{config_id}"

#: The body of a create or an update: a WorkflowGraph document (schemas/workflow-graph.v1.schema.json).
GRAPH_BODY: dict[str, Any] = {
    "type": "object",
    "description": "a WorkflowGraph document (kind, version, name, start_node, nodes); "
    "see schemas/workflow-graph.v1.schema.json",
}


async def _graph(call: Call) -> dict[str, Any] | str:
    """The graph in the body: a parsed JSON object, or YAML text (the loader parses it safely)."""
    raw = await call.raw()
    kind = media_type(call.request)
    if kind in YAML_TYPES:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError([Problem("$", "the YAML body is not UTF-8 text")], subject="request") from None
    if raw.strip() and kind not in JSON_TYPES:
        raise UnsupportedMediaTypeError(kind, JSON_TYPES + YAML_TYPES)
    return parse_json(raw, call.request, optional=False)


async def list_configs(call: Call) -> Response:
    query = call.query(PageQuery)
    page = await call.engine.configs.list(call.app_id, cursor=check_cursor(query.cursor, "cfg_"), limit=query.limit)
    return json_response(page.to_dict())


async def create_config(call: Call) -> Response:
    graph = await _graph(call)
    record = (
        await call.engine.configs.create(call.app_id, text=graph)
        if isinstance(graph, str)
        else (await call.engine.configs.create(call.app_id, graph))
    )
    return json_response(record.to_dict(), 201)


async def get_config(call: Call) -> Response:
    query = call.query(VersionQuery)
    record = await call.engine.configs.get(call.app_id, call.path("config_id"), query.version)
    return json_response(record.to_dict())


async def replace_config(call: Call) -> Response:
    graph = await _graph(call)
    config_id = call.path("config_id")
    record = (
        await call.engine.configs.update(call.app_id, config_id, text=graph)
        if isinstance(graph, str)
        else (await call.engine.configs.update(call.app_id, config_id, graph))
    )
    return json_response(record.to_dict())


async def delete_config(call: Call) -> Response:
    await call.engine.configs.delete(call.app_id, call.path("config_id"))
    return json_response(None, 204)


OPERATIONS = [
    Operation("GET", BASE, list_configs, "listConfigs", "List configs (latest versions), newest first.", "configs",
              response=ConfigPage, query=PageQuery),
    Operation("POST", BASE, create_config, "createConfig", "Validate a graph and store it as version 1.", "configs",
              status=201, response=ConfigOut, body=GRAPH_BODY, yaml=True),
    Operation("GET", ONE, get_config, "getConfig", "A config: its latest version, or ?version=N.", "configs",
              response=ConfigOut, query=VersionQuery),
    Operation("PUT", ONE, replace_config, "replaceConfig",
              "Store a new version (runs already started keep theirs).", "configs",
              response=ConfigOut, body=GRAPH_BODY, yaml=True),
    Operation("DELETE", ONE, delete_config, "deleteConfig", "Delete a config and its versions.", "configs",
              status=204, errors=(409,)),
]  # fmt: skip
