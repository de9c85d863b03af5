"""``python -m benchmarks``: measure, print one table, save JSON and a chart."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import cases as case_registry
from benchmarks.harness import FLOOR, FULL, GRAPHFLOW, QUICK, Case, Settings, Timer
from benchmarks.report import (
    chart,
    machine_info,
    markdown_table,
    package_versions,
    print_table,
    write_json,
)

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark graphflow against its peers and the physical floor.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run (< 60 s); results go to a temp dir unless --out"
    )
    parser.add_argument(
        "--case", action="append", metavar="NAME", help="run only this case or case module (repeatable)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where latest.json and latest.png go (default: benchmarks/results "
        "for a full run of every case, else a temp dir)",
    )
    parser.add_argument(
        "--show",
        type=Path,
        metavar="JSON",
        help="print the table of a saved result instead of measuring (with --out, also redraw its chart there)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    return parser.parse_args(argv)


async def measure(cases: list[Case], settings: Settings) -> list[dict[str, Any]]:
    timer = Timer(settings, log=lambda line: print(line, file=sys.stderr, flush=True))
    rows = []
    for case in cases:
        row = await timer.run(case)
        rows.append(row.to_dict())
    return rows


def run(cases: list[Case], settings: Settings) -> dict[str, Any]:
    machine = machine_info()
    started = time.perf_counter()
    rows = asyncio.run(measure(cases, settings))
    return {
        "schema": 1,
        "mode": settings.mode,
        "settings": {"warmup": settings.warmup, "target": settings.target, "repeats": settings.repeats},
        "machine": machine,
        "versions": package_versions(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cases": rows,
    }


def failed(result: dict[str, Any]) -> list[str]:
    """graphflow or floor cells that errored (peers' errors are reported, not fatal)."""
    return [
        f"{row['name']}/{name}: {cell.get('message', '')}"
        for row in result["cases"]
        for name, cell in row["contenders"].items()
        if name in (GRAPHFLOW, FLOOR) and cell["status"] != "ok"
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show is not None:
        result = json.loads(args.show.read_text(encoding="utf-8"))
        if args.out is not None and chart(result, args.out / "latest.png"):
            print(f"chart: {args.out / 'latest.png'}", file=sys.stderr)
    else:
        cases = case_registry.select(args.case)
        settings = QUICK if args.quick else FULL
        out = args.out
        if out is None:
            official = not args.quick and not args.case
            out = RESULTS if official else Path(tempfile.mkdtemp(prefix="graphflow-bench-"))
        result = run(cases, settings)
        write_json(result, out / "latest.json")
        drawn = chart(result, out / "latest.png")
        if not drawn:
            (out / "latest.png").unlink(missing_ok=True)  # no stale chart beside new results
        print(
            f"results: {out / 'latest.json'}"
            + (f", {out / 'latest.png'}" if drawn else " (no chart: matplotlib missing)"),
            file=sys.stderr,
        )
    if args.markdown:
        print(markdown_table(result), end="")
    else:
        print_table(result)
    problems = failed(result)
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    return 1 if problems else 0
