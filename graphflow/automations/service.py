"""The SDK-shaped automation operations: ``engine.automations.*`` (configs: :mod:`~graphflow.automations.configs`).

They mirror the seed SDK (``client.automations.create(appId, {...})``): every call takes the
``app_id`` first, accepts its fields as a mapping or as keywords, checks everything before
changing anything, and answers "not found" for another app's ids.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from graphflow.automations.inputs import check_limit, check_page, parse_fields
from graphflow.automations.lifecycle import next_status
from graphflow.automations.sinks import callback_problems, reach_problems, restore_secrets
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
    InvalidTransitionError,
    NotFoundError,
    Problem,
    StoreError,
    ValidationError,
)
from graphflow.graph.validation import require_trigger
from graphflow.ids import RESERVED_EVENT_ID_PREFIX, check_app, check_id, new_id
from graphflow.records import Automation, AutomationRun, AutomationStatus, Page, Repeat, RunStatus
from graphflow.stores.base import encode_json
from graphflow.triggers.catalogue import INTERNAL_EVENTS, PayloadSchema

if TYPE_CHECKING:
    from graphflow.automations.host import ServiceHost

__all__ = ["AutomationDetails", "AutomationService"]

#: A batch's verdicts on configs: (config id, event) → the problems (none: it can run).
_Verdicts = dict[tuple[str | None, str], list[Problem]]


@dataclass(frozen=True, slots=True)
class AutomationDetails:
    """An automation with its most recent runs (what ``automations.get`` returns).

    The properties below read the automation fields callers look at most; every other field is
    read through :attr:`automation`.

    Attributes:
        automation: the stored automation.
        recent_runs: its most recent runs, newest first (without journals in :meth:`to_dict`).
    """

    automation: Automation
    recent_runs: list[AutomationRun]

    @property
    def id(self) -> str:
        """The automation's id."""
        return self.automation.id

    @property
    def name(self) -> str:
        """The automation's name."""
        return self.automation.name

    @property
    def status(self) -> AutomationStatus:
        """``draft``, ``running`` or ``paused``."""
        return self.automation.status

    @property
    def paused_reason(self) -> str | None:
        """Why it is paused (``"completed"`` when its schedule ran out), if it is."""
        return self.automation.paused_reason

    @property
    def lookup_key(self) -> str | None:
        """The host's own key for the automation, if it set one."""
        return self.automation.lookup_key

    @property
    def last_run_status(self) -> RunStatus | None:
        """How its last run ended (``None``: it has not run)."""
        return self.automation.last_run_status

    @property
    def next_run_at(self) -> float | None:
        """Its next scheduled fire (UNIX seconds), if any."""
        return self.automation.next_run_at

    def to_dict(self) -> dict[str, Any]:
        """The API shape: the automation's fields plus ``recent_runs`` (without journals)."""
        return {**self.automation.to_dict(), "recent_runs": [r.to_dict(journal=False) for r in self.recent_runs]}


class AutomationService:
    """Automations (``aut_…``): create, list, get, update, delete, activate, pause, reset, trigger."""

    def __init__(self, host: ServiceHost) -> None:
        self._host = host
        self._schemas: dict[str, PayloadSchema] = {}

    async def _load(self, app_id: str, automation_id: str) -> Automation:
        check_app(app_id)
        check_id("automation", automation_id)
        automation = await self._host.store.get_automation(app_id, automation_id)
        if automation is None:
            raise NotFoundError("automation", automation_id)
        return automation

    async def create(self, app_id: str, data: Mapping[str, Any] | None = None, **fields: Any) -> Automation:
        """Create an automation in ``draft`` (``enabled=True`` creates and activates it at once).

        With ``enabled=True`` the activation checks run first and the automation is stored
        ``running`` in one write; ``AutomationCreated`` then ``AutomationActivated`` are announced.

        Raises:
            ValidationError: a field is invalid (every problem is listed), or ``enabled=True``
                and activation is refused; nothing is stored.
            NotFoundError: ``config_id`` is not one of this app's configs.
            ConflictError: ``lookup_key`` is already used in this app.
        """
        host = self._host
        check_app(app_id)
        automation = self._build(app_id, {**(data or {}), **fields}, host.clock.now())
        if automation.status == "running":
            self._activate_new(automation, await self._config_problems(automation, missing=NotFoundError))
        else:
            await self._require_config(app_id, automation.config_id)
        await host.store.insert_automation(automation)
        self._created(automation)
        return automation

    async def create_many(self, app_id: str, items: Iterable[Mapping[str, Any]]) -> builtins.list[Automation]:
        """Create many automations of one app: all of them, or none.

        Each item holds the fields :meth:`create` takes. Everything is checked before anything is
        stored: the fields of every item (one ``ValidationError`` lists every problem, at paths
        such as ``$[3].schedule``), then the activation of the ``enabled`` items (each distinct
        config is loaded once), then ``lookup_key`` uniqueness among the items and in the app.
        The automations are returned in the order of ``items``; each announces what
        :meth:`create` announces. The bulk path to registering many automations: it skips the
        per-call config load and is a few times faster per automation than :meth:`create`.

        If the store refuses an item while storing (another process took its ``lookup_key``
        meanwhile), the automations this call already stored are deleted again and the error
        is raised.

        Raises:
            ValidationError: an item is invalid, names a config that is not the app's own (path
                ``$[i].config_id``), or cannot be activated; nothing is stored.
            ConflictError: a ``lookup_key`` is used twice in ``items`` or already in the app.
        """
        host = self._host
        store = host.store
        check_app(app_id)
        now = host.clock.now()
        automations: builtins.list[Automation] = []
        problems: builtins.list[Problem] = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, Mapping):
                    raise ValidationError(f"an item must be an object of automation fields, not {type(item).__name__}")
                automations.append(self._build(app_id, item, now))
            except ValidationError as exc:
                problems.extend(_item_problem(index, problem) for problem in exc.problems)
        if not problems:
            memo: _Verdicts = {}
            owned: dict[str, bool] = {}
            for index, automation in enumerate(automations):
                config_id = automation.config_id
                if automation.status != "running":
                    if config_id is not None:
                        if config_id not in owned:
                            owned[config_id] = await store.latest_config_version(app_id, config_id) is not None
                        if not owned[config_id]:
                            problems.append(Problem(f"$[{index}].config_id", f"config {config_id!r} not found"))
                    continue
                verdict = (config_id, automation.event)
                if verdict not in memo:  # each config is judged once for the batch
                    memo[verdict] = await self._config_problems(automation)
                try:
                    self._activate_new(automation, memo[verdict])
                except ValidationError as exc:
                    problems.extend(_item_problem(index, problem) for problem in exc.problems)
        if problems:
            raise ValidationError(problems, subject="automations")
        first: dict[str, int] = {}
        for index, automation in enumerate(automations):
            key = automation.lookup_key
            if key is None:
                continue
            if key in first:
                raise ConflictError(
                    f"items {first[key]} and {index} both use lookup_key {key!r}; a lookup_key is unique per app"
                )
            first[key] = index
            if await store.get_automation_by_lookup_key(app_id, key) is not None:
                raise ConflictError(f"lookup_key {key!r} (item {index}) is already used in app {app_id!r}")
        stored: builtins.list[Automation] = []
        try:
            for automation in automations:
                await store.insert_automation(automation)
                stored.append(automation)
        except BaseException:
            with anyio.CancelScope(shield=True):  # all or nothing, even when cancelled
                for automation in stored:
                    await store.delete_automation(app_id, automation.id)
            raise
        for automation in automations:
            self._created(automation)
        return automations

    def _build(self, app_id: str, data: Mapping[str, Any], now: float) -> Automation:
        """Validate the fields of a new automation and build its record (``running`` if enabled).

        Raises:
            ValidationError: every problem of the fields, the event and the schedule.
        """
        parsed: dict[str, Any] = {}
        values = parse_fields(
            data,
            partial=False,
            extra=lambda v, failed: self._field_problems(v, failed, parsed=parsed, now=now, app_id=app_id),
        )
        schedule = parsed["schedule"] if "schedule" in parsed else self._schedule(values, now)
        enabled = values.pop("enabled")
        repeat = values.pop("repeat")
        automation = Automation(
            id=new_id("aut_"),
            app_id=app_id,
            status="running" if enabled else "draft",
            created_at=now,
            updated_at=now,
            repeat=Repeat(times=repeat["times"]),
            **values,
        )
        self._apply_schedule(automation, schedule)
        return automation

    def _activate_new(self, automation: Automation, problems: builtins.list[Problem]) -> None:
        """Activate a new automation: refuse its config's ``problems``, else set a scheduled one's first fire.

        Raises:
            ValidationError: the config's problems, or a schedule that will not fire again.
        """
        if problems:
            raise ValidationError(problems, subject=f"automation {automation.id!r}")
        if automation.type == "scheduled":
            automation.next_run_at = self._next_fire(automation)

    def _created(self, automation: Automation) -> None:
        """Track a just-stored automation and announce it (and its activation)."""
        host = self._host
        if automation.status == "running":
            host.track(automation)
        if host.wants_events:
            at, app_id, automation_id = automation.created_at, automation.app_id, automation.id
            host.announce(AutomationCreated(at=at, app_id=app_id, automation_id=automation_id))
            if automation.status == "running":
                host.announce(AutomationActivated(at=at, app_id=app_id, automation_id=automation_id))

    async def list(self, app_id: str, *, type: str | None = None, cursor: str | None = None, limit: int = 50) -> Page:
        """The app's automations, newest first, optionally of one ``type``.

        Raises:
            ValidationError: unknown ``type`` or ``limit`` outside 1-100.
        """
        check_app(app_id)
        if type is not None and type not in ("trigger", "scheduled", "invoked"):
            raise ValidationError(
                [Problem("$.type", f"unknown type {type!r}; use trigger, scheduled or invoked")], subject="request"
            )
        limit = check_page(limit, cursor)
        return await self._host.store.list_automations(app_id, type=type, cursor=cursor, limit=limit)

    async def get(self, app_id: str, automation_id: str, *, recent_runs: int = 10) -> AutomationDetails:
        """An automation with its ``recent_runs`` newest runs.

        Raises:
            NotFoundError: no such automation in this app.
        """
        automation = await self._load(app_id, automation_id)
        page = await self._host.store.list_runs(
            app_id, automation_id, status=None, cursor=None, limit=check_limit(recent_runs)
        )
        return AutomationDetails(automation, page.data)

    async def update(
        self, app_id: str, automation_id: str, data: Mapping[str, Any] | None = None, **fields: Any
    ) -> Automation:
        """Change any create field.

        ``enabled`` pauses or activates; a new schedule recomputes ``next_run_at`` and the
        display. A running automation is re-checked as on activation.

        Raises:
            NotFoundError, ValidationError, ConflictError, InvalidTransitionError.
        """
        host = self._host
        changes = {**(data or {}), **fields}
        automation = await self._load(app_id, automation_id)
        if "deliver" in changes:  # a webhook sent back as the API shows it keeps its secret
            changes["deliver"] = restore_secrets(changes["deliver"], automation.deliver)
        before = automation.snapshot()
        base = {
            "name": automation.name,
            "type": automation.type,
            "description": automation.description,
            "trigger": automation.trigger,
            "schedule": automation.schedule,
            "timezone": automation.timezone,
            "config_id": automation.config_id,
            "run_as_user_id": automation.run_as_user_id,
            "lookup_key": automation.lookup_key,
            "metadata": automation.metadata,
            "repeat": {"times": automation.repeat.times},
            "overlap": automation.overlap,
            "catchup": automation.catchup,
            "misfire_grace": automation.misfire_grace,
            "max_catchup_runs": automation.max_catchup_runs,
            "jitter": automation.jitter,
            "input_schema": automation.input_schema,
            "max_consecutive_failures": automation.max_consecutive_failures,
            "filter": automation.filter,
            "starts_at": automation.starts_at,
            "ends_at": automation.ends_at,
            "debounce": automation.debounce,
            "throttle": automation.throttle,
            "concurrency": automation.concurrency,
            "cancel_on": automation.cancel_on,
            "deliver": automation.deliver,
        }
        values = parse_fields(
            changes,
            partial=True,
            base=base,
            extra=lambda v, failed: self._field_problems(v, failed, changed=changes, app_id=app_id),
        )
        enabled = values.pop("enabled", None)
        if values.get("config_id") not in (None, automation.config_id):
            await self._require_config(app_id, values["config_id"])
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
            first = await self._check_activation(automation)
            if schedule_changed and schedule is not None:
                automation.next_run_at = first
        elif enabled is True:
            await self._check_activation(automation)  # before saving: a refused update changes nothing
        automation.updated_at = host.clock.now()
        automation.revision += 1
        await host.store.update_automation(automation, expected_revision=revision)
        host.track(automation)
        host.announce(AutomationUpdated(at=automation.updated_at, app_id=app_id, automation_id=automation_id))
        if before.concurrency:
            await host.release_queued(before, automation)
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
        host = self._host
        await self._load(app_id, automation_id)
        host.untrack(automation_id)
        await host.store.delete_automation(app_id, automation_id)
        await host.cancel_pending(app_id, automation_id)
        host.announce(AutomationDeleted(at=host.clock.now(), app_id=app_id, automation_id=automation_id))

    async def activate(self, app_id: str, automation_id: str) -> Automation:
        """``draft``/``paused`` → ``running``, after checking its config has a matching trigger node.

        Scheduled automations compute their next fire from now (a paused backlog is not replayed).

        Raises:
            NotFoundError, InvalidTransitionError, ValidationError (missing, invalid or mismatched config).
        """
        host = self._host
        automation = await self._load(app_id, automation_id)
        automation.status = next_status(automation_id, automation.status, "activate")
        first = await self._check_activation(automation)
        automation.paused_reason = None
        if automation.type == "scheduled":
            automation.next_run_at = first
        await self._save(automation)
        host.announce(AutomationActivated(at=automation.updated_at, app_id=app_id, automation_id=automation_id))
        return automation

    async def pause(self, app_id: str, automation_id: str, reason: str | None = None) -> Automation:
        """``running`` → ``paused``: events are ignored, scheduled fires and pending runs cancelled.

        Raises:
            NotFoundError, InvalidTransitionError.
        """
        host = self._host
        automation = await self._load(app_id, automation_id)
        automation.status = next_status(automation_id, automation.status, "pause")
        automation.paused_reason = reason
        automation.next_run_at = None
        await self._save(automation)
        host.drop_buffered(automation_id)
        await host.cancel_pending(app_id, automation_id)
        host.announce(
            AutomationPaused(at=automation.updated_at, app_id=app_id, automation_id=automation_id, reason=reason)
        )
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
        self._host.announce(AutomationReset(at=automation.updated_at, app_id=app_id, automation_id=automation_id))
        return automation

    async def trigger(self, app_id: str, automation_id: str, payload: Any = None) -> str:
        """Run now: start a run at once and return its id; the schedule is left alone.

        Scheduled automations get ``{"scheduled_at": now}``; invoked ones ``payload``; trigger
        automations ``payload`` as their event's payload (checked against its schema).

        Raises:
            NotFoundError, AlreadyRunningError (overlap ``skip`` and a run is executing),
            ValidationError (no config, or a payload that fails the event schema).
        """
        host = self._host
        automation = await self._load(app_id, automation_id)
        if automation.config_id is None:
            raise ValidationError(
                [Problem("$.config_id", "the automation has no config_id to run")],
                subject=f"automation {automation_id!r}",
            )
        now = host.clock.now()
        started = host.running_since(automation_id) if automation.overlap == "skip" else None
        if started is not None:
            raise AlreadyRunningError(automation_id, now - started)
        if automation.type == "scheduled":
            body: Any = {"scheduled_at": _iso(now)}
        else:
            body = payload if payload is not None else {}
            if automation.type == "trigger":
                host.catalogue.validate(automation.event, body)
            else:  # an invoked automation's payload has no schema: it must still be JSON data
                try:
                    encode_json(body, "the payload")
                except StoreError as exc:
                    raise ValidationError([Problem("$.payload", exc.message)], subject="request") from None
        run = automation.new_run(now, body, trace_context=host.trace_context())
        await host.store.insert_runs([run])
        host.enqueue(run)
        return run.id

    async def invoke(
        self,
        app_id: str,
        automation_id: str,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> AutomationRun:
        """Invoke a running ``invoked`` automation: one run with ``payload``; return it.

        The payload is checked against the automation's ``input_schema`` (every problem with its
        path, nothing stored when it fails). An ``idempotency_key`` makes the call repeatable: a
        repeat returns the first call's run instead of starting another — concurrent repeats too,
        by the store's uniqueness of the accepted event id, not by a check first — for as long as
        the run is kept (``Engine(retention=...)``). With ``wait=True`` the run is returned once it
        ended (``timeout`` seconds at most: ``TimeoutError``).

        Raises:
            NotFoundError: no such automation in this app.
            ValidationError: not an invoked automation, a payload that fails its schema, a
                malformed key or timeout.
            InvalidTransitionError: the automation is not running (activate it first).
            AlreadyRunningError: overlap ``skip`` and a run is executing.
            TimeoutError: ``wait`` and the run did not end within ``timeout``.
        """
        host = self._host
        automation = await self._load(app_id, automation_id)
        problems = _invoke_problems(automation, idempotency_key, timeout)
        if problems:
            raise ValidationError(problems, subject="invoke")
        body = {} if payload is None else payload
        host.catalogue.check_limits(body)
        if automation.input_schema is not None:
            self._input_schema(automation).validate(body, subject=f"payload of automation {automation_id!r}")
        else:
            try:
                encode_json(body, "the payload")
            except StoreError as exc:
                raise ValidationError([Problem("$.payload", exc.message)], subject="request") from None
        if automation.status != "running":
            raise InvalidTransitionError(f"automation {automation_id!r}", automation.status, "invoke", ["running"])
        event_id = (
            new_id("evt_")
            if idempotency_key is None
            else f"{RESERVED_EVENT_ID_PREFIX}{automation.id}:{idempotency_key}"
        )
        if idempotency_key is not None:  # the common repeat: no write at all
            first = await host.store.run_for_event(app_id, event_id)
            if first is not None and first.automation_id == automation.id:
                return await self._finished(first, wait, timeout)
        now = host.clock.now()
        started = host.running_since(automation_id) if automation.overlap == "skip" else None
        if started is not None:
            raise AlreadyRunningError(automation_id, now - started)
        run = automation.new_run(now, body, event_id=event_id, trace_context=host.trace_context())
        stored = await host.store.accept_event(app_id, event_id, automation.event, body, [run])
        if stored is None:  # a concurrent repeat stored its run first: that one is the call's run
            first = await host.store.run_for_event(app_id, event_id)
            if first is None or first.automation_id != automation.id:  # an earlier call stored no run
                raise ConflictError(
                    f"idempotency key {idempotency_key!r} was used by a call that started no run (the "
                    "automation was paused or deleted meanwhile); invoke with a new key"
                )
            return await self._finished(first, wait, timeout)
        if not stored:  # paused or deleted by another process meanwhile
            raise InvalidTransitionError(f"automation {automation_id!r}", "paused", "invoke", ["running"])
        host.enqueue(run)
        return await self._finished(run, wait, timeout)

    async def memory(self, app_id: str, automation_id: str) -> Any:
        """The automation's memory document (written by its runs' ``WorkflowRemember`` nodes; ``None``: none yet).

        Raises:
            NotFoundError: no such automation in this app.
        """
        automation = await self._load(app_id, automation_id)
        return await self._host.store.get_memory(app_id, automation.id)

    async def _finished(self, run: AutomationRun, wait: bool, timeout: float | None) -> AutomationRun:
        if not wait:
            return run
        return await self._host.wait_for_run(run.app_id, run.id, timeout)

    def _input_schema(self, automation: Automation) -> PayloadSchema:
        """The compiled ``input_schema`` of an automation (cached by its text)."""
        key = encode_json(automation.input_schema, "input_schema")
        cache = self._schemas
        schema = cache.get(key)
        if schema is None:
            schema = PayloadSchema(automation.input_schema or {})
            cache[key] = schema
            if len(cache) > _SCHEMA_CACHE:
                cache.pop(next(iter(cache)))
        return schema

    async def events(self, app_id: str) -> builtins.list[dict[str, Any]]:
        """The events trigger automations can listen for: ``[{name, description}, ...]``."""
        check_app(app_id)
        return [
            {"name": e.name, "description": e.description, "category": e.category}
            for e in self._host.catalogue.list()
            if not (e.internal or e.name in INTERNAL_EVENTS)
        ]

    async def runs(
        self, app_id: str, automation_id: str, *, status: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page:
        """An automation's runs, newest first (``limit`` 1-100, default 50).

        Raises:
            NotFoundError, ValidationError (bad status or limit).
        """
        if status is not None and status not in ("pending", "running", "completed", "failed", "cancelled"):
            raise ValidationError([Problem("$.status", f"unknown run status {status!r}")], subject="request")
        check_page(limit, cursor)
        await self._load(app_id, automation_id)
        return await self._host.store.list_runs(app_id, automation_id, status=status, cursor=cursor, limit=limit)

    async def status(self, app_id: str, automation_id: str | None = None) -> builtins.list[dict[str, Any]]:
        """The app's running runs (or one automation's), oldest first, with their elapsed seconds.

        Read from the store, so runs executing in any worker process show: ``[{run_id,
        automation_id, started_at, elapsed}]`` (``started_at`` in ISO 8601, ``elapsed`` in seconds).

        Raises:
            ValidationError: a malformed ``app_id``.
            NotFoundError: ``automation_id`` is not one of the app's automations.
        """
        check_app(app_id)
        store = self._host.store
        if automation_id is not None:
            await self._load(app_id, automation_id)
            automation_ids = [automation_id]
        else:
            automation_ids = []
            cursor: str | None = None
            while True:
                page = await store.list_automations(app_id, type=None, cursor=cursor, limit=100)
                automation_ids.extend(a.id for a in page.data)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        now = self._host.clock.now()
        running: builtins.list[AutomationRun] = []
        for owner in automation_ids:
            cursor = None
            while True:
                runs = await store.list_runs(app_id, owner, status="running", cursor=cursor, limit=100)
                running.extend(runs.data)
                if runs.next_cursor is None:
                    break
                cursor = runs.next_cursor
        out = []
        for run in sorted(running, key=lambda r: (r.started_at or r.updated_at, r.id)):
            started = run.started_at if run.started_at is not None else run.updated_at
            out.append(
                {
                    "run_id": run.id,
                    "automation_id": run.automation_id,
                    "started_at": _iso(started),
                    "elapsed": round(max(0.0, now - started), 3),
                }
            )
        return out

    async def run(self, app_id: str, run_id: str) -> AutomationRun:
        """One run, with its journal.

        Raises:
            NotFoundError: no such run in this app.
        """
        check_app(app_id)
        run = await self._host.store.get_run(app_id, check_id("run", run_id))
        if run is None:
            raise NotFoundError("run", run_id)
        return run

    async def cancel_run(self, app_id: str, run_id: str) -> AutomationRun:
        """Cancel a pending or executing run (see :meth:`Engine.cancel_run`)."""
        return await self._host.cancel_run(app_id, run_id)

    # -- helpers ---------------------------------------------------------------------------

    async def _save(self, automation: Automation) -> None:
        host = self._host
        revision = automation.revision
        automation.revision += 1
        automation.updated_at = host.clock.now()
        await host.store.update_automation(automation, expected_revision=revision)
        host.track(automation)

    def _field_problems(
        self,
        values: Mapping[str, Any],
        failed: frozenset[str],
        changed: Mapping[str, Any] | None = None,
        parsed: dict[str, Any] | None = None,
        now: float | None = None,
        app_id: str | None = None,
    ) -> builtins.list[Problem]:
        """The checks ``parse_fields`` cannot make alone: the event, the schedule, the sinks' reach.

        The event exists and is public, the schedule parses, the ``deliver`` sinks pass the egress
        policy and name events of the catalogue. On update (``changed`` given) only what changes
        is checked again: a one-shot that has fired must stay renamable although its instant is
        now in the past. The parsed schedule
        goes to ``parsed["schedule"]`` when ``parsed`` is given, so it is parsed once.
        """
        problems: builtins.list[Problem] = []
        kind = values.get("type")
        if "type" in failed:
            return problems

        def touched(*keys: str) -> bool:
            return changed is None or any(key in changed for key in keys)

        if kind == "trigger" and values.get("trigger") and "trigger" not in failed and touched("trigger", "type"):
            try:
                event = self._host.catalogue.get(values["trigger"])
            except ValidationError as exc:
                problems.extend(exc.problems)
            else:
                if event.internal or event.name in INTERNAL_EVENTS:
                    problems.append(
                        Problem(
                            "$.trigger",
                            f"{event.name!r} is internal: graphflow fires it itself",
                            "use type 'scheduled' for schedules, 'invoked' for direct calls",
                        )
                    )
        if kind == "trigger" and values.get("cancel_on") and "cancel_on" not in failed and touched("cancel_on"):
            for index, entry in enumerate(values["cancel_on"]):
                name = entry.get("event") if isinstance(entry, Mapping) else None
                try:
                    cancelling = self._host.catalogue.get(name) if isinstance(name, str) else None
                except ValidationError as exc:
                    hint = exc.problems[0].hint if exc.problems else ""
                    problems.append(Problem(f"$.cancel_on[{index}].event", f"unknown event {name!r}", hint or ""))
                else:
                    if cancelling is not None and (cancelling.internal or cancelling.name in INTERNAL_EVENTS):
                        problems.append(
                            Problem(f"$.cancel_on[{index}].event", f"{name!r} is internal: it cannot cancel runs")
                        )
        if values.get("deliver") and touched("deliver"):
            problems.extend(reach_problems(values["deliver"], self._host.egress_policy, self._host.catalogue))
            problems.extend(
                callback_problems(values["deliver"], getattr(self._host, "delivery_callbacks", None), app_id)
            )
        if (
            kind == "scheduled"
            and values.get("schedule")
            and not failed & {"schedule", "timezone"}
            and touched("schedule", "timezone", "type")
        ):
            try:
                schedule = self._schedule(values, now)
            except ValidationError as exc:
                problems.extend(exc.problems)
            else:
                if parsed is not None:
                    parsed["schedule"] = schedule
        return problems

    def _schedule(self, values: Mapping[str, Any], now: float | None = None) -> Any:
        """The parsed schedule of a scheduled automation (``None`` for other types), as of ``now`` (default: the clock).

        Raises:
            ValidationError: with path ``$.schedule`` or ``$.timezone``.
        """
        if values.get("type") != "scheduled":
            return None
        return _parse_schedule()(
            values["schedule"],
            timezone=values.get("timezone") or "UTC",
            now=_datetime(self._host.clock.now() if now is None else now),
        )

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

    async def _check_activation(self, automation: Automation) -> float | None:
        """Refuse to run an automation without a config that has its trigger node, or a schedule that fires.

        Returns the first fire of a scheduled automation (``None`` for the other types).

        Raises:
            ValidationError: with path ``$.config_id`` or ``$.schedule``.
        """
        problems = await self._config_problems(automation)
        if problems:
            raise ValidationError(problems, subject=f"automation {automation.id!r}")
        return self._next_fire(automation) if automation.type == "scheduled" else None

    def _next_fire(self, automation: Automation) -> float:
        """The first fire of a scheduled automation from now.

        Raises:
            ValidationError: the schedule will not fire again.
        """
        first = self._host.first_fire(automation)
        if first is None and automation.ends_at is not None and automation.ends_at <= self._host.clock.now():
            raise ValidationError(
                [Problem("$.ends_at", "the schedule's window has ended", "set a later ends_at, or remove it")],
                subject=f"automation {automation.id!r}",
            )
        if first is None:
            raise ValidationError(
                [
                    Problem(
                        "$.schedule",
                        f"the schedule {automation.schedule!r} will not fire again",
                        "set a new schedule, e.g. 'in 30m' or '0 9 * * *'",
                    )
                ],
                subject=f"automation {automation.id!r}",
            )
        return first

    async def _require_config(self, app_id: str, config_id: str | None) -> None:
        """Refuse a ``config_id`` that is not one of the app's own configs.

        Raises:
            NotFoundError: no such config in this app (another app's config is not found either).
        """
        if config_id is not None and await self._host.store.latest_config_version(app_id, config_id) is None:
            raise NotFoundError("config", config_id)

    async def _config_problems(
        self, automation: Automation, *, missing: type[NotFoundError] | None = None
    ) -> builtins.list[Problem]:
        """Why the automation's config cannot run it: none, not found, or no trigger node for its event.

        With ``missing=NotFoundError`` a config that is not the app's own raises instead (a create
        or update naming it), as :meth:`_require_config` does.
        """
        config_id = automation.config_id
        if config_id is None:
            return [
                Problem(
                    "$.config_id",
                    "activation needs a config_id",
                    "create a config with engine.configs.create() and set config_id",
                )
            ]
        try:
            graph, _ = await self._host.graph_for(automation.app_id, config_id)
        except NotFoundError:
            if missing is not None:
                raise
            return [Problem("$.config_id", f"config {config_id!r} not found in this app")]
        try:
            require_trigger(graph, automation.event)
        except ValidationError as exc:
            return [Problem("$.config_id", p.message, p.hint) for p in exc.problems]
        return []


@functools.lru_cache(maxsize=1)
def _datetime(ts: float) -> datetime:
    """The aware UTC datetime of a timestamp (the last one kept: a batch asks for one ``now``)."""
    return datetime.fromtimestamp(ts, UTC)


@functools.cache
def _parse_schedule() -> Callable[..., Any]:
    """``parse_schedule``, imported on first use (croniter costs ~40 ms to import) and then kept."""
    from graphflow.triggers.schedules import parse_schedule

    return parse_schedule


#: Compiled input schemas kept (by their text).
_SCHEMA_CACHE = 256
#: The longest idempotency key a caller may send.
MAX_IDEMPOTENCY_KEY_CHARS = 200


def _invoke_problems(automation: Automation, key: Any, timeout: Any) -> builtins.list[Problem]:
    problems: builtins.list[Problem] = []
    if automation.type != "invoked":
        problems.append(
            Problem(
                "$.type",
                f"automation {automation.id!r} is a {automation.type} automation; only invoked ones are invoked",
                "use automations.trigger() to run it now",
            )
        )
    if key is not None and not (
        isinstance(key, str) and 0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS and key.isprintable()
    ):
        problems.append(
            Problem("$.idempotency_key", f"an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters")
        )
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0):
        problems.append(Problem("$.timeout", "timeout must be a positive number of seconds, or None"))
    return problems


def _item_problem(index: int, problem: Problem) -> Problem:
    """A problem of one item of a batch, with the item's index in its path (``$[3].schedule``)."""
    return Problem(f"$[{index}]{problem.path[1:]}", problem.message, problem.hint, problem.node_id)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
