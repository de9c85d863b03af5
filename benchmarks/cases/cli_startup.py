"""The command line's round trip: ``graphflow validate sample.json`` and ``graphflow --help``.

Each iteration starts ``sys.executable -m graphflow ARGS`` (what the ``graphflow`` script runs,
without a pyenv shim in front) and waits for it to exit 0; the floor is ``python -c pass``.
Validating costs the CLI's own start-up plus ``import graphflow`` and the first ``load_graph``
(see the "cold import + first graph" row); ``--help`` is the CLI's start-up alone. Bytecode caches
live under the same ``PYTHONPYCACHEPREFIX`` as the cold-import rows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.cases.cold_import import _child_env, interpreter
from benchmarks.harness import Case, Iteration

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "examples" / "archastro-sample.json"


def command(*args: str) -> Iteration:
    """An iteration that runs ``python -m graphflow ARGS`` in a fresh interpreter."""
    env = _child_env()

    def iteration() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "graphflow", *args], capture_output=True, text=True, check=False, env=env
        )
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["(no output)"]
            raise RuntimeError(f"exit {done.returncode}: {tail[0]}")

    return iteration


_PASS = interpreter("pass")

CASES = [
    Case(
        name="cli-validate",
        title="CLI: graphflow validate sample.json",
        unit="ms",
        divisor=1,
        contenders={"graphflow": command("validate", str(SAMPLE)), "floor": _PASS},
        floor="python -c pass",
        interleave=True,
        net_of_floor=True,
        note="python -m graphflow validate (the ArchAstro sample), a fresh interpreter per iteration",
    ),
    Case(
        name="cli-help",
        title="CLI: graphflow --help",
        unit="ms",
        divisor=1,
        contenders={"graphflow": command("--help"), "floor": _PASS},
        floor="python -c pass",
        interleave=True,
        net_of_floor=True,
        note="python -m graphflow --help: the CLI's start-up alone",
    ),
]
