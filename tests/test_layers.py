"""Dependencies point one way: no module imports from a layer above its own.

Every module under ``graphflow/`` is parsed with :mod:`ast`; every import counts, at the top of
the module or inside a function (a lazy import is still a dependency), except those under
``if TYPE_CHECKING:``, which never run. The layer picture is the one in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "graphflow"

#: Layer of each top-level module or subpackage, bottom up (docs/architecture.md draws it).
LAYERS: dict[str, int] = {
    "exceptions": 0,
    "ids": 0,
    "clock": 0,
    "events": 0,
    "records": 0,
    "abc": 1,
    "observability": 1,
    "graph": 2,
    "scripts": 2,
    "nodes": 3,
    "triggers": 3,
    "stores": 4,
    "automations": 5,
    "engine": 6,
    "api": 7,
    "cli": 7,
    "testing": 7,
    "__main__": 7,
}

#: The faces' layer: only modules at this layer may import the facade.
TOP = 7

#: Modules that belong to another subpackage's unit than their folder's. The node-kind registry
#: is the graph layer's lookup of kinds by name (``load_graph`` and ``graph_schema`` default to
#: it; it imports only ``graph.model`` and names the built-in kinds' modules as strings), so it
#: counts as part of ``graph`` although it is imported as ``graphflow.nodes.registry``.
UNITS: dict[str, str] = {
    "graphflow.nodes.registry": "graph",
    "graphflow.nodes.builtin": "graph",
}

#: The curated facade (``graphflow/__init__.py``) may import anything; nothing may import it.
FACADE = "graphflow"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node``, skipping the bodies of ``if TYPE_CHECKING:`` (not their ``else``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """``(line, imported graphflow module)`` for every run-time import in one module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == FACADE:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != FACADE:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield node.lineno, submodule if submodule in MODULES else target


def _unit(module: str) -> str:
    """The top-level module or subpackage ``module`` belongs to (the facade is its own unit)."""
    if module == FACADE:
        return FACADE
    return UNITS.get(module, module.split(".")[1])


def _layer(module: str) -> int | None:
    """A module's layer (``None`` for the facade, which belongs to no layer)."""
    unit = _unit(module)
    if unit == FACADE:
        return None
    assert unit in LAYERS, f"{module} has no layer: add {unit!r} to LAYERS (and to docs/architecture.md)"
    return LAYERS[unit]


def _edges() -> Iterator[tuple[str, int, str]]:
    for module, path in MODULES.items():
        for line, target in _imports(module, path):
            yield module, line, target


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_no_module_imports_upward() -> None:
    upward = []
    for module, line, target in _edges():
        if module == FACADE:
            continue
        layer, target_layer = _layer(module), _layer(target)
        assert layer is not None
        # The faces (top layer) may use the facade; nothing below it may.
        if (target_layer is None and layer < TOP) or (target_layer is not None and target_layer > layer):
            shown = "the facade" if target_layer is None else f"layer {target_layer}"
            upward.append(f"{module}:{line} (layer {layer}) imports {target} ({shown})")
    assert not upward, "imports that point upward:\n" + "\n".join(upward)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (its nodes in order, the first repeated at the end), or ``None``."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, successors = stack[-1]
            for successor in successors:
                if successor in on_path:
                    return [*path[path.index(successor) :], successor]
                if successor not in done:
                    stack.append((successor, iter(sorted(graph.get(successor, ())))))
                    path.append(successor)
                    on_path.add(successor)
                    break
            else:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
    return None


def test_no_cycle_between_subpackages() -> None:
    graph: dict[str, set[str]] = {}
    for module, _, target in _edges():
        source, destination = _unit(module), _unit(target)
        if FACADE not in (source, destination) and source != destination:
            graph.setdefault(source, set()).add(destination)
    cycle = _cycle(graph)
    assert cycle is None, "subpackages import each other: " + " → ".join(cycle or [])


#: Module imports that run in another process, so they close no cycle in this one.
OTHER_PROCESS = {
    # The isolated script worker's entry point compiles scripts in the child process it runs in.
    ("graphflow.scripts.worker", "graphflow.scripts.program"),
}


def test_no_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for module, _, target in _edges():
        if (module, target) in OTHER_PROCESS:
            continue
        # A package's __init__ re-exporting its own modules is not a dependency cycle.
        if module != target and not target.startswith(f"{module}.") and target != FACADE:
            graph.setdefault(module, set()).add(target)
    cycle = _cycle(graph)
    assert cycle is None, "modules import each other: " + " → ".join(cycle or [])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import graphflow.engine.engine\n", ["graphflow.engine.engine"]),
        ("from graphflow.engine import engine\n", ["graphflow.engine.engine"]),
        ("from .. import engine\n", ["graphflow.engine"]),
        ("def f():\n    from graphflow.cli import parser\n", ["graphflow.cli.parser"]),
        ("if TYPE_CHECKING:\n    from graphflow.engine.engine import Engine\n", []),
        ("if TYPE_CHECKING:\n    pass\nelse:\n    from graphflow.cli import parser\n", ["graphflow.cli.parser"]),
    ],
)
def test_the_reader_sees_every_run_time_import(tmp_path: Path, source: str, expected: list[str]) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    assert [target for _, target in _imports("graphflow.nodes.probe", path)] == expected
