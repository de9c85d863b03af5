"""``graphflow create/update automation`` with flow-control options, good and bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.runner import Cli
from tests.cli.test_cli_manage import WELCOME, data, ok


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{tmp_path / 'flow.db'}", "--app", "app_cli"]


def test_flow_options_are_stored_and_shown(cli: Cli, db: list[str]) -> None:
    config_id = data(cli("create", "config", "-f", str(WELCOME), *db, "--json"))["id"]
    created = data(
        cli("create", "automation", "-n", "w", "--trigger", "thread.member_joined", "--config-id", config_id,
            "--concurrency", "2", "--cancel-on", '{"event": "thread.deleted"}', *db, "--json")
    )  # fmt: skip
    assert created["concurrency"] == {"limit": 2, "key": None}
    assert created["cancel_on"] == [{"event": "thread.deleted", "key": None, "filter": None}]
    updated = data(
        cli("update", "automation", created["id"], "--concurrency", "null",
            "--debounce", '{"period": "30s", "key": "$.thread_id"}', *db, "--json")
    )  # fmt: skip
    assert updated["concurrency"] is None
    assert updated["debounce"] == {"period": 30.0, "max_wait": None, "key": "$.thread_id"}
    shown = ok(cli("describe", "automation", created["id"], *db)).out
    assert "debounce" in shown and "$.thread_id" in shown


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--concurrency", "0", "$.concurrency.limit"),
        ("--concurrency", "{", "--concurrency"),
        ("--throttle", '{"limit": 2}', "$.throttle.period"),
        ("--debounce", '{"period": "soon"}', "$.debounce.period"),
        ("--cancel-on", '{"event": "nope.never"}', "$.cancel_on[0].event"),
    ],
)
def test_bad_flow_options_say_what_is_wrong_and_store_nothing(
    cli: Cli, db: list[str], option: str, value: str, said: str
) -> None:
    config_id = data(cli("create", "config", "-f", str(WELCOME), *db, "--json"))["id"]
    result = cli(
        "create", "automation", "-n", "w", "--trigger", "thread.member_joined", "--config-id", config_id,
        option, value, *db,
    )  # fmt: skip
    assert result.exit_code != 0 and said in result.err
    assert data(cli("list", "automations", *db, "--json"))["data"] == []
