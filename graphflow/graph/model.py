"""The WorkflowGraph model: node base class, policies, data resources and the graph itself.

Graphs are built by :mod:`graphflow.graph.loader`, checked by :mod:`graphflow.graph.validation`
and then frozen: every model here is immutable, and each node keeps what it compiled at load
time (scripts, templates) in private attributes so running never parses anything again.

graphflow's own models (and the built-in kinds) are declared with ``defer_build=True``: pydantic
builds a model's validator when it is first used, so a load pays only for the kinds its graph uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from graphflow.exceptions import GraphflowError, Problem
from graphflow.graph.durations import Duration
from graphflow.graph.limits import DEFAULT_GRAPH_LIMITS

if TYPE_CHECKING:
    from graphflow.abc import NodeContext
    from graphflow.scripts import Script, Template

__all__ = [
    "NODE_ID_PATTERN",
    "CompileBudget",
    "DataResource",
    "GraphContext",
    "Node",
    "RetryPolicy",
    "WorkflowGraph",
]

NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$"


class RetryPolicy(BaseModel):
    """How a failed node is tried again.

    The wait before attempt ``n + 1`` is ``min(initial_interval * backoff**(n - 1), max_interval)``,
    spread by ``± jitter`` (a fraction). Errors whose code is in ``non_retryable`` (or raised
    with ``retryable=False``) fail the node at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    max_attempts: int = Field(3, ge=1, le=100, description="Attempts in all, the first included.")
    initial_interval: Duration = Field(1.0, description="Wait before the second attempt.")
    backoff: float = Field(2.0, ge=1.0, le=10.0, description="Multiplier between waits.")
    max_interval: Duration = Field(60.0, description="Longest wait between attempts.")
    jitter: float = Field(0.1, ge=0.0, le=1.0, description="Random spread of each wait, a fraction.")
    non_retryable: tuple[str, ...] = Field(
        (), description="Error codes that fail at once (e.g. 'http_status_4xx', 'script_error')."
    )

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based); ``rand`` is in [0, 1)."""
        base = min(self.initial_interval * self.backoff ** (attempt - 1), self.max_interval)
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rand - 1.0)))


class DataResource(BaseModel):
    """A reusable resource in ``data[]``, referenced by id (``kind: Script`` is the one built in)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: Literal["Script"]
    id: str = Field(pattern=NODE_ID_PATTERN)
    script: str = Field(description="The script source (see docs/scripts.md).")
    description: str | None = None


class CompileBudget:
    """The compile work one config may cost, shared by its inline sub-workflows.

    Compiling is what makes a large config slow to load (~40 µs a template hole, ~5 µs a
    character of script), so a load counts it against ``GraphLimits.max_template_holes`` and
    ``GraphLimits.max_script_chars``. A script source already compiled in this load is reused,
    not compiled (or counted) again.

    Attributes:
        holes: template holes left.
        chars: characters of script source left.
        exhausted: whether a compile was refused for want of budget (reported once).
    """

    __slots__ = ("_scripts", "chars", "exhausted", "holes")

    def __init__(self, holes: int, chars: int) -> None:
        self.holes = holes
        self.chars = chars
        self.exhausted = False
        self._scripts: dict[str, Script] = {}


class GraphContext:
    """What a node sees of its graph while it prepares: data resources, limits, a problem list.

    Attributes:
        data: the graph's ``data[]`` resources by id.
        path: the JSON path of the node being prepared (``$.nodes[3]``).
        node_id: the id of the node being prepared.
        problems: every problem reported so far.
        depth: how many sub-workflows deep this graph is (0 for a top-level graph).
        limits: the :class:`~graphflow.graph.limits.GraphLimits` in force.
        registry: the node registry resolving kinds (for nodes that load graphs).
        budget: the compile budget of the whole config.
    """

    def __init__(
        self,
        data: Mapping[str, DataResource],
        *,
        depth: int = 0,
        limits: Any = None,
        registry: Any = None,
        budget: CompileBudget | None = None,
    ) -> None:
        self.data = data
        self.limits = limits or DEFAULT_GRAPH_LIMITS
        self.registry = registry
        self.path = "$"
        self.node_id: str | None = None
        self.problems: list[Problem] = []
        self.depth = depth
        self.budget = budget or CompileBudget(self.limits.max_template_holes, self.limits.max_script_chars)

    def problem(self, field: str, message: str, hint: str = "") -> None:
        """Report a problem at ``field`` of the node being prepared."""
        where = f"{self.path}.{field}" if field else self.path
        self.problems.append(Problem(where, message, hint, self.node_id))

    def compile_script(self, field: str, source: str) -> Script | None:
        """Compile a script, reporting a problem (and returning ``None``) when it is invalid.

        Also ``None`` (with a problem) when the config's compile budget is spent.
        """
        from graphflow.scripts import Script

        budget = self.budget
        known = budget._scripts.get(source)
        if known is not None:
            return known
        if not self._spend(field, 0, len(source)):
            return None
        try:
            script = Script.compile(source)
        except GraphflowError as exc:
            self.problem(
                field, f"script does not compile: {exc.message}", "see docs/scripts.md for the script language"
            )
            return None
        budget._scripts[source] = script
        return script

    def compile_template(self, field: str, value: Any) -> Template | None:
        """Compile a template, reporting a problem (and returning ``None``) when it is invalid.

        Also ``None`` (with a problem) when the config's compile budget is spent.
        """
        from graphflow.scripts import compile_template

        holes, chars = _template_work(value)
        if holes and not self._spend(field, holes, chars):
            return None
        try:
            return compile_template(value)
        except GraphflowError as exc:
            self.problem(
                field, f"template does not compile: {exc.message}", "holes are {{ expression }}; see docs/scripts.md"
            )
            return None

    def _spend(self, field: str, holes: int, chars: int) -> bool:
        """Take ``holes`` and ``chars`` from the budget; report (once) when it runs out."""
        budget = self.budget
        if budget.exhausted:
            return False
        budget.holes -= holes
        budget.chars -= chars
        if budget.holes >= 0 and budget.chars >= 0:
            return True
        budget.exhausted = True
        limits = self.limits
        what = (
            f"more than {limits.max_template_holes} template holes"
            if budget.holes < 0
            else f"more than {limits.max_script_chars} characters of scripts and templates"
        )
        self.problem(
            field,
            f"the config has {what} to compile; compiling stopped here",
            "move repeated logic into data[] scripts shared by id, or raise GraphLimits "
            "(max_template_holes, max_script_chars) if this much is intended",
        )
        return False


def _template_work(value: Any) -> tuple[int, int]:
    """An upper bound of the holes in a template, and the characters of its strings that have any."""
    holes = chars = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            count = item.count("{{")
            if count:
                holes += count
                chars += len(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return holes, chars


class Node(BaseModel):
    """Base class of every node kind.

    A node kind subclasses this with ``kind: Literal["WorkflowSomething"]``, declares its own
    fields, and overrides :meth:`run` (and, when it has them, :meth:`edges`, :meth:`children`
    and :meth:`prepare`). Register it with :func:`graphflow.nodes.register_node` or the
    ``graphflow.nodes`` entry-point group. A node's output becomes the next node's input (``$``).
    """

    # Not deferred: a custom kind's mistakes (a field type pydantic cannot handle) surface where
    # the kind is defined. The built-in kinds pass ``defer_build=True`` themselves.
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="The node kind, e.g. 'WorkflowScript'.")
    id: str = Field(pattern=NODE_ID_PATTERN, description="Unique id within the graph.")
    name: str | None = Field(None, max_length=200, description="Display name.")
    description: str | None = Field(None, max_length=2000)
    on_success: str | None = Field(None, description="Node to run next when this one succeeds.")
    on_failure: str | None = Field(
        None,
        description="Node to run when this one fails (after retries); it receives "
        "{error, code, node_id, input}. Without it the failure fails the run.",
    )
    retry: RetryPolicy | None = Field(None, description="Retry policy; none means one attempt.")
    timeout: Duration | None = Field(None, description="Time limit of one attempt.")

    # Kinds keep what they compile in __slots__ (pydantic private attributes cost ~3 µs a read).
    __slots__ = ()

    #: Whether this kind is a trigger (an entry point of the graph).
    is_trigger: ClassVar[bool] = False
    #: Whether the node ends its chain (no on_success allowed).
    is_terminal: ClassVar[bool] = False
    #: Whether a durable run checkpoints this node's completion. Kinds that are pure functions
    #: of their input (trigger, script, condition, end) say ``False``: after a crash they are
    #: simply computed again, which costs less than a database write per node.
    checkpointed: ClassVar[bool] = True

    def edges(self) -> Iterator[tuple[str, str]]:
        """Yield ``(field, target node id)`` for every outgoing edge."""
        if self.on_success is not None:
            yield "on_success", self.on_success
        if self.on_failure is not None:
            yield "on_failure", self.on_failure

    def children(self) -> Iterator[tuple[str, str]]:
        """Yield ``(field, entry node id)`` of the sub-chains this node runs (branches, bodies)."""
        return iter(())

    def prepare(self, graph: GraphContext) -> None:
        """Compile what the node needs (scripts, templates); report problems on ``graph``.

        Keep compiled objects with :meth:`keep` in attributes the kind declares in
        ``__slots__``: the model itself is frozen.
        """

    def keep(self, **values: Any) -> None:
        """Store compiled state (declared in the kind's ``__slots__``) on this frozen node."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        """Execute the node and return its output (or a :class:`graphflow.engine.Goto`)."""
        raise NotImplementedError(f"node kind {self.kind!r} does not implement run()")


_MEMORY_NAMES = re.compile(r"\b(?:memory|previous_runs)\b")


def _texts(values: list[Any]) -> Iterator[str]:
    """Every string in ``values``: field values of models, items of lists and dicts, depth first."""
    stack: list[Any] = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, BaseModel):
            stack.extend(value.__dict__.values())
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)


class WorkflowGraph(BaseModel):
    """A validated, immutable workflow graph.

    Build one with :func:`graphflow.load_graph`; constructing it directly skips validation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    schema_: str | None = Field(None, alias="$schema")
    kind: Literal["WorkflowGraph"] = "WorkflowGraph"
    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    start_node: str
    nodes: tuple[Node, ...]
    data: tuple[DataResource, ...] = ()

    __slots__ = ("_index", "_remembers")
    if TYPE_CHECKING:
        _index: dict[str, Node]
        _remembers: bool

    def model_post_init(self, context: Any, /) -> None:
        """Index nodes by id (in a slot: pydantic private attributes are slow to read)."""
        object.__setattr__(self, "_index", {node.id: node for node in self.nodes})

    @property
    def remembers(self) -> bool:
        """Whether a run of this graph may read or write its automation's memory.

        True when a node is a ``WorkflowRemember`` or any of its text names ``memory`` or
        ``previous_runs`` (conservative: a message that merely says "memory" counts too). Runs
        of other graphs load no memory. Computed once, on first use.
        """
        try:
            return self._remembers
        except AttributeError:
            found = any(n.kind == "WorkflowRemember" for n in self.nodes) or any(
                _MEMORY_NAMES.search(text) is not None for text in _texts([*self.nodes, *self.data])
            )
            object.__setattr__(self, "_remembers", found)
            return found

    def node(self, node_id: str) -> Node:
        """Return the node with ``node_id`` (``KeyError`` when there is none)."""
        return self._index[node_id]

    @property
    def node_map(self) -> Mapping[str, Node]:
        """Nodes by id."""
        return self._index

    def trigger_nodes(self) -> list[Node]:
        """The graph's trigger nodes, in declaration order."""
        return [n for n in self.nodes if n.is_trigger]

    def trigger_for(self, event: str) -> Node | None:
        """Return the trigger node whose ``trigger`` is ``event`` (``None`` when there is none).

        The start node wins when several match.
        """
        start = self._index.get(self.start_node)
        if start is not None and getattr(start, "trigger", None) == event:
            return start
        for node in self.nodes:
            if node.is_trigger and getattr(node, "trigger", None) == event:
                return node
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the graph as the JSON-able config it was loaded from (defaults omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True) | {
            "kind": self.kind,
            "version": self.version,
            "nodes": [n.model_dump(mode="json", exclude_none=True) for n in self.nodes],
        }
