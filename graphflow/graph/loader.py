"""Load WorkflowGraph configs from JSON or YAML (files, text or dicts), safely and with limits.

Text is parsed by :mod:`graphflow.graph.document` (safe YAML, strict JSON, a byte limit) and
every document, dicts included, is checked to be plain JSON within :class:`GraphLimits`. Then
each node is checked against its kind's model, the graph's structure by
:mod:`graphflow.graph.validation`, and every script and template compiled within the config's
compile budget. One :class:`~graphflow.exceptions.ValidationError` lists every problem found.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic

from graphflow.exceptions import LimitExceededError, Problem, ValidationError
from graphflow.graph.document import check_document, parse_document
from graphflow.graph.limits import DEFAULT_GRAPH_LIMITS, GraphLimits
from graphflow.graph.model import CompileBudget, DataResource, GraphContext, Node, WorkflowGraph
from graphflow.graph.suggest import close_match

__all__ = ["DEFAULT_GRAPH_LIMITS", "GraphLimits", "build_graph", "load_graph", "parse_document"]

_HEADER_KEYS = ("$schema", "kind", "version", "name", "description", "start_node", "nodes", "data")


def load_graph(
    source: WorkflowGraph | Mapping[str, Any] | str | bytes | os.PathLike[str],
    *,
    registry: Any = None,
    limits: GraphLimits = DEFAULT_GRAPH_LIMITS,
    _depth: int = 0,
) -> WorkflowGraph:
    """Load, validate and compile a WorkflowGraph.

    Args:
        source: a graph, a dict, JSON/YAML text, or a path to a ``.json``/``.yaml``/``.yml`` file.
            A string is read as a path when it names an existing file and holds no newline.
        registry: the :class:`~graphflow.nodes.registry.NodeRegistry` resolving node kinds
            (default: the global one).
        limits: size limits.

    Raises:
        ValidationError: listing every problem, each with its JSON path; nothing is returned.
    """
    if isinstance(source, WorkflowGraph):
        return source
    if isinstance(source, os.PathLike) or (
        isinstance(source, str)
        and "\n" not in source
        and len(source) < 4096
        and source.endswith((".json", ".yaml", ".yml"))
        and not source.lstrip().startswith("{")
    ):
        path = Path(source)
        try:
            raw_text = path.read_bytes()
        except OSError as exc:
            raise ValidationError(
                [Problem("$", f"cannot read {str(path)!r}: {exc.strerror}")], subject="config"
            ) from None
        document = parse_document(raw_text, limits=limits, source=str(path))
    elif isinstance(source, (str, bytes)):
        document = parse_document(source, limits=limits)
    else:
        document = source
    return build_graph(document, registry=registry, limits=limits, depth=_depth)


def build_graph(
    document: Any,
    *,
    registry: Any = None,
    limits: GraphLimits = DEFAULT_GRAPH_LIMITS,
    depth: int = 0,
    budget: CompileBudget | None = None,
) -> WorkflowGraph:
    """Validate a parsed document and return the frozen, compiled graph.

    Args:
        document: the parsed config.
        registry: the node registry (default: the global one).
        limits: size limits.
        depth: how many inline sub-workflows deep this graph is.
        budget: the compile budget of the whole config (an inline sub-workflow passes its
            parent's); a new one from ``limits`` by default.

    Raises:
        ValidationError: listing every problem found.
    """
    if registry is None:
        from graphflow.nodes.registry import default_registry

        registry = default_registry
    if not isinstance(document, Mapping):
        what = "empty (null)" if document is None else f"a {type(document).__name__}"
        raise ValidationError(
            [Problem("$", f"a config is an object, and this one is {what}", "start with 'kind: WorkflowGraph'")],
            subject="config",
        )
    check_document(document, limits)
    name = document.get("name") if isinstance(document.get("name"), str) else "?"
    subject = f"workflow graph {name!r}"
    problems: list[Problem] = []
    _check_header(document, problems)
    nodes_raw = document.get("nodes")
    data_raw = document.get("data", [])
    nodes: list[Node] = []
    positions: list[int] = []  # each built node's index in the config's nodes list
    if isinstance(nodes_raw, list):
        if len(nodes_raw) > limits.max_nodes:
            raise LimitExceededError(
                [Problem("$.nodes", f"{len(nodes_raw)} nodes; the limit is {limits.max_nodes}")],
                subject=subject,
            )
        for index, raw in enumerate(nodes_raw):
            built = _build_node(raw, index, registry, problems)
            if built is not None:
                nodes.append(built)
                positions.append(index)
    data: list[DataResource] = []
    if isinstance(data_raw, list):
        if len(data_raw) > limits.max_data:
            raise LimitExceededError(
                [Problem("$.data", f"{len(data_raw)} resources; the limit is {limits.max_data}")],
                subject=subject,
            )
        for index, raw in enumerate(data_raw):
            try:
                data.append(DataResource.model_validate(raw))
            except pydantic.ValidationError as exc:
                problems.extend(_problems(exc, f"$.data[{index}]"))
    elif data_raw is not None:
        problems.append(Problem("$.data", "data must be a list of resources"))
    if not isinstance(document.get("start_node"), str) or not isinstance(nodes_raw, list):
        raise ValidationError(problems, subject=subject)
    # Nodes that failed their own checks are left out of the graph; the structural checks still
    # run (so one round trip reports everything) but are told which ids exist unbuilt.
    built_ids = {node.id for node in nodes}
    unbuilt = {
        raw["id"]
        for raw in nodes_raw
        if isinstance(raw, Mapping) and isinstance(raw.get("id"), str) and raw["id"] not in built_ids
    }
    graph = WorkflowGraph.model_construct(
        schema_=document.get("$schema"),
        name=name,
        description=document.get("description"),
        start_node=document["start_node"],
        nodes=tuple(nodes),
        data=tuple(data),
    )
    from graphflow.graph.validation import check_structure

    problems.extend(check_structure(graph, positions, unbuilt=unbuilt))
    data_index: dict[str, DataResource] = {}
    for index, resource in enumerate(data):
        if resource.id in data_index:
            problems.append(
                Problem(
                    f"$.data[{index}].id", f"duplicate data id {resource.id!r}", "give every data resource its own id"
                )
            )
        data_index[resource.id] = resource
    context = GraphContext(data_index, depth=depth, limits=limits, registry=registry, budget=budget)
    for node, index in zip(nodes, positions, strict=True):
        context.path = f"$.nodes[{index}]"
        context.node_id = node.id
        node.prepare(context)
    problems.extend(context.problems)
    if problems:
        raise ValidationError(problems, subject=subject)
    return graph


def _check_header(document: Mapping[str, Any], problems: list[Problem]) -> None:
    for key in document:
        if key not in _HEADER_KEYS:
            close = close_match(key, _HEADER_KEYS)
            hint = f"did you mean {close!r}?" if close else f"allowed keys: {', '.join(sorted(_HEADER_KEYS))}"
            problems.append(Problem(f"$.{key}", f"unknown key {key!r}", hint))
    if document.get("kind") != "WorkflowGraph":
        problems.append(
            Problem(
                "$.kind",
                f"kind must be 'WorkflowGraph', got {_shown(document.get('kind'))}",
                "start the config with 'kind: WorkflowGraph'",
            )
        )
    version = document.get("version")
    if type(version) is int and version > 1:
        problems.append(
            Problem(
                "$.version",
                f"version {version} was written by a newer graphflow",
                "upgrade graphflow; this one reads version 1",
            )
        )
    elif type(version) is not int or version != 1:  # not True, not 1.0
        problems.append(
            Problem("$.version", f"version must be the integer 1, got {_shown(version)}", "write 'version: 1'")
        )
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("$.name", "name is required (a non-empty string)"))
    elif len(name) > 200:
        problems.append(Problem("$.name", "name is longer than 200 characters"))
    if "description" in document and not isinstance(document["description"], (str, type(None))):
        problems.append(Problem("$.description", "description must be a string"))
    if not isinstance(document.get("start_node"), str):
        problems.append(Problem("$.start_node", "start_node is required: the id of the trigger node"))
    nodes = document.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        problems.append(Problem("$.nodes", "nodes must be a non-empty list", "add at least a WorkflowTrigger node"))


def _build_node(raw: Any, index: int, registry: Any, problems: list[Problem]) -> Node | None:
    path = f"$.nodes[{index}]"
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, f"a node is an object, not {type(raw).__name__}"))
        return None
    kind = raw.get("kind")
    node_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    if not isinstance(kind, str):
        problems.append(Problem(f"{path}.kind", "kind is required", "e.g. kind: WorkflowScript", node_id))
        return None
    cls = registry.get(kind)
    if cls is None:
        known = list(registry.kinds())
        close = close_match(kind, known)
        hint = f"did you mean {close!r}?" if close else f"known kinds: {', '.join(known)}"
        problems.append(Problem(f"{path}.kind", f"unknown node kind {kind!r}", hint, node_id))
        return None
    try:
        node: Node = cls.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems.extend(_problems(exc, path, node_id))
        return None
    return node


def _problems(exc: pydantic.ValidationError, base: str, node_id: str | None = None) -> list[Problem]:
    out = []
    for error in exc.errors(include_url=False):
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        message = error["msg"]
        hint = ""
        if error["type"] == "extra_forbidden":
            message = f"unknown field {str(error['loc'][-1])!r}"
            hint = "check the spelling against docs/nodes.md"
        elif error["type"] == "missing":
            message = f"{str(error['loc'][-1])!r} is required"
        out.append(Problem(base + loc, message.removeprefix("Value error, "), hint, node_id))
    return out


def _shown(value: Any) -> str:
    """A short repr of a user's value for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"
