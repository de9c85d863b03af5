"""What people look at: a config's graph and a run's path as SVG pictures, the event catalogue with schemas.

The pictures are drawn on the server (:mod:`graphflow.graph.svg`): no script, no network, every
label escaped. They are served as ``image/svg+xml`` with a policy that forbids everything but
their own inline presentation, so even a picture opened on its own runs nothing.
"""

from __future__ import annotations

from starlette.responses import Response

from graphflow.api.models import CatalogueOut, VersionQuery
from graphflow.api.operations import Call, Operation, json_response
from graphflow.graph.svg import node_states, render_svg
from graphflow.records import TERMINAL_RUN_STATUSES
from graphflow.triggers.catalogue import INTERNAL_EVENTS

__all__ = ["OPERATIONS", "SVG_HEADERS"]

#: Headers of every SVG answer: a private picture that runs nothing and is never sniffed as HTML.
SVG_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    "x-content-type-options": "nosniff",
    "cache-control": "private, no-store",
}


def _svg(text: str) -> Response:
    return Response(text, media_type="image/svg+xml", headers=SVG_HEADERS)


async def config_svg(call: Call) -> Response:
    query = call.query(VersionQuery)
    graph, version = await call.engine.graph_for(call.app_id, call.path("config_id"), query.version)
    return _svg(render_svg(graph, title=f"{graph.name} (version {version})"))


async def run_svg(call: Call) -> Response:
    run = await call.engine.automations.run(call.app_id, call.path("run_id"))
    if run.config_id is None:
        from graphflow.exceptions import NotFoundError

        raise NotFoundError("config", "(none: the run has no config)")
    graph, _ = await call.engine.graph_for(call.app_id, run.config_id, run.config_version)
    finished = run.status in TERMINAL_RUN_STATUSES
    states = node_states(run.journal, finished=finished)
    if not finished and not run.journal:  # the journal is written at the end: the checkpoints so far
        done = await call.engine.stream.read(call.app_id, 0, run_id=run.id, types=("run.node_completed",), limit=1000)
        for event in done:
            key = (event.data or {}).get("key")
            if isinstance(key, str) and key in graph.node_map:
                states[key] = "completed"
        waiting = (run.waiting_for or {}).get("node_id")
        if isinstance(waiting, str) and waiting in graph.node_map:  # a parked run: the node it waits at
            states[waiting] = "running"
            start = graph.trigger_for(run.trigger)
            if start is not None:
                states.setdefault(start.id, "completed")
    return _svg(render_svg(graph, states=states, finished=finished, title=f"{graph.name}: run {run.id} ({run.status})"))


async def event_types(call: Call) -> Response:
    await call.engine.automations.events(call.app_id)  # the same checks as the plain listing
    data = [
        {**event.to_dict(), "schema": dict(event.schema)}
        for event in call.engine.catalogue.list()
        if not (event.internal or event.name in INTERNAL_EVENTS)
    ]
    return json_response({"data": data})


OPERATIONS = [
    Operation("GET", "/apps/{app_id}/configs/{config_id}/svg", config_svg, "getConfigPicture",
              "The config's graph as an SVG picture (latest version, or ?version=N).", "configs",
              query=VersionQuery, media_type="image/svg+xml"),
    Operation("GET", "/apps/{app_id}/automations/runs/{run_id}/svg", run_svg, "getRunPicture",
              "The run's graph as an SVG picture, its path coloured (completed, failed, running, skipped).", "runs",
              media_type="image/svg+xml"),
    Operation("GET", "/apps/{app_id}/events/catalogue", event_types, "listEventTypes",
              "The events trigger automations can listen for, with their payload JSON Schemas.", "events",
              response=CatalogueOut),
]  # fmt: skip
