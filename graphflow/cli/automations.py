"""Automation, run and event commands (arguments in ``parser.py``).

``list|create|describe|update|delete|activate|pause|reset|trigger automation``, ``list
automationruns``, ``describe|cancel automationrun`` and ``publish``.

Each takes the connection options (``app``, ``database_url``, ``server``, ``key``) as ``where`` and
answers through a :class:`~graphflow.cli.client.Client`: the same operations and shapes in direct
and server mode.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from graphflow.cli.client import Client
from graphflow.cli.connection import connect, resolve_target
from graphflow.cli.errors import CommandFailedError, UsageError
from graphflow.cli.inputs import json_argument
from graphflow.cli.output import echo, print_json, table

__all__ = [
    "activate_automation",
    "call",
    "cancel_run",
    "create_automation",
    "delete_automation",
    "describe_automation",
    "describe_run",
    "invoke_automation",
    "list_automations",
    "list_runs",
    "pause_automation",
    "publish",
    "reset_automation",
    "trigger_automation",
    "update_automation",
]

T = TypeVar("T")
Where = str | None


def call(operation: Callable[[Client], Awaitable[T]], where: Mapping[str, Where], *, must_exist: bool = True) -> T:
    """Run ``operation`` on a client for the connection options ``where``; return its answer.

    Raises:
        UsageError: the options name no usable app, database or server.
    """
    import anyio

    target = resolve_target(
        where.get("app"), where.get("database_url"), where.get("server"), where.get("key"), must_exist=must_exist
    )

    async def go() -> T:
        async with connect(target) as client:
            return await operation(client)

    return anyio.run(go)


def when(value: str | float | None) -> str:
    """An API time (ISO 8601, or UNIX seconds) to the second, or ``-``."""
    if value is None:
        return "-"
    if not isinstance(value, str):
        from graphflow.records import iso

        value = str(iso(value))
    return f"{value[:19]}Z"


def more(page: Mapping[str, Any], command: str) -> None:
    """Tell how to get the next page, when there is one."""
    if page.get("next_cursor"):
        echo(f"more: {command} --cursor {page['next_cursor']}")


# -- automations -----------------------------------------------------------------------------


def _starts(automation: Mapping[str, Any]) -> str:
    if automation["type"] == "scheduled":
        return automation.get("schedule_display") or automation.get("schedule") or "-"
    return automation.get("trigger") or "workflow.invoked"


def list_automations(type: str | None, limit: int, cursor: str | None, as_json: bool, **where: Where) -> int:
    """List the app's automations, newest first."""
    page = call(lambda c: c.list_automations(type=type, cursor=cursor, limit=limit), where)
    if as_json:
        print_json(page)
        return 0
    rows = (
        (
            a["id"],
            a["name"],
            a["type"],
            a["status"],
            _starts(a),
            when(a.get("next_run_at")),
            a.get("last_run_status") or "-",
        )
        for a in page["data"]
    )
    echo(table(("id", "name", "type", "status", "starts on", "next run", "last run"), rows))
    more(page, "graphflow list automations")
    return 0


def _fields(
    *,
    name: str | None,
    type: str | None,
    schedule: str | None,
    timezone: str | None,
    trigger: str | None,
    config_id: str | None,
    description: str | None,
    lookup_key: str | None,
    overlap: str | None,
    catchup: str | None,
    metadata: str | None,
    input_schema: str | None = None,
    max_consecutive_failures: int | None = None,
    filter: str | None = None,
    starts_at: str | None = None,
    ends_at: str | None = None,
    debounce: str | None = None,
    throttle: str | None = None,
    concurrency: str | None = None,
    cancel_on: str | None = None,
    deliver: str | None = None,
) -> dict[str, Any]:
    """The automation fields given on the command line (the others are left out)."""
    fields: dict[str, Any] = {
        "name": name,
        "type": type,
        "schedule": schedule,
        "timezone": timezone,
        "trigger": trigger,
        "config_id": config_id,
        "description": description,
        "lookup_key": lookup_key,
        "overlap": overlap,
        "catchup": catchup,
        "max_consecutive_failures": max_consecutive_failures,
        "filter": filter,
        "starts_at": starts_at,
        "ends_at": ends_at,
    }
    if metadata is not None:
        fields["metadata"] = json_argument(metadata, "--metadata")
    if input_schema is not None:
        fields["input_schema"] = json_argument(input_schema, "--input-schema")
    given = {key: value for key, value in fields.items() if value is not None}
    for name, text in (("debounce", debounce), ("throttle", throttle), ("concurrency", concurrency)):
        if text is not None:
            value = json_argument(text, f"--{name}")
            whole = isinstance(value, int) and not isinstance(value, bool)
            given[name] = {"limit": value} if name == "concurrency" and whole else value
    if cancel_on is not None:
        value = json_argument(cancel_on, "--cancel-on")
        given["cancel_on"] = [value] if isinstance(value, dict) else value
    if deliver is not None:
        given["deliver"] = json_argument(deliver, "--deliver")
    return given


def _said(verb: str, automation: Mapping[str, Any], as_json: bool) -> int:
    if as_json:
        print_json(automation)
    else:
        echo(f"{verb} {automation['id']} ({automation['name']}): {automation['type']}, {automation['status']}")
    return 0


def create_automation(enabled: bool, as_json: bool, **options: Any) -> int:
    """Create an automation (a draft, or running with ``--enabled``)."""
    where = {k: options.pop(k) for k in ("app", "database_url", "server", "key")}
    fields = _fields(**options)
    if "type" not in fields:  # the Herm shape: a schedule makes it scheduled, an event a trigger one
        inferred = "scheduled" if "schedule" in fields else "trigger" if "trigger" in fields else None
        if inferred is None:
            raise UsageError("give -t/--type (scheduled, trigger or invoked), or --schedule or --trigger")
        fields["type"] = inferred
    fields["enabled"] = enabled
    return _said("created", call(lambda c: c.create_automation(fields), where, must_exist=False), as_json)


def describe_automation(automation_id: str, as_json: bool, **where: Where) -> int:
    """Show an automation and its most recent runs."""
    automation = call(lambda c: c.get_automation(automation_id), where)
    if as_json:
        print_json(automation)
        return 0
    shown = (
        "id", "name", "type", "status", "paused_reason", "description", "trigger", "schedule", "schedule_display",
        "timezone", "config_id", "lookup_key", "overlap", "catchup", "filter", "debounce", "throttle", "concurrency",
        "cancel_on", "next_run_at", "last_run_at", "last_run_status", "last_error", "deliver", "last_delivery_error",
        "created_at", "updated_at",
    )  # fmt: skip
    rows = [(f"{name}:", _value(automation[name])) for name in shown if automation.get(name) not in (None, "", [])]
    echo(table(("field", "value"), rows).split("\n", 1)[1])
    runs = automation.get("recent_runs") or []
    echo(f"\nrecent runs ({len(runs)}):" if runs else "\nno runs yet")
    if runs:
        echo(_runs_table(runs))
    return 0


def _value(value: Any) -> str:
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return when(text) if text.endswith("Z") and text[:4].isdigit() and "T" in text else text


def update_automation(automation_id: str, enabled: bool | None, as_json: bool, **options: Any) -> int:
    """Change an automation's fields (``--enabled`` activates it, ``--disabled`` pauses it)."""
    where = {k: options.pop(k) for k in ("app", "database_url", "server", "key")}
    fields = _fields(**options)
    if enabled is not None:
        fields["enabled"] = enabled
    if not fields:
        raise UsageError(
            "nothing to update: give at least one of --name, --schedule, --timezone, --trigger, --config-id, "
            "--enabled, --disabled ..."
        )
    return _said("updated", call(lambda c: c.update_automation(automation_id, fields), where), as_json)


def delete_automation(automation_id: str, as_json: bool, **where: Where) -> int:
    """Delete an automation (its past runs are kept)."""
    call(lambda c: c.delete_automation(automation_id), where)
    if as_json:
        print_json({"id": automation_id, "deleted": True})
    else:
        echo(f"deleted {automation_id}")
    return 0


def activate_automation(automation_id: str, as_json: bool, **where: Where) -> int:
    """Activate an automation (draft or paused → running)."""
    return _said("activated", call(lambda c: c.transition(automation_id, "activate"), where), as_json)


def pause_automation(automation_id: str, reason: str | None, as_json: bool, **where: Where) -> int:
    """Pause a running automation."""
    return _said("paused", call(lambda c: c.transition(automation_id, "pause", reason), where), as_json)


def reset_automation(automation_id: str, as_json: bool, **where: Where) -> int:
    """Reset a paused automation to draft."""
    return _said("reset", call(lambda c: c.transition(automation_id, "reset"), where), as_json)


def trigger_automation(
    automation_id: str, payload: str | None, wait: bool, timeout: float | None, as_json: bool, **where: Where
) -> int:
    """Start a run of an automation now and print its id; with ``wait``, wait for it to end (1 unless it completed)."""
    if timeout is not None and not wait:
        raise UsageError("--timeout goes with --wait")
    data = None if payload is None else json_argument(payload)

    async def go(client: Client) -> dict[str, Any]:
        started = await client.trigger(automation_id, data)
        return await _ended(client, started["run_id"], timeout) if wait else started

    answer = call(go, where)
    if not wait and not as_json:
        echo(f"triggered {automation_id}: run {answer['run_id']} (follow it: graphflow watch {answer['run_id']})")
        return 0
    return _show_run(answer, wait, as_json)


async def _ended(client: Client, run_id: str, timeout: float | None) -> dict[str, Any]:
    """The run once it ended, with a spinner meanwhile (``CommandFailedError`` after ``timeout``)."""
    import anyio

    from graphflow.cli.spinner import spinner

    with anyio.move_on_after(timeout) as scope:
        async with spinner(f"waiting for run {run_id}"):
            return await client.wait_for_run(run_id)
    assert scope.cancelled_caught
    raise CommandFailedError(
        f"run {run_id} did not end within {timeout:g}s (is a worker running?); it goes on: graphflow watch {run_id}"
    )


def _show_run(answer: dict[str, Any], waited: bool, as_json: bool) -> int:
    """Print a run a command started (JSON, or its outcome); exit 1 when it ended otherwise than completed."""
    if as_json:
        print_json(answer)
        return 0 if not waited or answer["status"] == "completed" else 1
    line = f"run {answer['id']} {answer['status']}"
    echo(line + (f": {_error(answer)}" if answer["status"] == "failed" else ""))
    if answer["status"] == "completed":
        print_json((answer.get("result") or {}).get("payload"))
    return 0 if not waited or answer["status"] == "completed" else 1


# -- runs ------------------------------------------------------------------------------------


def invoke_automation(
    automation_id: str,
    payload: str | None,
    idempotency_key: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    **where: Where,
) -> int:
    """Invoke an invoked automation (payload checked against its input_schema); print the run.

    With ``--idempotency-key`` a repeat prints the first call's run. With ``wait``, wait for it to
    end (exit 1 unless it completed).
    """
    if timeout is not None and not wait:
        raise UsageError("--timeout goes with --wait")
    data = None if payload is None else json_argument(payload)

    async def go(client: Client) -> dict[str, Any]:
        run = await client.invoke(automation_id, data, idempotency_key=idempotency_key, wait=False, timeout=None)
        ended = run["status"] in ("completed", "failed", "cancelled")
        return await _ended(client, run["id"], timeout) if wait and not ended else run

    return _show_run(call(go, where), wait, as_json)


def _error(run: Mapping[str, Any]) -> str:
    result = run.get("result")
    error = result.get("error") if isinstance(result, dict) else None
    if error is None:
        return ""
    text = " ".join(str(error.get("message", error) if isinstance(error, dict) else error).split())
    return text if len(text) <= 60 else f"{text[:57]}..."


def _runs_table(runs: list[Mapping[str, Any]]) -> str:
    rows = (
        (r["id"], r["status"], r["trigger"], when(r.get("created_at")), when(r.get("finished_at")), _error(r))
        for r in runs
    )
    return table(("id", "status", "trigger", "created", "finished", "error"), rows)


def list_runs(
    automation: str, status: str | None, limit: int, cursor: str | None, as_json: bool, **where: Where
) -> int:
    """List an automation's runs, newest first."""
    page = call(lambda c: c.list_runs(automation, status=status, cursor=cursor, limit=limit), where)
    if as_json:
        print_json(page)
        return 0
    echo(_runs_table(page["data"]))
    more(page, f"graphflow list automationruns --automation {automation}")
    return 0


def describe_run(run_id: str, as_json: bool, **where: Where) -> int:
    """Show a run with its journal."""
    run = call(lambda c: c.get_run(run_id), where)
    if as_json:
        print_json(run)
        return 0
    shown = (
        "id", "automation_id", "status", "trigger", "event_id", "config_id", "config_version", "created_at",
        "scheduled_at", "started_at", "finished_at", "payload", "result", "delivery",
    )  # fmt: skip
    rows = [(f"{name}:", _value(run[name])) for name in shown if run.get(name) is not None]
    echo(table(("field", "value"), rows).split("\n", 1)[1])
    journal = run.get("journal") or []
    echo(f"\njournal ({len(journal)} entries):" if journal else "\nno journal yet")
    if journal:
        entries = (
            (
                str(e.get("sequence", "")),
                when(e.get("at")),
                e.get("type", ""),
                e.get("node_id") or "",
                e.get("error") or "",
            )
            for e in journal
        )
        echo(table(("#", "at", "type", "node", "error"), entries))
    return 0


def cancel_run(run_id: str, as_json: bool, **where: Where) -> int:
    """Cancel a pending or executing run."""
    run = call(lambda c: c.cancel_run(run_id), where)
    if as_json:
        print_json(run)
    else:
        echo(f"{run['id']}: {run['status']}")
    return 0


# -- events ----------------------------------------------------------------------------------


def publish(name: str, payload: str, event_id: str | None, as_json: bool, **where: Where) -> int:
    """Publish a platform event; print the runs it started."""
    data = json_argument(payload)
    result = call(lambda c: c.publish(name, data, event_id), where)
    if as_json:
        print_json(result)
    elif result.get("duplicate"):
        echo(f"{name}: duplicate of an event already accepted (id {event_id}); nothing started")
    else:
        runs = result.get("run_ids") or []
        echo(f"{name}: {len(runs)} run{'s' if len(runs) != 1 else ''} started" + "".join(f"\n  {r}" for r in runs))
    return 0
