"""Steering commands: ``list steeringrequests``, ``describe steeringrequest``, ``steer ID CHOICE``.

A ``WorkflowApproval`` node parks its run on a steering request; ``graphflow steer`` answers it
and the run continues on the edge for the choice (docs/automations.md, "Steering requests").
"""

from __future__ import annotations

from typing import Any

from graphflow.cli.automations import Where, call, more, when
from graphflow.cli.output import echo, print_json, table

__all__ = ["describe_request", "list_requests", "steer"]


def _rows(requests: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            r["id"],
            r["status"],
            r["run_id"],
            r.get("node_id") or "",
            "/".join(r.get("choices") or []),
            when(r.get("expires_at")),
            (r.get("message") or "")[:60],
        )
        for r in requests
    ]


def list_requests(
    status: str | None, run: str | None, limit: int, cursor: str | None, as_json: bool, **where: Where
) -> int:
    """List the app's steering requests, newest first."""
    page = call(lambda c: c.list_steering(status=status, run_id=run, cursor=cursor, limit=limit), where)
    if as_json:
        print_json(page)
        return 0
    if not page["data"]:
        echo("no steering requests" + (f" ({status})" if status else ""))
        return 0
    echo(table(("id", "status", "run", "node", "choices", "expires", "message"), _rows(page["data"])))
    more(page, "graphflow list steeringrequests")
    return 0


def describe_request(request_id: str, as_json: bool, **where: Where) -> int:
    """Show one steering request."""
    request = call(lambda c: c.get_steering(request_id), where)
    if as_json:
        print_json(request)
        return 0
    shown = (
        "id", "status", "run_id", "automation_id", "node_id", "message", "choices", "assignees", "created_at",
        "expires_at", "answered_at", "choice", "note", "answered_by",
    )  # fmt: skip
    rows = [
        (f"{name}:", ", ".join(value) if isinstance(value, list) else str(value))
        for name in shown
        if (value := request.get(name)) is not None
    ]
    echo(table(("field", "value"), rows).split("\n", 1)[1])
    return 0


def steer(request_id: str, choice: str, note: str | None, by: str | None, as_json: bool, **where: Where) -> int:
    """Answer a pending steering request; its run continues on the edge for the choice."""
    answered = call(lambda c: c.steer(request_id, choice, note=note, by=by), where)
    if as_json:
        print_json(answered)
    else:
        echo(f"{answered['id']}: {answered['status']} ({answered['choice']}); run {answered['run_id']} continues")
    return 0
