"""PostgreSQL: how soon a waiting worker claims a published run, and what a checkpoint costs.

``postgres-claim``: one iteration publishes an event (``accept_event``, one run) from one store
while a claimer on another store (its own pool and LISTEN connection) waits in
``wait_for_work`` and then calls ``claim_runs``: publish → NOTIFY → wake-up → claimed. The floor
is the same path by hand with psycopg: a row inserted and notified in one commit on one
connection, received on another, which marks it claimed in a second commit. Both need their
commit flushed to disk (``synchronous_commit``): that, not the wake-up, is most of the time.

``durable-chain-postgres``: the ``durable-chain`` iteration (insert, claim, ``save_step`` for each
node, ``update_run`` completed; see ``durable_chain.py``) on PostgresStore, per node. The floor is
bare psycopg on one connection: the same rows upserted and committed by hand, one round trip per
node.

The harness reports medians of per-iteration means; ``python -m benchmarks.cases.postgres_claim``
prints the percentiles of the claim latency over 500 runs, and ``… --concurrent 12`` the
checkpoints per second of 12 runs checkpointing at once on one store (``--seconds`` each round,
``--rounds`` rounds, median printed): what concurrent writers cost each other, event log included. The server is
``GRAPHFLOW_BENCH_POSTGRES_DSN`` or ``GRAPHFLOW_TEST_POSTGRES_DSN`` (default: the local ``test``
database); each process works in a schema of its own, dropped at exit. Without a reachable
server these rows are left out (with a note on stderr).
"""

from __future__ import annotations

import argparse
import atexit
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.harness import Case, deferred_async
from graphflow.stores import redact_url

DSN = (
    os.environ.get("GRAPHFLOW_BENCH_POSTGRES_DSN")
    or os.environ.get("GRAPHFLOW_TEST_POSTGRES_DSN")
    or "postgresql://postgres@127.0.0.1:5432/test"
)
SCHEMA = f"gf_bench_{secrets.token_hex(4)}"
WORKER = "bench-claimer"
#: publish → claimed latencies (seconds) of every claim iteration run in this process.
LATENCIES: list[float] = []


def _unreachable() -> str | None:
    try:
        import psycopg
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "psycopg and psycopg-pool are not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(DSN, connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _drop_schema() -> None:
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(DSN, connect_timeout=2, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    except psycopg.Error:
        pass


def _store(**options: Any) -> Any:
    from graphflow.stores.postgres import PostgresStore

    return PostgresStore(DSN, schema=SCHEMA, **options)


# -- publish → claimed -------------------------------------------------------------------------


def _claim() -> Callable[[], Any]:
    import anyio
    import anyio.lowlevel

    from graphflow.ids import new_id
    from graphflow.records import Automation, AutomationRun

    publisher, claimer = _store(max_size=2), _store(max_size=2)
    automation = Automation(
        id=new_id("aut_"),
        app_id="app_bench",
        name="bench",
        type="trigger",
        status="running",
        config_id="cfg_bench",
        created_at=0.0,
        updated_at=0.0,
        trigger="bench.run",
    )
    started = False

    async def iteration() -> None:
        nonlocal started
        if not started:  # the warm-up call: never timed
            await publisher.start()
            await claimer.start()
            await publisher.insert_automation(automation)
            started = True
        now = time.time()
        run = AutomationRun(
            id=new_id("atr_"),
            automation_id=automation.id,
            app_id="app_bench",
            trigger="bench.run",
            payload={"a": 1},
            status="pending",
            config_id="cfg_bench",
            config_version=1,
            created_at=now,
            updated_at=now,
        )
        published = 0.0

        async def claim() -> None:
            while True:
                await claimer.wait_for_work(5.0)
                if any(r.id == run.id for r in await claimer.claim_runs(WORKER, lease=3600.0, limit=10)):
                    LATENCIES.append(time.perf_counter() - published)
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(claim)
            await anyio.lowlevel.checkpoint()  # let the claimer start waiting
            published = time.perf_counter()
            await publisher.accept_event("app_bench", new_id("evt_"), "bench.run", {"a": 1}, [run])

    return iteration


def _bare_claim() -> Callable[[], Any]:
    import contextlib
    import itertools

    import psycopg

    sender: Any = None
    claimer: Any = None
    counter = itertools.count()

    async def iteration() -> None:
        nonlocal sender, claimer
        if sender is None:
            sender = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
            claimer = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
            await sender.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
            await sender.execute(f'CREATE TABLE "{SCHEMA}".bare_queue (id text PRIMARY KEY, status text)')
            await claimer.execute(f"LISTEN bench_{SCHEMA}")
        run_id = f"run{next(counter)}"
        await sender.execute(
            f"WITH queued AS (INSERT INTO \"{SCHEMA}\".bare_queue VALUES (%s, 'pending') RETURNING 1) "
            f"SELECT pg_notify('bench_{SCHEMA}', '') FROM queued",
            [run_id],
        )
        async with contextlib.aclosing(claimer.notifies(stop_after=1)) as notes:
            async for _ in notes:
                pass
        await claimer.execute(f"UPDATE \"{SCHEMA}\".bare_queue SET status = 'running' WHERE id = %s", [run_id])

    return iteration


# -- the durable chain on PostgreSQL --------------------------------------------------------------


def _chain() -> Callable[[], Any]:
    from benchmarks.cases.durable_chain import _store_iteration

    return _store_iteration(lambda: _store(max_size=2))


def _bare_chain() -> Callable[[], Any]:
    import itertools

    import psycopg
    from psycopg.types.json import Jsonb

    from benchmarks.cases.durable_chain import JOURNAL, KEYS, STEPS

    conn: Any = None
    counter = itertools.count()

    async def iteration() -> None:
        nonlocal conn
        if conn is None:
            conn = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
            await conn.execute(f'SET search_path TO "{SCHEMA}"')
            await conn.execute("CREATE TABLE bare_runs (id text PRIMARY KEY, status text, journal jsonb)")
            await conn.execute("CREATE TABLE bare_steps (run_id text, key text, data jsonb, PRIMARY KEY (run_id, key))")
        run_id = f"run{next(counter)}"
        await conn.execute("INSERT INTO bare_runs VALUES (%s, 'running', '[]')", [run_id])
        for key, step in zip(KEYS, STEPS, strict=True):
            await conn.execute(
                "INSERT INTO bare_steps VALUES (%s, %s, %s) "
                "ON CONFLICT (run_id, key) DO UPDATE SET data = excluded.data",
                [run_id, key, Jsonb(step)],
            )
        async with conn.transaction():
            await conn.execute(
                "UPDATE bare_runs SET status = 'completed', journal = %s WHERE id = %s", [Jsonb(JOURNAL), run_id]
            )
            await conn.execute("DELETE FROM bare_steps WHERE run_id = %s", [run_id])

    return iteration


def _cases() -> list[Case]:
    reason = _unreachable()
    if reason is not None:
        print(f"benchmarks: PostgreSQL rows left out: {redact_url(DSN)} is not usable ({reason})", file=sys.stderr)
        return []
    atexit.register(_drop_schema)
    return [
        Case(
            name="postgres-claim",
            title="publish → claimed by a waiting worker (LISTEN/NOTIFY), PostgreSQL",
            unit="ms/run",
            divisor=1,
            contenders={"graphflow": deferred_async(_claim), "floor": deferred_async(_bare_claim)},
            floor="bare psycopg: insert + NOTIFY committed on one connection, received and "
            "marked claimed (committed) on another",
            note="accept_event on one store → wait_for_work + claim_runs on another; "
            "p50/p99: python -m benchmarks.cases.postgres_claim",
        ),
        Case(
            name="durable-chain-postgres",
            title="chain of 100 nodes, checkpoint every node, PostgreSQL",
            unit="µs/node",
            divisor=100,
            contenders={"graphflow": deferred_async(_chain), "floor": deferred_async(_bare_chain)},
            floor="bare psycopg: the same rows upserted and committed by hand (one round trip per node)",
            note="the durable-chain iteration on PostgresStore (insert, claim, save_step per node, "
            "update_run), per node; each checkpoint is committed before save_step returns",
        ),
    ]


CASES = _cases()


async def _checkpoints_per_second(runs: int, seconds: float, rounds: int) -> list[float]:
    """Checkpoints/s of ``runs`` runs saving steps at once on one store, one figure per round."""
    import anyio

    from benchmarks.cases.durable_chain import KEYS, STEPS
    from graphflow.ids import new_id
    from graphflow.records import AutomationRun

    store = _store(min_size=runs, max_size=runs)
    await store.start()
    try:
        now = time.time()
        pending = [
            AutomationRun(
                id=new_id("atr_"),
                automation_id="aut_bench",
                app_id="app_bench",
                trigger="bench.run",
                payload={"a": 1},
                status="pending",
                config_id="cfg_bench",
                config_version=1,
                created_at=now,
                updated_at=now,
            )
            for _ in range(runs)
        ]
        await store.insert_runs(pending)
        claimed = await store.claim_runs(WORKER, lease=3600.0, limit=runs, run_ids=[r.id for r in pending])
        figures: list[float] = []
        for _ in range(rounds + 1):  # the first round warms up
            done = 0

            async def checkpoint(run: AutomationRun, deadline: float) -> None:
                nonlocal done
                step = 0
                while time.perf_counter() < deadline:
                    await store.save_step(run.id, run.fence, KEYS[step % len(KEYS)], STEPS[step % len(STEPS)])
                    step += 1
                    done += 1

            began = time.perf_counter()
            deadline = began + seconds
            async with anyio.create_task_group() as tg:
                for run in claimed:
                    tg.start_soon(checkpoint, run, deadline)
            figures.append(done / (time.perf_counter() - began))
        return figures[1:]
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    """Print the percentiles of publish → claimed over ``--runs`` runs (or concurrent checkpoints/s)."""
    import anyio

    parser = argparse.ArgumentParser(prog="python -m benchmarks.cases.postgres_claim")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=0, help="runs checkpointing at once (0: measure claims)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not CASES:
        return 1
    if args.concurrent:
        figures = anyio.run(_checkpoints_per_second, args.concurrent, args.seconds, args.rounds)
        print(
            f"{args.concurrent} runs checkpointing at once: median {statistics.median(figures):,.0f} checkpoints/s "
            f"(rounds of {args.seconds:g} s: {', '.join(f'{x:,.0f}' for x in figures)})"
        )
        return 0

    async def measure() -> None:
        iteration = _claim()
        for _ in range(50):  # warm-up: connections, prepared statements
            await iteration()
        LATENCIES.clear()
        for _ in range(args.runs):
            await iteration()

    anyio.run(measure)
    ms = sorted(x * 1000 for x in LATENCIES)
    p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]
    print(
        f"publish → claimed over {len(ms)} runs: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
        f"mean {statistics.fmean(ms):.2f} ms, max {ms[-1]:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
