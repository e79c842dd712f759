"""The handover summary: what the next shift needs to know, from plain facts.

The caller (CLI `shiftdesk handover`, the console's handover screen) queries
the facts for a period into `HandoverData`; `summarise` does the arithmetic
and `render_markdown` / `render_json` present it. Nothing here touches the
database or the clock.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from backend.listening.themes import Theme

SENTIMENT_ORDER = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class MentionCount:
    """Mentions that came in on one platform with one sentiment band."""

    platform: str
    sentiment: str
    count: int


@dataclass(frozen=True, slots=True)
class Breach:
    """A conversation whose SLA target passed during the period."""

    conversation_id: object
    handle: str
    platform: str
    priority: str
    kind: str  # "first" or "next" response
    due_at: datetime
    operator: str | None = None  # who held it when it breached; None when nobody had claimed it


@dataclass(frozen=True, slots=True)
class OpenConversation:
    """A conversation the next shift inherits."""

    conversation_id: object
    handle: str
    platform: str
    state: str  # new, claimed, awaiting_customer, in_dm, flagged_conduct
    priority: str
    holder: str | None = None  # claimant, if any
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OwedClose:
    """A conversation moved to DM that still owes the public closing message."""

    conversation_id: object
    handle: str
    platform: str
    in_dm_since: datetime
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class PinnedNote:
    author: str
    text: str
    at: datetime
    conversation_id: object | None = None  # None for a shift-wide note


@dataclass(frozen=True, slots=True)
class CrisisPeriod:
    started_at: datetime
    ended_at: datetime | None  # None: still going at the end of the period
    peak_per_minute: float = 0.0


@dataclass(frozen=True)
class HandoverData:
    """The plain facts of one period, as queried from the database."""

    period_start: datetime
    period_end: datetime
    operators: Sequence[str] = ()
    mentions: Sequence[MentionCount] = ()
    replies_out: int = 0  # public replies published
    dms_out: int = 0  # direct messages published
    first_responses: Sequence[timedelta] = ()  # one per conversation first answered in the period
    breaches: Sequence[Breach] = ()
    open_conversations: Sequence[
        OpenConversation
    ] = ()  # the most urgent, when the counts below are given
    owing_public_close: Sequence[OwedClose] = ()
    notes: Sequence[PinnedNote] = ()
    crises: Sequence[CrisisPeriod] = ()
    themes: Sequence[Theme] = ()
    # Counted by the database when the lists above are only the first few (a queue of
    # a million is counted, not listed); None: count the lists themselves.
    open_total: int | None = None
    open_by_state: dict[str, int] | None = None
    open_by_holder: dict[str, int] | None = None
    breaches_total: int | None = None
    breaches_by_operator: dict[str, int] | None = None
    owing_public_close_total: int | None = None


@dataclass(frozen=True)
class Summary:
    """HandoverData plus the numbers worked out from it."""

    data: HandoverData
    mentions_total: int
    mentions_by_platform: dict[str, int]
    mentions_by_sentiment: dict[str, int]
    mentions_table: dict[str, dict[str, int]]  # platform -> sentiment -> count
    first_response_median: timedelta | None
    first_response_p90: timedelta | None
    breaches_by_operator: dict[str, int]  # "unclaimed" for breaches nobody held
    open_by_state: dict[str, int]
    open_by_holder: dict[str, int]  # "unclaimed" for conversations nobody holds
    open_total: int = 0
    breaches_total: int = 0
    owing_public_close_total: int = 0
    sentiments: tuple[str, ...] = field(default=SENTIMENT_ORDER)


def percentile(values: Sequence[timedelta], fraction: float) -> timedelta | None:
    """Linear-interpolated percentile (the 'inclusive' method, as numpy's default); None when empty."""
    if not values:
        return None
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


UNCLAIMED = "unclaimed"


def _counted(items) -> dict[str, int]:
    # Biggest first, then by name, so the report reads the same every time.
    return dict(sorted(Counter(items).items(), key=lambda kv: (-kv[1], kv[0])))


def _sorted(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def summarise(data: HandoverData) -> Summary:
    """Work out totals, breakdowns and the median and p90 first-response times."""
    if data.period_end < data.period_start:
        raise ValueError("handover period ends before it starts")
    table: dict[str, dict[str, int]] = {}
    by_platform: Counter[str] = Counter()
    by_sentiment: Counter[str] = Counter()
    for m in data.mentions:
        row = table.setdefault(m.platform, {})
        row[m.sentiment] = row.get(m.sentiment, 0) + m.count
        by_platform[m.platform] += m.count
        by_sentiment[m.sentiment] += m.count
    extra = sorted(set(by_sentiment) - set(SENTIMENT_ORDER))
    sentiments = tuple(s for s in SENTIMENT_ORDER) + tuple(extra)
    return Summary(
        data=data,
        mentions_total=sum(by_platform.values()),
        mentions_by_platform=dict(sorted(by_platform.items())),
        mentions_by_sentiment={s: by_sentiment.get(s, 0) for s in sentiments},
        mentions_table={p: table[p] for p in sorted(table)},
        first_response_median=percentile(data.first_responses, 0.5),
        first_response_p90=percentile(data.first_responses, 0.9),
        breaches_by_operator=_sorted(data.breaches_by_operator)
        if data.breaches_by_operator is not None
        else _counted(b.operator or UNCLAIMED for b in data.breaches),
        open_by_state=_sorted(data.open_by_state)
        if data.open_by_state is not None
        else _counted(c.state for c in data.open_conversations),
        open_by_holder=_sorted(data.open_by_holder)
        if data.open_by_holder is not None
        else _counted(c.holder or UNCLAIMED for c in data.open_conversations),
        open_total=data.open_total if data.open_total is not None else len(data.open_conversations),
        breaches_total=data.breaches_total
        if data.breaches_total is not None
        else len(data.breaches),
        owing_public_close_total=data.owing_public_close_total
        if data.owing_public_close_total is not None
        else len(data.owing_public_close),
        sentiments=sentiments,
    )


# --- presentation ---------------------------------------------------------------------------

# Control characters (C0 but tab/newline, DEL, C1): platform text must never drive the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _plain(text: object) -> str:
    """Platform or operator text made safe for one line of a table or list."""
    return " ".join(_CONTROL.sub("", str(text)).split()).replace("|", "\\|")


def format_duration(value: timedelta | None) -> str:
    """'45s', '4m 05s', '1h 12m', '2d 3h'; '–' when there is nothing to show."""
    if value is None:
        return "–"
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def _when(moment: datetime | None, zone: tzinfo) -> str:
    if moment is None:
        return "–"
    return moment.astimezone(zone).strftime("%a %d %b %H:%M")


def _limited(lines: list[str], limit: int, total: int) -> list[str]:
    shown = min(limit, len(lines))
    if total > shown:
        return lines[:shown] + [f"- … and {total - shown} more (see `--format json`)"]
    return lines


def render_markdown(summary: Summary, zone: tzinfo = UTC, max_items: int = 20) -> str:
    """The summary as Markdown for a terminal: short sections, the numbers first, lists capped."""
    d = summary.data
    out: list[str] = []
    zone_name = getattr(zone, "key", None) or d.period_start.astimezone(zone).tzname() or "UTC"
    out.append(
        f"# Handover {_when(d.period_start, zone)} – {_when(d.period_end, zone)} ({zone_name})"
    )
    out.append("")
    out.append(
        f"**Worked this shift:** {', '.join(_plain(o) for o in d.operators) or 'nobody signed in'}"
    )
    out.append("")

    out.append(f"## Mentions in: {summary.mentions_total}")
    if summary.mentions_table:
        out.append("")
        out.append("| platform | " + " | ".join(summary.sentiments) + " | total |")
        out.append("|---|" + "---:|" * (len(summary.sentiments) + 1))
        for platform, row in summary.mentions_table.items():
            cells = [str(row.get(s, 0)) for s in summary.sentiments]
            out.append(
                f"| {_plain(platform)} | "
                + " | ".join(cells)
                + f" | {summary.mentions_by_platform[platform]} |"
            )
        totals = [str(summary.mentions_by_sentiment.get(s, 0)) for s in summary.sentiments]
        out.append("| **all** | " + " | ".join(totals) + f" | {summary.mentions_total} |")
    out.append("")

    out.append(f"## Replies out: {d.replies_out} public, {d.dms_out} DM")
    out.append("")
    out.append(
        f"## First response: median {format_duration(summary.first_response_median)}, "
        f"p90 {format_duration(summary.first_response_p90)} "
        f"({len(d.first_responses)} conversations)"
    )
    out.append("")

    out.append(f"## SLA breaches: {summary.breaches_total}")
    if d.breaches:
        out.append(
            "By operator: "
            + ", ".join(f"{_plain(k)} {v}" for k, v in summary.breaches_by_operator.items())
        )
        lines = [
            f"- #{_plain(b.conversation_id)} @{_plain(b.handle)} ({_plain(b.platform)}) {_plain(b.priority)} "
            f"{_plain(b.kind)} response, due {_when(b.due_at, zone)}, "
            + (f"held by {_plain(b.operator)}" if b.operator else UNCLAIMED)
            for b in sorted(d.breaches, key=lambda b: b.due_at)
        ]
        out += _limited(lines, max_items, summary.breaches_total)
    out.append("")

    out.append(f"## Still open: {summary.open_total}")
    if summary.open_total:
        out.append(
            "By state: " + ", ".join(f"{_plain(k)} {v}" for k, v in summary.open_by_state.items())
        )
        out.append(
            "By holder: " + ", ".join(f"{_plain(k)} {v}" for k, v in summary.open_by_holder.items())
        )
        far = datetime.max.replace(tzinfo=UTC)
        ordered = sorted(d.open_conversations, key=lambda c: (c.due_at or far, c.priority))
        lines = [
            f"- #{_plain(c.conversation_id)} @{_plain(c.handle)} ({_plain(c.platform)}) {_plain(c.priority)} "
            f"{_plain(c.state)}, "
            + (f"due {_when(c.due_at, zone)}" if c.due_at else "clock stopped")
            + f", {_plain(c.holder or UNCLAIMED)}"
            for c in ordered
        ]
        out += _limited(lines, max_items, summary.open_total)
    out.append("")

    out.append(f"## Owe a public closing message: {summary.owing_public_close_total}")
    lines = [
        f"- #{_plain(c.conversation_id)} @{_plain(c.handle)} ({_plain(c.platform)}) in DM since "
        f"{_when(c.in_dm_since, zone)}, {_plain(c.holder or UNCLAIMED)}"
        for c in sorted(d.owing_public_close, key=lambda c: c.in_dm_since)
    ]
    out += _limited(lines, max_items, summary.owing_public_close_total)
    out.append("")

    out.append(f"## Pinned notes: {len(d.notes)}")
    for n in sorted(d.notes, key=lambda n: n.at):
        about = f" on #{_plain(n.conversation_id)}" if n.conversation_id is not None else ""
        out.append(f"- {_when(n.at, zone)} {_plain(n.author)}{about}: {_plain(n.text)}")
    out.append("")

    out.append(f"## Crisis periods: {len(d.crises)}")
    for c in sorted(d.crises, key=lambda c: c.started_at):
        end = _when(c.ended_at, zone) if c.ended_at else "still going"
        length = format_duration((c.ended_at or d.period_end) - c.started_at)
        out.append(
            f"- {_when(c.started_at, zone)} – {end} ({length}), peak {c.peak_per_minute:.0f} negative/min"
        )
    out.append("")

    out.append("## Top complaint themes")
    if d.themes:
        for i, t in enumerate(d.themes, 1):
            out.append(f"{i}. {_plain(t.term)} ({t.count})")
    else:
        out.append("none stood out")
    return "\n".join(out) + "\n"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def render_json(summary: Summary) -> dict[str, Any]:
    """The full summary as JSON-ready data: UTC ISO 8601 times, durations in seconds, no caps on lists."""
    d = summary.data
    return {
        "period": {"start": _iso(d.period_start), "end": _iso(d.period_end)},
        "operators": list(d.operators),
        "mentions": {
            "total": summary.mentions_total,
            "by_platform": summary.mentions_by_platform,
            "by_sentiment": summary.mentions_by_sentiment,
            "by_platform_and_sentiment": summary.mentions_table,
        },
        "replies_out": {"public": d.replies_out, "dm": d.dms_out},
        "first_response_seconds": {
            "count": len(d.first_responses),
            "median": _seconds(summary.first_response_median),
            "p90": _seconds(summary.first_response_p90),
        },
        "breaches": {
            "total": summary.breaches_total,
            "more": summary.breaches_total - len(d.breaches),
            "by_operator": summary.breaches_by_operator,
            "conversations": [
                {
                    "conversation_id": b.conversation_id,
                    "handle": b.handle,
                    "platform": b.platform,
                    "priority": b.priority,
                    "kind": b.kind,
                    "due_at": _iso(b.due_at),
                    "operator": b.operator,
                }
                for b in sorted(d.breaches, key=lambda b: b.due_at)
            ],
        },
        "open": {
            "total": summary.open_total,
            "more": summary.open_total - len(d.open_conversations),
            "by_state": summary.open_by_state,
            "by_holder": summary.open_by_holder,
            "conversations": [
                {
                    "conversation_id": c.conversation_id,
                    "handle": c.handle,
                    "platform": c.platform,
                    "state": c.state,
                    "priority": c.priority,
                    "holder": c.holder,
                    "due_at": _iso(c.due_at),
                }
                for c in d.open_conversations
            ],
        },
        "owing_public_close_total": summary.owing_public_close_total,
        "owing_public_close": [
            {
                "conversation_id": c.conversation_id,
                "handle": c.handle,
                "platform": c.platform,
                "in_dm_since": _iso(c.in_dm_since),
                "holder": c.holder,
            }
            for c in d.owing_public_close
        ],
        "pinned_notes": [
            {
                "author": n.author,
                "text": n.text,
                "at": _iso(n.at),
                "conversation_id": n.conversation_id,
            }
            for n in d.notes
        ],
        "crises": [
            {
                "started_at": _iso(c.started_at),
                "ended_at": _iso(c.ended_at),
                "peak_per_minute": c.peak_per_minute,
            }
            for c in d.crises
        ],
        "themes": [{"term": t.term, "count": t.count} for t in d.themes],
    }
