from __future__ import annotations

import subprocess
import sys
from typing import Any

import graphflow


def test_all_names_resolve_and_match_exports() -> None:
    for name in graphflow.__all__:
        assert getattr(graphflow, name) is not None, name
    assert sorted(graphflow.__all__) == graphflow.__all__
    assert set(dir(graphflow)) == set(graphflow.__all__)


def test_unknown_attribute() -> None:
    try:
        graphflow.nope  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_errors_carry_codes_and_builtin_bases() -> None:
    assert issubclass(graphflow.ValidationError, ValueError)
    assert issubclass(graphflow.NotFoundError, LookupError)
    assert graphflow.NotFoundError("automation", "aut_1").code == "not_found"
    err = graphflow.InvalidTransitionError("automation", "draft", "pause", ["activate"])
    assert err.code == "invalid_transition" and "allowed from 'draft': activate" in str(err)
    assert err.to_dict()["error"]["details"]["allowed"] == ["activate"]


def test_import_is_light() -> None:
    heavy = "('pydantic', 'networkx', 'typer', 'httpx', 'yaml')"
    code = f"import sys, graphflow; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_networkx_is_only_imported_to_validate() -> None:
    code = "import sys, graphflow; graphflow.Executor; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_first_load_graph_stays_light(examples_dir: Any) -> None:
    heavy = "('networkx', 'httpx', 'httpcore', 'yaml', 'anyio', 'asyncio', 'croniter', 'jsonschema')"
    sample = str(examples_dir / "archastro-sample.json")
    code = (
        f"import sys, graphflow; graphflow.load_graph({sample!r}); "
        f"print(sorted(m for m in {heavy} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_node_contract_lives_beside_the_store_contract() -> None:
    import graphflow.abc

    assert graphflow.NodeContext is graphflow.abc.NodeContext
    assert graphflow.Goto is graphflow.abc.Goto
    assert {"Store", "NodeContext", "Goto", "RunState", "Suspended"} <= set(graphflow.abc.__all__)


def test_automation_details_has_explicit_fields_and_no_proxy() -> None:
    import dataclasses

    from graphflow.automations.service import AutomationDetails
    from graphflow.records import Automation

    automation = Automation(
        id="aut_1", app_id="app_a", name="n", type="invoked", status="draft", config_id=None, created_at=0, updated_at=0
    )
    details = AutomationDetails(automation=automation, recent_runs=[])
    assert (details.id, details.status, details.last_run_status) == ("aut_1", "draft", None)
    assert [f.name for f in dataclasses.fields(details)] == ["automation", "recent_runs"]
    assert not hasattr(details, "overlap")  # read through .automation; no __getattr__ proxy
    assert details.to_dict() == {**automation.to_dict(), "recent_runs": []}
