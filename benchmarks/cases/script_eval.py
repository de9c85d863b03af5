"""Script and template evaluation: what a node's expression costs at run time.

Both are compiled once (as graphflow does when a graph loads) and evaluated per iteration; the
floor is a Python lambda computing the same value. Both go through the same wrapper, so the
per-call overhead of the loop is the same on each side.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Case, deferred

DATA = {"a": 1, "id": 42}


def _script() -> Any:
    import graphflow

    evaluate = graphflow.compile_script("$.a + 1").evaluate
    assert evaluate(DATA) == 2
    return lambda: evaluate(DATA)


def _template() -> Any:
    import graphflow

    render = graphflow.compile_template("https://x/{{$.id}}").render
    assert render(DATA) == "https://x/42"
    return lambda: render(DATA)


def _script_floor() -> Any:
    return lambda: DATA["a"] + 1


def _template_floor() -> Any:
    return lambda: f"https://x/{DATA['id']}"


CASES = [
    Case(
        name="script",
        title='script "$.a + 1"',
        unit="µs/eval",
        divisor=1,
        contenders={
            "graphflow": deferred(_script),
            "floor": deferred(_script_floor),
        },
        floor="Python lambda: d['a'] + 1",
        note="compile_script(...).evaluate(data), compiled once",
    ),
    Case(
        name="template",
        title='template "https://x/{{$.id}}"',
        unit="µs/render",
        divisor=1,
        contenders={
            "graphflow": deferred(_template),
            "floor": deferred(_template_floor),
        },
        floor="Python lambda: f-string",
        note="compile_template(...).render(data), compiled once",
    ),
]
