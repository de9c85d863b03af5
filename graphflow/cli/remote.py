"""Server mode: the management operations over a graphflow server's REST routes and SSE streams.

Every request carries ``Authorization: Bearer KEY``; an error body ``{"error": {"code", "message",
"details"}}`` becomes a one-line failure (with every problem of a validation error). A stream that
drops is resumed with ``Last-Event-ID``, so no event is lost and none is printed twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn
from urllib.parse import quote

import anyio
import httpx

from graphflow.cli.client import Client, Target, Transition
from graphflow.cli.errors import CommandFailedError, UsageError

__all__ = ["HttpClient"]

#: Seconds a request may take (a stream waits on its next frame for as long as it needs).
TIMEOUT = 30.0
#: Reconnections tried, ``RETRY`` seconds apart, when a stream drops before it ended.
RECONNECTS = 5
RETRY = 1.0
#: Seconds between looks at a run ``trigger --wait`` waits for.
POLL = 0.5


def _id(value: str) -> str:
    """An id as one path segment (a stray ``/`` or ``..`` cannot reach another route)."""
    return quote(value, safe="")


class HttpClient(Client):
    """The operations of one app through a graphflow server."""

    def __init__(self, app: str, server: str, http: httpx.AsyncClient) -> None:
        super().__init__(app)
        self.server = server
        self.http = http
        self.base = f"/v1/apps/{_id(app)}"

    @classmethod
    @asynccontextmanager
    async def open(cls, target: Target) -> AsyncIterator[HttpClient]:
        """An HTTP client for ``target.server`` with its key, for the ``async with`` block."""
        assert target.server is not None and target.key is not None
        headers = {"Authorization": f"Bearer {target.key}", "Accept": "application/json"}
        async with httpx.AsyncClient(base_url=target.server, headers=headers, timeout=TIMEOUT) as http:
            yield cls(target.app, target.server, http)

    async def _call(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            if body is not None:
                kwargs["json"] = body
            response = await self.http.request(method, self.base + path, params=query, **kwargs)
        except httpx.TransportError as exc:
            self._unreachable(exc)
        if response.status_code >= 400:
            self._refused(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CommandFailedError(
                f"the server at {self.server} answered {method} {path} with something that is not JSON; "
                "is --server a graphflow server?"
            ) from None

    def _unreachable(self, exc: httpx.TransportError) -> NoReturn:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.UnsupportedProtocol):
            raise UsageError(f"cannot reach the server at {self.server} ({reason}); check --server") from None
        raise CommandFailedError(f"the server at {self.server} did not answer ({reason})") from None

    def _refused(self, response: httpx.Response) -> NoReturn:
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            text = " ".join(response.text.split())[:200]
            raise CommandFailedError(f"HTTP {response.status_code} from {self.server}: {text}") from None
        problems = (error.get("details") or {}).get("problems") if isinstance(error.get("details"), dict) else None
        if problems and "\n" not in message:
            lines = "".join(f"\n  - {p.get('path', '$')}: {p.get('message', '')}" for p in problems)
            message += lines
        raise CommandFailedError(f"{code}: {message}")

    async def list_automations(self, *, type: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
        return dict(await self._call("GET", "/automations", params={"type": type, "cursor": cursor, "limit": limit}))

    async def create_automation(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return dict(await self._call("POST", "/automations", body=dict(fields)))

    async def get_automation(self, automation_id: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/automations/{_id(automation_id)}"))

    async def update_automation(self, automation_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return dict(await self._call("PATCH", f"/automations/{_id(automation_id)}", body=dict(fields)))

    async def delete_automation(self, automation_id: str) -> None:
        await self._call("DELETE", f"/automations/{_id(automation_id)}")

    async def transition(self, automation_id: str, action: Transition, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if action == "pause" and reason is not None else None
        return dict(await self._call("POST", f"/automations/{_id(automation_id)}/{action}", body=body))

    async def trigger(self, automation_id: str, payload: Any) -> dict[str, Any]:
        body = {"payload": payload} if payload is not None else {}
        return dict(await self._call("POST", f"/automations/{_id(automation_id)}/trigger", body=body))

    async def list_runs(
        self, automation_id: str, *, status: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        params = {"status": status, "cursor": cursor, "limit": limit}
        return dict(await self._call("GET", f"/automations/{_id(automation_id)}/runs", params=params))

    async def get_run(self, run_id: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/automations/runs/{_id(run_id)}"))

    async def cancel_run(self, run_id: str) -> dict[str, Any]:
        return dict(await self._call("POST", f"/automations/runs/{_id(run_id)}/cancel"))

    async def wait_for_run(self, run_id: str) -> dict[str, Any]:
        from graphflow.records import TERMINAL_RUN_STATUSES

        while True:  # polling works against every server; a second between looks is plenty for a person
            run = await self.get_run(run_id)
            if run.get("status") in TERMINAL_RUN_STATUSES:
                return run
            await anyio.sleep(POLL)

    async def create_config(self, text: str, *, yaml: bool) -> dict[str, Any]:
        kind = "application/yaml" if yaml else "application/json"
        return dict(await self._call("POST", "/configs", content=text.encode("utf-8"), headers={"Content-Type": kind}))

    async def list_configs(self, *, cursor: str | None, limit: int) -> dict[str, Any]:
        return dict(await self._call("GET", "/configs", params={"cursor": cursor, "limit": limit}))

    async def invoke(
        self, automation_id: str, payload: Any, *, idempotency_key: str | None, wait: bool, timeout: float | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"payload": {} if payload is None else payload, "wait": wait}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        if timeout is not None:
            body["timeout"] = timeout
        path = f"/automations/{_id(automation_id)}/invoke"
        if wait:  # the server answers once the run ended: give the request that long, and some
            return dict(await self._call("POST", path, body=body, timeout=(timeout or 30.0) + 10.0))
        return dict(await self._call("POST", path, body=body))

    async def list_steering(
        self, *, status: str | None, run_id: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        params = {"status": status, "run_id": run_id, "cursor": cursor, "limit": limit}
        return dict(await self._call("GET", "/steering_requests", params=params))

    async def get_steering(self, request_id: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/steering_requests/{_id(request_id)}"))

    async def steer(self, request_id: str, choice: str, *, note: str | None, by: str | None) -> dict[str, Any]:
        body = {"choice": choice, **({"note": note} if note is not None else {}), **({"by": by} if by else {})}
        return dict(await self._call("POST", f"/steering_requests/{_id(request_id)}", body=body))

    async def publish(self, name: str, payload: Any, event_id: str | None) -> dict[str, Any]:
        body = {"name": name, "payload": payload, **({"id": event_id} if event_id is not None else {})}
        return dict(await self._call("POST", "/events", body=body))

    async def events(
        self, *, after: int | None, run_id: str | None, types: frozenset[str] | None
    ) -> AsyncIterator[dict[str, Any]]:
        path = f"{self.base}/automations/runs/{_id(run_id)}/stream" if run_id else f"{self.base}/stream"
        params = {"types": ",".join(sorted(types))} if types else {}
        last = after
        failures = 0
        while True:
            headers = {"Last-Event-ID": str(last)} if last is not None else {}
            try:
                async for event in self._frames(path, params, headers):
                    seq = event.get("seq")
                    if isinstance(seq, int):
                        if last is not None and seq <= last:
                            continue  # already printed (a replay the server should not have sent)
                        last, failures = seq, 0  # progress: the reconnection budget starts again
                    yield event
                return  # the server ended the stream (a run's stream ends after its terminal event)
            except httpx.TransportError as exc:
                failures += 1
                if failures > RECONNECTS or (isinstance(exc, httpx.ConnectError) and last is None):
                    self._unreachable(exc)
                await anyio.sleep(RETRY)

    async def _frames(
        self, path: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one SSE connection, each frame's ``data`` parsed (``id``/``event`` filled in)."""
        timeout = httpx.Timeout(TIMEOUT, read=None)
        async with self.http.stream(
            "GET", path, params=params, headers={**headers, "Accept": "text/event-stream"}, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                self._refused(response)
            frame: dict[str, str] = {}
            data: list[str] = []
            async for line in response.aiter_lines():
                if line:
                    if not line.startswith(":"):  # a comment: the heartbeat
                        field, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if field == "data":
                            data.append(value)
                        else:
                            frame[field] = value
                    continue
                if data:
                    yield _event(frame, "\n".join(data))
                frame, data = {}, []


def _event(frame: Mapping[str, str], data: str) -> dict[str, Any]:
    """One frame as ``StreamEvent.to_dict()`` (its ``id`` is the event's ``seq``, its ``event`` the type)."""
    try:
        body = json.loads(data)
    except ValueError:
        body = {"data": data}
    event = body if isinstance(body, dict) and "type" in body else {"data": body}
    if "id" in frame and frame["id"].isdigit():
        event.setdefault("seq", int(frame["id"]))
    if "event" in frame:
        event.setdefault("type", frame["event"])
    return event


async def operator_status(server: str, key: str | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /v1/status`` of a server (an operator endpoint: ``key`` as the server asks, see docs/howto/operate.md)."""
    headers = {"Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    async with httpx.AsyncClient(base_url=server, headers=headers, timeout=TIMEOUT) as http:
        client = HttpClient("", server, http)
        try:
            response = await http.get("/v1/status", params=dict(params))
        except httpx.TransportError as exc:
            client._unreachable(exc)
        if response.status_code >= 400:
            client._refused(response)
        try:
            return dict(response.json())
        except ValueError:
            raise CommandFailedError(
                f"the server at {server} answered GET /v1/status with something that is not JSON; "
                "is --server a graphflow server?"
            ) from None
