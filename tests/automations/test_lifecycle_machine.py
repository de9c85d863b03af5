"""The automation lifecycle as a hypothesis state machine against the seed diagram.

The model is the diagram itself: ``draft → running`` (activate), ``running → paused`` (pause),
``paused → running`` (activate), ``paused → draft`` (reset), delete from any state. Hypothesis
drives a real engine (on a FakeClock, through an AnyIO blocking portal) with every operation
from every state; an illegal move must raise ``invalid_transition`` naming the allowed moves and
change nothing, and the engine's index and scheduler must hold an automation iff it is running.
"""

from __future__ import annotations

import functools
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from graphflow.automations.lifecycle import TRANSITIONS, allowed_actions, next_status
from graphflow.clock import FakeClock
from graphflow.engine.engine import Engine
from graphflow.exceptions import InvalidTransitionError, NotFoundError
from graphflow.records import Automation
from tests.conftest import graph_dict

WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"
SCHEDULED = graph_dict({"kind": "WorkflowScript", "id": "s", "source": "$"}, trigger="workflow.scheduled")
JOINED = {"thread_id": "thr_1", "user_id": "usr_9"}
APP = "app_lc"

#: The seed diagram, written out independently of graphflow's table.
DIAGRAM = {
    ("draft", "activate"): "running",
    ("running", "pause"): "paused",
    ("paused", "activate"): "running",
    ("paused", "reset"): "draft",
}


def test_the_transition_table_is_the_seed_diagram() -> None:
    assert TRANSITIONS == DIAGRAM
    assert allowed_actions("draft") == ["activate", "delete"]
    assert allowed_actions("running") == ["pause", "delete"]
    assert allowed_actions("paused") == ["activate", "reset", "delete"]
    with pytest.raises(InvalidTransitionError) as exc:
        next_status("aut_1", "running", "reset")
    assert exc.value.code == "invalid_transition"
    assert str(exc.value) == "cannot reset automation 'aut_1': it is 'running'; allowed from 'running': pause, delete"


class Lifecycle(RuleBasedStateMachine):
    """Every lifecycle operation from every state, checked against the diagram."""

    automations = Bundle("automations")

    def __init__(self) -> None:
        super().__init__()
        self.stack = ExitStack()
        self.portal: BlockingPortal = self.stack.enter_context(start_blocking_portal("asyncio"))
        self.clock = FakeClock()
        self.engine = Engine("memory://", clock=self.clock)
        self.stack.enter_context(self.portal.wrap_async_context_manager(self.engine))
        self.status: dict[str, str] = {}  # the model: automation id → status
        self.kind: dict[str, str] = {}
        self.deleted: list[str] = []
        self.configs = {
            "trigger": self.call(self.engine.configs.create, APP, WELCOME).id,
            "scheduled": self.call(self.engine.configs.create, APP, SCHEDULED).id,
        }

    def teardown(self) -> None:
        self.stack.close()

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.portal.call(functools.partial(fn, *args, **kwargs))

    def stored(self, automation_id: str) -> Automation:
        return self.call(self.engine.automations.get, APP, automation_id).automation

    def tick(self) -> None:
        """Move the clock a second, so a write that should not happen would show in ``updated_at``."""
        self.call(self.clock.advance, 1)

    # -- creating ---------------------------------------------------------------------------

    @initialize(target=automations, kind=st.sampled_from(["trigger", "scheduled"]))
    def first(self, kind: str) -> str:
        return self.create(kind)

    @rule(target=automations, kind=st.sampled_from(["trigger", "scheduled"]))
    def create(self, kind: str) -> str:
        fields: dict[str, Any] = {"trigger": "thread.member_joined"} if kind == "trigger" else {"schedule": "0 9 * * *"}
        created = self.call(
            self.engine.automations.create, APP, name=kind, type=kind, config_id=self.configs[kind], **fields
        )
        assert created.status == "draft"
        self.status[created.id] = "draft"
        self.kind[created.id] = kind
        return created.id

    # -- moving -----------------------------------------------------------------------------

    def move(self, automation_id: str, action: str, *args: Any) -> None:
        self.tick()
        current = self.status[automation_id]
        expected = DIAGRAM.get((current, action))
        before = self.stored(automation_id)
        if expected is None:
            with pytest.raises(InvalidTransitionError) as exc:
                self.call(getattr(self.engine.automations, action), APP, automation_id, *args)
            allowed = [a for (state, a) in DIAGRAM if state == current] + ["delete"]
            assert exc.value.code == "invalid_transition"
            assert exc.value.details == {"current": current, "action": action, "allowed": allowed}
            assert all(move in str(exc.value) for move in allowed)
            after = self.stored(automation_id)
            assert (after.status, after.revision, after.updated_at) == (
                before.status,
                before.revision,
                before.updated_at,
            )
            return
        moved = self.call(getattr(self.engine.automations, action), APP, automation_id, *args)
        assert moved.status == expected
        assert moved.revision > before.revision and moved.updated_at == self.clock.now()
        self.status[automation_id] = expected

    @rule(automation=automations)
    def activate(self, automation: str) -> None:
        self.move(automation, "activate")

    @rule(automation=automations, reason=st.sampled_from([None, "maintenance"]))
    def pause(self, automation: str, reason: str | None) -> None:
        was = self.status[automation]
        self.move(automation, "pause", reason)
        if was == "running":
            assert self.stored(automation).paused_reason == reason

    @rule(automation=automations)
    def reset(self, automation: str) -> None:
        self.move(automation, "reset")

    @rule(automation=consumes(automations))
    def delete(self, automation: str) -> None:
        self.tick()
        self.call(self.engine.automations.delete, APP, automation)
        self.deleted.append(automation)
        self.status.pop(automation)

    @precondition(lambda self: self.deleted)
    @rule(
        data=st.data(),
        action=st.sampled_from(["activate", "pause", "reset", "delete", "update", "trigger", "get", "runs"]),
    )
    def poke_deleted(self, data: st.DataObject, action: str) -> None:
        """Every operation on a deleted automation answers not found."""
        automation = data.draw(st.sampled_from(self.deleted))
        with pytest.raises(NotFoundError):
            self.call(getattr(self.engine.automations, action), APP, automation)

    @rule(automation=automations, name=st.text(alphabet="abcxyz ", min_size=1, max_size=8).filter(str.strip))
    def update(self, automation: str, name: str) -> None:
        self.tick()
        before = self.stored(automation)
        updated = self.call(self.engine.automations.update, APP, automation, name=name)
        assert (updated.name, updated.status) == (name.strip(), before.status)
        assert updated.revision == before.revision + 1

    @rule(automation=automations, enabled=st.booleans())
    def update_enabled(self, automation: str, enabled: bool) -> None:
        self.tick()
        current = self.status[automation]
        updated = self.call(self.engine.automations.update, APP, automation, enabled=enabled)
        if enabled:
            expected = "running"  # activates; a no-op when already running
        elif current == "running":
            expected = "paused"
        else:
            expected = current  # enabled=False leaves a draft or paused automation alone
        assert updated.status == expected
        self.status[automation] = expected

    @rule(automation=automations)
    def trigger(self, automation: str) -> None:
        """Run now: a run that completes, from any state, and the status does not move."""
        self.tick()
        before = self.stored(automation)
        run_id = self.call(
            self.engine.automations.trigger, APP, automation, JOINED if before.type == "trigger" else None
        )
        run = self.call(self.engine.wait_for_run, APP, run_id, 5)
        assert run.status == "completed"
        assert self.stored(automation).status == before.status

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def engine_matches_the_model(self) -> None:
        index = self.engine.index
        scheduler = self.engine.scheduler
        for automation_id, status in self.status.items():
            stored = self.stored(automation_id)
            assert stored.status == status
            assert stored.enabled == (status == "running")
            indexed = automation_id in {a.id for a in index.matches(APP, "thread.member_joined")}
            assert indexed == (status == "running" and stored.type == "trigger")
            tracked = scheduler.due_at(automation_id) is not None
            assert tracked == (status == "running" and stored.type == "scheduled")
            assert (stored.next_run_at is not None) == tracked
        for automation_id in self.deleted:
            with pytest.raises(NotFoundError):
                self.stored(automation_id)
            assert scheduler.due_at(automation_id) is None
        running = [a for a, status in self.status.items() if status == "running"]
        assert len(index) == sum(self.kind[a] == "trigger" for a in running)
        assert len(scheduler) == sum(self.kind[a] == "scheduled" for a in running)


Lifecycle.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = Lifecycle.TestCase
