"""``engine.configs.*`` and ``engine.automations.*``: the SDK-shaped operations of the seed page."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow
from graphflow.clock import FakeClock
from graphflow.engine.engine import Engine
from graphflow.exceptions import (
    AlreadyRunningError,
    ConflictError,
    GraphflowError,
    NotFoundError,
    ValidationError,
)
from graphflow.ids import new_id
from graphflow.records import AutomationRun
from tests.conftest import eventually as _eventually
from tests.conftest import graph_dict, parked

pytestmark = pytest.mark.anyio

#: Polls until a state shows, failing after 5 s.
eventually = functools.partial(_eventually, timeout=5.0)

WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"
SCHEDULED = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$"}, trigger="workflow.scheduled")
INVOKED = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$"}, trigger="workflow.invoked")
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, FakeClock's default start

#: gate name → the event a ``SvcGate`` node waits on (reset for each test).
GATES: defaultdict[str, anyio.Event] = defaultdict(anyio.Event)


@graphflow.node("SvcGate")
async def svc_gate(input: Any, ctx: graphflow.NodeContext, *, gate: str = "main") -> Any:
    """Block until the test opens the gate."""
    await GATES[gate].wait()
    return input


def gated(trigger: str, gate: str = "main") -> dict[str, Any]:
    return graph_dict({"kind": "SvcGate", "id": "wait", "gate": gate}, trigger=trigger)


@pytest.fixture(autouse=True)
def _fresh_gates() -> None:
    GATES.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engine(clock: FakeClock) -> AsyncIterator[Engine]:
    async with Engine("memory://", clock=clock) as started:
        yield started


async def run_status(engine: Engine, app_id: str, run_id: str) -> str:
    return (await engine.automations.run(app_id, run_id)).status


async def welcome(engine: Engine, app_id: str = "app_a", **fields: Any) -> graphflow.Automation:
    cfg = await engine.configs.create(app_id, WELCOME)
    values: dict[str, Any] = {
        "name": "Welcome",
        "type": "trigger",
        "trigger": "thread.member_joined",
        "config_id": cfg.id,
    }
    values.update(fields)
    return await engine.automations.create(app_id, values)


async def digest(engine: Engine, app_id: str = "app_a", **fields: Any) -> graphflow.Automation:
    cfg = await engine.configs.create(app_id, SCHEDULED)
    values: dict[str, Any] = {"name": "Digest", "type": "scheduled", "schedule": "0 9 * * *", "config_id": cfg.id}
    values.update(fields)
    return await engine.automations.create(app_id, values)


async def count(engine: Engine, app_id: str = "app_a") -> int:
    return len((await engine.automations.list(app_id, limit=100)).data)


def problem_paths(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [p.path for p in exc.value.problems]


# --- create -----------------------------------------------------------------------------------

SEED_FIELDS = {
    "id",
    "app_id",
    "name",
    "description",
    "type",
    "status",
    "trigger",
    "schedule",
    "schedule_display",
    "timezone",
    "config_id",
    "run_as_user_id",
    "lookup_key",
    "metadata",
    "repeat",
    "overlap",
    "catchup",
    "next_run_at",
    "last_run_at",
    "last_run_status",
    "created_at",
    "updated_at",
    "enabled",
}


async def test_create_makes_a_draft_and_every_field_round_trips(engine: Engine) -> None:
    cfg = await engine.configs.create("app_a", WELCOME)
    assert cfg.id.startswith("cfg_") and cfg.version == 1
    created = await engine.automations.create(
        "app_a",
        {"name": "Welcome New Members", "type": "trigger", "trigger": "thread.member_joined", "config_id": cfg.id},
        description="Greets people",
        run_as_user_id="usr_abc123",
        lookup_key="welcome",
        metadata={"team": "growth", "tags": ["a", 1]},
    )
    assert created.id.startswith("aut_")
    body = created.to_dict()
    assert set(body) >= SEED_FIELDS
    expected = {
        "app_id": "app_a",
        "name": "Welcome New Members",
        "description": "Greets people",
        "type": "trigger",
        "status": "draft",
        "enabled": False,
        "trigger": "thread.member_joined",
        "config_id": cfg.id,
        "run_as_user_id": "usr_abc123",
        "lookup_key": "welcome",
        "metadata": {"team": "growth", "tags": ["a", 1]},
        "timezone": "UTC",
        "schedule": None,
        "next_run_at": None,
        "last_run_at": None,
        "last_run_status": None,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    assert {key: body[key] for key in expected} == expected
    fetched = await engine.automations.get("app_a", created.id)
    assert fetched.automation.to_dict() == body
    assert fetched.to_dict()["recent_runs"] == []


async def test_create_scheduled_round_trips_schedule_fields(engine: Engine) -> None:
    created = await digest(
        engine,
        schedule="weekdays at 9am",
        timezone="america/new_york",
        repeat={"times": 3},
        overlap="buffer_one",
        catchup="all",
        max_catchup_runs=5,
        misfire_grace="5m",
        jitter=2,
    )
    body = (await engine.automations.get("app_a", created.id)).automation.to_dict()
    assert body["schedule"] == "0 9 * * 1-5"
    assert body["schedule_display"] == "Weekdays at 9:00 AM (America/New_York)"
    assert body["timezone"] == "America/New_York"
    assert body["repeat"] == {"times": 3, "completed": 0}
    assert (body["overlap"], body["catchup"], body["max_catchup_runs"]) == ("buffer_one", "all", 5)
    assert (body["misfire_grace"], body["jitter"]) == (300.0, 2.0)
    assert body["next_run_at"] is None and body["enabled"] is False


async def test_create_enabled_creates_and_activates(engine: Engine) -> None:
    trigger = await welcome(engine, enabled=True)
    assert (trigger.status, trigger.enabled) == ("running", True)
    assert [a.id for a in await engine.explain("app_a", "thread.member_joined")] == [trigger.id]
    scheduled = await digest(engine, enabled=True)
    assert scheduled.status == "running"
    assert scheduled.to_dict()["next_run_at"] == "2026-01-01T09:00:00Z"
    assert engine.scheduler.due_at(scheduled.id) == T0 + 9 * 3600


@pytest.mark.parametrize("app_id", ["", None, "x" * 101])
async def test_records_need_an_app(engine: Engine, app_id: Any) -> None:
    with pytest.raises(ValidationError, match=r"\$\.app_id"):
        await engine.configs.create(app_id, WELCOME)
    with pytest.raises(ValidationError, match=r"\$\.app_id"):
        await engine.automations.create(app_id, name="W", trigger="thread.member_joined")


async def test_create_enabled_without_a_config_stores_nothing(engine: Engine) -> None:
    with pytest.raises(ValidationError) as exc:
        await engine.automations.create("app_a", name="W", trigger="thread.member_joined", enabled=True)
    assert problem_paths(exc) == ["$.config_id"]
    assert await count(engine) == 0


INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    "missing name": ({"trigger": "thread.created"}, "$.name", "required"),
    "empty name": ({"name": "  ", "trigger": "thread.created"}, "$.name", "at least 1"),
    "trigger type without trigger": ({"name": "n"}, "$.trigger", "needs 'trigger'"),
    "unknown event": (
        {"name": "n", "trigger": "thread.membr_joined"},
        "$.trigger",
        "did you mean 'thread.member_joined'",
    ),
    "internal event": ({"name": "n", "trigger": "workflow.scheduled"}, "$.trigger", "internal"),
    "schedule on a trigger automation": (
        {"name": "n", "trigger": "thread.created", "schedule": "0 9 * * *"},
        "$.schedule",
        "has no 'schedule'",
    ),
    "scheduled without schedule": ({"name": "n", "type": "scheduled"}, "$.schedule", "needs 'schedule'"),
    "trigger on a scheduled automation": (
        {"name": "n", "type": "scheduled", "schedule": "0 9 * * *", "trigger": "thread.created"},
        "$.trigger",
        "has no 'trigger'",
    ),
    "bad schedule": ({"name": "n", "type": "scheduled", "schedule": "every blue moon"}, "$.schedule", ""),
    "bare duration": ({"name": "n", "type": "scheduled", "schedule": "30m"}, "$.schedule", "'in 30m'"),
    "never fires": ({"name": "n", "type": "scheduled", "schedule": "0 0 31 2 *"}, "$.schedule", ""),
    "unknown timezone": (
        {"name": "n", "type": "scheduled", "schedule": "0 9 * * *", "timezone": "Mars/Olympus"},
        "$.timezone",
        "unknown time zone",
    ),
    "bad lookup_key": ({"name": "n", "trigger": "thread.created", "lookup_key": "Not A Slug"}, "$.lookup_key", ""),
    "metadata not an object": ({"name": "n", "trigger": "thread.created", "metadata": [1]}, "$.metadata", ""),
    "metadata not JSON": ({"name": "n", "trigger": "thread.created", "metadata": {"s": {1, 2}}}, "$.metadata", "JSON"),
    "unknown type": ({"name": "n", "type": "cron"}, "$.type", ""),
    "unknown field": ({"name": "n", "trigger": "thread.created", "colour": "red"}, "$.colour", "unknown field"),
    "bad config id": ({"name": "n", "trigger": "thread.created", "config_id": "welcome"}, "$.config_id", ""),
    "repeat zero": (
        {"name": "n", "type": "scheduled", "schedule": "0 9 * * *", "repeat": {"times": 0}},
        "$.repeat.times",
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
async def test_create_refuses_bad_fields_and_stores_nothing(engine: Engine, case: str) -> None:
    fields, path, fragment = INVALID[case]
    with pytest.raises(ValidationError) as exc:
        await engine.automations.create("app_a", fields)
    assert exc.value.code == "validation_error"
    assert path in problem_paths(exc)
    problem = next(p for p in exc.value.problems if p.path == path)
    assert fragment in f"{problem.message} {problem.hint}"
    assert await count(engine) == 0


async def test_bare_duration_suggests_both_forms(engine: Engine) -> None:
    with pytest.raises(ValidationError) as exc:
        await engine.automations.create("app_a", name="n", type="scheduled", schedule="30m")
    assert "in 30m" in str(exc.value) and "every 30m" in str(exc.value)


async def test_validation_lists_every_problem_at_once(engine: Engine) -> None:
    with pytest.raises(ValidationError) as exc:
        await engine.automations.create(
            "app_a",
            name="",
            trigger="thread.membr_joined",
            lookup_key="Bad Key",
            metadata={"s": {1}},
            overlap="sometimes",
        )
    assert set(problem_paths(exc)) == {"$.name", "$.trigger", "$.lookup_key", "$.metadata", "$.overlap"}
    with pytest.raises(ValidationError) as exc:
        await engine.automations.create(
            "app_a", name="n", type="scheduled", schedule="30m", timezone="Nowhere/X", catchup="never"
        )
    assert set(problem_paths(exc)) == {"$.timezone", "$.catchup"}
    with pytest.raises(ValidationError) as exc:
        await engine.automations.create("app_a", name="n", type="scheduled", schedule="30m", jitter="-")
    assert set(problem_paths(exc)) == {"$.schedule", "$.jitter"}
    assert await count(engine) == 0


@pytest.mark.parametrize("limit", [0, 101, -1, True])
async def test_page_limits_are_1_to_100(engine: Engine, limit: int) -> None:
    automation = await welcome(engine)
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: engine.automations.runs("app_a", automation.id, limit=limit),
        lambda: engine.automations.list("app_a", limit=limit),
        lambda: engine.configs.list("app_a", limit=limit),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as exc:
            await call()
        assert problem_paths(exc) == ["$.limit"]


async def test_duplicate_lookup_key_is_a_conflict(engine: Engine) -> None:
    first = await welcome(engine, lookup_key="welcome")
    with pytest.raises(ConflictError) as exc:
        await welcome(engine, lookup_key="welcome")
    assert exc.value.code == "conflict"
    assert await count(engine) == 1
    await welcome(engine, "app_b", lookup_key="welcome")  # another app may use it
    second = await welcome(engine, lookup_key="other")
    with pytest.raises(ConflictError):
        await engine.automations.update("app_a", second.id, lookup_key="welcome")
    assert (await engine.automations.get("app_a", second.id)).lookup_key == "other"
    assert (await engine.automations.get("app_a", first.id)).lookup_key == "welcome"


# --- tenancy ----------------------------------------------------------------------------------

Operation = Callable[[Engine, str, str, str], Awaitable[Any]]
FOREIGN_OPERATIONS: dict[str, Operation] = {
    "get": lambda e, aut, run, cfg: e.automations.get("app_b", aut),
    "update": lambda e, aut, run, cfg: e.automations.update("app_b", aut, name="stolen"),
    "delete": lambda e, aut, run, cfg: e.automations.delete("app_b", aut),
    "activate": lambda e, aut, run, cfg: e.automations.activate("app_b", aut),
    "pause": lambda e, aut, run, cfg: e.automations.pause("app_b", aut),
    "reset": lambda e, aut, run, cfg: e.automations.reset("app_b", aut),
    "trigger": lambda e, aut, run, cfg: e.automations.trigger("app_b", aut, JOINED),
    "runs": lambda e, aut, run, cfg: e.automations.runs("app_b", aut),
    "run": lambda e, aut, run, cfg: e.automations.run("app_b", run),
    "cancel_run": lambda e, aut, run, cfg: e.automations.cancel_run("app_b", run),
    "wait_for_run": lambda e, aut, run, cfg: e.wait_for_run("app_b", run, timeout=1),
    "configs.get": lambda e, aut, run, cfg: e.configs.get("app_b", cfg),
    "configs.get version": lambda e, aut, run, cfg: e.configs.get("app_b", cfg, 1),
    "configs.update": lambda e, aut, run, cfg: e.configs.update("app_b", cfg, WELCOME),
    "configs.delete": lambda e, aut, run, cfg: e.configs.delete("app_b", cfg),
}


@pytest.mark.parametrize("operation", sorted(FOREIGN_OPERATIONS))
async def test_another_apps_ids_are_not_found(engine: Engine, operation: str) -> None:
    automation = await welcome(engine, name="Secret Sauce", enabled=True)
    published = await engine.publish("app_a", "thread.member_joined", JOINED)
    run = await engine.wait_for_run("app_a", published.run_ids[0], timeout=5)
    before = (await engine.automations.get("app_a", automation.id)).automation.to_dict()
    with pytest.raises(NotFoundError) as exc:
        await FOREIGN_OPERATIONS[operation](engine, automation.id, run.id, automation.config_id or "")
    assert exc.value.code == "not_found"
    assert "Secret" not in str(exc.value) and "app_a" not in str(exc.value)
    assert (await engine.automations.get("app_a", automation.id)).automation.to_dict() == before
    assert (await engine.configs.get("app_a", automation.config_id or "")).version == 1
    assert (await engine.automations.run("app_a", run.id)).status == "completed"
    assert (await engine.automations.list("app_b")).data == []
    assert (await engine.configs.list("app_b")).data == []


# --- activation -------------------------------------------------------------------------------


async def assert_unchanged(engine: Engine, automation: graphflow.Automation) -> None:
    stored = (await engine.automations.get("app_a", automation.id)).automation
    assert (stored.status, stored.revision, stored.updated_at) == (
        automation.status,
        automation.revision,
        automation.updated_at,
    )
    assert automation.id not in {a.id for a in engine.index.matches("app_a", automation.event)}
    assert engine.scheduler.due_at(automation.id) is None


async def test_activation_needs_a_config(engine: Engine) -> None:
    automation = await engine.automations.create("app_a", name="W", trigger="thread.member_joined")
    with pytest.raises(ValidationError) as exc:
        await engine.automations.activate("app_a", automation.id)
    assert problem_paths(exc) == ["$.config_id"]
    await assert_unchanged(engine, automation)


@pytest.mark.parametrize("enabled", [False, True])
@pytest.mark.parametrize("config_id", ["missing", "foreign"])
async def test_an_automation_can_only_name_a_config_of_its_own_app(
    engine: Engine, config_id: str, enabled: bool
) -> None:
    foreign = await engine.configs.create("app_b", WELCOME)
    cfg = foreign.id if config_id == "foreign" else new_id("cfg_")
    fields = {"name": "W", "trigger": "thread.member_joined", "enabled": enabled}
    with pytest.raises(NotFoundError, match=cfg):
        await engine.automations.create("app_a", fields, config_id=cfg)
    assert (await engine.automations.list("app_a")).data == []
    own = await engine.configs.create("app_a", WELCOME)
    automation = await engine.automations.create("app_a", fields, config_id=own.id)
    with pytest.raises(NotFoundError, match=cfg):
        await engine.automations.update("app_a", automation.id, config_id=cfg)
    stored = (await engine.automations.get("app_a", automation.id)).automation
    assert (stored.config_id, stored.revision) == (own.id, automation.revision)


async def test_activation_needs_a_trigger_node_for_the_event(engine: Engine, examples_dir: Path) -> None:
    sample = await engine.configs.create("app_a", examples_dir / "archastro-sample.json")
    automation = await engine.automations.create("app_a", name="W", trigger="thread.member_joined", config_id=sample.id)
    with pytest.raises(ValidationError) as exc:
        await engine.automations.activate("app_a", automation.id)
    assert problem_paths(exc) == ["$.config_id"]
    text = str(exc.value)
    assert "thread.member_joined" in text and "trigger_1 (workflow.scheduled)" in text
    await assert_unchanged(engine, automation)


async def test_scheduled_and_invoked_automations_need_their_own_trigger_nodes(engine: Engine) -> None:
    welcome_cfg = await engine.configs.create("app_a", WELCOME)
    scheduled = await engine.automations.create(
        "app_a", name="S", type="scheduled", schedule="0 9 * * *", config_id=welcome_cfg.id
    )
    invoked = await engine.automations.create("app_a", name="I", type="invoked", config_id=welcome_cfg.id)
    for automation, event in ((scheduled, "workflow.scheduled"), (invoked, "workflow.invoked")):
        with pytest.raises(ValidationError, match=event):
            await engine.automations.activate("app_a", automation.id)
        await assert_unchanged(engine, automation)
    invoked_cfg = await engine.configs.create("app_a", INVOKED)
    await engine.automations.update("app_a", invoked.id, config_id=invoked_cfg.id)
    assert (await engine.automations.activate("app_a", invoked.id)).status == "running"


# --- update -----------------------------------------------------------------------------------

UPDATES: dict[str, tuple[str, Any, Any]] = {
    # field: (automation kind, new value, expected stored value)
    "name": ("trigger", "Renamed", "Renamed"),
    "description": ("trigger", "new words", "new words"),
    "trigger": ("trigger", "thread.member_left", "thread.member_left"),
    "run_as_user_id": ("trigger", "usr_2", "usr_2"),
    "lookup_key": ("trigger", "new-key", "new-key"),
    "metadata": ("trigger", {"a": [1, 2]}, {"a": [1, 2]}),
    "overlap": ("trigger", "allow", "allow"),
    "schedule": ("scheduled", "every monday at 9am", "0 9 * * 1"),
    "timezone": ("scheduled", "Europe/Paris", "Europe/Paris"),
    "repeat": ("scheduled", {"times": 4}, {"times": 4, "completed": 0}),
    "catchup": ("scheduled", "none", "none"),
    "misfire_grace": ("scheduled", "2m", 120.0),
    "max_catchup_runs": ("scheduled", 3, 3),
    "jitter": ("scheduled", "10s", 10.0),
}


@pytest.mark.parametrize("field", sorted(UPDATES))
async def test_update_changes_any_create_field(engine: Engine, clock: FakeClock, field: str) -> None:
    kind, value, expected = UPDATES[field]
    automation = await (welcome(engine) if kind == "trigger" else digest(engine))
    await clock.advance(5)
    updated = await engine.automations.update("app_a", automation.id, {field: value})
    stored = (await engine.automations.get("app_a", automation.id)).automation
    assert stored.to_dict()[field] == expected == updated.to_dict()[field]
    assert stored.revision == automation.revision + 1
    assert stored.updated_at == T0 + 5 and stored.created_at == T0


async def test_update_config_id_and_type(engine: Engine) -> None:
    automation = await welcome(engine)
    scheduled_cfg = await engine.configs.create("app_a", SCHEDULED)
    updated = await engine.automations.update(
        "app_a", automation.id, type="scheduled", trigger=None, schedule="every day at 7am", config_id=scheduled_cfg.id
    )
    assert (updated.type, updated.trigger, updated.schedule, updated.schedule_display) == (
        "scheduled",
        None,
        "0 7 * * *",
        "Daily at 7:00 AM",
    )
    assert updated.config_id == scheduled_cfg.id
    activated = await engine.automations.activate("app_a", automation.id)
    assert activated.next_run_at == T0 + 7 * 3600


async def test_update_of_a_running_automation_moves_it_in_the_index(engine: Engine) -> None:
    automation = await welcome(engine, enabled=True)
    left = await engine.configs.create("app_a", gated("thread.member_left"))
    await engine.automations.update("app_a", automation.id, trigger="thread.member_left", config_id=left.id)
    assert await engine.explain("app_a", "thread.member_joined") == []
    assert [a.id for a in await engine.explain("app_a", "thread.member_left")] == [automation.id]
    scheduled_cfg = await engine.configs.create("app_a", SCHEDULED)
    await engine.automations.update(
        "app_a", automation.id, type="scheduled", trigger=None, schedule="0 9 * * *", config_id=scheduled_cfg.id
    )
    assert await engine.explain("app_a", "thread.member_left") == []
    assert engine.scheduler.due_at(automation.id) == T0 + 9 * 3600


async def test_update_validates_and_changes_nothing(engine: Engine) -> None:
    automation = await welcome(engine, enabled=True)
    for bad in ({"trigger": "thread.nope"}, {"name": ""}, {"schedule": "0 9 * * *"}, {"type": "scheduled"}):
        with pytest.raises(ValidationError):
            await engine.automations.update("app_a", automation.id, bad)
    sample = await engine.configs.create("app_a", SCHEDULED)
    with pytest.raises(ValidationError, match="no trigger node"):  # a running automation is re-checked
        await engine.automations.update("app_a", automation.id, config_id=sample.id)
    stored = (await engine.automations.get("app_a", automation.id)).automation
    assert stored.to_dict() == automation.to_dict()
    assert stored.revision == automation.revision


async def test_update_of_a_schedule_recomputes_next_run_and_display(engine: Engine, clock: FakeClock) -> None:
    automation = await digest(engine, enabled=True)
    assert automation.next_run_at == T0 + 9 * 3600
    updated = await engine.automations.update("app_a", automation.id, schedule="every day at 7am")
    assert (updated.schedule, updated.schedule_display) == ("0 7 * * *", "Daily at 7:00 AM")
    assert updated.next_run_at == T0 + 7 * 3600
    assert engine.scheduler.due_at(automation.id) == T0 + 7 * 3600
    zoned = await engine.automations.update("app_a", automation.id, timezone="America/New_York")
    assert zoned.schedule_display == "Daily at 7:00 AM (America/New_York)"
    assert zoned.next_run_at == T0 + 12 * 3600  # 07:00 EST is 12:00Z


async def test_update_of_other_fields_leaves_the_schedule_alone(engine: Engine, clock: FakeClock) -> None:
    automation = await digest(engine, schedule="every 30m", enabled=True)
    assert automation.next_run_at == T0 + 1800
    await clock.advance(600)
    renamed = await engine.automations.update("app_a", automation.id, name="Renamed", metadata={"x": 1})
    assert renamed.next_run_at == T0 + 1800
    assert engine.scheduler.due_at(automation.id) == T0 + 1800


async def test_update_enabled_pauses_and_activates(engine: Engine) -> None:
    automation = await welcome(engine)
    running = await engine.automations.update("app_a", automation.id, enabled=True)
    assert (running.status, running.enabled) == ("running", True)
    paused = await engine.automations.update("app_a", automation.id, {"enabled": False})
    assert (paused.status, paused.enabled) == ("paused", False)
    assert await engine.explain("app_a", "thread.member_joined") == []
    again = await engine.automations.update("app_a", automation.id, enabled=True, name="Back")
    assert (again.status, again.name) == ("running", "Back")
    same = await engine.automations.update("app_a", automation.id, enabled=True)
    assert same.status == "running"


async def test_update_enabled_that_cannot_activate_changes_nothing(engine: Engine) -> None:
    automation = await engine.automations.create("app_a", name="W", trigger="thread.member_joined")
    with pytest.raises(ValidationError):
        await engine.automations.update("app_a", automation.id, name="Renamed", enabled=True)
    stored = (await engine.automations.get("app_a", automation.id)).automation
    assert (stored.name, stored.status, stored.revision) == ("W", "draft", automation.revision)


# --- configs ----------------------------------------------------------------------------------


async def test_config_updates_are_new_versions(engine: Engine) -> None:
    cfg = await engine.configs.create("app_a", WELCOME)
    renamed = {**graphflow.load_graph(WELCOME).to_dict(), "name": "Welcome v2"}
    v2 = await engine.configs.update("app_a", cfg.id, renamed)
    assert (v2.id, v2.version, v2.name) == (cfg.id, 2, "Welcome v2")
    assert (await engine.configs.get("app_a", cfg.id)).version == 2
    assert (await engine.configs.get("app_a", cfg.id, 1)).name == "Welcome New Members"
    with pytest.raises(NotFoundError):
        await engine.configs.get("app_a", cfg.id, 3)
    with pytest.raises(ValidationError):
        await engine.configs.update("app_a", cfg.id, {"kind": "WorkflowGraph", "nodes": []})
    assert (await engine.configs.get("app_a", cfg.id)).version == 2
    page = await engine.configs.list("app_a")
    assert [(c.id, c.version) for c in page.data] == [(cfg.id, 2)]


async def test_config_create_refuses_invalid_graphs(engine: Engine) -> None:
    with pytest.raises(ValidationError):
        await engine.configs.create("app_a", {"kind": "WorkflowGraph", "version": 1, "name": "x", "nodes": []})
    assert (await engine.configs.list("app_a")).data == []


async def test_a_run_keeps_the_config_version_it_started_with(engine: Engine) -> None:
    cfg = await engine.configs.create("app_a", gated("thread.member_joined"))
    automation = await engine.automations.create(
        "app_a", name="W", trigger="thread.member_joined", config_id=cfg.id, enabled=True
    )
    first = (await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids[0]
    await eventually(lambda: _is(engine, first, "running"), "the first run starts")
    await engine.configs.update("app_a", cfg.id, gated("thread.member_joined", gate="second"))
    GATES["main"].set()
    done = await engine.wait_for_run("app_a", first, timeout=5)
    assert (done.status, done.config_version) == ("completed", 1)
    GATES["second"].set()
    second = (await engine.publish("app_a", "thread.member_joined", JOINED)).run_ids[0]
    assert (await engine.wait_for_run("app_a", second, timeout=5)).config_version == 2
    versions = [r.config_version for r in (await engine.automations.runs("app_a", automation.id)).data]
    assert versions == [2, 1]


async def _is(engine: Engine, run_id: str, status: str, app_id: str = "app_a") -> bool:
    return await run_status(engine, app_id, run_id) == status


async def test_config_delete_is_refused_while_used(engine: Engine) -> None:
    automation = await welcome(engine)
    cfg_id = automation.config_id or ""
    with pytest.raises(ConflictError, match=automation.id):
        await engine.configs.delete("app_a", cfg_id)
    assert (await engine.configs.get("app_a", cfg_id)).version == 1
    await engine.automations.delete("app_a", automation.id)
    await engine.configs.delete("app_a", cfg_id)
    with pytest.raises(NotFoundError):
        await engine.configs.get("app_a", cfg_id)


# --- delete -----------------------------------------------------------------------------------


async def make_pending_runs(engine: Engine, automation: graphflow.Automation, how_many: int) -> list[str]:
    """Runs that stay pending: the one worker is held by another automation's gated run."""
    blocker_cfg = await engine.configs.create("app_a", gated("workflow.invoked", gate="blocker"))
    blocker = await engine.automations.create("app_a", name="Blocker", type="invoked", config_id=blocker_cfg.id)
    held = await engine.automations.trigger("app_a", blocker.id)
    await eventually(lambda: _is(engine, held, "running"), "the blocker runs")
    return [await engine.automations.trigger("app_a", automation.id, JOINED) for _ in range(how_many)]


@pytest.mark.parametrize("state", ["draft", "running", "paused"])
async def test_delete_from_any_state_cancels_pending_runs_and_keeps_past_ones(state: str) -> None:
    async with Engine("memory://", clock=FakeClock(), max_concurrent_runs=1) as engine:
        automation = await welcome(engine, lookup_key="welcome")
        past = await engine.automations.trigger("app_a", automation.id, JOINED)
        assert (await engine.wait_for_run("app_a", past, timeout=5)).status == "completed"
        if state != "draft":
            await engine.automations.activate("app_a", automation.id)
        if state == "paused":
            await engine.automations.pause("app_a", automation.id)
        pending = await make_pending_runs(engine, automation, 2)
        await engine.automations.delete("app_a", automation.id)
        with pytest.raises(NotFoundError):
            await engine.automations.get("app_a", automation.id)
        with pytest.raises(NotFoundError):
            await engine.automations.delete("app_a", automation.id)
        assert await engine.explain("app_a", "thread.member_joined") == []
        assert engine.scheduler.due_at(automation.id) is None
        for run_id in pending:
            assert (await engine.automations.run("app_a", run_id)).status == "cancelled"
        assert (await engine.automations.run("app_a", past)).status == "completed"
        GATES["blocker"].set()
        for run_id in pending:
            assert (await engine.wait_for_run("app_a", run_id, timeout=5)).status == "cancelled"
        await welcome(engine, lookup_key="welcome")  # the key is free again


async def test_delete_of_a_scheduled_automation_stops_its_fires(engine: Engine, clock: FakeClock) -> None:
    automation = await digest(engine, enabled=True)
    await engine.automations.delete("app_a", automation.id)
    await clock.set(T0 + 10 * 3600)
    await parked(clock)  # the scheduler handled the jump: whatever it would fire is stored by now
    assert engine.scheduler.due_at(automation.id) is None and len(engine.scheduler) == 0
    fired = await engine.store.list_runs("app_a", automation.id, status=None, cursor=None, limit=10)
    assert fired.data == []


# --- runs -------------------------------------------------------------------------------------


async def stored_runs(engine: Engine, automation: graphflow.Automation, statuses: list[str]) -> list[str]:
    """Finished runs put straight into the store (the engine only executes pending ones)."""
    ids = sorted(new_id("atr_") for _ in statuses)
    runs = [
        AutomationRun(
            id=run_id,
            automation_id=automation.id,
            app_id="app_a",
            trigger="thread.member_joined",
            payload=JOINED,
            status=status,
            config_id=automation.config_id,
            config_version=1,
            created_at=T0,
            updated_at=T0,
        )
        for run_id, status in zip(ids, statuses, strict=True)
    ]
    await engine.store.insert_runs(runs)
    return ids


async def test_runs_are_listed_newest_first_in_pages(engine: Engine) -> None:
    automation = await welcome(engine)
    statuses = ["completed", "completed", "failed"] * 40
    ids = await stored_runs(engine, automation, statuses)
    first = await engine.automations.runs("app_a", automation.id)
    assert len(first.data) == 50 and first.next_cursor is not None
    assert [r.id for r in first.data] == ids[::-1][:50]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await engine.automations.runs("app_a", automation.id, cursor=cursor, limit=100)
        seen.extend(r.id for r in page.data)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids[::-1]
    failed = await engine.automations.runs("app_a", automation.id, status="failed", limit=7)
    assert len(failed.data) == 7 and {r.status for r in failed.data} == {"failed"}
    assert failed.to_dict()["next_cursor"] == failed.next_cursor
    with pytest.raises(ValidationError, match="status"):
        await engine.automations.runs("app_a", automation.id, status="exploded")


async def test_get_returns_the_most_recent_runs(engine: Engine) -> None:
    automation = await welcome(engine)
    ids = await stored_runs(engine, automation, ["completed"] * 15)
    details = await engine.automations.get("app_a", automation.id)
    assert [r.id for r in details.recent_runs] == ids[::-1][:10]
    body = details.to_dict()
    assert body["id"] == automation.id and "journal" not in body["recent_runs"][0]
    assert len((await engine.automations.get("app_a", automation.id, recent_runs=3)).recent_runs) == 3


async def test_list_automations_filters_by_type_in_pages(engine: Engine) -> None:
    trigger = await welcome(engine)
    scheduled = await digest(engine)
    assert [a.id for a in (await engine.automations.list("app_a", type="scheduled")).data] == [scheduled.id]
    assert [a.id for a in (await engine.automations.list("app_a", type="trigger")).data] == [trigger.id]
    first = await engine.automations.list("app_a", limit=1)
    second = await engine.automations.list("app_a", limit=1, cursor=first.next_cursor)
    assert {first.data[0].id, second.data[0].id} == {trigger.id, scheduled.id}
    assert second.next_cursor is None
    with pytest.raises(ValidationError, match=r"\$\.type"):
        await engine.automations.list("app_a", type="cron")


# --- run now ----------------------------------------------------------------------------------


async def test_trigger_runs_now_and_leaves_the_schedule_alone(engine: Engine, clock: FakeClock) -> None:
    automation = await digest(engine, enabled=True)
    await clock.advance(60)
    run_id = await engine.automations.trigger("app_a", automation.id)
    assert run_id.startswith("atr_")
    run = await engine.wait_for_run("app_a", run_id, timeout=5)
    assert run.status == "completed"
    assert (run.trigger, run.payload, run.scheduled_at, run.event_id) == (
        "workflow.scheduled",
        {"scheduled_at": "2026-01-01T00:01:00Z"},
        None,
        None,
    )
    stored = (await engine.automations.get("app_a", automation.id)).automation
    assert stored.next_run_at == automation.next_run_at == engine.scheduler.due_at(automation.id)
    assert stored.repeat.completed == 0
    assert (stored.last_run_status, stored.last_run_at) == ("completed", T0 + 60)


async def test_trigger_of_an_invoked_automation_passes_the_payload(engine: Engine) -> None:
    cfg = await engine.configs.create("app_a", INVOKED)
    automation = await engine.automations.create("app_a", name="I", type="invoked", config_id=cfg.id, enabled=True)
    run = await engine.wait_for_run(
        "app_a", (await engine.automations.invoke("app_a", automation.id, {"n": 2})).id, timeout=5
    )
    assert (run.trigger, run.status, run.result) == (
        "workflow.invoked",
        "completed",
        {"payload": {"n": 2}, "output": []},
    )


async def test_trigger_checks_the_event_payload(engine: Engine) -> None:
    automation = await welcome(engine, enabled=True)
    with pytest.raises(ValidationError, match=r"\$\.payload"):
        await engine.automations.trigger("app_a", automation.id, {"thread_id": 5})
    assert (await engine.automations.runs("app_a", automation.id)).data == []


async def test_trigger_answers_already_running_with_the_elapsed_time(engine: Engine, clock: FakeClock) -> None:
    cfg = await engine.configs.create("app_a", gated("workflow.invoked"))
    automation = await engine.automations.create("app_a", name="Slow", type="invoked", config_id=cfg.id)
    first = await engine.automations.trigger("app_a", automation.id)
    await eventually(lambda: _is(engine, first, "running"), "the first run starts")
    await clock.advance(42)
    with pytest.raises(AlreadyRunningError) as exc:
        await engine.automations.trigger("app_a", automation.id)
    assert exc.value.code == "already_running"
    assert exc.value.details["elapsed"] == pytest.approx(42)
    assert "42.0s" in str(exc.value)
    await engine.automations.update("app_a", automation.id, overlap="allow")
    second = await engine.automations.trigger("app_a", automation.id)
    GATES["main"].set()
    for run_id in (first, second):
        assert (await engine.wait_for_run("app_a", run_id, timeout=5)).status == "completed"


# --- events and cancelling --------------------------------------------------------------------

SEED_EVENTS = {
    "thread.created",
    "thread.deleted",
    "thread.message_added",
    "thread.member_joined",
    "thread.member_left",
    "conversation_session.started",
    "conversation_session.completed",
    "conversation_session.ended",
    "connector.connected",
    "context.ingestion.started",
    "context.ingestion.running",
    "context.ingestion.succeeded",
    "context.ingestion.failed",
    "context.source.paused",
    "context.installation.suspended",
    "credential.created",
    "credential.updated",
    "email.received",
    "email.processed",
    "agent_session.started",
    "agent_session.stopped",
    "agent_session.event_received",
}


async def test_events_lists_every_seed_event_and_no_internal_one(engine: Engine) -> None:
    events = await engine.automations.events("app_a")
    assert {e["name"] for e in events} == SEED_EVENTS
    assert all(e["description"] for e in events)
    described = {e["name"]: e["description"] for e in events}
    assert described["thread.created"] == "A new thread was created"
    assert described["context.source.paused"] == "A context source was auto-paused after consecutive failures"


async def test_cancel_a_pending_run() -> None:
    async with Engine("memory://", clock=FakeClock(), max_concurrent_runs=1) as engine:
        automation = await welcome(engine)
        [pending] = await make_pending_runs(engine, automation, 1)
        cancelled = await engine.automations.cancel_run("app_a", pending)
        assert (cancelled.status, cancelled.result) == ("cancelled", {"error": "run cancelled"})
        GATES["blocker"].set()
        assert (await engine.wait_for_run("app_a", pending, timeout=5)).status == "cancelled"
        assert (await engine.automations.cancel_run("app_a", pending)).status == "cancelled"


async def test_cancel_a_running_run(engine: Engine) -> None:
    cfg = await engine.configs.create("app_a", gated("workflow.invoked"))
    automation = await engine.automations.create("app_a", name="Slow", type="invoked", config_id=cfg.id)
    run_id = await engine.automations.trigger("app_a", automation.id)
    await eventually(lambda: _is(engine, run_id, "running"), "the run starts")
    with anyio.fail_after(5):
        cancelled = await engine.automations.cancel_run("app_a", run_id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert (await engine.automations.get("app_a", automation.id)).last_run_status == "cancelled"
    finished = await engine.automations.trigger("app_a", automation.id)
    GATES["main"].set()
    await engine.wait_for_run("app_a", finished, timeout=5)
    assert (await engine.automations.cancel_run("app_a", finished)).status == "completed"


async def test_errors_carry_stable_codes(engine: Engine) -> None:
    with pytest.raises(GraphflowError) as exc:
        await engine.automations.get("app_a", "aut_nope")
    assert exc.value.to_dict()["error"]["code"] == "not_found"
