from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from graphflow.cli import app

runner = CliRunner()


def test_validate_examples(examples_dir: Path) -> None:
    result = runner.invoke(
        app, ["validate", str(examples_dir / "archastro-sample.yaml"), str(examples_dir / "archastro-sample.json")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("valid (2 nodes)") == 2


def test_validate_lists_problems_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: WorkflowGraph\nversion: 1\nname: b\nstart_node: t\nnodes:\n"
        "  - {kind: WorkflowTrigger, id: t, trigger: a.b, on_success: ghost}\n"
    )
    result = runner.invoke(app, ["validate", "--json", str(bad)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report[str(bad)][0]["path"] == "$.nodes[0].on_success"
    table = runner.invoke(app, ["validate", str(bad)])
    assert table.exit_code == 1 and "ghost" in table.output


def test_run_the_sample(examples_dir: Path, tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_text('{"scheduled_at": "2026-02-28T09:00:00Z"}')
    result = runner.invoke(
        app,
        [
            "run",
            str(examples_dir / "archastro-sample.json"),
            "--trigger",
            "workflow.scheduled",
            "--payload",
            f"@{payload}",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "completed" and data["result"] == {"payload": True, "output": []}


def test_run_with_wrong_trigger_exits_1(examples_dir: Path) -> None:
    result = runner.invoke(app, ["run", str(examples_dir / "archastro-sample.json"), "-t", "thread.created", "--json"])
    assert result.exit_code == 1
    problem = json.loads(result.output)["error"]["details"]["problems"][0]
    assert "no trigger node for event 'thread.created'" in problem["message"]
    assert "trigger_1 (workflow.scheduled)" in problem["hint"]


def test_run_failed_graph_exits_1_and_prints_output(tmp_path: Path) -> None:
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
    result = runner.invoke(app, ["run", str(graph), "-t", "a.b", "-e", "WHO=ada"])
    assert result.exit_code == 1
    assert "failed" in result.output and "ada" in result.output and "missing" in result.output


def test_bad_payload_is_a_usage_error(examples_dir: Path) -> None:
    result = runner.invoke(app, ["run", str(examples_dir / "archastro-sample.json"), "-t", "a.b", "-p", "{nope"])
    assert result.exit_code == 2


def test_schema_and_graph(examples_dir: Path) -> None:
    schema = runner.invoke(app, ["schema"])
    assert json.loads(schema.output)["title"] == "WorkflowGraph"
    mermaid = runner.invoke(app, ["graph", str(examples_dir / "archastro-sample.yaml")])
    assert mermaid.exit_code == 0 and mermaid.output.startswith("flowchart TD")
    dot = runner.invoke(app, ["graph", str(examples_dir / "archastro-sample.yaml"), "--format", "dot"])
    assert dot.output.startswith("digraph")
    assert runner.invoke(app, ["graph", str(examples_dir / "archastro-sample.yaml"), "-f", "png"]).exit_code == 2


def test_python_dash_m_works(examples_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "graphflow", "validate", str(examples_dir / "archastro-sample.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_schedule_command() -> None:
    result = runner.invoke(app, ["schedule", "every monday at 9am", "--next", "2", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["expression"] == "0 9 * * 1" and info["display"] == "Weekly, Mondays at 9:00 AM"
    assert len(info["next"]) == 2 and all(f.endswith("09:00:00Z") for f in info["next"])
    bad = runner.invoke(app, ["schedule", "30m"])
    assert bad.exit_code == 1 and "every 30m" in bad.output


def test_events_command() -> None:
    result = runner.invoke(app, ["events"])
    assert result.exit_code == 0
    assert "thread.member_joined" in result.output and "workflow.scheduled" not in result.output
