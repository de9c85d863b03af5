"""The generated reference pages are fresh, and no page names a graphflow object that does not exist."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from graphflow.observability import tracing

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: Dotted names that are not Python objects: the default database file and the schema host.
NOT_OBJECTS = frozenset({"graphflow.db", "graphflow.dev"}) | tracing.NAMES  # span attribute and event names
#: Pages that may name what no longer exists: the changelog tells history.
HISTORY = frozenset({"changelog.md"})
_NAME = re.compile(r"\bgraphflow(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "scripts" / "docs_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resolve(name: str) -> Any:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(name)


def test_generated_reference_pages_are_fresh() -> None:
    generator = _generator()
    for relative, render in generator.PAGES.items():
        page = ROOT / relative
        assert page.exists(), f"{relative} is missing: run python scripts/docs_reference.py"
        assert page.read_text(encoding="utf-8") == render(), (
            f"{relative} is stale: run python scripts/docs_reference.py"
        )


def test_every_error_code_says_what_to_do() -> None:
    generator = _generator()
    codes = {cls.code for _, cls in generator._error_classes()}
    assert codes <= set(generator.WHAT_TO_DO), f"add what to do for {sorted(codes - set(generator.WHAT_TO_DO))}"
    assert set(generator.WHAT_TO_DO) <= codes, (
        f"codes that no longer exist: {sorted(set(generator.WHAT_TO_DO) - codes)}"
    )
    page = (DOCS / "reference" / "errors.md").read_text(encoding="utf-8")
    for code in codes:
        assert f"| `{code}` |" in page


def test_the_cli_reference_lists_every_command() -> None:
    from graphflow.cli.parser import build_parser

    generator = _generator()
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for name, _ in generator._subcommands(build_parser()):
        assert f"`graphflow {name}`" in page


def test_the_rest_reference_lists_every_route() -> None:
    from graphflow.api.app import OPERATIONS

    page = (DOCS / "reference" / "rest-api.md").read_text(encoding="utf-8")
    for op in OPERATIONS:
        assert f"`{op.method.upper()} /v1{op.path}`" in page


def _documented_names() -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        if path.name in HISTORY:
            continue
        for match in _NAME.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(0), str(path.relative_to(ROOT)))
    return sorted((name, page) for name, page in found.items() if name not in NOT_OBJECTS)


@pytest.mark.parametrize(("name", "page"), _documented_names(), ids=lambda value: value)
def test_every_documented_name_imports(name: str, page: str) -> None:
    try:
        _resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{page} names {name}, which does not exist: {exc}")


def _imported_names() -> list[tuple[str, str]]:
    """Every graphflow name a Python block imports, fragments included (they are never run)."""
    import ast

    from tests.docs.test_docs import blocks, doc_files

    found: dict[str, str] = {}
    for path in doc_files():
        for block in blocks(path):
            if block.language not in ("python", "py"):
                continue
            tree = ast.parse(block.code)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "graphflow":
                    for alias in node.names:
                        name = node.module if alias.name == "*" else f"{node.module}.{alias.name}"
                        found.setdefault(str(name), block.where)
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] == "graphflow":
                            found.setdefault(alias.name, block.where)
    return sorted(found.items())


@pytest.mark.parametrize(("name", "where"), _imported_names(), ids=lambda value: value)
def test_every_name_a_code_block_imports_exists(name: str, where: str) -> None:
    try:
        _resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{where} imports {name}, which does not exist: {exc}")
