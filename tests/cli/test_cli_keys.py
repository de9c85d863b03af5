"""``graphflow keys`` on the database, and the keys it makes used in server mode against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.server import live_server
from tests.cli.runner import Cli

APP = "app_keys"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("GRAPHFLOW_DATABASE_URL", "GRAPHFLOW_SERVER", "GRAPHFLOW_API_KEY", "GRAPHFLOW_APP"):
        monkeypatch.delenv(name, raising=False)
    return f"sqlite:///{tmp_path / 'keys.db'}"


def test_create_list_revoke(cli: Cli, url: str) -> None:
    db = ["--app", APP, "--database-url", url]
    created = cli("keys", "create", "--name", "ci", *db)
    assert created.exit_code == 0, created.output
    secret = created.out.strip()
    assert secret.startswith("gfk_") and len(secret) == 47 and "\n" not in secret  # the secret alone on stdout
    assert "shown only now" in created.err and "key_" in created.err

    listed = json.loads(cli("keys", "list", *db, "--json").out)["data"]
    assert [(k["name"], k["revoked_at"]) for k in listed] == [("ci", None)]
    assert secret not in json.dumps(listed)  # never the secret, nor printed again
    key_id = listed[0]["id"]
    table = cli("keys", "list", *db).out
    assert key_id in table and "active" in table and secret not in table

    assert cli("keys", "revoke", key_id, *db).out.strip() == f"revoked {key_id}"
    assert "revoked 20" in cli("keys", "list", *db).out
    assert json.loads(cli("keys", "list", *db, "--json").out)["data"][0]["revoked_at"] is not None
    other = cli("keys", "revoke", key_id, "--app", "app_other", "--database-url", url)
    assert other.exit_code == 1 and "not_found" in other.err  # another app's key is not found
    as_json = json.loads(cli("keys", "create", *db, "--json").out)
    assert as_json["secret"].startswith("gfk_") and as_json["key"]["app_id"] == APP and "secret" not in as_json["key"]


def test_a_key_made_by_the_cli_opens_the_server_and_revoking_it_closes_it(cli: Cli, url: str) -> None:
    secret = cli("keys", "create", "--app", APP, "--database-url", url).out.strip()
    with live_server(url, max_concurrent_runs=1) as live:  # API keys: no host auth
        server = ["--app", APP, "--server", live.url, "--key", secret]
        assert json.loads(cli("list", "automations", *server, "--json").out) == {"data": [], "next_cursor": None}
        foreign = cli("list", "automations", "--app", "app_other", "--server", live.url, "--key", secret)
        assert foreign.exit_code == 1 and "not_found" in foreign.err
        key_id = json.loads(cli("keys", "list", "--app", APP, "--database-url", url, "--json").out)["data"][0]["id"]
        assert cli("keys", "revoke", key_id, "--app", APP, "--database-url", url).exit_code == 0
        refused = cli("list", "automations", *server)
        assert refused.exit_code == 1 and refused.err.startswith("graphflow: unauthorized:")
