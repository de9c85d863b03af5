"""The SDK-shaped operations: ``engine.configs.*`` and ``engine.automations.*``.

They mirror the seed SDK (``client.automations.create(appId, {...})``): every call takes the
``app_id`` first, accepts its fields as a mapping or as keywords, checks everything before
changing anything, and answers "not found" for another app's ids.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphflow.automations.inputs import check_limit, parse_fields
from graphflow.automations.lifecycle import next_status
from graphflow.automations.model import Automation, AutomationRun, ConfigRecord, Page, Repeat
from graphflow.engine.engine import INTERNAL_EVENTS, check_app
from graphflow.events import (
    AutomationActivated,
    AutomationCreated,
    AutomationDeleted,
    AutomationPaused,
    AutomationReset,
    AutomationUpdated,
)
from graphflow.exceptions import (
    AlreadyRunningError,
    ConflictError,
    NotFoundError,
    Problem,
    ValidationError,
)
from graphflow.graph.loader import load_graph
from graphflow.graph.model import WorkflowGraph
from graphflow.graph.validation import require_trigger
from graphflow.ids import new_id

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine

__all__ = ["AutomationDetails", "AutomationService", "ConfigService"]

#: What a config can be created from: a graph, a dict, a path, or JSON/YAML text.
GraphSource = WorkflowGraph | Mapping[str, Any] | str | os.PathLike[str]


class ConfigService:
    """WorkflowGraph configs (``cfg_…``), versioned: each update stores a new version."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def create(self, app_id: str, source: GraphSource) -> ConfigRecord:
        """Validate a graph (a graph, dict, path, or JSON/YAML text) and store it as version 1.

        Raises:
            ValidationError: the graph is not valid; nothing is stored.
        """
        check_app(app_id)
        graph = load_graph(source if not isinstance(source, Path) else str(source))
        now = self._engine.clock.now()
        record = ConfigRecord(new_id("cfg_"), app_id, 1, graph.name, graph.to_dict(), now, now)
        await self._engine.store.put_config(record)
        return record

    async def get(self, app_id: str, config_id: str, version: int | None = None) -> ConfigRecord:
        """Return a config (its latest version unless ``version`` is given).

        Raises:
            NotFoundError: no such config (or version) in this app.
        """
        record = await self._engine.store.get_config(app_id, config_id, version)
        if record is None:
            raise NotFoundError("config", config_id)
        return record

    async def list(self, app_id: str, *, cursor: str | None = None, limit: int = 50) -> Page:
        """The app's configs (latest versions), newest first."""
        return await self._engine.store.list_configs(app_id, cursor=cursor, limit=check_limit(limit))

    async def update(self, app_id: str, config_id: str, source: GraphSource) -> ConfigRecord:
        """Store a new version; runs already started keep the version they started with.

        Raises:
            NotFoundError: no such config in this app.
            ValidationError: the new graph is not valid; nothing changes.
        """
        current = await self.get(app_id, config_id)
        graph = load_graph(source)
        now = self._engine.clock.now()
        record = ConfigRecord(config_id, app_id, current.version + 1, graph.name, graph.to_dict(),
                              current.created_at, now)
        await self._engine.store.put_config(record)
        return record

    async def delete(self, app_id: str, config_id: str) -> None:
        """Delete a config and its versions.

        Raises:
            NotFoundError: no such config in this app.
            ConflictError: an automation still uses it.
        """
        await self.get(app_id, config_id)
        cursor: str | None = None
        while True:
            page = await self._engine.store.list_automations(app_id, type=None, cursor=cursor, limit=100)
            users = [a.id for a in page.data if a.config_id == config_id]
            if users:
                raise ConflictError(f"config {config_id!r} is used by automation {users[0]!r}; "
                                    "point it at another config or delete it first")
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        await self._engine.store.delete_config(app_id, config_id)


class AutomationDetails:
    """An automation with its most recent runs (what ``automations.get`` returns)."""

    def __init__(self, automation: Automation, recent_runs: list[AutomationRun]) -> None:
        self.automation = automation
        self.recent_runs = recent_runs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.automation, name)

    def to_dict(self) -> dict[str, Any]:
        """The API shape: the automation's fields plus ``recent_runs`` (without journals)."""
        return {**self.automation.to_dict(), "recent_runs": [r.to_dict(journal=False) for r in self.recent_runs]}


class AutomationService:
    """Automations (``aut_…``): create, list, get, update, delete, activate, pause, reset, trigger."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _load(self, app_id: str, automation_id: str) -> Automation:
        automation = await self._engine.store.get_automation(app_id, automation_id)
        if automation is None:
            raise NotFoundError("automation", automation_id)
        return automation

    async def create(self, app_id: str, data: Mapping[str, Any] | None = None, **fields: Any) -> Automation:
        """Create an automation in ``draft`` (``enabled=True`` creates and activates it at once).

        Raises:
            ValidationError: a field is invalid (every problem is listed); nothing is stored.
            ConflictError: ``lookup_key`` is already used in this app.
        """
        engine = self._engine
        check_app(app_id)
        values = parse_fields({**(data or {}), **fields}, partial=False, extra=self._field_problems)
        schedule = self._schedule(values)
        enabled = values.pop("enabled")
        now = engine.clock.now()
        repeat = values.pop("repeat")
        automation = Automation(
            id=new_id("aut_"), app_id=app_id, status="draft", created_at=now, updated_at=now,
            repeat=Repeat(times=repeat["times"]), **values,
        )
        self._apply_schedule(automation, schedule)
        if enabled:
            await self._check_activation(automation)
        await engine.store.insert_automation(automation)
        engine.announce(AutomationCreated(at=now, app_id=app_id, automation_id=automation.id))
        if enabled:
            return await self.activate(app_id, automation.id)
        return automation

    async def list(self, app_id: str, *, type: str | None = None, cursor: str | None = None, limit: int = 50) -> Page:
        """The app's automations, newest first, optionally of one ``type``.

        Raises:
            ValidationError: unknown ``type`` or ``limit`` outside 1-100.
        """
        if type is not None and type not in ("trigger", "scheduled", "invoked"):
            raise ValidationError([Problem("$.type", f"unknown type {type!r}; use trigger, scheduled or invoked")],
                                  subject="request")
        return await self._engine.store.list_automations(app_id, type=type, cursor=cursor, limit=check_limit(limit))

    async def get(self, app_id: str, automation_id: str, *, recent_runs: int = 10) -> AutomationDetails:
        """An automation with its ``recent_runs`` newest runs.

        Raises:
            NotFoundError: no such automation in this app.
        """
        automation = await self._load(app_id, automation_id)
        page = await self._engine.store.list_runs(app_id, automation_id, status=None, cursor=None,
                                                  limit=check_limit(recent_runs))
        return AutomationDetails(automation, page.data)

    async def update(self, app_id: str, automation_id: str, data: Mapping[str, Any] | None = None,
                     **fields: Any) -> Automation:
        """Change any create field.

        ``enabled`` pauses or activates; a new schedule recomputes ``next_run_at`` and the
        display. A running automation is re-checked as on activation.

        Raises:
            NotFoundError, ValidationError, ConflictError, InvalidTransitionError.
        """
        engine = self._engine
        changes = {**(data or {}), **fields}
        automation = await self._load(app_id, automation_id)
        base = {
            "name": automation.name, "type": automation.type, "description": automation.description,
            "trigger": automation.trigger, "schedule": automation.schedule, "timezone": automation.timezone,
            "config_id": automation.config_id, "run_as_user_id": automation.run_as_user_id,
            "lookup_key": automation.lookup_key, "metadata": automation.metadata,
            "repeat": {"times": automation.repeat.times}, "overlap": automation.overlap,
            "catchup": automation.catchup, "misfire_grace": automation.misfire_grace,
            "max_catchup_runs": automation.max_catchup_runs, "jitter": automation.jitter,
        }
        values = parse_fields(changes, partial=True, base=base,
                              extra=lambda v, failed: self._field_problems(v, failed, changed=changes))
        enabled = values.pop("enabled", None)
        merged = {**base, **values}
        schedule_changed = any(k in values for k in ("schedule", "timezone", "type"))
        schedule = self._schedule(merged) if schedule_changed else None
        revision = automation.revision
        for key, value in values.items():
            if key == "repeat":
                automation.repeat = Repeat(times=value["times"], completed=automation.repeat.completed)
            else:
                setattr(automation, key, value)
        if schedule_changed:
            self._apply_schedule(automation, schedule)
        if automation.status == "running":
            await self._check_activation(automation)
            if schedule_changed and schedule is not None:
                automation.next_run_at = engine.scheduler.first_fire(automation)
        elif enabled is True:
            await self._check_activation(automation)  # before saving: a refused update changes nothing
        automation.updated_at = engine.clock.now()
        automation.revision += 1
        await engine.store.update_automation(automation, expected_revision=revision)
        engine._track(automation)
        engine.announce(AutomationUpdated(at=automation.updated_at, app_id=app_id, automation_id=automation_id))
        if enabled is True and automation.status != "running":
            return await self.activate(app_id, automation_id)
        if enabled is False and automation.status == "running":
            return await self.pause(app_id, automation_id)
        return automation

    async def delete(self, app_id: str, automation_id: str) -> None:
        """Delete at once from any state: no more runs, pending runs cancelled, past runs kept.

        Raises:
            NotFoundError: no such automation in this app.
        """
        engine = self._engine
        await self._load(app_id, automation_id)
        engine._untrack(automation_id)
        await engine.store.delete_automation(app_id, automation_id)
        await engine._cancel_pending(app_id, automation_id)
        engine.announce(AutomationDeleted(at=engine.clock.now(), app_id=app_id, automation_id=automation_id))

    async def activate(self, app_id: str, automation_id: str) -> Automation:
        """``draft``/``paused`` → ``running``, after checking its config has a matching trigger node.

        Scheduled automations compute their next fire from now (a paused backlog is not replayed).

        Raises:
            NotFoundError, InvalidTransitionError, ValidationError (missing, invalid or mismatched config).
        """
        engine = self._engine
        automation = await self._load(app_id, automation_id)
        automation.status = next_status(automation_id, automation.status, "activate")
        await self._check_activation(automation)
        automation.paused_reason = None
        if automation.type == "scheduled":
            automation.next_run_at = engine.scheduler.first_fire(automation)
        await self._save(automation)
        engine.announce(AutomationActivated(at=automation.updated_at, app_id=app_id, automation_id=automation_id))
        return automation

    async def pause(self, app_id: str, automation_id: str, reason: str | None = None) -> Automation:
        """``running`` → ``paused``: events are ignored, scheduled fires and pending runs cancelled.

        Raises:
            NotFoundError, InvalidTransitionError.
        """
        engine = self._engine
        automation = await self._load(app_id, automation_id)
        automation.status = next_status(automation_id, automation.status, "pause")
        automation.paused_reason = reason
        automation.next_run_at = None
        await self._save(automation)
        engine.buffered.pop(automation_id, None)
        await engine._cancel_pending(app_id, automation_id)
        engine.announce(AutomationPaused(at=automation.updated_at, app_id=app_id, automation_id=automation_id,
                                         reason=reason))
        return automation

    async def reset(self, app_id: str, automation_id: str) -> Automation:
        """``paused`` → ``draft``.

        Raises:
            NotFoundError, InvalidTransitionError.
        """
        automation = await self._load(app_id, automation_id)
        automation.status = next_status(automation_id, automation.status, "reset")
        automation.paused_reason = None
        automation.repeat = Repeat(times=automation.repeat.times)
        await self._save(automation)
        self._engine.announce(AutomationReset(at=automation.updated_at, app_id=app_id, automation_id=automation_id))
        return automation

    async def trigger(self, app_id: str, automation_id: str, payload: Any = None) -> str:
        """Run now: start a run at once and return its id; the schedule is left alone.

        Scheduled automations get ``{"scheduled_at": now}``; invoked ones ``payload``; trigger
        automations ``payload`` as their event's payload (checked against its schema).

        Raises:
            NotFoundError, AlreadyRunningError (overlap ``skip`` and a run is executing),
            ValidationError (no config, or a payload that fails the event schema).
        """
        engine = self._engine
        automation = await self._load(app_id, automation_id)
        if automation.config_id is None:
            raise ValidationError([Problem("$.config_id", "the automation has no config_id to run")],
                                  subject=f"automation {automation_id!r}")
        now = engine.clock.now()
        if automation.overlap == "skip" and engine.running.get(automation_id):
            started = min(engine.running[automation_id].values())
            raise AlreadyRunningError(automation_id, now - started)
        if automation.type == "scheduled":
            body: Any = {"scheduled_at": _iso(now)}
        else:
            body = payload if payload is not None else {}
            if automation.type == "trigger":
                engine.catalogue.validate(automation.event, body)
        run = AutomationRun(
            id=new_id("atr_"), automation_id=automation_id, app_id=app_id, trigger=automation.event,
            payload=body, status="pending", config_id=automation.config_id, config_version=None,
            created_at=now, updated_at=now, run_as_user_id=automation.run_as_user_id,
        )
        await engine.store.insert_runs([run])
        engine._enqueue(run)
        return run.id

    invoke = trigger

    async def events(self, app_id: str) -> builtins.list[dict[str, Any]]:
        """The events trigger automations can listen for: ``[{name, description}, ...]``."""
        return [{"name": e.name, "description": e.description, "category": e.category}
                for e in self._engine.catalogue.list() if not (e.internal or e.name in INTERNAL_EVENTS)]

    async def runs(self, app_id: str, automation_id: str, *, status: str | None = None,
                   cursor: str | None = None, limit: int = 50) -> Page:
        """An automation's runs, newest first (``limit`` 1-100, default 50).

        Raises:
            NotFoundError, ValidationError (bad status or limit).
        """
        if status is not None and status not in ("pending", "running", "completed", "failed", "cancelled"):
            raise ValidationError([Problem("$.status", f"unknown run status {status!r}")], subject="request")
        check_limit(limit)
        await self._load(app_id, automation_id)
        return await self._engine.store.list_runs(app_id, automation_id, status=status, cursor=cursor, limit=limit)

    async def run(self, app_id: str, run_id: str) -> AutomationRun:
        """One run, with its journal.

        Raises:
            NotFoundError: no such run in this app.
        """
        run = await self._engine.store.get_run(app_id, run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        return run

    async def cancel_run(self, app_id: str, run_id: str) -> AutomationRun:
        """Cancel a pending or executing run (see :meth:`Engine.cancel_run`)."""
        return await self._engine.cancel_run(app_id, run_id)

    # -- helpers ---------------------------------------------------------------------------

    async def _save(self, automation: Automation) -> None:
        engine = self._engine
        revision = automation.revision
        automation.revision += 1
        automation.updated_at = engine.clock.now()
        await engine.store.update_automation(automation, expected_revision=revision)
        engine._track(automation)

    def _field_problems(self, values: Mapping[str, Any], failed: frozenset[str],
                        changed: Mapping[str, Any] | None = None) -> builtins.list[Problem]:
        """The checks ``parse_fields`` cannot make alone: the event exists and is public, the schedule parses.

        On update (``changed`` given) only what changes is checked again: a one-shot that has
        fired must stay renamable although its instant is now in the past.
        """
        problems: builtins.list[Problem] = []
        kind = values.get("type")
        if "type" in failed:
            return problems

        def touched(*keys: str) -> bool:
            return changed is None or any(key in changed for key in keys)

        if kind == "trigger" and values.get("trigger") and "trigger" not in failed and touched("trigger", "type"):
            try:
                event = self._engine.catalogue.get(values["trigger"])
            except ValidationError as exc:
                problems.extend(exc.problems)
            else:
                if event.internal or event.name in INTERNAL_EVENTS:
                    problems.append(Problem("$.trigger", f"{event.name!r} is internal: graphflow fires it itself",
                                            "use type 'scheduled' for schedules, 'invoked' for direct calls"))
        if (kind == "scheduled" and values.get("schedule") and not failed & {"schedule", "timezone"}
                and touched("schedule", "timezone", "type")):
            try:
                self._schedule(values)
            except ValidationError as exc:
                problems.extend(exc.problems)
        return problems

    def _schedule(self, values: Mapping[str, Any]) -> Any:
        """The parsed schedule of a scheduled automation (``None`` for other types).

        Raises:
            ValidationError: with path ``$.schedule`` or ``$.timezone``.
        """
        if values.get("type") != "scheduled":
            return None
        from graphflow.triggers.schedules import parse_schedule

        return parse_schedule(values["schedule"], timezone=values.get("timezone") or "UTC",
                              now=datetime.fromtimestamp(self._engine.clock.now(), UTC))

    @staticmethod
    def _apply_schedule(automation: Automation, schedule: Any) -> None:
        if schedule is None:
            automation.schedule_kind = automation.schedule_display = None
            automation.next_run_at = None
            return
        automation.schedule = schedule.expression
        automation.schedule_kind = schedule.kind
        automation.schedule_display = schedule.display
        automation.timezone = schedule.timezone

    async def _check_activation(self, automation: Automation) -> None:
        if automation.config_id is None:
            raise ValidationError([Problem("$.config_id", "activation needs a config_id",
                                           "create a config with engine.configs.create() and set config_id")],
                                  subject=f"automation {automation.id!r}")
        try:
            graph, _ = await self._engine.graph_for(automation.app_id, automation.config_id)
        except NotFoundError:
            raise ValidationError([Problem("$.config_id", f"config {automation.config_id!r} not found in this app")],
                                  subject=f"automation {automation.id!r}") from None
        try:
            require_trigger(graph, automation.event)
        except ValidationError as exc:
            raise ValidationError([Problem("$.config_id", p.message, p.hint) for p in exc.problems],
                                  subject=f"automation {automation.id!r}") from None
        if automation.type == "scheduled" and self._engine.scheduler.first_fire(automation) is None:
            raise ValidationError([Problem("$.schedule", f"the schedule {automation.schedule!r} will not fire again",
                                           "set a new schedule, e.g. 'in 30m' or '0 9 * * *'")],
                                  subject=f"automation {automation.id!r}")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
