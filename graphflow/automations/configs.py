"""The SDK-shaped config operations: ``engine.configs.*`` — versioned WorkflowGraph configs.

Like every service, each call takes the ``app_id`` first, checks everything before changing
anything, and answers "not found" for another app's ids. A config is parsed and compiled off the
event loop (:meth:`~graphflow.automations.host.ServiceHost.off_loop`): a large YAML config costs
seconds of CPU.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphflow.automations.inputs import check_page
from graphflow.exceptions import ConflictError, NotFoundError, Problem, ValidationError
from graphflow.graph.loader import build_graph, load_graph, parse_document
from graphflow.graph.model import WorkflowGraph
from graphflow.ids import check_app, check_id, new_id
from graphflow.records import ConfigRecord, Page
from graphflow.triggers.catalogue import INTERNAL_EVENTS, EventCatalogue

if TYPE_CHECKING:
    from graphflow.automations.host import ServiceHost

__all__ = ["ConfigService", "GraphSource"]

#: What a config can be created from: a graph, a dict, JSON/YAML text (``str``/``bytes``: never a
#: path), or a file (a :class:`~pathlib.Path` or other ``os.PathLike``).
GraphSource = WorkflowGraph | Mapping[str, Any] | str | bytes | os.PathLike[str]


class ConfigService:
    """WorkflowGraph configs (``cfg_…``), versioned: each update stores a new version."""

    def _check_events(self, graph: WorkflowGraph) -> None:
        """Refuse a graph whose event waits can never wake (every problem, with its path)."""
        problems = _wait_problems(graph, self._host.catalogue)
        if problems:
            raise ValidationError(problems, subject=f"workflow graph {graph.name!r}")

    def __init__(self, host: ServiceHost) -> None:
        self._host = host

    async def create(
        self,
        app_id: str,
        source: GraphSource | None = None,
        *,
        text: str | bytes | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> ConfigRecord:
        """Validate a graph and store it as version 1 (parsed and compiled off the event loop).

        Give exactly one of ``source`` (a graph, a dict, JSON/YAML text, or a ``Path``),
        ``text`` (JSON/YAML) or ``path`` (a file to read). A plain string is always text, never
        a file name: a host passing a tenant's text can never make graphflow read a file.

        Raises:
            ValidationError: the graph is not valid, or not exactly one source was given; nothing
                is stored.
        """
        check_app(app_id)
        graph = await self._host.off_loop(functools.partial(_graph_from, source, text, path))
        self._check_events(graph)
        now = self._host.clock.now()
        record = ConfigRecord(new_id("cfg_"), app_id, 1, graph.name, graph.to_dict(), now, now)
        await self._host.store.put_config(record)
        return record

    async def get(self, app_id: str, config_id: str, version: int | None = None) -> ConfigRecord:
        """Return a config (its latest version unless ``version`` is given).

        Raises:
            ValidationError: a malformed ``app_id``.
            NotFoundError: no such config (or version) in this app.
        """
        check_app(app_id)
        check_id("config", config_id)
        if version is not None and (type(version) is not int or version < 1):
            raise NotFoundError("config version", f"{config_id}@{version}")
        record = await self._host.store.get_config(app_id, config_id, version)
        if record is None:
            raise NotFoundError("config", config_id)
        return record

    async def list(self, app_id: str, *, cursor: str | None = None, limit: int = 50) -> Page:
        """The app's configs (latest versions), newest first.

        Raises:
            ValidationError: a malformed ``app_id``, or ``limit`` outside 1-100.
        """
        check_app(app_id)
        return await self._host.store.list_configs(app_id, cursor=cursor, limit=check_page(limit, cursor))

    async def update(
        self,
        app_id: str,
        config_id: str,
        source: GraphSource | None = None,
        *,
        text: str | bytes | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> ConfigRecord:
        """Store a new version; runs already started keep the version they started with.

        The new graph is given as to :meth:`create`.

        Raises:
            NotFoundError: no such config in this app.
            ValidationError: the new graph is not valid; nothing changes.
        """
        current = await self.get(app_id, config_id)
        graph = await self._host.off_loop(functools.partial(_graph_from, source, text, path))
        self._check_events(graph)
        now = self._host.clock.now()
        record = ConfigRecord(
            config_id, app_id, current.version + 1, graph.name, graph.to_dict(), current.created_at, now
        )
        await self._host.store.put_config(record)
        return record

    async def delete(self, app_id: str, config_id: str) -> None:
        """Delete a config and its versions.

        Raises:
            NotFoundError: no such config in this app.
            ConflictError: an automation still uses it.
        """
        await self.get(app_id, config_id)
        cursor: str | None = None
        while True:
            page = await self._host.store.list_automations(app_id, type=None, cursor=cursor, limit=100)
            users = [a.id for a in page.data if a.config_id == config_id]
            if users:
                raise ConflictError(
                    f"config {config_id!r} is used by automation {users[0]!r}; "
                    "point it at another config or delete it first"
                )
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        await self._host.store.delete_config(app_id, config_id)


def _wait_problems(graph: WorkflowGraph, catalogue: EventCatalogue) -> list[Problem]:
    """A ``WorkflowWaitForEvent`` waiting for an event no one can publish (unknown, or graphflow's own) never wakes."""
    problems: list[Problem] = []
    for index, node in enumerate(graph.nodes):
        event = getattr(node, "event", None) if node.kind == "WorkflowWaitForEvent" else None
        if event is None:
            continue
        try:
            known = catalogue.get(event)
        except ValidationError as exc:
            hint = exc.problems[0].hint if exc.problems else ""
            problems.append(Problem(f"$.nodes[{index}].event", f"unknown event {event!r}: it can never arrive", hint))
            continue
        if known.internal or event in INTERNAL_EVENTS:
            problems.append(
                Problem(f"$.nodes[{index}].event", f"{event!r} is fired by graphflow itself: no one can publish it")
            )
    return problems


def _graph_from(
    source: GraphSource | None, text: str | bytes | None, path: str | os.PathLike[str] | None
) -> WorkflowGraph:
    """The graph of exactly one of ``source``, ``text`` or ``path``; a ``str`` source is text, never a path.

    Raises:
        ValidationError: not exactly one was given, or the graph is not valid.
    """
    given = [name for name, value in (("source", source), ("text", text), ("path", path)) if value is not None]
    if len(given) != 1:
        raise ValidationError(
            [
                Problem(
                    "$",
                    f"give exactly one of source, text or path (got {', '.join(given) or 'none'})",
                    "text=... for JSON/YAML text, path=... (or a pathlib.Path) for a file",
                )
            ],
            subject="config",
        )
    if path is not None:
        return load_graph(Path(path))
    if text is not None:
        source = text
    if isinstance(source, str | bytes):
        document = parse_document(source)
        if isinstance(document, str):  # e.g. "flows/digest.yaml": a file name given as text
            raise ValidationError(
                [
                    Problem(
                        "$",
                        "a config is a JSON/YAML object, and this text is a single string",
                        "to read a file pass path=... (or a pathlib.Path): a plain string is never a file name",
                    )
                ],
                subject="config",
            )
        return build_graph(document)
    assert source is not None
    return load_graph(source)
