"""Prometheus text exposition (format version 0.0.4), written by hand.

/metrics computes every value per scrape from the database (so several
backends report the same numbers), which leaves nothing for a client
library's registry to do; this module only formats.

    render([
        gauge("shiftdesk_queue_depth", "Open conversations.", [({"state": "new", "priority": "P1"}, 4)]),
        histogram("shiftdesk_first_response_seconds", "First response time.", [60, 300, 900], durations),
    ])
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = Mapping[str, str]
Samples = float | int | Iterable[tuple[Labels, float]]
MetricType = Literal["counter", "gauge", "histogram", "untyped"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One line of output: full sample name, labels in order, value."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """A metric with its HELP and TYPE lines and its samples."""

    name: str
    help: str
    type: MetricType
    samples: tuple[Sample, ...]


def _check_name(name: str) -> str:
    if not _METRIC_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid metric name")
    return name


def _labels(labels: Labels | None, reserved: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in (labels or {}).items():
        if not _LABEL_NAME.match(key) or key.startswith("__"):
            raise ValueError(f"{key!r} is not a valid label name")
        if key in reserved:
            raise ValueError(f"label {key!r} is reserved for this metric type")
        out.append((key, str(value)))
    return tuple(out)


def _series(samples: Samples) -> list[tuple[Labels, float]]:
    if isinstance(samples, (int, float)) and not isinstance(samples, bool):
        return [({}, samples)]
    return list(samples)  # type: ignore[arg-type]


def _simple(kind: MetricType, name: str, help: str, samples: Samples) -> MetricFamily:
    _check_name(name)
    out, seen = [], set()
    for labels, value in _series(samples):
        pairs = _labels(labels)
        if pairs in seen:
            raise ValueError(f"{name}: the label set {dict(pairs)} appears twice")
        seen.add(pairs)
        if kind == "counter" and value < 0:
            raise ValueError(f"{name}: a counter cannot be negative ({value})")
        out.append(Sample(name, pairs, float(value)))
    return MetricFamily(name, help, kind, tuple(out))


def counter(name: str, help: str, samples: Samples) -> MetricFamily:
    """A count that only goes up (breaches, ingested mentions, outbox failures). Name it ..._total."""
    return _simple("counter", name, help, samples)


def gauge(name: str, help: str, samples: Samples) -> MetricFamily:
    """A value that goes up and down (queue depth, outbox backlog, connected operators)."""
    return _simple("gauge", name, help, samples)


def _bounds(buckets: Sequence[float]) -> list[float]:
    bounds = [float(b) for b in buckets]
    if any(math.isnan(b) for b in bounds):
        raise ValueError("histogram buckets cannot be NaN")
    if any(b >= c for b, c in zip(bounds, bounds[1:])):
        raise ValueError("histogram buckets must be in increasing order")
    if not bounds or bounds[-1] != math.inf:
        bounds.append(math.inf)
    return bounds


def histogram_counts(
    name: str,
    help: str,
    buckets: Sequence[float],
    series: Iterable[tuple[Labels, Sequence[int], float]],
) -> MetricFamily:
    """A histogram from per-bucket counts, as SQL can produce them (e.g. with width_bucket).

    Each series is (labels, counts, sum): counts[i] is how many observations fell
    in bucket i alone (above the previous bound, up to and including buckets[i]),
    with one more count at the end for those above the highest bound."""
    _check_name(name)
    bounds = _bounds(buckets)
    out, seen = [], set()
    for labels, counts, total in series:
        pairs = _labels(labels, reserved=("le",))
        if pairs in seen:
            raise ValueError(f"{name}: the label set {dict(pairs)} appears twice")
        seen.add(pairs)
        if len(counts) != len(bounds):
            raise ValueError(
                f"{name}: expected {len(bounds)} bucket counts (one per bound plus +Inf), got {len(counts)}"
            )
        cumulative = 0
        for bound, n in zip(bounds, counts):
            if n < 0:
                raise ValueError(f"{name}: bucket counts cannot be negative")
            cumulative += n
            out.append(
                Sample(f"{name}_bucket", pairs + (("le", format_value(bound)),), float(cumulative))
            )
        out.append(Sample(f"{name}_sum", pairs, float(total)))
        out.append(Sample(f"{name}_count", pairs, float(cumulative)))
    return MetricFamily(name, help, "histogram", tuple(out))


def histogram_series(
    name: str, help: str, buckets: Sequence[float], series: Iterable[tuple[Labels, Iterable[float]]]
) -> MetricFamily:
    """A histogram with one set of observations per label set."""
    bounds = _bounds(buckets)
    prepared = []
    for labels, observations in series:
        counts = [0] * len(bounds)
        total = 0.0
        for value in observations:
            value = float(value)
            total += value
            # First bucket whose bound is >= value (le is inclusive).
            lo, hi = 0, len(bounds) - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if value <= bounds[mid]:
                    hi = mid
                else:
                    lo = mid + 1
            counts[lo] += 1
        prepared.append((labels, counts, total))
    return histogram_counts(name, help, bounds, prepared)


def histogram(
    name: str,
    help: str,
    buckets: Sequence[float],
    observations: Iterable[float],
    labels: Labels | None = None,
) -> MetricFamily:
    """A histogram of raw observations, e.g. first-response times in seconds."""
    return histogram_series(name, help, buckets, [(labels or {}, observations)])


def format_value(value: float) -> str:
    """Sample values as Prometheus reads them: +Inf, -Inf, NaN, integers without '.0'."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render(families: Iterable[MetricFamily]) -> str:
    """The whole exposition: HELP and TYPE before each family's samples, one trailing newline."""
    lines: list[str] = []
    names: set[str] = set()
    for family in families:
        if family.name in names:
            raise ValueError(
                f"metric {family.name} is rendered twice; give it one family with several label sets"
            )
        names.add(family.name)
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for s in family.samples:
            label_text = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in s.labels)
            lines.append(
                f"{s.name}{{{label_text}}} {format_value(s.value)}"
                if label_text
                else f"{s.name} {format_value(s.value)}"
            )
    return "\n".join(lines) + "\n" if lines else ""
