"""Fleets of automations for the automation cases: apps, configs, event payloads, cron schedules.

Everything is built through the public API (``engine.configs.create``,
``engine.automations.create_many``) on an :class:`graphflow.Engine` with a ``MemoryStore``.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from typing import Any

import graphflow

__all__ = [
    "HOST_EVENTS",
    "apps",
    "clear_schedule_caches",
    "cron",
    "event_names",
    "graph",
    "memory_engine",
    "payload",
    "register_host_events",
    "trigger_fleet",
]

#: Three host events beside the 22 built-in platform events: 25 event types in all.
HOST_EVENTS = {
    "billing.invoice_paid": {
        "type": "object",
        "properties": {
            "invoice_id": {"type": "string", "pattern": "^inv_"},
            "amount": {"type": "number"},
            "currency": {"type": "string", "maxLength": 3},
        },
        "required": ["invoice_id", "amount"],
    },
    "orders.order_placed": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "lines": {"type": "array", "items": {"type": "object"}}},
        "required": ["order_id"],
    },
    "support.ticket_closed": {
        "type": "object",
        "properties": {"ticket_id": {"type": "string"}, "closed_at": {"type": "string", "format": "date-time"}},
        "required": ["ticket_id"],
    },
}


def memory_engine(**options: Any) -> graphflow.Engine:
    """An engine on a fresh memory store (``Engine()`` alone would open a SQLite file)."""
    return graphflow.Engine("memory://", **options)


def register_host_events(engine: graphflow.Engine) -> None:
    for name, schema in HOST_EVENTS.items():
        engine.catalogue.register(name, f"benchmark event {name}", schema)


def event_names(engine: graphflow.Engine) -> list[str]:
    """The 25 publishable event types: every public built-in event plus :data:`HOST_EVENTS`."""
    names = sorted(e.name for e in engine.catalogue.list() if not e.name.startswith("workflow."))
    assert len(names) == 25, names
    return names


def _value(name: str, schema: dict[str, Any], index: int) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-03-01T09:30:00Z"
        if schema.get("format") == "email":
            return "ada@example.com"
        pattern = schema.get("pattern", "")
        prefix = pattern[1:].split("[", 1)[0] if pattern.startswith("^") else ""
        return f"{prefix}{name[:3]}{index:06d}"[: schema.get("maxLength", 200)]
    if kind == "integer":
        return 3
    if kind == "number":
        return 12.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [_value(name, schema.get("items", {"type": "string"}), index)] if schema.get("items") else []
    if kind == "object":
        return {}
    return None


def payload(engine: graphflow.Engine, name: str, index: int = 0) -> dict[str, Any]:
    """A payload filling every property of the event's schema (ids, times, enums), checked valid."""
    schema = json.loads(json.dumps(engine.catalogue.get(name).schema, default=dict))
    body = {key: _value(key, spec, index) for key, spec in schema.get("properties", {}).items()}
    engine.catalogue.validate(name, body)
    return body


def graph(events: list[str]) -> graphflow.WorkflowGraph:
    """One trigger node per event, each followed by a ``WorkflowEnd``: the cheapest config to activate."""
    nodes: list[dict[str, Any]] = []
    for i, event in enumerate(events):
        nodes.append({"kind": "WorkflowTrigger", "id": f"t{i}", "trigger": event, "on_success": f"e{i}"})
        nodes.append({"kind": "WorkflowEnd", "id": f"e{i}"})
    return graphflow.load_graph(
        {"kind": "WorkflowGraph", "version": 1, "name": "bench", "start_node": "t0", "nodes": nodes}
    )


def apps(count: int) -> list[str]:
    return [f"app_{k:05d}" for k in range(count)]


async def trigger_fleet(engine: graphflow.Engine, total: int, events: list[str]) -> list[tuple[str, str]]:
    """``total`` running trigger automations: one per (app, event) pair over ``total / 25`` apps.

    Returns the (app, event) pairs, each matched by exactly one automation.
    """
    config = graph(events)
    pairs: list[tuple[str, str]] = []
    for app_id in apps(total // len(events)):
        cfg = await engine.configs.create(app_id, config)
        await engine.automations.create_many(
            app_id,
            [{"name": f"on {event}", "trigger": event, "config_id": cfg.id, "enabled": True} for event in events],
        )
        pairs.extend((app_id, event) for event in events)
    return pairs


def cron(index: int, hour_offset: int = 0) -> str:
    """The ``index``-th of 1,440 daily cron expressions (every minute of the day, ``M H * * *``).

    With ``hour_offset`` the hours start there and skip the two before it (1,320 expressions),
    so none fires within the next hour of a clock whose hour is ``hour_offset - 2``.
    """
    if hour_offset:
        return f"{index % 60} {(hour_offset + (index // 60) % 22) % 24} * * *"
    return f"{index % 60} {(index // 60) % 24} * * *"


def clear_schedule_caches() -> None:
    """Forget every parsed schedule, compiled cron and cached next fire: a fresh process's cost."""
    from graphflow.triggers import cronspec, phrases, scheduler, schedules

    schedules._parse_recurring.cache_clear()
    cronspec.compile_cron.cache_clear()
    phrases.compile_phrase.cache_clear()
    phrases.describe_cron.cache_clear()
    scheduler._schedule.cache_clear()
    scheduler._cron_next.cache_clear()


def shuffled(items: list[Any], seed: int = 7) -> Iterator[Any]:
    """``items`` in a fixed random order, forever."""
    order = list(items)
    random.Random(seed).shuffle(order)
    return itertools.cycle(order)
