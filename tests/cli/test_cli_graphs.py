from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from tests.cli.runner import Cli


def test_validate_examples(cli: Cli, examples_dir: Path) -> None:
    result = cli("validate", str(examples_dir / "archastro-sample.yaml"), str(examples_dir / "archastro-sample.json"))
    assert result.exit_code == 0, result.output
    assert result.out.count("valid (2 nodes)") == 2


def test_validate_lists_problems_and_exits_1(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: WorkflowGraph\nversion: 1\nname: b\nstart_node: t\nnodes:\n"
        "  - {kind: WorkflowTrigger, id: t, trigger: a.b, on_success: ghost}\n"
    )
    result = cli("validate", "--json", str(bad))
    assert result.exit_code == 1
    report = json.loads(result.out)
    assert report[str(bad)][0]["path"] == "$.nodes[0].on_success"
    table = cli("validate", str(bad))
    assert table.exit_code == 1 and "ghost" in table.out and "$.nodes[0].on_success" in table.out


def test_run_the_sample(cli: Cli, examples_dir: Path, tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_text('{"scheduled_at": "2026-02-28T09:00:00Z"}')
    sample = str(examples_dir / "archastro-sample.json")
    result = cli("run", sample, "--trigger", "workflow.scheduled", "--payload", f"@{payload}", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.out)
    assert data["status"] == "completed" and data["result"] == {"payload": True, "output": []}


def test_run_json_uses_iso_8601_times_throughout(cli: Cli, examples_dir: Path) -> None:
    result = cli("run", str(examples_dir / "archastro-sample.json"), "-t", "workflow.scheduled", "--json")
    data = json.loads(result.out)
    times = [data["started_at"], data["finished_at"], *(entry["at"] for entry in data["journal"])]
    for text in times:
        assert isinstance(text, str) and text.endswith("Z"), text
        datetime.fromisoformat(text)
    assert data["started_at"] <= data["journal"][0]["at"] <= data["journal"][-1]["at"] <= data["finished_at"]


def test_run_with_wrong_trigger_exits_1(cli: Cli, examples_dir: Path) -> None:
    result = cli("run", str(examples_dir / "archastro-sample.json"), "-t", "thread.created", "--json")
    assert result.exit_code == 1
    problem = json.loads(result.out)["error"]["details"]["problems"][0]
    assert "no trigger node for event 'thread.created'" in problem["message"]
    assert "trigger_1 (workflow.scheduled)" in problem["hint"]


def test_run_failed_graph_exits_1_and_prints_output(cli: Cli, tmp_path: Path) -> None:
    graph = tmp_path / "g.json"
    graph.write_text(
        json.dumps(
            {
                "kind": "WorkflowGraph",
                "version": 1,
                "name": "g",
                "start_node": "t",
                "nodes": [
                    {"kind": "WorkflowTrigger", "id": "t", "trigger": "a.b", "on_success": "s"},
                    {"kind": "WorkflowScript", "id": "s", "source": "println(env.WHO)\n$.missing"},
                ],
            }
        )
    )
    result = cli("run", str(graph), "-t", "a.b", "-e", "WHO=ada", "-e", "EMPTY=")
    assert result.exit_code == 1
    assert "failed" in result.out and "ada" in result.out and "missing" in result.out


def test_schema_and_graph(cli: Cli, examples_dir: Path) -> None:
    schema = cli("schema")
    assert json.loads(schema.out)["title"] == "WorkflowGraph"
    mermaid = cli("graph", str(examples_dir / "archastro-sample.yaml"))
    assert mermaid.exit_code == 0 and mermaid.out.startswith("flowchart TD")
    dot = cli("graph", str(examples_dir / "archastro-sample.yaml"), "--format", "dot")
    assert dot.out.startswith("digraph")


def test_python_dash_m_works(examples_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "graphflow", "validate", str(examples_dir / "archastro-sample.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_schedule_command(cli: Cli) -> None:
    result = cli("schedule", "every monday at 9am", "--next", "2", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.out)
    assert info["expression"] == "0 9 * * 1" and info["display"] == "Weekly, Mondays at 9:00 AM"
    assert len(info["next"]) == 2 and all(f.endswith("09:00:00Z") for f in info["next"])
    bad = cli("schedule", "30m")
    assert bad.exit_code == 1 and "every 30m" in bad.err


def test_schedule_shows_fire_times_in_its_zone_and_in_utc(cli: Cli) -> None:
    info = json.loads(cli("schedule", "every monday at 9am", "--tz", "Asia/Tokyo", "-n", "3", "--json").out)
    assert all(fire.endswith("T00:00:00Z") for fire in info["next"])  # 9:00 in Tokyo is midnight UTC
    assert all(local.endswith("T09:00:00+09:00") for local in info["next_local"])
    text = cli("schedule", "every monday at 9am", "--tz", "Asia/Tokyo", "-n", "1").out
    line = next(line for line in text.splitlines() if "next:" in line)
    assert "T09:00:00+09:00 (Asia/Tokyo)" in line and "T00:00:00Z (UTC)" in line


def test_events_command(cli: Cli) -> None:
    result = cli("events")
    assert result.exit_code == 0
    assert "thread.member_joined" in result.out and "workflow.scheduled" not in result.out
    threads = cli("events", "--category", "thread")
    assert threads.exit_code == 0 and "thread.member_joined" in threads.out and "context." not in threads.out
