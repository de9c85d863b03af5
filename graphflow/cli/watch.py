"""``graphflow watch [RUN_ID]``: follow the app's event stream (or one run's), one line per event.

Server mode reads the SSE stream (resumed with ``Last-Event-ID`` when it drops); direct mode reads
the event log in the database. Without RUN_ID it follows from now (or ``--after SEQ``) until
Ctrl-C; with RUN_ID it replays the run's events so far and stops at its terminal event.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from graphflow.cli.automations import Where, call, when
from graphflow.cli.client import Client
from graphflow.cli.errors import UsageError

__all__ = ["line", "watch"]

#: A run's last event and the exit code ``watch RUN_ID`` ends with.
TERMINAL = {"run.completed": 0, "run.failed": 1, "run.cancelled": 1}


def line(event: Mapping[str, Any]) -> str:
    """One event as one line: time, id, type, subject, then its data."""
    subject = event.get("run_id") or event.get("automation_id") or event.get("config_id") or "-"
    data = event.get("data") or {}
    details = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in data.items())
    at = event.get("at")
    stamp = when(at) if isinstance(at, str) else "-"
    return f"{stamp}  {event.get('seq', '-'):>6}  {event.get('type', '?'):<22}  {subject}  {details}".rstrip()


def watch(run_id: str | None, types: str | None, after: int | None, as_json: bool, **where: Where) -> int:
    """Print each event as it comes; 0 at the end of a completed run, 1 of a failed or cancelled one."""
    wanted = frozenset(t.strip() for t in types.split(",") if t.strip()) if types is not None else None
    if wanted is not None and not wanted:
        raise UsageError("--types needs at least one event type, e.g. --types run.failed,run.completed")

    async def follow(client: Client) -> int:
        async for event in client.events(after=after, run_id=run_id, types=wanted):
            sys.stdout.write((json.dumps(event, ensure_ascii=False) if as_json else line(event)) + "\n")
            sys.stdout.flush()
            if run_id is not None and event.get("type") in TERMINAL:
                return TERMINAL[str(event["type"])]
        if run_id is not None:
            from graphflow.cli.errors import CommandFailedError

            raise CommandFailedError(f"the stream of run {run_id} ended before the run did; watch it again to resume")
        return 0

    return call(follow, where)
