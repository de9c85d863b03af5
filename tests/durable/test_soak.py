"""A short soak on PostgreSQL (``benchmarks/soak.py``): workers killed with ``kill -9`` and a server restarted.

Three worker processes, 100 schedules firing every minute and a steady stream of events for a
minute; a worker is killed every 20 s and started again, the server once. Nothing may be lost or
fired twice, and every run must end completed. The 10-minute version is ``python -m benchmarks.soak``.
"""

from __future__ import annotations

import pytest

from benchmarks.soak import soak
from tests.pg import require_postgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_minute_of_kills_and_a_restart_loses_and_repeats_nothing() -> None:
    require_postgres()  # fails (not skips) in CI when the server is unreachable
    report = soak(minutes=1.0, workers=3, crons=100, rate=10, kill_every=20)
    assert report["kills"] >= 2
    assert report["events_published"] >= 500
    assert report["runs_lost"] == 0
    assert report["duplicated_fires"] == 0
    assert report["scheduled_fires"] >= 100
    assert set(report["runs_by_status"]) == {"completed"}
    assert report["metrics_endpoint"]["health"] == 200 and report["metrics_endpoint"]["metrics_status"] == 200
    assert report["metrics_agree"], report["metrics_endpoint"]
