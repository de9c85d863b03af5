"""The measured cases, one module each; a module exposes ``CASES: list[Case]``.

To add a case, write ``benchmarks/cases/<name>.py`` with its ``CASES`` and list the module in
``MODULES`` below (in the order its rows should appear).
"""

from __future__ import annotations

import importlib

from benchmarks.harness import Case

MODULES = (
    "chain",
    "fanout",
    "script_eval",
    "schedule_parse",
    "dispatch",
    "registration",
    "lateness",
    "cold_import",
    "cli_startup",
    "durable_chain",
    "durable_engine",
    "http_requests",
    "http_api",
    "postgres_claim",
)


def all_cases() -> list[Case]:
    """Every case of every module in :data:`MODULES`, in table order."""
    cases: list[Case] = []
    for module in MODULES:
        cases.extend(importlib.import_module(f"{__name__}.{module}").CASES)
    return cases


def select(names: list[str] | None) -> list[Case]:
    """The cases named (by case name or module name); all of them when ``names`` is empty.

    Raises:
        SystemExit: a name matches nothing; the message lists the valid names.
    """
    if not names:
        return all_cases()
    chosen: list[Case] = []
    valid: set[str] = set()
    for module in MODULES:
        cases = importlib.import_module(f"{__name__}.{module}").CASES
        valid.add(module)
        valid.update(case.name for case in cases)
        for case in cases:
            if (module in names or case.name in names) and case not in chosen:
                chosen.append(case)
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise SystemExit(f"unknown case {', '.join(unknown)}; choose from {', '.join(sorted(valid))}")
    return chosen
