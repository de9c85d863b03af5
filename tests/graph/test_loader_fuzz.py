"""Whatever text or bytes load_graph is given, it loads or raises ValidationError (issue 9 item 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import graphflow
from graphflow.exceptions import ValidationError

SAMPLE = (Path(__file__).resolve().parents[3] / "shared" / "examples" / "archastro-sample.yaml").read_text()

#: YAML's punctuation, indicators, tags and the scalars its resolver turns into non-strings.
TOKENS = [
    *"\n  -:?,[]{}&*!|>'\"#%@`",
    "!!int ",
    "!!bool ",
    "!!float ",
    "!!str ",
    "!!map ",
    "!!seq ",
    "!!set ",
    "!!binary ",
    "!!timestamp ",
    "!!python/name:os.system ",
    "<<: ",
    "0x",
    "0b",
    "0o",
    "59:59:",
    "1_000",
    ".inf",
    ".nan",
    "~",
    "null",
    "yes",
    "on",
    "2026-01-01",
    "\\ud800",
    "\ud800",
    "\x00",
    "\ufeff",
    "kind: WorkflowGraph\n",
    "version: 1\n",
    "nodes:\n",
    "- {kind: WorkflowTrigger, id: t, trigger: a.b}\n",
    "9" * 30,
    "f" * 30,
    "{{",
    "}}",
    "é",
]


def yaml_like() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(TOKENS) | st.text(max_size=5), max_size=40).map("".join)


def mutated_sample() -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, len(SAMPLE)), st.integers(0, 20), yaml_like()).map(
        lambda t: SAMPLE[: t[0]] + t[2] + SAMPLE[t[0] + t[1] :]
    )


def loads_or_refuses(source: Any) -> None:
    try:
        graphflow.load_graph(source)
    except ValidationError as exc:
        assert exc.problems and all(p.path.startswith("$") for p in exc.problems)
        str(exc).encode("utf-8")  # the message can be printed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(max_size=300) | yaml_like() | mutated_sample())
@example('{"kind": "WorkflowGraph", "version": 1, "name": "\\ud800"}')
@example("? [a, b]\n: 1\n")
@example("x: " + ":".join(["59"] * 500))
@example("x: 0x" + "f" * 5000)
@example('x: !!int ""')
@example(b"\xff\xfe")
def test_load_graph_never_raises_anything_but_validation_error(source: str | bytes) -> None:
    loads_or_refuses(source)
