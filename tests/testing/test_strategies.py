"""The Hypothesis strategies: every payload passes publish, every graph validates, every schedule parses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import graphflow
from graphflow.exceptions import ValidationError
from graphflow.nodes.registry import NodeRegistry
from graphflow.testing.schemas import from_schema
from graphflow.testing.strategies import graphs, payloads, schedules
from graphflow.triggers.catalogue import INTERNAL_EVENTS, EventCatalogue

CATALOGUE = EventCatalogue()
PUBLIC_EVENTS = sorted(e.name for e in CATALOGUE.list() if not e.internal and e.name not in INTERNAL_EVENTS)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("name", PUBLIC_EVENTS)
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_catalogued_event_yields_valid_payloads(name: str, data: st.DataObject) -> None:
    payload = data.draw(payloads(name))
    CATALOGUE.validate(name, payload)  # raises if not


@pytest.mark.anyio
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
async def test_generated_payloads_pass_publish(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(PUBLIC_EVENTS))
    payload = data.draw(payloads(name))
    async with graphflow.Engine("memory://") as engine:
        published = await engine.publish("app_1", name, payload)
    assert published.run_ids == () and not published.duplicate


def test_payloads_shrink_to_the_required_fields() -> None:
    smallest = find(payloads("thread.member_joined"), lambda p: True)
    assert set(smallest) == {"thread_id"}
    assert smallest["thread_id"].startswith("thr_") and len(smallest["thread_id"]) == 5


def test_host_events_of_an_engine() -> None:
    engine = graphflow.Engine("memory://")
    schema = {
        "type": "object",
        "properties": {
            "invoice_id": {"type": "string", "pattern": "^inv_[0-9]{4}$"},
            "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 10_000},
            "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}, "minItems": 1, "maxItems": 3},
            "status": {"enum": ["paid", "refunded"]},
        },
        "required": ["invoice_id", "amount", "lines"],
        "additionalProperties": False,
        "$defs": {"line": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}}},
    }
    engine.catalogue.register("billing.invoice_paid", "An invoice was paid", schema)

    @settings(max_examples=40)
    @given(payloads("billing.invoice_paid", engine=engine))
    def check(payload: dict[str, Any]) -> None:
        engine.catalogue.validate("billing.invoice_paid", payload)
        assert set(payload) <= {"invoice_id", "amount", "lines", "status"}
        assert 0 < payload["amount"] <= 10_000

    check()


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"type": "object", "properties": {"a": {"type": "string", "format": "hostname"}}}, "$.properties.a.format"),
        ({"type": "object", "patternProperties": {"^x": {}}}, "$.patternProperties"),
        ({"allOf": [{"type": "string"}]}, "$.allOf"),
        ({"$ref": "https://example.com/s.json"}, "$.$ref"),
        ({"$defs": {"n": {"$ref": "#/$defs/n"}}, "$ref": "#/$defs/n"}, "$.$ref.$ref"),
    ],
)
def test_unsupported_keywords_are_refused_by_path(schema: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        from_schema(schema)
    assert caught.value.code == "validation_error"
    assert [p.path for p in caught.value.problems] == [path]
    assert "graphflow.testing" in str(caught.value)


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown event"):
        payloads("thread.member_joinde")


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_generated_graphs_validate_and_run(graph: graphflow.WorkflowGraph) -> None:
    assert graph.start_node == "t"
    result = graphflow.run_graph_sync(graph, {"trigger": "test.run", "payload": {}})
    assert result.status == "completed", result.error


@settings(max_examples=60, deadline=None)
@given(graphs(["WorkflowScript", "WorkflowCondition", "WorkflowEnd", "WorkflowParallel", "WorkflowMap"], max_nodes=5))
def test_graphs_with_branches_and_loops_validate_and_run(graph: graphflow.WorkflowGraph) -> None:
    result = graphflow.run_graph_sync(graph, {"trigger": "test.run", "payload": {}})
    assert result.status == "completed", result.error


def test_graphs_hold_parallel_branches_and_map_bodies() -> None:
    strategy = graphs(["WorkflowScript", "WorkflowParallel", "WorkflowMap"], max_nodes=4)
    both = find(strategy, lambda g: {"WorkflowParallel", "WorkflowMap"} <= {n.kind for n in g.nodes})
    kinds = [n.kind for n in both.nodes]
    assert kinds.count("WorkflowParallel") >= 1 and kinds.count("WorkflowMap") >= 1


def test_graphs_use_custom_kinds() -> None:
    registry = NodeRegistry()

    class Stamp(graphflow.Node):
        kind: Literal["Stamp"] = "Stamp"
        label: str

    registry.register(Stamp)
    with pytest.raises(ValueError, match="required fields"):
        graphs(["Stamp"], registry=registry)
    strategy = graphs(
        ["WorkflowScript", "Stamp"],
        fields={"Stamp": st.builds(lambda label: {"label": label}, st.sampled_from(["a", "b"]))},
        registry=registry,
    )
    seen = find(strategy, lambda g: any(n.kind == "Stamp" for n in g.nodes))
    assert any(n.kind == "Stamp" for n in seen.nodes)


def test_graphs_refuse_what_they_cannot_build() -> None:
    with pytest.raises(ValueError, match="unknown node kind"):
        graphs(["NoSuchKind"])
    with pytest.raises(ValueError, match="trigger kind"):
        graphs(["WorkflowTrigger"])
    with pytest.raises(ValueError, match="does not generate"):
        graphs(["WorkflowHttpRequest"])
    with pytest.raises(ValueError, match="besides"):
        graphs(["WorkflowMap", "WorkflowParallel"])


@settings(max_examples=300, deadline=None)
@given(schedules(now=NOW))
def test_generated_schedules_parse_with_the_real_grammar(schedule: Any) -> None:
    parsed = schedule.parse(NOW)
    assert parsed.kind == schedule.kind
    assert parsed.display


def test_schedules_refuse_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown schedule kinds"):
        schedules(kinds=["lunar"])


ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^ord_[0-9]{3,8}$"},
        "qty": {"type": "integer", "minimum": 1, "maximum": 99},
        "gift": {"type": "boolean"},
    },
    "required": ["order_id", "qty"],
    "additionalProperties": False,
}
SUM = {
    "kind": "WorkflowGraph",
    "version": 1,
    "name": "order",
    "start_node": "t",
    "nodes": [
        {"kind": "WorkflowTrigger", "id": "t", "trigger": "workflow.invoked", "on_success": "s"},
        {"kind": "WorkflowScript", "id": "s", "source": "$.qty * 2"},
    ],
}


@pytest.mark.anyio
async def test_inputs_pass_invoke() -> None:
    from graphflow.testing.strategies import inputs

    async with graphflow.Engine("memory://") as engine:
        config = await engine.configs.create("app_1", SUM)
        order = await engine.automations.create(
            "app_1", name="order", type="invoked", input_schema=ORDER_SCHEMA, config_id=config.id, enabled=True
        )
        seen: list[dict[str, Any]] = []

        @settings(max_examples=40, deadline=None)
        @given(inputs(order))
        def collect(payload: dict[str, Any]) -> None:
            seen.append(payload)

        collect()
        for payload in seen:
            run = await engine.automations.invoke("app_1", order.id, payload, wait=True, timeout=10)
            assert (run.status, run.result["payload"]) == ("completed", payload["qty"] * 2)
    assert any("gift" in payload for payload in seen)


def test_inputs_without_a_schema_are_objects() -> None:
    from graphflow.testing.strategies import inputs

    assert find(inputs(None), lambda payload: True) == {}


def test_payloads_of_an_event_no_one_can_publish_are_refused() -> None:
    from graphflow.exceptions import ValidationError
    from graphflow.testing import payloads

    for name in ("workflow.invoked", "workflow.scheduled"):
        with pytest.raises(ValidationError, match="cannot be published"):
            payloads(name)
