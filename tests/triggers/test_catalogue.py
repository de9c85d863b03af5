from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from graphflow.exceptions import ConflictError, LimitExceededError, ValidationError
from graphflow.triggers.catalogue import EventCatalogue, _schemas_dir

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"

# The seed page's tables (ArchAstro automations): name -> description, word for word.
SEED_EVENTS = {
    "thread.created": "A new thread was created",
    "thread.deleted": "A thread was deleted",
    "thread.message_added": "A message was added to a thread",
    "thread.member_joined": "A member joined a thread",
    "thread.member_left": "A member left a thread",
    "conversation_session.started": "An active conversation session started",
    "conversation_session.completed": "An active conversation session completed",
    "conversation_session.ended": "A conversation session ended",
    "connector.connected": "An OAuth connector was connected",
    "context.ingestion.started": "A context ingestion job started",
    "context.ingestion.running": "A context ingestion job is running",
    "context.ingestion.succeeded": "A context ingestion job completed",
    "context.ingestion.failed": "A context ingestion job failed",
    "context.source.paused": "A context source was auto-paused after consecutive failures",
    "context.installation.suspended": "A context installation was suspended due to auth errors",
    "credential.created": "A new credential was created",
    "credential.updated": "A credential was updated",
    "email.received": "An inbound email was received",
    "email.processed": "An email was processed",
    "agent_session.started": "An agent session started in a thread",
    "agent_session.stopped": "An agent session stopped",
    "agent_session.event_received": "An agent session received a chat event",
}
GRAPHFLOW_EVENTS = {"workflow.scheduled", "workflow.invoked"}


@pytest.fixture
def catalogue() -> EventCatalogue:
    return EventCatalogue()


def paths(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [p.path for p in exc.value.problems]


# --- the built-in catalogue -------------------------------------------------------------------


def test_catalogue_is_exactly_the_seed_events_plus_graphflow_events(
    catalogue: EventCatalogue,
) -> None:
    assert catalogue.names() == set(SEED_EVENTS) | GRAPHFLOW_EVENTS


@pytest.mark.parametrize("name", sorted(SEED_EVENTS))
def test_seed_event_has_the_seed_description_and_a_valid_schema(catalogue: EventCatalogue, name: str) -> None:
    event = catalogue.get(name)
    assert event.name == name
    assert event.description == SEED_EVENTS[name]
    Draft202012Validator.check_schema(dict(event.schema))
    assert event.schema["type"] == "object"
    assert event.schema["additionalProperties"] is True
    assert not event.internal


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_schema_file_is_versioned_and_named_after_its_event(path: Path) -> None:
    name = path.name.removesuffix(".schema.json")
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert re.fullmatch(rf"https://graphflow\.dev/schemas/events/{re.escape(name)}\.v\d+\.json", schema["$id"])
    assert schema["title"] == name
    assert schema["description"]
    assert set(schema.get("required", [])) <= set(schema.get("properties", {}))


def test_schemas_dir_is_the_source_checkout_here() -> None:
    assert Path(str(_schemas_dir())).resolve() == SCHEMAS.resolve()


def test_workflow_scheduled_is_internal_and_requires_scheduled_at(
    catalogue: EventCatalogue,
) -> None:
    event = catalogue.get("workflow.scheduled")
    assert event.internal
    assert event.category == "workflow"
    catalogue.validate("workflow.scheduled", {"scheduled_at": "2026-02-28T09:00:00Z"})
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("workflow.scheduled", {})
    assert paths(exc) == ["$.payload.scheduled_at"]
    assert not catalogue.get("workflow.invoked").internal


def test_workflow_invoked_accepts_any_object(catalogue: EventCatalogue) -> None:
    catalogue.validate("workflow.invoked", {})
    catalogue.validate("workflow.invoked", {"anything": [1, {"x": None}]})


def test_list_is_sorted_and_filters_by_category(catalogue: EventCatalogue) -> None:
    everything = catalogue.list()
    assert [e.name for e in everything] == sorted(catalogue.names())
    context = catalogue.list("context")
    assert [e.name for e in context] == sorted(n for n in SEED_EVENTS if n.startswith("context."))
    assert catalogue.list("no-such-category") == []
    assert {e.category for e in everything} == {
        "thread",
        "connector",
        "context",
        "credential",
        "email",
        "agent_session",
        "workflow",
    }


def test_to_dict_is_the_events_api_shape(catalogue: EventCatalogue) -> None:
    assert catalogue.get("thread.created").to_dict() == {
        "name": "thread.created",
        "description": "A new thread was created",
        "category": "thread",
        "internal": False,
    }


# --- validation -------------------------------------------------------------------------------


def test_valid_payload_passes(catalogue: EventCatalogue) -> None:
    catalogue.validate(
        "thread.member_joined",
        {
            "thread_id": "thr_01hx",
            "member_type": "user",
            "user_id": "usr_abc123",
            "joined_at": "2026-02-28T09:00:00.123+01:00",
            "host_extra": {"hosts may add": "fields"},
        },
    )


def test_invalid_payload_lists_every_error_with_its_path(catalogue: EventCatalogue) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.validate(
            "thread.message_added",
            {
                "thread_id": "t-1",
                "author_type": "robot",
                "created_at": "yesterday",
                "user_id": 7,
            },
        )
    assert exc.value.code == "validation_error"
    assert not isinstance(exc.value, LimitExceededError)
    assert sorted(paths(exc)) == [
        "$.payload.author_type",
        "$.payload.created_at",
        "$.payload.message_id",
        "$.payload.thread_id",
        "$.payload.user_id",
    ]
    by_path = {p.path: p for p in exc.value.problems}
    assert by_path["$.payload.message_id"].message == "is required"
    assert "thr_" in by_path["$.payload.thread_id"].hint
    assert "date-time" in by_path["$.payload.created_at"].message
    assert "$.payload.thread_id" in str(exc.value)


def test_every_missing_required_field_is_listed(catalogue: EventCatalogue) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("thread.message_added", {})
    assert paths(exc) == ["$.payload.message_id", "$.payload.thread_id"]


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-28T09:00:00Z",
        "2026-02-28t09:00:00z",
        "2026-12-31T23:59:60Z",
        "2026-02-28T09:00:00.5-05:30",
    ],
)
def test_date_time_accepts_rfc3339(catalogue: EventCatalogue, value: str) -> None:
    catalogue.validate("workflow.scheduled", {"scheduled_at": value})


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-28",
        "2026-02-30T09:00:00Z",
        "2026-02-28T25:00:00Z",
        "2026-02-28T09:00:00",
        "2026-02-28 09:00:00Z",
        "2026-02-28T09:00:00+24:00",
        "\uff12\uff10\uff12\uff16-02-28T09:00:00Z",
    ],
)
def test_date_time_refuses_non_rfc3339(catalogue: EventCatalogue, value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("workflow.scheduled", {"scheduled_at": value})
    assert paths(exc) == ["$.payload.scheduled_at"]


def test_odd_keys_are_escaped_in_paths(catalogue: EventCatalogue) -> None:
    catalogue.register(
        "acme.odd",
        "odd keys",
        {
            "type": "object",
            "properties": {"we.ird\n\u202ekey": {"type": "string"}},
        },
    )
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("acme.odd", {"we.ird\n\u202ekey": 1})
    assert paths(exc) == ['$.payload["we.ird\\n\\u202ekey"]']
    assert "\n\u202e" not in exc.value.problems[0].path


def test_problem_count_is_capped() -> None:
    catalogue = EventCatalogue(max_problems=3)
    catalogue.register(
        "acme.many",
        "many",
        {
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
    )
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("acme.many", {f"k{i}": i for i in range(10)})
    assert len(exc.value.problems) == 4
    assert exc.value.problems[-1].message == "more problems not shown"


def test_validator_is_built_once_per_event(catalogue: EventCatalogue) -> None:
    catalogue.validate("thread.created", {"thread_id": "thr_1"})
    fast = catalogue._fast["thread.created"]
    assert fast and "thread.created" not in catalogue._validators  # valid payloads take the fast path
    with pytest.raises(ValidationError):
        catalogue.validate("thread.created", {"thread_id": 5})
    first = catalogue._validators["thread.created"]
    with pytest.raises(ValidationError):
        catalogue.validate("thread.created", {"thread_id": 6})
    assert catalogue._validators["thread.created"] is first
    assert catalogue._fast["thread.created"] is fast


# --- unknown names ----------------------------------------------------------------------------


def test_unknown_event_suggests_the_closest_name(catalogue: EventCatalogue) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.get("thread.member_join")
    assert exc.value.code == "validation_error"
    assert "did you mean 'thread.member_joined'" in exc.value.problems[0].hint
    with pytest.raises(ValidationError):
        catalogue.validate("thread.membr_joined", {"thread_id": "thr_1"})


@pytest.mark.parametrize("name", ["zzz", "*", "#", "%", "x" * 100_000, "a\nb"])
def test_unknown_event_without_close_match_points_to_the_list(catalogue: EventCatalogue, name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.get(name)
    problem = exc.value.problems[0]
    assert "EventCatalogue.list()" in problem.hint
    assert len(problem.message) < 200
    assert "\n" not in problem.message


# --- registration -----------------------------------------------------------------------------


def test_register_host_event(catalogue: EventCatalogue) -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"invoice_id": {"type": "string", "pattern": "^inv_"}},
        "required": ["invoice_id"],
    }
    event = catalogue.register("billing.invoice_paid", "An invoice was paid", schema)
    schema["required"].append("mutated_later")  # the catalogue keeps its own copy
    assert event.category == "billing"
    assert catalogue.get("billing.invoice_paid") is event
    assert "billing.invoice_paid" in catalogue.names()
    catalogue.validate("billing.invoice_paid", {"invoice_id": "inv_1"})
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("billing.invoice_paid", {"invoice_id": "x"})
    assert paths(exc) == ["$.payload.invoice_id"]


def test_register_without_schema_accepts_any_object(catalogue: EventCatalogue) -> None:
    event = catalogue.register("acme.ping", "Ping", category="ops")
    assert event.category == "ops"
    assert [e.name for e in catalogue.list("ops")] == ["acme.ping"]
    catalogue.validate("acme.ping", {"a": 1})


def test_register_conflict_and_replace(catalogue: EventCatalogue) -> None:
    catalogue.register("acme.ping", "Ping", {"type": "object", "required": ["a"]})
    with pytest.raises(ValidationError):
        catalogue.validate("acme.ping", {})
    with pytest.raises(ConflictError) as exc:
        catalogue.register("acme.ping", "Ping again")
    assert exc.value.code == "conflict"
    with pytest.raises(ConflictError):
        catalogue.register("thread.created", "mine now")
    replaced = catalogue.register("acme.ping", "Ping v2", replace=True)
    assert catalogue.get("acme.ping") is replaced
    catalogue.validate("acme.ping", {})  # the old compiled validator was dropped


@pytest.mark.parametrize(
    "name",
    [
        "ping",
        "Acme.ping",
        "acme..ping",
        "acme.ping.",
        "1acme.ping",
        "acme.pi-ng",
        "acme.*",
        "acme.ping\n",
        "a." + "b" * 99,
        "workflow.custom",
        "workflow.scheduled",
    ],
)
def test_register_refuses_bad_names(catalogue: EventCatalogue, name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.register(name, "desc")
    assert paths(exc) == ["$.name"]


def test_register_accepts_a_100_character_name(catalogue: EventCatalogue) -> None:
    name = "a." + "b" * 98
    assert catalogue.register(name, "long").name == name


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"type": "no-such-type"}, "$.schema.type"),
        ({"properties": {"a": {"minLength": -1}}}, "$.schema.properties.a.minLength"),
        ({"$ref": "https://169.254.169.254/latest"}, "$.schema.$ref"),
        ({"properties": {"a": {"$ref": "other.json#/x"}}}, "$.schema.properties.a.$ref"),
        ({"type": "object", "default": {1, 2}}, "$.schema"),
    ],
)
def test_register_refuses_bad_schemas(catalogue: EventCatalogue, schema: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.register("acme.bad", "bad", schema)
    assert paths(exc) == [path]
    assert "acme.bad" not in catalogue.names()


def test_register_lists_every_problem_at_once(catalogue: EventCatalogue) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.register("Bad", "", {"type": 3})
    assert paths(exc) == ["$.name", "$.description", "$.schema.type"]


def test_local_refs_work(catalogue: EventCatalogue) -> None:
    catalogue.register(
        "acme.refs",
        "refs",
        {
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/id"}},
            "$defs": {"id": {"type": "string", "pattern": "^id_"}},
        },
    )
    catalogue.validate("acme.refs", {"a": "id_1"})
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("acme.refs", {"a": "nope"})
    assert paths(exc) == ["$.payload.a"]


def test_dangling_local_ref_is_reported_as_a_schema_problem(catalogue: EventCatalogue) -> None:
    catalogue.register("acme.dangling", "dangling", {"$ref": "#/$defs/missing"})
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("acme.dangling", {})
    assert paths(exc) == ["$.schema"]


# --- payload limits ---------------------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for _ in range(depth - 1):
        payload = {"a": payload}
    return payload


def test_depth_at_the_limit_passes_and_one_more_is_refused() -> None:
    catalogue = EventCatalogue(max_depth=5)
    catalogue.validate("workflow.invoked", nested(5))
    catalogue.validate("workflow.invoked", {"a": [[[[1]]]]})
    with pytest.raises(LimitExceededError) as exc:
        catalogue.validate("workflow.invoked", nested(6))
    assert exc.value.code == "limit_exceeded"
    assert paths(exc) == ["$.payload.a.a.a.a.a"]
    with pytest.raises(LimitExceededError):
        catalogue.validate("workflow.invoked", {"a": [[[[[]]]]]})


def test_very_deep_payload_is_refused_without_recursion(catalogue: EventCatalogue) -> None:
    with pytest.raises(LimitExceededError):
        catalogue.validate("workflow.invoked", nested(100_000))
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(LimitExceededError):
        catalogue.validate("workflow.invoked", {"a": deep})


def test_self_referencing_payload_is_refused(catalogue: EventCatalogue) -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(LimitExceededError):
        catalogue.validate("workflow.invoked", loop)


def compact_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


@pytest.mark.parametrize("filler", ["x", "é", "\n", "😀"])
def test_size_exactly_at_the_limit_passes_and_one_byte_over_is_refused(filler: str) -> None:
    limit = 1000
    catalogue = EventCatalogue(max_payload_bytes=limit)
    width = compact_size({"k": filler}) - compact_size({"k": ""})
    count = (limit - compact_size({"k": "", "pad": ""})) // width
    payload = {"k": filler * count, "pad": ""}
    payload["pad"] = "p" * (limit - compact_size(payload))
    assert compact_size(payload) == limit
    catalogue.validate("workflow.invoked", payload)
    payload["pad"] += "p"
    with pytest.raises(LimitExceededError) as exc:
        catalogue.validate("workflow.invoked", payload)
    assert "1000 bytes" in exc.value.problems[0].message


def test_default_size_limit_is_256_kib(catalogue: EventCatalogue) -> None:
    catalogue.validate("workflow.invoked", {"k": "x" * (256 * 1024 - 10)})
    with pytest.raises(LimitExceededError):
        catalogue.validate("workflow.invoked", {"k": "x" * (256 * 1024)})


@pytest.mark.parametrize(
    "payload",
    [
        {"k": "x" * (100 * 256 * 1024)},
        {"k": [0] * (100 * 256 * 1024)},
        {str(i): None for i in range(300_000)},
        {"k": 10**5000},
    ],
)
def test_far_too_big_payloads_are_refused(catalogue: EventCatalogue, payload: Any) -> None:
    with pytest.raises(LimitExceededError):
        catalogue.validate("workflow.invoked", payload)


@pytest.mark.parametrize("payload", [[], "text", None, 3, [{"thread_id": "thr_1"}]])
def test_non_object_payload_is_refused(catalogue: EventCatalogue, payload: Any) -> None:
    with pytest.raises(LimitExceededError) as exc:
        catalogue.validate("thread.created", payload)
    assert paths(exc) == ["$.payload"]


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({1: "a"}, "$.payload"),
        ({"a": {None: 1}}, "$.payload.a"),
        ({"a": [{("t",): 1}]}, "$.payload.a[0]"),
    ],
)
def test_non_string_keys_are_refused(catalogue: EventCatalogue, payload: dict[Any, Any], path: str) -> None:
    with pytest.raises(LimitExceededError) as exc:
        catalogue.validate("workflow.invoked", payload)
    assert paths(exc) == [path]


@pytest.mark.parametrize(
    "payload",
    [
        {"a": float("nan")},
        {"a": float("inf")},
        {"a": {1, 2}},
        {"a": b"bytes"},
        {"a": (1, 2)},
        {"a": object()},
        {"a": "\ud800"},
        {"\udfff": 1},
    ],
)
def test_values_json_cannot_carry_are_refused(catalogue: EventCatalogue, payload: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        catalogue.validate("workflow.invoked", payload)
    assert not isinstance(exc.value, LimitExceededError)


def test_hostile_strings_within_limits_are_just_data(catalogue: EventCatalogue) -> None:
    catalogue.validate(
        "thread.created",
        {
            "thread_id": "thr_1",
            "title": "{{ secrets }} ${env} #{x} \u202e\u200b\ufeff\x00 😀 \r\ndata: forged",
            "e\u0301": 1,
            "\u00e9": 2,
        },
    )


def test_a_pattern_anchored_with_dollar_refuses_a_trailing_newline() -> None:
    """ECMA 262's "$" is the end of the text; Python's re also matches before a final newline."""
    from graphflow.triggers.catalogue import EventCatalogue

    with pytest.raises(ValidationError, match=r"\$\.payload\.thread_id"):
        EventCatalogue().validate("thread.created", {"thread_id": "thr_1\n"})
