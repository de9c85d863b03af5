"""The node-kind registry: built-in kinds, ``@node`` functions, and ``graphflow.nodes`` plug-ins.

A plug-in package declares an entry point in the ``graphflow.nodes`` group whose object is a
:class:`~graphflow.graph.model.Node` subclass, a function decorated with :func:`node`, or a
module that registers kinds when imported. Entry points load the first time a kind is not found;
a built-in kind's module is imported the first time the kind is looked up.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import create_model

from graphflow.graph.model import GraphContext, Node
from graphflow.nodes import builtin

__all__ = ["NodeFunction", "NodeRegistry", "default_registry", "kind_of", "node", "register_node"]

ENTRY_POINT_GROUP = "graphflow.nodes"
N = TypeVar("N", bound=type[Node])
NodeFunction = Callable[..., Awaitable[Any]]


def kind_of(cls: type[Node]) -> str:
    """Return the kind name a Node subclass declares with ``kind: Literal["..."]``."""
    annotation = cls.model_fields["kind"].annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is not Literal or len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{cls.__name__} must declare its kind as kind: Literal['SomeKind']")
    return args[0]


class NodeRegistry:
    """Maps kind names to Node classes."""

    def __init__(self) -> None:
        self._kinds: dict[str, type[Node]] = {}
        self._entry_points_loaded = False

    def register(self, cls: type[Node], *, replace: bool = False) -> type[Node]:
        """Register a Node subclass under its kind.

        Raises:
            ValueError: the kind is taken and ``replace`` is false.
        """
        kind = kind_of(cls)
        existing = self._kinds.get(kind)
        if existing is None and kind in builtin.KINDS and not replace:
            existing = self._builtin(kind)  # a built-in name is taken before its module loads
        if existing is not None and existing is not cls and not replace:
            raise ValueError(
                f"node kind {kind!r} is already registered by {existing.__module__}."
                f"{existing.__qualname__}; pass replace=True to override it"
            )
        self._kinds[kind] = cls
        return cls

    def get(self, kind: str) -> type[Node] | None:
        """Return the class for ``kind``, loading built-ins and plug-ins on demand."""
        cls = self._kinds.get(kind)
        if cls is None and kind in builtin.KINDS:
            cls = self._builtin(kind)
        if cls is None and not self._entry_points_loaded:
            self._load_entry_points()
            cls = self._kinds.get(kind)
        return cls

    def kinds(self) -> dict[str, type[Node]]:
        """Every registered kind (built-ins and plug-ins included)."""
        self._load_builtin()
        self._load_entry_points()
        return dict(sorted(self._kinds.items()))

    def builtin_kinds(self) -> dict[str, type[Node]]:
        """The kinds graphflow ships (what the published JSON Schema describes)."""
        self._load_builtin()
        return {k: v for k, v in sorted(self._kinds.items()) if v.__module__.startswith("graphflow.nodes.")}

    def _builtin(self, kind: str) -> type[Node]:
        """Import the built-in ``kind`` and register it, unless the host replaced it already."""
        cls = self._kinds.get(kind)
        if cls is None:
            cls = self._kinds[kind] = builtin.load_kind(kind)
        return cls

    def _load_builtin(self) -> None:
        for kind in builtin.KINDS:
            self._builtin(kind)

    def _load_entry_points(self) -> None:
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            obj = ep.load()
            if isinstance(obj, type) and issubclass(obj, Node):
                self.register(obj)


default_registry = NodeRegistry()


def register_node(cls: N) -> N:
    """Class decorator: register a Node subclass in the default registry."""
    default_registry.register(cls)
    return cls


class _FunctionNode(Node):
    """A node kind made from a function by :func:`node`; string parameters are templates."""

    __slots__ = ("_static", "_templates")
    if TYPE_CHECKING:
        _static: dict[str, Any]
        _templates: dict[str, Any]

    __function__: typing.ClassVar[Any] = None
    __params__: typing.ClassVar[tuple[str, ...]] = ()

    def prepare(self, graph: GraphContext) -> None:
        static = {name: getattr(self, name) for name in self.__params__}
        templates = {}
        for name, value in static.items():
            if isinstance(value, (str, dict, list)):
                template = graph.compile_template(name, value)
                if template is not None and not template.static:
                    templates[name] = template
        self.keep(_static=static, _templates=templates)

    async def run(self, input: Any, ctx: Any) -> Any:
        params = self._static
        if self._templates:
            params = dict(params)
            for name, template in self._templates.items():
                params[name] = ctx.evaluate_template(template, input)
        return await type(self).__function__(input, ctx, **params)


def node(kind: str, *, description: str | None = None, replace: bool = False) -> Callable[[NodeFunction], NodeFunction]:
    """Register an async function as a node kind.

    The function is called as ``await fn(input, ctx, **params)``; its keyword-only parameters
    become the node's config fields (typed and validated by pydantic; string values may hold
    ``{{ }}`` templates, rendered against the node's input before each call)::

        @graphflow.node("SendSlack")
        async def send_slack(input, ctx, *, channel: str, text: str = "{{$.message}}"):
            ...
            return {"sent": True}

    Raises:
        TypeError: the function is not ``async`` or takes positional config parameters.
    """

    def decorate(fn: NodeFunction) -> NodeFunction:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@node({kind!r}) needs an async function")
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
        fields: dict[str, Any] = {"kind": (Literal[kind], kind)}
        params: list[str] = []
        positional = [
            p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(positional) != 2:
            raise TypeError(f"@node({kind!r}): the function takes (input, ctx, *, **config)")
        for param in signature.parameters.values():
            if param.kind is param.KEYWORD_ONLY:
                default = ... if param.default is param.empty else param.default
                fields[param.name] = (hints.get(param.name, Any), default)
                params.append(param.name)
        cls = create_model(
            f"{kind}Node",
            __base__=_FunctionNode,
            __doc__=description or fn.__doc__ or f"Custom node {kind}.",
            __module__=fn.__module__,
            **fields,
        )
        cls.__function__ = staticmethod(fn)
        cls.__params__ = tuple(params)
        default_registry.register(cls, replace=replace)
        fn.node_class = cls  # type: ignore[attr-defined]
        return fn

    return decorate
