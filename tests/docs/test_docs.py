"""The docs stay true: every example config runs, every built-in kind is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

import graphflow
from graphflow.nodes.registry import default_registry

DOCS = Path(__file__).resolve().parents[2] / "docs"

PAYLOADS = {
    "welcome.yaml": ("thread.member_joined", {"thread_id": "thr_1", "user_id": "usr_9", "user": {"name": "Ada"}}),
    "order-review.yaml": ("order.received", {"customer_id": "vip_7", "lines": [{"qty": 2, "price": 100}]}),
}


@pytest.mark.parametrize("path", sorted((DOCS / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate_and_run(path: Path) -> None:
    graph = graphflow.load_graph(path)
    assert path.name in PAYLOADS, f"add a payload for {path.name} to this test"
    trigger, payload = PAYLOADS[path.name]
    result = graphflow.run_graph_sync(graph, {"trigger": trigger, "payload": payload})
    assert result.status == "completed", result.error


def test_every_builtin_kind_is_documented() -> None:
    text = (DOCS / "nodes.md").read_text()
    for kind in default_registry.builtin_kinds():
        assert f"## {kind}" in text, kind


def test_readme_starts_with_setup_and_test_command() -> None:
    readme = (DOCS.parent / "README.md").read_text().splitlines()
    head = "\n".join(readme[:15])
    assert "pip install -e '.[dev]'" in head and "python -m pytest" in head and "graphflow run" in head
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci
