"""Prometheus text renderer: parse the output back and check it line by line."""

from __future__ import annotations

import math
import re

import pytest

from backend.metrics.exposition import (
    CONTENT_TYPE,
    counter,
    format_value,
    gauge,
    histogram,
    histogram_counts,
    histogram_series,
    render,
)

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], text)


def parse(text: str) -> dict[str, dict]:
    """A strict little parser for the 0.0.4 text format: {family: {help, type, samples}}."""
    assert text.endswith("\n") and not text.endswith("\n\n")
    families: dict[str, dict] = {}
    current = None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            current = families.setdefault(name, {"samples": []})
            current["help"] = _unescape(help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            assert name in families, "TYPE must follow its HELP"
            families[name]["type"] = kind
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, label_text, value = m.groups()
            labels = {}
            if label_text:
                consumed = "".join(x.group(0) for x in _LABEL.finditer(label_text))
                assert consumed == label_text, f"bad labels in {line!r}"
                labels = {k: _unescape(v) for k, v in _LABEL.findall(label_text)}
            assert current is not None and name.startswith(next(reversed(families)))
            current["samples"].append((name, labels, float(value)))
    return families


def test_gauges_and_counters_with_escaped_labels():
    tricky = 'say "hi"\\ then\nbye'
    text = render(
        [
            gauge(
                "shiftdesk_queue_depth",
                "Open conversations by state and priority.",
                [
                    ({"state": "new", "priority": "P1"}, 4),
                    ({"state": "claimed", "priority": "P2"}, 0),
                ],
            ),
            counter(
                "shiftdesk_sla_breaches_total",
                "SLA breaches.\nCounted per operator.",
                [({"operator": tricky}, 3)],
            ),
            gauge("shiftdesk_connected_operators", "Operators with a live console.", 2),
        ]
    )
    assert (
        'shiftdesk_sla_breaches_total{operator="say \\"hi\\"\\\\ then\\nbye"} 3'
        in text.splitlines()
    )
    assert (
        "# HELP shiftdesk_sla_breaches_total SLA breaches.\\nCounted per operator."
        in text.splitlines()
    )
    parsed = parse(text)
    assert parsed["shiftdesk_queue_depth"]["type"] == "gauge"
    assert parsed["shiftdesk_queue_depth"]["samples"] == [
        ("shiftdesk_queue_depth", {"state": "new", "priority": "P1"}, 4.0),
        ("shiftdesk_queue_depth", {"state": "claimed", "priority": "P2"}, 0.0),
    ]
    assert parsed["shiftdesk_sla_breaches_total"]["type"] == "counter"
    assert parsed["shiftdesk_sla_breaches_total"]["help"] == "SLA breaches.\nCounted per operator."
    assert parsed["shiftdesk_sla_breaches_total"]["samples"][0][1] == {"operator": tricky}
    assert parsed["shiftdesk_connected_operators"]["samples"] == [
        ("shiftdesk_connected_operators", {}, 2.0)
    ]


def test_histogram_buckets_are_cumulative_with_sum_and_count():
    observations = [12, 45, 60, 61, 300, 301, 5000]  # first-response seconds
    text = render(
        [
            histogram(
                "shiftdesk_first_response_seconds",
                "Time to first public reply.",
                [60, 300, 900],
                observations,
                {"platform": "mastodon"},
            )
        ]
    )
    parsed = parse(text)["shiftdesk_first_response_seconds"]
    assert parsed["type"] == "histogram"
    buckets = [(s[1]["le"], s[2]) for s in parsed["samples"] if s[0].endswith("_bucket")]
    # le is inclusive: 60 falls in le="60".
    assert buckets == [("60", 3.0), ("300", 5.0), ("900", 6.0), ("+Inf", 7.0)]
    assert all(s[1]["platform"] == "mastodon" for s in parsed["samples"])
    values = {s[0]: s[2] for s in parsed["samples"] if not s[0].endswith("_bucket")}
    assert values == {
        "shiftdesk_first_response_seconds_sum": float(sum(observations)),
        "shiftdesk_first_response_seconds_count": 7.0,
    }
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)


def test_histogram_from_sql_counts_and_several_series():
    fam = histogram_counts(
        "shiftdesk_first_response_seconds",
        "First response.",
        [60, 300],
        [({"platform": "bluesky"}, [2, 0, 1], 700.5)],
    )
    lines = render([fam]).splitlines()
    assert lines[2:] == [
        'shiftdesk_first_response_seconds_bucket{platform="bluesky",le="60"} 2',
        'shiftdesk_first_response_seconds_bucket{platform="bluesky",le="300"} 2',
        'shiftdesk_first_response_seconds_bucket{platform="bluesky",le="+Inf"} 3',
        'shiftdesk_first_response_seconds_sum{platform="bluesky"} 700.5',
        'shiftdesk_first_response_seconds_count{platform="bluesky"} 3',
    ]
    both = histogram_series("h", "two platforms", [1.5], [({"p": "a"}, [1, 2]), ({"p": "b"}, [])])
    parsed = parse(render([both]))["h"]["samples"]
    assert ("h_bucket", {"p": "a", "le": "1.5"}, 1.0) in parsed
    assert ("h_count", {"p": "b"}, 0.0) in parsed


def test_values_format_like_prometheus():
    assert [format_value(v) for v in (3, 2.5, math.inf, -math.inf, 0.1)] == [
        "3",
        "2.5",
        "+Inf",
        "-Inf",
        "0.1",
    ]
    assert format_value(math.nan) == "NaN"
    assert render([]) == ""
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gauge("queue-depth", "x", 1), "not a valid metric name"),
        (lambda: gauge("q", "x", [({"bad-label": "v"}, 1)]), "not a valid label name"),
        (lambda: gauge("q", "x", [({"__name__": "v"}, 1)]), "not a valid label name"),
        (lambda: gauge("q", "x", [({"a": "1"}, 1), ({"a": "1"}, 2)]), "appears twice"),
        (lambda: counter("c_total", "x", -1), "cannot be negative"),
        (lambda: histogram("h", "x", [5, 1], []), "increasing order"),
        (lambda: histogram("h", "x", [1], [], {"le": "1"}), "reserved"),
        (lambda: histogram_counts("h", "x", [1], [({}, [1], 0)]), "expected 2 bucket counts"),
        (lambda: render([gauge("g", "x", 1), gauge("g", "y", 2)]), "rendered twice"),
    ],
)
def test_mistakes_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
