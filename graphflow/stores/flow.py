"""Flow-control decisions every store makes alike (see :meth:`graphflow.abc.Store.accept_event`).

The stores differ in how they read and lock the state of a key (a dict in memory, a
``BEGIN IMMEDIATE`` transaction in SQLite, a per-key advisory lock in PostgreSQL); what they
decide from it is here, once:

* **debounce** — the first event of a burst stores a *holder*: a pending run with a timer
  (``wake_at``) and ``waiting_for = {"kind": "debounce", "key", "first_at"}``; each later event of
  the burst moves its payload and event id into the holder and pushes the timer to ``now +
  period``, never past ``first_at + max_wait``. A claimed holder is no longer one (claiming clears
  ``waiting_for``), so the next event starts a new burst.
* **throttle** — a sliding log of admissions per key (``flow_slots``): a run is admitted now when
  fewer than ``limit`` admissions fall in the last ``period``; otherwise it is dropped, or (with
  ``delay``) admitted at the time the ``limit``-th latest admission leaves the window, as a timer
  — unless that is more than :data:`MAX_FLOW_PERIOD` away (then dropped). An admission whose run
  was cancelled before it started no longer counts.
* **concurrency** — a run is admitted when fewer than ``limit`` runs of its key are *active*
  (pending or running, not queued); otherwise it is stored queued (``wake_at =``
  :data:`~graphflow.records.QUEUED_AT`, ``waiting_for = {"kind": "concurrency", "key"}``), and
  ``promote_queued`` makes the oldest claimable when an active one ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphflow.records import QUEUED_AT, AutomationRun, FlowPolicy

__all__ = [
    "MAX_FLOW_PERIOD",
    "MERGED",
    "QUEUED_SQL",
    "debounce_holder",
    "debounce_merge",
    "is_debounce_holder",
    "merged_values",
    "queue",
    "throttle_start",
    "throttled",
]

#: :data:`~graphflow.records.QUEUED_AT` as SQL text: the partial indexes of active and queued runs
#: name it literally, so the statements that must use them do too.
QUEUED_SQL = "253402300800"
assert float(QUEUED_SQL) == QUEUED_AT

#: The longest debounce, max wait or throttle period (seconds): admissions older than this are never read.
MAX_FLOW_PERIOD = 7 * 86400.0


def debounce_holder(run: AutomationRun, policy: FlowPolicy, now: float) -> None:
    """Make ``run`` the holder of a new burst (its timer set ``period`` from ``now``)."""
    run.wake_at = _debounce_due(policy, now, now)
    run.waiting_for = {"kind": "debounce", "key": run.flow_key, "first_at": now}


def debounce_merge(holder: AutomationRun, run: AutomationRun, policy: FlowPolicy, now: float) -> None:
    """Move a later event of the burst (``run``) into its ``holder``: payload, event id, timer."""
    first = (holder.waiting_for or {}).get("first_at", now)
    holder.payload = run.payload
    holder.event_id = run.event_id
    holder.causation = run.causation
    holder.trace_context = run.trace_context
    holder.updated_at = now
    holder.wake_at = _debounce_due(policy, float(first), now)


#: What a merge writes into a debounce holder, as ``column = placeholder`` pairs (then its id).
MERGED = ("payload", "event_id", "causation", "trace_context", "updated_at", "wake_at")


def merged_values(holder: AutomationRun, encode: Callable[[Any, str], Any]) -> list[Any]:
    """The values of :data:`MERGED` of a merged holder, then its id; ``encode`` writes the JSON ones."""
    return [
        encode(holder.payload, f"run {holder.id!r} payload"),
        holder.event_id,
        None if holder.causation is None else encode(holder.causation, "causation"),
        None if holder.trace_context is None else encode(holder.trace_context, "trace_context"),
        holder.updated_at,
        holder.wake_at,
        holder.id,
    ]


def _debounce_due(policy: FlowPolicy, first: float, now: float) -> float:
    due = now + policy.period
    return due if policy.max_wait is None else min(due, first + policy.max_wait)


def is_debounce_holder(run: AutomationRun) -> bool:
    """Whether a stored run is an unclaimed debounce holder."""
    return run.status == "pending" and run.waiting_for is not None and run.waiting_for.get("kind") == "debounce"


def throttle_start(policy: FlowPolicy, now: float, latest: float | None) -> float | None:
    """When a throttled run may start (``now``, later, or ``None``: dropped).

    ``latest`` is the ``limit``-th latest admission of the key after ``now - period`` (``None``
    when there are fewer).
    """
    if latest is None:
        return now
    if not policy.delay:
        return None
    start = max(now, latest + policy.period)
    return start if start - now <= MAX_FLOW_PERIOD else None  # a week of backlog at most: the rest dropped


def queue(run: AutomationRun) -> None:
    """Store ``run`` queued behind its key's concurrency limit."""
    run.wake_at = QUEUED_AT
    run.waiting_for = {"kind": "concurrency", "key": run.flow_key}


def throttled(run: AutomationRun, start: float, now: float) -> None:
    """Make ``run`` start at ``start``: a timer, when that is later than ``now``."""
    if start > now:
        run.wake_at = start
        run.waiting_for = {"kind": "throttle", "key": run.flow_key, "until": start}
