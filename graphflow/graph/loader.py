"""Load WorkflowGraph configs from JSON or YAML (files, text or dicts), safely and with limits.

YAML is read with a safe loader that also refuses duplicate keys, caps aliases (billion-laughs
documents), keeps timestamps as strings and rejects binary values; JSON refuses duplicate keys
and NaN/Infinity. Everything is then checked against :class:`GraphLimits`, each node against its
kind's model, the graph's structure (:mod:`graphflow.graph.validation`) and every script, and one
:class:`~graphflow.exceptions.ValidationError` lists every problem found.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from graphflow.exceptions import LimitExceededError, Problem, ValidationError
from graphflow.graph.model import DataResource, GraphContext, Node, WorkflowGraph

if TYPE_CHECKING:
    import yaml

__all__ = ["GraphLimits", "load_graph", "parse_document"]


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """Size limits for configs (documented in docs/config.md).

    Attributes:
        max_bytes: largest config text.
        max_nodes: most nodes in one graph.
        max_data: most ``data[]`` resources.
        max_depth: deepest nesting of objects and lists.
        max_aliases: most YAML aliases (``*ref``) in one document.
        max_subworkflow_depth: deepest nesting of inline sub-workflows.
    """

    max_bytes: int = 1_048_576
    max_nodes: int = 1_000
    max_data: int = 1_000
    max_depth: int = 32
    max_aliases: int = 100
    max_subworkflow_depth: int = 5


DEFAULT_GRAPH_LIMITS = GraphLimits()


class _DuplicateKey(ValueError):
    pass


def _yaml_loader(max_aliases: int) -> type[yaml.SafeLoader]:
    import yaml

    class GraphYAMLLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > max_aliases:
                    mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                    raise yaml.YAMLError(
                        f"more than {max_aliases} YAML aliases (line {mark.line + 1}); "
                        "expand the document instead of referencing anchors"
                    )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise _DuplicateKey(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    def as_string(loader: yaml.SafeLoader, node: Any) -> str:
        return str(loader.construct_scalar(node))

    def refuse(loader: yaml.SafeLoader, node: Any) -> Any:
        raise yaml.YAMLError(f"{node.tag} values are not allowed (line {node.start_mark.line + 1})")

    GraphYAMLLoader.add_constructor("tag:yaml.org,2002:timestamp", as_string)
    GraphYAMLLoader.add_constructor("tag:yaml.org,2002:binary", refuse)
    GraphYAMLLoader.add_constructor("tag:yaml.org,2002:set", refuse)
    GraphYAMLLoader.add_constructor("tag:yaml.org,2002:omap", refuse)
    GraphYAMLLoader.add_constructor("tag:yaml.org,2002:pairs", refuse)
    return GraphYAMLLoader


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_document(text: str | bytes, *, limits: GraphLimits = DEFAULT_GRAPH_LIMITS) -> Any:
    """Parse JSON or YAML text (JSON when it starts with ``{`` or ``[``).

    Raises:
        LimitExceededError: the text is larger than ``limits.max_bytes``.
        ValidationError: the text is not well-formed, has duplicate keys or forbidden tags.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"config is not UTF-8 text: {exc}", subject="config") from None
    if len(text) > limits.max_bytes:
        raise LimitExceededError(
            [Problem("$", f"config is {len(text)} bytes; the limit is {limits.max_bytes}")],
            subject="config",
        )
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_no_constants)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                [Problem("$", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")],
                subject="config",
            ) from None
        except (_DuplicateKey, ValueError, RecursionError) as exc:
            raise _malformed(exc) from None
    import yaml  # only YAML text pays for it (~12 ms)

    try:
        return yaml.load(text, Loader=_yaml_loader(limits.max_aliases))
    except (yaml.YAMLError, _DuplicateKey, ValueError, RecursionError) as exc:
        raise _malformed(exc) from None


def _malformed(exc: Exception) -> ValidationError:
    return ValidationError(
        [
            Problem(
                "$",
                f"malformed config: {str(exc)[:300]}",
                "keys must be unique; YAML tags, binary values and aliases beyond the limit are refused",
            )
        ],
        subject="config",
    )


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
        document = parse_document(raw_text, limits=limits)
    elif isinstance(source, (str, bytes)):
        document = parse_document(source, limits=limits)
    else:
        document = source
    return build_graph(document, registry=registry, limits=limits, depth=_depth)


def build_graph(
    document: Any, *, registry: Any = None, limits: GraphLimits = DEFAULT_GRAPH_LIMITS, depth: int = 0
) -> WorkflowGraph:
    """Validate a parsed document and return the frozen, compiled graph.

    Raises:
        ValidationError: listing every problem found.
    """
    if registry is None:
        from graphflow.nodes.registry import default_registry

        registry = default_registry
    if not isinstance(document, Mapping):
        raise ValidationError(
            [Problem("$", f"a config is an object, not {type(document).__name__}", "start with 'kind: WorkflowGraph'")],
            subject="config",
        )
    _check_shape(document, limits)
    name = document.get("name") if isinstance(document.get("name"), str) else "?"
    subject = f"workflow graph {name!r}"
    problems: list[Problem] = []
    _check_header(document, problems)
    nodes_raw = document.get("nodes")
    data_raw = document.get("data", [])
    nodes: list[Node] = []
    positions: dict[str, int] = {}
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
                positions.setdefault(built.id, index)
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
    unbuilt = {
        raw["id"]
        for raw in nodes_raw
        if isinstance(raw, Mapping) and isinstance(raw.get("id"), str) and raw["id"] not in positions
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
    context = GraphContext(data_index, depth=depth, limits=limits, registry=registry)
    for node in nodes:
        context.path = f"$.nodes[{positions[node.id]}]"
        context.node_id = node.id
        node.prepare(context)
    problems.extend(context.problems)
    if problems:
        raise ValidationError(problems, subject=subject)
    return graph


def _check_header(document: Mapping[str, Any], problems: list[Problem]) -> None:
    allowed = {"$schema", "kind", "version", "name", "description", "start_node", "nodes", "data"}
    for key in document:
        if key not in allowed:
            import difflib  # for "did you mean": only configs with a mistake pay for it

            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
            problems.append(Problem(f"$.{key}", f"unknown key {key!r}", hint))
    if document.get("kind") != "WorkflowGraph":
        problems.append(
            Problem(
                "$.kind",
                f"kind must be 'WorkflowGraph', got {document.get('kind')!r}",
                "start the config with 'kind: WorkflowGraph'",
            )
        )
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > 1:
        problems.append(
            Problem(
                "$.version",
                f"version {version} was written by a newer graphflow",
                "upgrade graphflow; this one reads version 1",
            )
        )
    elif version != 1:
        problems.append(Problem("$.version", f"version must be 1, got {version!r}"))
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
        import difflib

        known = list(registry.kinds())
        close = difflib.get_close_matches(kind, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known kinds: {', '.join(known)}"
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


def _check_shape(document: Any, limits: GraphLimits) -> None:
    """Refuse documents nested deeper than the limit (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if depth > limits.max_depth:
            raise LimitExceededError(
                [Problem("$", f"config nests deeper than {limits.max_depth} levels")], subject="config"
            )
        if seen > 1_000_000:
            raise LimitExceededError([Problem("$", "config has too many values")], subject="config")
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
