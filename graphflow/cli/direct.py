"""Direct mode: the management operations on the database, through a publishing engine.

The engine is started with ``max_concurrent_runs=0``: it stores, publishes and reads, and never
executes or claims a run, so a command can never take work from the workers (``graphflow worker``
or ``graphflow serve``) that execute the runs it starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from graphflow.cli.client import Client, Target, Transition
from graphflow.cli.errors import UsageError

if TYPE_CHECKING:
    from graphflow.engine.engine import Engine

__all__ = ["DirectClient"]

#: Seconds a follower waits for a store hint before it reads the event log again.
POLL = 1.0


class DirectClient(Client):
    """The operations of one app over an :class:`~graphflow.engine.engine.Engine` on the database."""

    def __init__(self, app: str, engine: Engine) -> None:
        super().__init__(app)
        self.engine = engine

    @classmethod
    @asynccontextmanager
    async def open(cls, target: Target) -> AsyncIterator[DirectClient]:
        """A started publishing engine on ``target.database_url``, for the ``async with`` block.

        Raises:
            UsageError: the database cannot be opened (unreachable, not a database, a newer schema).
        """
        from graphflow.engine.engine import Engine
        from graphflow.exceptions import StoreError

        assert target.database_url is not None
        engine = Engine(target.database_url, max_concurrent_runs=0)
        try:
            await engine.__aenter__()
        except StoreError as exc:
            raise UsageError(f"{exc.code}: {exc}") from None
        try:
            yield cls(target.app, engine)
        finally:
            await engine.__aexit__(None, None, None)

    async def list_automations(self, *, type: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
        page = await self.engine.automations.list(self.app, type=type, cursor=cursor, limit=limit)
        return page.to_dict()

    async def create_automation(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return (await self.engine.automations.create(self.app, fields)).to_dict()

    async def get_automation(self, automation_id: str) -> dict[str, Any]:
        return (await self.engine.automations.get(self.app, automation_id)).to_dict()

    async def update_automation(self, automation_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return (await self.engine.automations.update(self.app, automation_id, fields)).to_dict()

    async def delete_automation(self, automation_id: str) -> None:
        await self.engine.automations.delete(self.app, automation_id)

    async def transition(self, automation_id: str, action: Transition, reason: str | None = None) -> dict[str, Any]:
        service = self.engine.automations
        if action == "pause":
            return (await service.pause(self.app, automation_id, reason)).to_dict()
        move = service.activate if action == "activate" else service.reset
        return (await move(self.app, automation_id)).to_dict()

    async def trigger(self, automation_id: str, payload: Any) -> dict[str, Any]:
        return {"run_id": await self.engine.automations.trigger(self.app, automation_id, payload)}

    async def list_runs(
        self, automation_id: str, *, status: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        page = await self.engine.automations.runs(self.app, automation_id, status=status, cursor=cursor, limit=limit)
        return {"data": [run.to_dict(journal=False) for run in page.data], "next_cursor": page.next_cursor}

    async def get_run(self, run_id: str) -> dict[str, Any]:
        return (await self.engine.automations.run(self.app, run_id)).to_dict()

    async def cancel_run(self, run_id: str) -> dict[str, Any]:
        return (await self.engine.automations.cancel_run(self.app, run_id)).to_dict()

    async def wait_for_run(self, run_id: str) -> dict[str, Any]:
        return (await self.engine.wait_for_run(self.app, run_id)).to_dict()

    async def create_config(self, text: str, *, yaml: bool) -> dict[str, Any]:
        return (await self.engine.configs.create(self.app, text=text)).to_dict()

    async def list_configs(self, *, cursor: str | None, limit: int) -> dict[str, Any]:
        return (await self.engine.configs.list(self.app, cursor=cursor, limit=limit)).to_dict()

    async def publish(self, name: str, payload: Any, event_id: str | None) -> dict[str, Any]:
        result = await self.engine.publish(self.app, name, payload, id=event_id)
        return {
            "event_id": result.event_id,
            "duplicate": result.duplicate,
            "run_ids": list(result.run_ids),
            "woken_run_ids": list(result.woken_run_ids),
        }

    async def invoke(
        self, automation_id: str, payload: Any, *, idempotency_key: str | None, wait: bool, timeout: float | None
    ) -> dict[str, Any]:
        run = await self.engine.automations.invoke(
            self.app, automation_id, payload, idempotency_key=idempotency_key, wait=wait, timeout=timeout
        )
        return run.to_dict(journal=wait)

    async def list_steering(
        self, *, status: str | None, run_id: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        page = await self.engine.steering.list(self.app, status=status, run_id=run_id, cursor=cursor, limit=limit)
        return page.to_dict()

    async def get_steering(self, request_id: str) -> dict[str, Any]:
        return (await self.engine.steering.get(self.app, request_id)).to_dict()

    async def steer(self, request_id: str, choice: str, *, note: str | None, by: str | None) -> dict[str, Any]:
        return (await self.engine.steering.respond(self.app, request_id, choice, note=note, by=by)).to_dict()

    async def events(
        self, *, after: int | None, run_id: str | None, types: frozenset[str] | None
    ) -> AsyncIterator[dict[str, Any]]:
        stream = self.engine.stream
        if run_id is not None:
            await self.engine.automations.run(self.app, run_id)  # NotFoundError for another app's run
        seen = after if after is not None else (0 if run_id else await stream.last_seq(self.app))
        while True:
            batch = await stream.read(self.app, seen, run_id=run_id, types=types, limit=100)
            for event in batch:
                seen = event.seq
                yield event.to_dict()
            if not batch:
                await stream.wait(POLL)

    async def create_key(self, name: str | None) -> dict[str, Any]:
        key, secret = await self.engine.keys.create(self.app, name=name)
        return {"key": key.to_dict(), "secret": secret}

    async def list_keys(self) -> list[dict[str, Any]]:
        return [key.to_dict() for key in await self.engine.keys.list(self.app)]

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        return (await self.engine.keys.revoke(self.app, key_id)).to_dict()
