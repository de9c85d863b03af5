"""Memory across runs: what a run of an automation reads (``memory``, ``previous_runs``) and writes.

A graph that names ``memory`` or ``previous_runs`` (or has a ``WorkflowRemember`` node) gets, at
the start of each run, its automation's memory document and the results of its last completed
runs, under reserved ``env`` keys that scripts read as those names
(:data:`graphflow.scripts.lexer.MEMORY_ROOTS`). Other graphs load nothing: no round trip.

A write (:meth:`Memory.rememberer`) is held until the node that made it is checkpointed, and the
store writes both in one transaction (:meth:`graphflow.abc.Store.save_memory`); on the memory
store, which checkpoints nothing, it is written at once.
"""

from __future__ import annotations

from typing import Any

from graphflow.abc import Rememberer
from graphflow.engine.core import EngineCore
from graphflow.exceptions import NodeExecutionError, StoreError
from graphflow.records import AutomationRun, iso
from graphflow.scripts.lexer import MEMORY_ROOTS
from graphflow.stores.base import encode_json

__all__ = ["MAX_MEMORY_CHARS", "MAX_PREVIOUS_CHARS", "Memory"]

#: The largest memory document, as compact JSON.
MAX_MEMORY_CHARS = 64 * 1024
#: ``previous_runs`` holds as many of the last completed runs as fit in this (newest first).
MAX_PREVIOUS_CHARS = 256 * 1024


class Memory(EngineCore):
    """Loading an automation's memory for a run, and writing it from one."""

    #: How many completed runs ``previous_runs`` lists (newest first).
    previous_runs: int

    async def memory_env(self, run: AutomationRun) -> dict[str, Any]:
        """The ``env`` entries scripts read as ``memory`` and ``previous_runs`` (two store reads)."""
        store = self.store
        memory = await self._retrying(store.get_memory, run.app_id, run.automation_id)
        page = await self._retrying(
            store.list_runs,
            run.app_id,
            run.automation_id,
            status="completed",
            cursor=None,
            limit=self.previous_runs + 1,
        )
        previous: list[dict[str, Any]] = []
        budget = MAX_PREVIOUS_CHARS
        for done in page.data:
            if done.id == run.id or len(previous) == self.previous_runs:
                continue
            entry = {
                "run_id": done.id,
                "finished_at": iso(done.finished_at),
                "payload": (done.result or {}).get("payload"),
            }
            budget -= len(encode_json(entry, "a previous run"))
            if budget < 0:
                break
            previous.append(entry)
        return {MEMORY_ROOTS["memory"]: memory, MEMORY_ROOTS["previous_runs"]: previous}

    def rememberer(self, run: AutomationRun, fence: int, pending: dict[str, Any]) -> Rememberer:
        """The run's ``remember``: checks the document, then holds it for its node's checkpoint (durable)."""
        store = self.store

        async def remember(key: str, document: Any) -> None:
            try:
                size = len(encode_json(document, "the memory document"))
            except StoreError as exc:
                raise NodeExecutionError(exc.message, code="validation_error", retryable=False) from None
            if size > MAX_MEMORY_CHARS:
                raise NodeExecutionError(
                    f"the memory document is {size:,} characters of JSON; the limit is {MAX_MEMORY_CHARS:,}: "
                    "keep a summary (ids, dates), not the data",
                    code="limit_exceeded",
                    retryable=False,
                )
            if store.durable:
                pending[key] = document  # written with this node's checkpoint
            else:
                await store.save_memory(run.id, fence, document)

        return remember
