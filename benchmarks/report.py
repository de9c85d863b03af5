"""What a run produces: the header (machine, versions), the table, the JSON and the chart."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.harness import FLOOR, GRAPHFLOW, NOT_INSTALLED, PEERS

__all__ = ["chart", "machine_info", "markdown_table", "package_versions", "print_table"]

PACKAGES = (
    "graphflow",
    "anyio",
    "pydantic",
    "common-expression-language",
    "langgraph",
    "pydantic-graph",
    "apscheduler",
)
NOISY = 0.15  # a spread above this marks a cell with "*"
TIMES = "\u00d7"  # multiplication sign
NOT_APPLICABLE = "\u2014"  # em dash: the contender has nothing to compare in this case


def machine_info() -> dict[str, Any]:
    """CPU model, cores, Python, platform and load: what the numbers depend on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in load] if load else None,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def package_versions() -> dict[str, str | None]:
    """Installed versions of graphflow, its key dependencies and the peers (None: absent)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def columns(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The contender columns and ratio columns present in ``rows`` (serialised rows)."""
    present = {name for row in rows for name in row["contenders"]}
    contenders = [name for name in (GRAPHFLOW, *PEERS, FLOOR) if name in present]
    ratios = [f"{peer}/{GRAPHFLOW}" for peer in PEERS if peer in present]
    if FLOOR in present:
        ratios.append(f"{GRAPHFLOW}/{FLOOR}")
    return contenders, ratios


def number(value: float) -> str:
    """Three significant figures, thousands separated."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell_text(row: dict[str, Any], contender: str) -> str:
    cell = row["contenders"].get(contender)
    if cell is None:
        return NOT_APPLICABLE
    if cell["status"] == "missing":
        return NOT_INSTALLED
    if cell["status"] == "error":
        return "error"
    text = number(cell["value"])
    if cell.get("net") is not None:
        net = cell["net"]
        text += f" (net {number(net)})" if net > 0 else " (net \u22480)"
    if (cell.get("spread") or 0) > NOISY:
        text += "*"
    return text


def ratio_text(row: dict[str, Any], key: str) -> str:
    value = row["ratios"].get(key)
    return NOT_APPLICABLE if value is None else f"{number(value)}{TIMES}"


def _headers(contenders: list[str], ratios: list[str]) -> list[str]:
    return ["case (unit)", *contenders, *(key.replace(GRAPHFLOW, "gf") for key in ratios)]


def _body(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    contenders, ratios = columns(rows)
    body = [
        [
            f"{row['title']} ({row['unit']})",
            *(cell_text(row, name) for name in contenders),
            *(ratio_text(row, key) for key in ratios),
        ]
        for row in rows
    ]
    return _headers(contenders, ratios), body


def header_lines(result: dict[str, Any]) -> list[str]:
    machine = result["machine"]
    versions = ", ".join(f"{name} {version or 'not installed'}" for name, version in result["versions"].items())
    load = machine.get("load_average")
    return [
        f"graphflow benchmarks ({result['mode']} run, {machine['date']}, {result['wall_seconds']:.0f} s)",
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['python']}, "
        f"{machine['platform']}" + (f", load {load[0]:.2f}" if load else ""),
        f"packages: {versions}",
        f"method: median of {result['settings']['repeats']} repeats of "
        f"~{result['settings']['target']:g} s after warm-up, gc.collect() before each; "
        "one process, one event loop",
    ]


def footnotes(result: dict[str, Any]) -> list[str]:
    rows = result["cases"]
    lines = [
        "gf = graphflow. Lower is better in every row. peer/gf above 1: graphflow is that many "
        "times faster (or smaller) than the peer; gf/floor: graphflow's cost in multiples of the "
        "physical floor. Cold-import ratios compare net times; \u2014 where graphflow's net is "
        "within noise of zero."
    ]
    lines += [f"{row['title']}: " + (f"floor = {row['floor']}; " if row["floor"] else "") + row["note"] for row in rows]
    if any((c.get("spread") or 0) > NOISY for row in rows for c in row["contenders"].values()):
        lines.append(f"* spread (max-min)/median above {NOISY:.0%}: a noisy machine; rerun.")
    errors = [
        f"{row['name']}/{name}: {cell['message']}"
        for row in rows
        for name, cell in row["contenders"].items()
        if cell["status"] == "error"
    ]
    lines += [f"error {text}" for text in errors]
    return lines


def print_table(result: dict[str, Any]) -> None:
    """Print the header, the one table and its footnotes (rich)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    headers, body = _body(result["cases"])
    console = Console(width=max(Console().width, 220), highlight=False)
    table = Table(box=box.SIMPLE_HEAD, header_style="bold")
    for index, name in enumerate(headers):
        table.add_column(
            name,
            justify="left" if index == 0 else "right",
            no_wrap=True,
            style="bold" if name == GRAPHFLOW else None,
            overflow="fold",
        )
    for line in body:
        table.add_row(*(Text(text) for text in line))
    for line in header_lines(result):
        console.print(line, soft_wrap=True, markup=False)
    console.print(table)
    for line in footnotes(result):
        console.print(line, soft_wrap=True, markup=False, style="dim")


def markdown_table(result: dict[str, Any]) -> str:
    """The same table as Markdown, with the header and footnotes as text (for the docs)."""
    headers, body = _body(result["cases"])
    out = [*(f"{line}  " for line in header_lines(result)), ""]
    out.append("| " + " | ".join(headers) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
    out += ["| " + " | ".join(text.replace("*", "\\*") for text in line) + " |" for line in body]
    out.append("")
    out += [f"- {line.replace('*', chr(92) + '*')}" for line in footnotes(result)]
    return "\n".join(out) + "\n"


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


COLOURS = {
    GRAPHFLOW: "#1f77b4",
    "langgraph": "#ff7f0e",
    "pydantic-graph": "#d62728",
    "apscheduler": "#9467bd",
    FLOOR: "#7f7f7f",
}


def chart(result: dict[str, Any], path: Path) -> bool:
    """Draw one log-scale horizontal bar panel per case; return False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["cases"]
    contenders, _ = columns(rows)
    heights = [max(1, len(row["contenders"])) * 0.36 + 0.75 for row in rows]
    figure, axes = plt.subplots(
        len(rows),
        1,
        figsize=(9.5, sum(heights) + 0.9),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    machine = result["machine"]
    figure.suptitle(
        f"graphflow vs peers vs the physical floor (log scale; shorter is better)\n"
        f"{machine['cpu']}, {machine['cores']} cores, {machine['python']}",
        fontsize=10.5,
    )
    for axis, row in zip(axes[:, 0], rows, strict=True):
        names = [n for n in contenders if n in row["contenders"]]
        values, labels, colours = [], [], []
        for name in names:
            cell = row["contenders"][name]
            ok = cell["status"] == "ok" and cell["value"] is not None and cell["value"] > 0
            values.append(cell["value"] if ok else 0.0)
            colours.append(COLOURS.get(name, "#2ca02c"))
            label = cell_text(row, name) if cell["status"] != "missing" else "not installed"
            ratio = row["ratios"].get(f"{name}/{GRAPHFLOW}")
            if ratio is not None and ratio >= 1:
                label += f"   ({number(ratio)}{TIMES} graphflow's)"
            elif ratio is not None:
                label += f"   (graphflow's is {number(1 / ratio)}{TIMES} as much)"
            labels.append(label)
        positions = range(len(names))
        axis.barh(positions, values, color=colours, height=0.7)
        axis.set_yticks(list(positions), names, fontsize=8.5)
        axis.invert_yaxis()
        axis.set_xscale("log")
        positive = [v for v in values if v > 0]
        if positive:
            axis.set_xlim(min(positive) / 3, max(positive) * 30)
        axis.set_title(f"{row['title']} ({row['unit']})", fontsize=9.5, loc="left")
        axis.tick_params(axis="x", labelsize=7.5)
        axis.grid(axis="x", which="major", alpha=0.3)
        for position, value, label in zip(positions, values, labels, strict=True):
            x = value if value > 0 else (min(positive) / 3 if positive else 1)
            axis.text(x * 1.12, position, label, va="center", fontsize=7.5)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
