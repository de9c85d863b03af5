"""``graphflow status``: bad arguments, a database (queue, late schedules) and a server (its key)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from graphflow import Engine, FakeClock
from tests.api.server import live_server, token_auth
from tests.cli.runner import Cli
from tests.cli.test_cli_worker import pending_run
from tests.conftest import graph_dict

APP = "app_cli"
LONG_AGO = 1_600_000_000.0  # 2020-09-13: a schedule activated then and never fired since is overdue


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRAPHFLOW_DATABASE_URL", "GRAPHFLOW_SERVER", "GRAPHFLOW_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "--limit"),
        (["--late-after", "-1"], "--late-after"),
        (["--database-url", "memory://"], "holds nothing"),
        (["--database-url", "sqlite:///nowhere/none.db"], "no database"),
        (["--database-url", "mysql://x"], "--database-url"),
        (["--server", "ftp://x"], "--server must be"),
        (["--server", "http://x", "--database-url", "sqlite:///x.db"], "not both"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(cli: Cli, args: list[str], message: str) -> None:
    result = cli("status", *args)
    assert result.exit_code == 2 and message in result.err and "Traceback" not in result.output


async def _overdue_schedule(url: str) -> str:
    async with Engine(url, clock=FakeClock(LONG_AGO), max_concurrent_runs=0) as engine:  # claims nothing
        config = await engine.configs.create(
            APP, graph_dict({"kind": "WorkflowScript", "id": "s", "source": "1"}, trigger="workflow.scheduled")
        )
        automation = await engine.automations.create(
            APP, name="daily", type="scheduled", schedule="0 9 * * *", config_id=config.id, enabled=True
        )
        return automation.id


def test_a_database_shows_its_queue_and_overdue_schedules(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'status.db'}"
    anyio.run(pending_run, url)
    assert cli("status", "--database-url", url).exit_code == 0  # all well: one run waits, nothing is late
    late_id = anyio.run(_overdue_schedule, url)
    result = cli("status", "--database-url", url)
    assert result.exit_code == 1, result.output
    assert "1 pending" in result.out and late_id in result.out and "1 schedule(s) overdue" in result.out
    document = json.loads(cli("status", "--database-url", url, "--json").out)
    assert document["queue"]["pending"] == 1 and document["workers"] == []
    [late] = document["late_schedules"]
    assert (late["automation_id"], late["app_id"]) == (late_id, APP) and late["late_by"] > 0
    assert (
        json.loads(cli("status", "--database-url", url, "--json", "--late-after", "1e12").out)["late_schedules"] == []
    )


def test_a_server_answers_with_a_key_only(cli: Cli) -> None:
    with live_server(auth=token_auth) as live:
        document = json.loads(cli("status", "--server", live.url, "--key", "key-app_ops", "--json").out)
        assert document["queue"]["pending"] == 0 and "schema_version" in document
        refused = cli("status", "--server", live.url)
        assert refused.exit_code == 1 and "unauthorized" in refused.err
