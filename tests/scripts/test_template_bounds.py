"""Template holes are rendered on the caller's thread, so they never go to the script worker.

The attack: a ``WorkflowMap`` whose item template held a hole the guard could not prove cheap
sent each item's hole to the worker process *synchronously*, stalling the event loop for every
item (100 items: 5 s). A hole that is not provably cheap is now refused at once.
"""

from __future__ import annotations

import pytest

from graphflow.exceptions import ScriptLimitError
from graphflow.scripts import compile_script, compile_template

HEAVY = "$.a.map(x, $.a.map(y, x + y)).size()"
INPUT = {"a": list(range(100))}


@pytest.mark.parametrize("text", ["{{" + HEAVY + "}}", "n={{" + HEAVY + "}}", {"v": "{{" + HEAVY + "}}"}])
def test_a_hole_that_is_not_provably_cheap_is_refused_without_work(text: object) -> None:
    template = compile_template(text)
    with pytest.raises(ScriptLimitError, match="WorkflowScript"):
        template.render(INPUT)


def test_the_same_expression_in_a_script_node_still_evaluates() -> None:
    assert compile_script(HEAVY).evaluate(INPUT) == 100  # it went to the worker and came back


def test_cheap_holes_render_as_before() -> None:
    assert compile_template("https://x/{{$.id}}?n={{$.a.size()}}").render({"id": "v", "a": [1, 2]}) == "https://x/v?n=2"
