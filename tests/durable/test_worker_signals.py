"""``graphflow worker`` stops cleanly on a SIGTERM that arrives while its engine is still starting.

A real process: the engine's start sends the process a SIGTERM (as a supervisor stopping a worker
that has just been started would), so the signal lands inside the start-up, not at some instant a
sleep hopes to hit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The worker command, with an engine whose start is interrupted by a SIGTERM to its own process.
SIGNALLED_WHILE_STARTING = textwrap.dedent(
    """
    import os, runpy, signal, sys
    import graphflow

    start = graphflow.Engine.__aenter__

    async def starting(self):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered now: the engine has not started yet
        return await start(self)

    graphflow.Engine.__aenter__ = starting
    sys.argv = ["graphflow", "worker", "--database-url", sys.argv[1], "--status-every", "0"]
    runpy.run_module("graphflow", run_name="__main__")
    """
)


def test_a_sigterm_during_start_up_stops_the_worker_cleanly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED_WHILE_STARTING, f"sqlite:///{tmp_path / 'w.db'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr  # not -15: the signal did not kill it
    assert "SIGTERM: handing back" in done.stderr and "stopped cleanly" in done.stderr
