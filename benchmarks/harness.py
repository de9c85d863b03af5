"""The measuring machinery: what a case is, how a contender is timed, what a result holds.

Method (the one in ``shared/research/peer-benchmarks.md``): warm each contender up, calibrate the
number of iterations so that one repeat lasts about ``Settings.target`` seconds, then time
``Settings.repeats`` repeats with ``time.perf_counter`` and report the **median** per-iteration
time. ``gc.collect()`` runs before every repeat; GC stays on while timing. Every contender runs
in the same process and the same asyncio event loop.

Some quantities are not the time of a repeatable iteration: registering 100,000 automations,
bytes per automation, the lateness of timers on a real clock. A *measured* case
(``Case.measured``) hands each contender the workload size and the settings; the contender does
its own setup, measures each repeat itself (setup and teardown uncounted) and returns one value
per repeat, in the case's unit; the row reports their median like any other.
"""

from __future__ import annotations

import gc
import inspect
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "FLOOR",
    "FULL",
    "GRAPHFLOW",
    "NOT_INSTALLED",
    "PEERS",
    "QUICK",
    "Case",
    "Cell",
    "Measure",
    "Row",
    "Settings",
    "Timer",
    "Timing",
    "deferred",
    "deferred_async",
]

GRAPHFLOW = "graphflow"
FLOOR = "floor"
PEERS = ("langgraph", "pydantic-graph", "apscheduler")
NOT_INSTALLED = "n/a (pip install -e '.[bench]')"

#: A zero-argument callable that runs one iteration; ``async def`` ones are awaited.
Iteration = Callable[[], Any]
#: A contender of a measured case: given the workload size and the settings, it runs
#: ``settings.repeats`` repeats and returns one value per repeat in the case's unit.
Measure = Callable[[int, "Settings"], Awaitable[list[float]]]

_SCALES = {"ns": 1e9, "µs": 1e6, "ms": 1e3, "s": 1.0}


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the table.

    Contender callables build what they need on first call (wrap a builder in :func:`deferred`
    or :func:`deferred_async`): the first call happens during warm-up, so building is never
    timed, and a peer that is not installed raises :class:`ImportError` there and gets an
    "n/a" cell.

    Attributes:
        name: short key, used by ``--case`` and in the JSON (``chain``, ``fanout``…).
        title: what the row measures, for people.
        unit: the reported unit, a time prefix and what it is per (``µs/node``, ``ms``).
        divisor: how many units one iteration holds (100 for a 100-node chain).
        contenders: ``graphflow``, peers and ``floor`` → a callable running one iteration.
        floor: what the floor contender is (the physical limit it stands for).
        setup: called once before the case is measured.
        baseline: per contender, a narrower variant whose time is subtracted before dividing
            (the 1-branch fan-out, to report the marginal cost of a branch).
        per_repeat: a fixed number of iterations per repeat instead of calibrating.
        interleave: time the contenders in turns, one repeat of each at a time, so slow and
            noisy iterations (a fresh interpreter each) share the machine's drift; each
            contender is still calibrated to ``Settings.target`` seconds per repeat.
        net_of_floor: also report each value minus the floor's (cold import minus ``pass``).
        note: one line for the footnotes.
        measured: the contenders are :data:`Measure` callables that measure themselves.
        size: the workload size of a measured case in full and in quick runs; ``{n}`` in the
            title and note becomes the size used (``100,000``).
    """

    name: str
    title: str
    unit: str
    divisor: float
    contenders: Mapping[str, Iteration]
    floor: str = ""
    setup: Callable[[], None] | None = None
    baseline: Mapping[str, Iteration] | None = None
    per_repeat: int | None = None
    interleave: bool = False
    net_of_floor: bool = False
    note: str = ""
    measured: bool = False
    size: tuple[int, int] | None = None

    def sized(self, settings: Settings) -> tuple[Case, int]:
        """The case with ``{n}`` filled in for ``settings``, and the size ``n`` (0 when unsized)."""
        if self.size is None:
            return self, 0
        n = self.size[1] if settings.quick else self.size[0]
        return replace(self, title=self.title.format(n=f"{n:,}"), note=self.note.format(n=f"{n:,}")), n

    @property
    def scale(self) -> float:
        """Seconds → the case's unit."""
        prefix = self.unit.split("/", 1)[0]
        return _SCALES[prefix]


@dataclass(frozen=True, slots=True)
class Settings:
    """How hard to measure."""

    warmup: float
    target: float
    repeats: int
    mode: str

    @property
    def quick(self) -> bool:
        """A smoke run: measured cases shrink their workloads."""
        return self.mode == "quick"


FULL = Settings(warmup=0.15, target=0.3, repeats=5, mode="full")
QUICK = Settings(warmup=0.02, target=0.04, repeats=3, mode="quick")


@dataclass(frozen=True, slots=True)
class Timing:
    """Per-iteration seconds of each repeat."""

    seconds: tuple[float, ...]
    iterations: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(max - min) / median across repeats."""
        median = self.median
        return (max(self.seconds) - min(self.seconds)) / median if median > 0 else 0.0


@dataclass(slots=True)
class Cell:
    """One contender's result in one row."""

    status: str  # "ok" | "missing" | "error"
    value: float | None = None
    net: float | None = None
    spread: float | None = None
    timing: Timing | None = None
    baseline: Timing | None = None
    samples: tuple[float, ...] | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "value": self.value}
        if self.net is not None:
            out["net"] = self.net
        if self.spread is not None:
            out["spread"] = round(self.spread, 4)
        if self.timing is not None:
            out["iterations"] = self.timing.iterations
            out["per_iteration_s"] = list(self.timing.seconds)
        if self.baseline is not None:
            out["baseline_iterations"] = self.baseline.iterations
            out["baseline_per_iteration_s"] = list(self.baseline.seconds)
        if self.samples is not None:
            out["samples"] = list(self.samples)
        if self.message:
            out["message"] = self.message
        return out


@dataclass(slots=True)
class Row:
    """A measured case."""

    case: Case
    cells: dict[str, Cell] = field(default_factory=dict)

    def value(self, contender: str, *, net: bool = False) -> float | None:
        cell = self.cells.get(contender)
        if cell is None or cell.status != "ok":
            return None
        return cell.net if net and cell.net is not None else cell.value

    def ratios(self) -> dict[str, float | None]:
        """``peer/graphflow`` for each peer, and ``graphflow/floor``.

        Rows with ``net_of_floor`` compare net values (the cost above an empty interpreter)
        and have no ``graphflow/floor``.
        """
        net = self.case.net_of_floor
        ours = self.value(GRAPHFLOW, net=net)
        out: dict[str, float | None] = {}
        for peer in PEERS:
            if peer in self.cells:
                theirs = self.value(peer, net=net)
                out[f"{peer}/{GRAPHFLOW}"] = _ratio(theirs, ours)
        if FLOOR in self.cells and not net:
            out[f"{GRAPHFLOW}/{FLOOR}"] = _ratio(ours, self.value(FLOOR))
        return out

    def to_dict(self) -> dict[str, Any]:
        case = self.case
        return {
            "name": case.name,
            "title": case.title,
            "unit": case.unit,
            "floor": case.floor,
            "note": case.note,
            "net_of_floor": case.net_of_floor,
            "contenders": {name: cell.to_dict() for name, cell in self.cells.items()},
            "ratios": self.ratios(),
        }


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


class Timer:
    """Times contenders; a callable measured twice in one run is timed once (shared floors)."""

    def __init__(self, settings: Settings, log: Callable[[str], None] = lambda _: None) -> None:
        self.settings = settings
        self.log = log
        self._seen: dict[int, tuple[Iteration, Timing | BaseException]] = {}
        self._samples: dict[tuple[int, int], tuple[Measure, tuple[float, ...] | Exception]] = {}

    async def measure(self, fn: Iteration, per_repeat: int | None = None) -> Timing:
        """Warm ``fn`` up, calibrate, and time it; re-raise what it raised the first time."""
        seen = self._seen.get(id(fn))
        if seen is not None and seen[0] is fn:
            if isinstance(seen[1], BaseException):
                raise seen[1]
            return seen[1]
        try:
            timing = await self._measure(fn, per_repeat)
        except Exception as exc:
            self._seen[id(fn)] = (fn, exc)
            raise
        self._seen[id(fn)] = (fn, timing)
        return timing

    async def _measure(self, fn: Iteration, per_repeat: int | None) -> Timing:
        settings = self.settings
        is_async = inspect.iscoroutinefunction(fn)
        # The first call builds (graphs, imports) and is not counted.
        await _loop(fn, 1, is_async)
        if per_repeat is not None:
            n = per_repeat
        else:
            calls, elapsed = 1, await _loop(fn, 1, is_async)
            while elapsed < settings.warmup:
                calls *= 2
                elapsed = await _loop(fn, calls, is_async)
            n = max(1, round(settings.target * calls / elapsed)) if elapsed > 0 else calls
        seconds = []
        for _ in range(settings.repeats):
            gc.collect()
            seconds.append(await _loop(fn, n, is_async) / n)
        return Timing(tuple(seconds), n)

    async def run(self, case: Case) -> Row:
        """Measure every contender of ``case``; missing peers and failures become cells."""
        case, size = case.sized(self.settings)
        row = Row(case)
        if case.setup is not None:
            case.setup()
        if case.measured:
            for name, fn in case.contenders.items():
                row.cells[name] = await self._measured(fn, size)
                self.log(f"  {case.name:<16} {name:<15} {_describe(row.cells[name], case)}")
        elif case.interleave:
            row.cells = await self._interleaved(case)
            for name, cell in row.cells.items():
                self.log(f"  {case.name:<16} {name:<15} {_describe(cell, case)}")
        else:
            for name, fn in case.contenders.items():
                row.cells[name] = await self._cell(case, name, fn)
                self.log(f"  {case.name:<16} {name:<15} {_describe(row.cells[name], case)}")
        if case.net_of_floor:
            floor = row.value(FLOOR)
            for name, cell in row.cells.items():
                if name != FLOOR and cell.value is not None and floor is not None:
                    cell.net = cell.value - floor
        return row

    async def _measured(self, fn: Measure, size: int) -> Cell:
        """Run a measured contender (once per process for a given size: rows may share one)."""
        key = (id(fn), size)
        seen = self._samples.get(key)
        if seen is None or seen[0] is not fn:
            try:
                gc.collect()
                seen = (fn, tuple(await fn(size, self.settings)))
            except Exception as exc:
                seen = (fn, exc)
            self._samples[key] = seen
        if isinstance(seen[1], Exception):
            return _failed(seen[1])
        samples = seen[1]
        median = statistics.median(samples)
        spread = (max(samples) - min(samples)) / median if median > 0 else 0.0
        return Cell("ok", median, spread=spread, samples=samples)

    async def _cell(self, case: Case, name: str, fn: Iteration) -> Cell:
        try:
            timing = await self.measure(fn, case.per_repeat)
            baseline = None
            if case.baseline is not None:
                baseline = await self.measure(case.baseline[name], case.per_repeat)
        except Exception as exc:
            return _failed(exc)
        return _cell(case, timing, baseline)

    async def _interleaved(self, case: Case) -> dict[str, Cell]:
        """Time the contenders round-robin, one repeat of each at a time.

        Slow, noisy iterations (a fresh interpreter each) drift with the machine's load; taking
        turns exposes every contender, and the floor, to the same drift.
        """
        failures: dict[str, Cell] = {}
        jobs: list[tuple[str, str, Iteration, bool, int]] = []
        for name, fn in case.contenders.items():
            variants = [("main", fn)]
            if case.baseline is not None:
                variants.append(("baseline", case.baseline[name]))
            for variant, callable_ in variants:
                is_async = inspect.iscoroutinefunction(callable_)
                try:
                    await _loop(callable_, 1, is_async)  # warm-up: builds, fills caches
                    n = case.per_repeat
                    if n is None:  # calibrate from one more call
                        once = await _loop(callable_, 1, is_async)
                        n = max(1, round(self.settings.target / once)) if once > 0 else 1
                except Exception as exc:
                    failures[name] = _failed(exc)
                    break
                jobs.append((name, variant, callable_, is_async, n))
        seconds: dict[tuple[str, str], list[float]] = {(j[0], j[1]): [] for j in jobs}
        counts = {(j[0], j[1]): j[4] for j in jobs}
        for _ in range(self.settings.repeats):
            for name, variant, callable_, is_async, n in jobs:
                if name in failures:
                    continue
                gc.collect()
                seconds[name, variant].append(await _loop(callable_, n, is_async) / n)
        cells: dict[str, Cell] = {}
        for name in case.contenders:
            if name in failures:
                cells[name] = failures[name]
                continue
            timing = Timing(tuple(seconds[name, "main"]), counts[name, "main"])
            base = seconds.get((name, "baseline"))
            baseline = Timing(tuple(base), counts[name, "baseline"]) if base else None
            cells[name] = _cell(case, timing, baseline)
        return cells


def _failed(exc: Exception) -> Cell:
    if isinstance(exc, ImportError):
        return Cell("missing", message=f"{NOT_INSTALLED}: {exc}")
    return Cell("error", message=f"{type(exc).__name__}: {exc}")


def _cell(case: Case, timing: Timing, baseline: Timing | None) -> Cell:
    scale = case.scale / case.divisor
    if baseline is None:
        return Cell("ok", timing.median * scale, spread=timing.spread, timing=timing)
    # Marginal cost: pair the repeats to estimate the spread of the difference.
    diffs = [(a - b) * scale for a, b in zip(timing.seconds, baseline.seconds, strict=True)]
    value = (timing.median - baseline.median) * scale
    spread = (max(diffs) - min(diffs)) / abs(value) if value else 0.0
    return Cell("ok", value, spread=spread, timing=timing, baseline=baseline)


def deferred(build: Callable[[], Callable[[], Any]]) -> Iteration:
    """A sync iteration that calls ``build()`` on first use and then what it returned."""
    fn: Callable[[], Any] | None = None

    def iteration() -> Any:
        nonlocal fn
        if fn is None:
            fn = build()
        return fn()

    return iteration


def deferred_async(build: Callable[[], Any]) -> Iteration:
    """Like :func:`deferred` for a coroutine function: build on first use, then await it.

    ``build`` may itself be a coroutine function (a build that starts an engine or a server in
    the harness's event loop).
    """
    fn: Callable[[], Any] | None = None

    async def iteration() -> Any:
        nonlocal fn
        if fn is None:
            built = build()
            fn = await built if inspect.isawaitable(built) else built
        return await fn()

    return iteration


async def _loop(fn: Iteration, n: int, is_async: bool) -> float:
    if is_async:
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        return time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def _describe(cell: Cell, case: Case) -> str:
    if cell.status != "ok":
        return cell.message
    assert cell.value is not None and cell.spread is not None
    return f"{cell.value:.4g} {case.unit} (spread {cell.spread:.1%})"
