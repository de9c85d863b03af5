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


def _isolated() -> Any:
    import graphflow

    data = {"xs": list(range(100))}
    evaluate = graphflow.compile_script("$.xs.map(x, x * 2).size()").evaluate
    assert evaluate(data) == 100  # also starts the worker process
    return lambda: evaluate(data)


def _isolated_floor() -> Any:
    data = {"xs": list(range(100))}
    return lambda: len([x * 2 for x in data["xs"]])


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
        name="script_isolated",
        title='script "$.xs.map(x, x * 2).size()", 100 items',
        unit="µs/eval",
        divisor=1,
        contenders={
            "graphflow": deferred(_isolated),
            "floor": deferred(_isolated_floor),
        },
        floor="Python list comprehension",
        note="not provably cheap: evaluated in the isolated worker process (round trip included)",
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
