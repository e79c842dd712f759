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
from typing import Any, Literal

from babel.dates import format_datetime
from babel.numbers import format_decimal
from babel.units import format_unit

from backend.i18n import SOURCE_LANGUAGE, babel_locale, catalog
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


def format_duration(value: timedelta | None, language: str = SOURCE_LANGUAGE) -> str:
    """'45s', '4m 05s', '1h 12m', '2d 3h' ('4 Min. 05 Sek.', '1 Std. 12 Min.' in German: CLDR's
    units, as long as the catalog says); '–' when there is nothing to show."""
    if value is None:
        return "–"
    locale = babel_locale(language)
    # Translators: how long duration units are written, one of narrow ("4m"), short ("4 min")
    # or long ("4 minutes"), as CLDR names them; say which reads best in a dense report.
    asked = catalog(language).pgettext("duration units", "narrow")
    length: Literal["narrow", "short", "long"] = "narrow"
    if asked == "short":
        length = "short"
    elif asked == "long":
        length = "long"
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)

    def unit(amount: int, name: str, padded: bool = False) -> str:
        # A string is placed as it is: the zero padding of '05s' survives, as in a clock.
        number = f"{amount:02d}" if padded else format_decimal(amount, locale=locale)
        return format_unit(number, f"duration-{name}", length=length, locale=locale)

    if days:
        return f"{sign}{unit(days, 'day')} {unit(hours, 'hour')}"
    if hours:
        return f"{sign}{unit(hours, 'hour')} {unit(minutes, 'minute', padded=True)}"
    if minutes:
        return f"{sign}{unit(minutes, 'minute')} {unit(secs, 'second', padded=True)}"
    return f"{sign}{unit(secs, 'second')}"


def render_markdown(
    summary: Summary, zone: tzinfo = UTC, max_items: int = 20, language: str = SOURCE_LANGUAGE
) -> str:
    """The summary as Markdown for a terminal: short sections, the numbers first, lists capped.

    Headings and words in `language` (backend/locale), numbers, dates and durations as its
    locale writes them (Babel); names, handles and notes as they were written."""
    translations = catalog(language)
    _ = translations.gettext
    ngettext = translations.ngettext
    pgettext = translations.pgettext
    locale = babel_locale(language)
    # Babel's pattern for the report's times ("Wed 25 Nov 14:05"); 24-hour in every language.
    when_pattern = _("EEE dd MMM HH:mm")

    def when(moment: datetime | None) -> str:
        if moment is None:
            return "–"
        return format_datetime(moment.astimezone(zone), when_pattern, locale=locale)

    def n(value: float) -> str:
        return format_decimal(value, locale=locale)

    def duration(value: timedelta | None) -> str:
        return format_duration(value, language)

    sentiment_words = {
        "negative": pgettext("sentiment", "negative"),
        "neutral": pgettext("sentiment", "neutral"),
        "positive": pgettext("sentiment", "positive"),
    }
    state_words = {
        "new": pgettext("state", "new"),
        "claimed": pgettext("state", "claimed"),
        "awaiting_customer": pgettext("state", "awaiting_customer"),
        "in_dm": pgettext("state", "in_dm"),
        "flagged_conduct": pgettext("state", "flagged_conduct"),
    }
    kind_words = {"first": _("first response"), "next": _("next response")}
    unclaimed = _("unclaimed")

    def who(name: str | None) -> str:
        return unclaimed if name is None or name == UNCLAIMED else _plain(name)

    def state(name: str) -> str:
        return state_words.get(name) or _plain(name)

    def counts(items: dict[str, int], label: Any) -> str:
        return ", ".join(f"{label(k)} {n(v)}" for k, v in items.items())

    def limited(lines: list[str], total: int) -> list[str]:
        shown = min(max_items, len(lines))
        if total > shown:
            more = _("… and {count} more (see `--format json`)").format(count=n(total - shown))
            return lines[:shown] + [f"- {more}"]
        return lines

    d = summary.data
    out: list[str] = []
    zone_name = getattr(zone, "key", None) or d.period_start.astimezone(zone).tzname() or "UTC"
    out.append(
        "# "
        + _("Handover {start} – {end} ({zone})").format(
            start=when(d.period_start), end=when(d.period_end), zone=zone_name
        )
    )
    out.append("")
    worked = ", ".join(_plain(o) for o in d.operators) or _("nobody signed in")
    out.append("**" + _("Worked this shift:") + f"** {worked}")
    out.append("")

    out.append("## " + _("Mentions in: {count}").format(count=n(summary.mentions_total)))
    if summary.mentions_table:
        labels = [sentiment_words.get(s) or _plain(s) for s in summary.sentiments]
        out.append("")
        platform_word, total_word, all_word = _("platform"), _("total"), _("all")
        out.append(f"| {platform_word} | " + " | ".join(labels) + f" | {total_word} |")
        out.append("|---|" + "---:|" * (len(summary.sentiments) + 1))
        for platform, row in summary.mentions_table.items():
            cells = [n(row.get(s, 0)) for s in summary.sentiments]
            out.append(
                f"| {_plain(platform)} | "
                + " | ".join(cells)
                + f" | {n(summary.mentions_by_platform[platform])} |"
            )
        totals = [n(summary.mentions_by_sentiment.get(s, 0)) for s in summary.sentiments]
        out.append(
            f"| **{all_word}** | " + " | ".join(totals) + f" | {n(summary.mentions_total)} |"
        )
    out.append("")

    out.append(
        "## "
        + _("Replies out: {public} public, {dm} DM").format(
            public=n(d.replies_out), dm=n(d.dms_out)
        )
    )
    out.append("")
    answered = len(d.first_responses)
    out.append(
        "## "
        + ngettext(
            "First response: median {median}, p90 {p90} ({count} conversation)",
            "First response: median {median}, p90 {p90} ({count} conversations)",
            answered,
        ).format(
            median=duration(summary.first_response_median),
            p90=duration(summary.first_response_p90),
            count=n(answered),
        )
    )
    out.append("")

    out.append("## " + _("SLA breaches: {count}").format(count=n(summary.breaches_total)))
    if d.breaches:
        out.append(_("By operator:") + " " + counts(summary.breaches_by_operator, who))
        lines = []
        for b in sorted(d.breaches, key=lambda b: b.due_at):
            kind = kind_words.get(b.kind) or _("{kind} response").format(kind=_plain(b.kind))
            head = f"- #{_plain(b.conversation_id)} @{_plain(b.handle)} ({_plain(b.platform)}) {_plain(b.priority)} "
            due = _("{kind}, due {when}").format(kind=kind, when=when(b.due_at))
            holder = (
                _("held by {operator}").format(operator=_plain(b.operator))
                if b.operator
                else unclaimed
            )
            lines.append(f"{head}{due}, {holder}")
        out += limited(lines, summary.breaches_total)
    out.append("")

    out.append("## " + _("Still open: {count}").format(count=n(summary.open_total)))
    if summary.open_total:
        out.append(_("By state:") + " " + counts(summary.open_by_state, state))
        out.append(_("By holder:") + " " + counts(summary.open_by_holder, who))
        far = datetime.max.replace(tzinfo=UTC)
        ordered = sorted(d.open_conversations, key=lambda c: (c.due_at or far, c.priority))
        lines = [
            f"- #{_plain(c.conversation_id)} @{_plain(c.handle)} ({_plain(c.platform)}) {_plain(c.priority)} "
            f"{state(c.state)}, "
            + (_("due {when}").format(when=when(c.due_at)) if c.due_at else _("clock stopped"))
            + f", {who(c.holder)}"
            for c in ordered
        ]
        out += limited(lines, summary.open_total)
    out.append("")

    out.append(
        "## "
        + _("Owe a public closing message: {count}").format(
            count=n(summary.owing_public_close_total)
        )
    )
    lines = [
        f"- #{_plain(c.conversation_id)} @{_plain(c.handle)} ({_plain(c.platform)}) "
        + _("in DM since {when}").format(when=when(c.in_dm_since))
        + f", {who(c.holder)}"
        for c in sorted(d.owing_public_close, key=lambda c: c.in_dm_since)
    ]
    out += limited(lines, summary.owing_public_close_total)
    out.append("")

    out.append("## " + _("Pinned notes: {count}").format(count=n(len(d.notes))))
    for note in sorted(d.notes, key=lambda note: note.at):
        about = (
            " " + _("on #{conversation}").format(conversation=_plain(note.conversation_id))
            if note.conversation_id is not None
            else ""
        )
        out.append(f"- {when(note.at)} {_plain(note.author)}{about}: {_plain(note.text)}")
    out.append("")

    out.append("## " + _("Crisis periods: {count}").format(count=n(len(d.crises))))
    for c in sorted(d.crises, key=lambda c: c.started_at):
        end = when(c.ended_at) if c.ended_at else _("still going")
        length = duration((c.ended_at or d.period_end) - c.started_at)
        peak = _("peak {count} negative/min").format(count=n(round(c.peak_per_minute)))
        out.append(f"- {when(c.started_at)} – {end} ({length}), {peak}")
    out.append("")

    out.append("## " + _("Top complaint themes"))
    if d.themes:
        for i, t in enumerate(d.themes, 1):
            out.append(f"{n(i)}. {_plain(t.term)} ({n(t.count)})")
    else:
        out.append(_("none stood out"))
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
