"""API key commands: ``keys create|list|revoke`` (arguments in ``parser.py``).

Keys are minted on the database (direct mode): a key cannot make keys, so these commands refuse
``--server``. The secret is printed once, at creation; only its SHA-256 is stored.
"""

from __future__ import annotations

from graphflow.cli.automations import Where, call, when
from graphflow.cli.connection import server_mode
from graphflow.cli.errors import UsageError
from graphflow.cli.output import echo, print_json, table

__all__ = ["create_key", "list_keys", "revoke_key"]


def _direct(where: dict[str, Where], command: str) -> dict[str, Where]:
    """``where`` for direct mode; ``--server`` is refused (an explicit one, or $GRAPHFLOW_SERVER alone)."""
    if server_mode(where.get("database_url"), where.get("server")):
        raise UsageError(
            f"'graphflow keys {command}' works on the database: give --database-url (or set "
            "GRAPHFLOW_DATABASE_URL and unset GRAPHFLOW_SERVER), not --server"
        )
    return {**where, "server": None, "key": None}


def create_key(name: str | None, as_json: bool, **where: Where) -> int:
    """Create an API key for the app and print its secret (this once only)."""
    created = call(lambda c: c.create_key(name), _direct(where, "create"), must_exist=False)
    if as_json:
        print_json(created)
        return 0
    key = created["key"]
    echo(created["secret"])
    import sys

    sys.stderr.write(
        f"graphflow: API key {key['id']} for app {key['app_id']} created; the secret above is shown only now: "
        "store it (clients send it as 'Authorization: Bearer SECRET')\n"
    )
    return 0


def list_keys(as_json: bool, **where: Where) -> int:
    """List the app's API keys (never their secrets)."""
    keys = call(lambda c: c.list_keys(), _direct(where, "list"))
    if as_json:
        print_json({"data": keys})
        return 0
    rows = (
        (
            k["id"],
            k.get("name") or "-",
            when(k.get("created_at")),
            "revoked " + when(k["revoked_at"]) if k.get("revoked_at") else "active",
        )
        for k in keys
    )
    echo(table(("id", "name", "created", "state"), rows))
    return 0


def revoke_key(key_id: str, as_json: bool, **where: Where) -> int:
    """Revoke an API key: requests and open streams with it are refused from now on."""
    key = call(lambda c: c.revoke_key(key_id), _direct(where, "revoke"))
    if as_json:
        print_json(key)
    else:
        echo(f"revoked {key['id']}")
    return 0
