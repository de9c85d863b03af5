"""A small in-process metrics registry: counters, gauges and histograms with bounded labels.

Recording is a dict update under no lock (the engine runs on one event loop); nothing is sent
anywhere while runs execute. Exporters read the registry when they are asked: the Prometheus
text of ``GET /metrics`` (:meth:`Registry.render`) and OpenTelemetry's observable instruments
(:mod:`graphflow.observability.otel`).

Label values are bounded by construction: the only tenant-controlled label, the automation id,
goes through :class:`BoundedLabel`, which keeps the first ``limit`` values it sees and answers
``"other"`` for every later one, so a family never has more than ``limit + 1`` series per value
of its other labels, whatever the tenants create. Run ids, node ids and app ids are never labels.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

__all__ = [
    "OTHER",
    "BoundedLabel",
    "Counter",
    "Family",
    "Gauge",
    "Histogram",
    "ReadCounter",
    "Reader",
    "Registry",
    "Sample",
]

#: The label value of everything past a :class:`BoundedLabel`'s limit.
OTHER = "other"

#: ``(suffix, labels, value)``: one line of a family's exposition.
Sample = tuple[str, tuple[tuple[str, str], ...], float]
#: What a read-on-collection family calls: ``{label values: value}``.
Reader = Callable[[], dict[tuple[str, ...], float]]


class BoundedLabel:
    """Maps an unbounded value (an automation id) to a label: itself for the first ``limit`` seen, else ``other``.

    The first values seen keep their label for the life of the process, so a counter's series
    never changes meaning (a ranking that moved automations in and out of the top would make
    counters go backwards).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        label = self._kept.get(value)
        if label is None:
            if len(self._kept) >= self.limit:
                return OTHER
            label = self._kept[value] = value
        return label

    def __len__(self) -> int:
        return len(self._kept)


class Family:
    """A named metric with fixed label names."""

    type = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labels = tuple(labels)

    def samples(self) -> Iterator[Sample]:
        """The family's current values."""
        return iter(())

    def _pairs(self, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self.labels, values, strict=True))


class Counter(Family):
    """A total that only goes up, per label values."""

    type = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1) -> None:
        """Add ``amount`` to the series of ``labels``."""
        values = self.values
        values[labels] = values.get(labels, 0) + amount

    def samples(self) -> Iterator[Sample]:
        for values, total in self.values.items():
            yield "_total", self._pairs(values), total


class Gauge(Family):
    """A value read when the registry is collected: ``read()`` returns ``{label values: value}``."""

    type = "gauge"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (), read: Reader = dict) -> None:
        super().__init__(name, help, labels)
        self.read = read

    def samples(self) -> Iterator[Sample]:
        for values, value in self.read().items():
            yield "", self._pairs(values), value


class ReadCounter(Gauge):
    """A running total kept elsewhere (an engine's plain integer), read when the registry is collected."""

    type = "counter"

    def samples(self) -> Iterator[Sample]:
        for values, value in self.read().items():
            yield "_total", self._pairs(values), value


class Histogram(Family):
    """Observations counted in cumulative buckets (upper bounds in seconds), with their sum and count.

    ``sink``, when an exporter sets it, is also called with each observation (OpenTelemetry's
    histograms cannot be read on demand); a sink that raises loses that observation, counted in
    ``dropped``, and never fails the caller.
    """

    type = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))
        #: label values → [count per bucket (the last is +Inf)..., sum]
        self.series: dict[tuple[str, ...], list[float]] = {}
        self.sink: Callable[[float, dict[str, str]], None] | None = None
        self.dropped = 0

    def observe(self, value: float, labels: tuple[str, ...] = ()) -> None:
        """Count ``value`` in its bucket."""
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        series[bisect.bisect_left(self.buckets, value)] += 1
        series[-1] += value
        if self.sink is not None:
            try:
                self.sink(value, dict(zip(self.labels, labels, strict=True)))
            except Exception:  # an exporter's failure never reaches a run
                self.dropped += 1

    def samples(self) -> Iterator[Sample]:
        bounds = [*(_number(b) for b in self.buckets), "+Inf"]
        for values, series in self.series.items():
            pairs = self._pairs(values)
            running = 0.0
            for bound, count in zip(bounds, series, strict=False):
                running += count
                yield "_bucket", (*pairs, ("le", bound)), running
            yield "_sum", pairs, series[-1]
            yield "_count", pairs, running


F = TypeVar("F", bound=Family)


class Registry:
    """The metric families of a process, rendered on demand."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}

    def add(self, family: F) -> F:
        """Register a family (its name must be new) and return it."""
        if family.name in self.families:
            raise ValueError(f"metric {family.name!r} is already registered")
        self.families[family.name] = family
        return family

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        """Register and return a counter."""
        return self.add(Counter(name, help, labels))

    def histogram(self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()) -> Histogram:
        """Register and return a histogram."""
        return self.add(Histogram(name, help, buckets, labels))

    def gauge(self, name: str, help: str, read: Reader, labels: Sequence[str] = ()) -> Gauge:
        """Register and return a gauge read by ``read`` at each collection."""
        return self.add(Gauge(name, help, labels, read))

    def total(self, name: str, help: str, read: Reader, labels: Sequence[str] = ()) -> ReadCounter:
        """Register and return a counter whose totals ``read`` returns at each collection."""
        return self.add(ReadCounter(name, help, labels, read))

    def render(self) -> str:
        """The families in the Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        for family in self.families.values():
            name = family.name
            lines.append(f"# HELP {name} {_escape_help(family.help)}")
            lines.append(f"# TYPE {name} {family.type}")
            for suffix, pairs, value in family.samples():
                labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in pairs)
                lines.append(
                    f"{name}{suffix}{{{labels}}} {_number(value)}" if labels else f"{name}{suffix} {_number(value)}"
                )
        lines.append("")
        return "\n".join(lines)


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
