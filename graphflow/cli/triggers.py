"""Trigger commands: ``schedule`` (parse, display, next fires) and ``events`` (the catalogue)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from graphflow.cli.errors import CommandFailedError, UsageError
from graphflow.cli.output import echo, print_json, table
from graphflow.exceptions import ValidationError

__all__ = ["events", "schedule"]


def schedule(
    text: str,
    next_count: int,
    timezone: str,
    as_json: bool,
    starts_at: str | None = None,
    ends_at: str | None = None,
) -> int:
    """Show how a schedule is understood; its next fires in its zone and in UTC. 1 if it is invalid.

    With ``--starts-at``/``--ends-at`` the fires are those inside that window.
    """
    from graphflow.triggers.schedules import explain_schedule

    window = {name: _when(value, name) for name, value in (("starts_at", starts_at), ("ends_at", ends_at)) if value}
    try:
        info = explain_schedule(text, timezone=timezone, count=next_count, **window)
    except ValidationError as exc:
        message = "; ".join(f"{p.message} ({p.hint})" if p.hint else p.message for p in exc.problems)
        raise CommandFailedError(f"invalid schedule: {message}") from None
    zone = ZoneInfo(info["timezone"])  # valid: explain_schedule accepted it
    local = [datetime.fromisoformat(fire).astimezone(zone).isoformat() for fire in info["next"]]
    if as_json:
        print_json({**info, "next_local": local})
        return 0
    echo(info["display"])
    echo(f"  kind: {info['kind']}   expression: {info['expression']}   timezone: {info['timezone']}")
    if "window" in info:
        echo(f"  window: {info['window']['starts_at'] or '-'} … {info['window']['ends_at'] or '-'}")
    if not info["next"]:
        echo("  no fire in the window")
    for fire, here in zip(info["next"], local, strict=True):
        echo(f"  next: {fire}" if zone.key == "UTC" else f"  next: {here} ({zone.key})  =  {fire} (UTC)")
    return 0


def _when(text: str, option: str) -> datetime:
    """An ISO-8601 time from the command line (naive: UTC)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--{option.replace('_', '-')} must be an ISO-8601 time, e.g. 2027-01-01T09:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo("UTC"))


def events(category: str | None) -> int:
    """List the platform events trigger automations can listen for (2 for an unknown category)."""
    from graphflow.triggers.catalogue import EventCatalogue

    public = [event for event in EventCatalogue().list() if not event.internal]
    categories = sorted({event.category for event in public})
    if category is not None and category not in categories:
        raise UsageError(f"no event category {category!r}; choose one of {', '.join(categories)}")
    rows = ((e.name, e.category, e.description) for e in public if category in (None, e.category))
    echo(table(("name", "category", "description"), rows))
    return 0
