"""A strict parser of the Prometheus text exposition format (0.0.4), for the metrics tests.

It refuses what a Prometheus server would: a sample before its family's ``# TYPE``, a sample
whose name does not belong to the family, a malformed label set or value, a family declared twice,
and a histogram whose buckets are not cumulative or do not end with ``+Inf`` equal to ``_count``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["Family", "parse"]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?\}})? (?P<value>\S+)$")
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"), "untyped": ("",)}


@dataclass
class Family:
    name: str
    type: str
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, suffix: str = "", **labels: str) -> float:
        """The value of the one sample with these labels (0 when absent: a counter never incremented)."""
        found = [v for s, ls, v in self.samples if s == self.name + suffix and ls == labels]
        assert len(found) <= 1, (self.name, labels)
        return found[0] if found else 0.0

    def total(self, suffix: str = "", **labels: str) -> float:
        """The sum of the samples whose labels include these."""
        return sum(v for s, ls, v in self.samples if s == self.name + suffix and labels.items() <= ls.items())


def _value(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text):
        raise ValueError(f"not a sample value: {text!r}")
    return float(text)


def parse(text: str) -> dict[str, Family]:
    """The families of an exposition; raises ``ValueError`` on anything malformed."""
    if not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    families: dict[str, Family] = {}
    helps: dict[str, str] = {}
    current: Family | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("# HELP "):
            name, _, help = line[7:].partition(" ")
            if not re.fullmatch(_NAME, name) or name in helps:
                raise ValueError(f"line {number}: bad or repeated HELP")
            helps[name] = help
            continue
        if line.startswith("# TYPE "):
            name, _, type_ = line[7:].partition(" ")
            if type_ not in _SUFFIXES or name in families or not re.fullmatch(_NAME, name):
                raise ValueError(f"line {number}: bad or repeated TYPE {line!r}")
            current = families[name] = Family(name, type_, helps.get(name, ""))
            continue
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"line {number}: not a sample: {line!r}")
        name = match.group(1)
        if current is None or name not in {current.name + s for s in _SUFFIXES[current.type]}:
            raise ValueError(f"line {number}: sample {name!r} outside its family")
        labels = dict(re.findall(_LABEL, match.group(2) or ""))
        current.samples.append((name, labels, _value(match.group("value"))))
    for family in families.values():
        if family.type == "histogram":
            _check_histogram(family)
    return families


def _check_histogram(family: Family) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for name, labels, value in family.samples:
        if name.endswith("_bucket"):
            labels = dict(labels)
            le = labels.pop("le")
            series.setdefault(tuple(sorted(labels.items())), []).append((_value(le), value))
        elif name.endswith("_count"):
            counts[tuple(sorted(labels.items()))] = value
    for key, buckets in series.items():
        bounds = [b for b, _ in buckets]
        values = [v for _, v in buckets]
        if bounds != sorted(bounds) or not math.isinf(bounds[-1]) or values != sorted(values):
            raise ValueError(f"{family.name}{key}: buckets not cumulative or no +Inf")
        if values[-1] != counts.get(key):
            raise ValueError(f"{family.name}{key}: +Inf bucket differs from _count")
