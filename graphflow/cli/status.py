"""``graphflow status``: the queue, the workers seen and overdue schedules of a database or a server.

Workers are seen through their leases (the schema has no table of workers): a worker executing
runs holds a lease on each, renewed every ``lease / 3`` seconds, so the latest expiry is its last
heartbeat plus the lease. An idle worker holds no lease and is not listed.
"""

from __future__ import annotations

import os
import time
from typing import Any

from graphflow.cli.errors import CommandFailedError, UsageError
from graphflow.cli.output import echo, print_json, table

__all__ = ["status"]


def status(
    database_url: str | None, server: str | None, key: str | None, late_after: float, limit: int, as_json: bool
) -> int:
    """Print the status; exit 1 when a schedule is overdue or a worker's leases expired (something to look at)."""
    import anyio

    from graphflow.cli.connection import server_mode

    if server and database_url:
        raise UsageError("give --database-url (direct mode) or --server (server mode), not both")
    if server_mode(database_url, server):
        server = (server or os.environ["GRAPHFLOW_SERVER"]).rstrip("/")
        if not server.startswith(("http://", "https://")) or not server.split("://", 1)[1]:
            raise UsageError(f"--server must be an http:// or https:// URL, got {server!r}")
        from graphflow.cli.remote import operator_status

        key = key or os.environ.get("GRAPHFLOW_API_KEY")
        document = anyio.run(operator_status, server, key, {"late_after": late_after, "limit": limit})
    else:
        document = anyio.run(_direct, database_url, late_after, limit)
    if as_json:
        print_json(document)
    else:
        _print(document)
    troubled = document["late_schedules"] or document["queue"]["expired_leases"]
    return 1 if troubled else 0


async def _direct(database_url: str | None, late_after: float, limit: int) -> dict[str, Any]:
    from graphflow.cli.database import store_at
    from graphflow.exceptions import StoreError
    from graphflow.observability.health import status_document
    from graphflow.stores import default_database_url

    url = database_url or default_database_url()
    store = store_at(url, must_exist=True)
    if not store.durable:
        raise UsageError(
            "--database-url memory:// holds nothing between commands; give sqlite:///FILE or postgresql://"
        )
    try:
        await store.start()
        try:
            now = time.time()
            return status_document(await store.status(now, late_after=late_after, limit=limit), now)
        finally:
            await store.close()
    except StoreError as exc:
        raise CommandFailedError(f"{exc.code}: {exc.message}") from None


def _print(document: dict[str, Any]) -> None:
    queue = document["queue"]
    cap = queue["cap"]

    def count(n: int) -> str:
        return f"{n}+" if n >= cap else str(n)

    age = queue["oldest_pending_age"]
    echo(f"schema      {document['schema_version']} (this graphflow: {document['expected_schema_version']})")
    echo(
        f"queue       {count(queue['pending'])} pending"
        + (f" (oldest waiting {age:.1f}s)" if age is not None else "")
        + f" · {count(queue['running'])} running · {count(queue['parked'])} parked"
        + f" · {count(queue['expired_leases'])} expired leases"
    )
    workers = document["workers"]
    echo(f"workers     {len(workers)} seen holding leases (idle workers hold none)")
    if workers:
        rows = [(w["worker_id"], str(w["runs"]), w["lease_expires_at"], "yes" if w["alive"] else "NO") for w in workers]
        echo(table(["  WORKER", "RUNS", "LEASE UNTIL", "ALIVE"], [("  " + r[0], *r[1:]) for r in rows]))
    late = document["late_schedules"]
    echo(f"late        {len(late)} schedule(s) overdue")
    if late:
        rows = [("  " + s["automation_id"], s["app_id"], s["next_run_at"], f"{s['late_by']:.0f}s") for s in late]
        echo(table(["  AUTOMATION", "APP", "DUE", "LATE BY"], rows))
