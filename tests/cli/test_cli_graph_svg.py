"""``graphflow graph --format svg``: a file's picture, and a run's path from the database or a server."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import anyio

from graphflow.engine.engine import Engine
from tests.api.server import live_server, token_auth
from tests.cli.runner import Cli

WELCOME = Path(__file__).resolve().parents[2] / "docs" / "examples" / "welcome.yaml"
JOINED = {"thread_id": "thr_1", "user_id": "usr_9", "user": {"vip": True, "name": "Ada"}}


def _classes(svg: str) -> dict[str, str]:
    root = ET.fromstring(svg)
    return {
        g.get("data-node", ""): g.get("class", "")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("data-node")
    }


async def _welcomed(engine: Engine, app_id: str) -> str:
    """A finished run of the welcome graph (the VIP branch)."""
    config = await engine.configs.create(app_id, text=WELCOME.read_text())
    await engine.automations.create(
        app_id, {"name": "w", "trigger": "thread.member_joined", "config_id": config.id, "enabled": True}
    )
    published = await engine.publish(app_id, "thread.member_joined", JOINED)
    await engine.wait_for_run(app_id, published.run_ids[0], timeout=10)
    return published.run_ids[0]


def test_a_file_as_svg(cli: Cli) -> None:
    result = cli("graph", str(WELCOME), "--format", "svg")
    assert result.exit_code == 0, result.output
    assert set(_classes(result.out)) == {"joined", "is_vip", "vip_greeting", "greeting"}


def test_a_runs_path_from_the_database(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"

    async def make() -> str:
        async with Engine(url) as engine:
            return await _welcomed(engine, "app_1")

    run_id = anyio.run(make)
    result = cli("graph", "--run", run_id, "--format", "svg", "--app", "app_1", "--database-url", url)
    assert result.exit_code == 0, result.output
    classes = _classes(result.out)
    assert classes["vip_greeting"] == "gf-node gf-completed"
    assert classes["greeting"] == "gf-node gf-skipped"
    other = cli("graph", "--run", run_id, "--format", "svg", "--app", "app_2", "--database-url", url)
    assert other.exit_code == 1 and "not_found" in other.err


def test_a_runs_path_through_a_server(cli: Cli) -> None:
    app_id = f"app_{uuid.uuid4().hex[:10]}"
    with live_server(auth=token_auth) as live:
        run_id = live.call(_welcomed, live.engine, app_id)
        where = ("--app", app_id, "--server", live.url)
        result = cli("graph", "--run", run_id, "--format", "svg", *where, "--key", f"key-{app_id}")
        assert result.exit_code == 0, result.output
        assert _classes(result.out)["is_vip"] == "gf-node gf-completed"
        refused = cli("graph", "--run", run_id, "--format", "svg", *where, "--key", "key-app_other")
        assert refused.exit_code == 1 and "not_found" in refused.err


def test_usage_errors(cli: Cli) -> None:
    assert cli("graph", "--format", "svg").exit_code == 2
    both = cli("graph", str(WELCOME), "--run", "atr_1", "--format", "svg", "--app", "app_1")
    assert both.exit_code == 2 and "either" in both.err
    mermaid = cli("graph", "--run", "atr_1", "--app", "app_1")
    assert mermaid.exit_code == 2 and "--format svg" in mermaid.err
