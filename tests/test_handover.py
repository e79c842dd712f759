"""Handover summary: the arithmetic and both renderings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.clock import FrozenClock
from backend.handover.report import (
    Breach,
    CrisisPeriod,
    HandoverData,
    MentionCount,
    OpenConversation,
    OwedClose,
    PinnedNote,
    format_duration,
    percentile,
    render_json,
    render_markdown,
    summarise,
)
from backend.listening.themes import Theme

BERLIN = ZoneInfo("Europe/Berlin")


def minutes(*values: float) -> list[timedelta]:
    return [timedelta(minutes=v) for v in values]


def shift() -> HandoverData:
    clock = FrozenClock(datetime(2026, 11, 25, 13, 0, tzinfo=UTC))  # 14:00 Berlin
    end = clock.now()
    start = end - timedelta(hours=8)
    return HandoverData(
        period_start=start,
        period_end=end,
        operators=("Anna", "Ben"),
        mentions=(
            MentionCount("mastodon", "negative", 40),
            MentionCount("mastodon", "neutral", 12),
            MentionCount("bluesky", "negative", 9),
            MentionCount("bluesky", "positive", 3),
            MentionCount("mastodon", "negative", 2),
        ),
        replies_out=37,
        dms_out=4,
        first_responses=minutes(2, 4, 6, 8, 10, 12, 14, 16, 18, 60),
        breaches=(
            Breach(17, "lena", "mastodon", "P1", "first", start + timedelta(hours=2), "Ben"),
            Breach(9, "max", "bluesky", "P2", "next", start + timedelta(hours=1), None),
            Breach(21, "jo_k", "mastodon", "P1", "first", start + timedelta(hours=3), "Ben"),
        ),
        open_conversations=(
            OpenConversation(31, "max", "bluesky", "new", "P2", None, end + timedelta(minutes=20)),
            OpenConversation(
                32, "ann|e", "mastodon", "claimed", "P1", "Anna", end + timedelta(minutes=5)
            ),
            OpenConversation(33, "kim", "mastodon", "awaiting_customer", "P3", "Anna", None),
        ),
        owing_public_close=(OwedClose(40, "jo_k", "mastodon", start + timedelta(hours=5), "Ben"),),
        notes=(
            PinnedNote(
                "Anna",
                "Outage ticket INC-88\x1b[31m open; status page updated",
                start + timedelta(hours=1),
            ),
            PinnedNote("Ben", "Jo wants a callback", start + timedelta(hours=6), 40),
        ),
        crises=(
            CrisisPeriod(start + timedelta(hours=1), start + timedelta(hours=2, minutes=30), 31.6),
            CrisisPeriod(end - timedelta(minutes=15), None, 12.0),
        ),
        themes=(Theme("app crash", 25), Theme("order missing", 11)),
    )


def test_percentile_interpolates():
    values = minutes(2, 4, 6, 8, 10, 12, 14, 16, 18, 60)
    assert percentile(values, 0.5) == timedelta(minutes=11)
    # position 8.1 between 18 and 60 minutes
    assert percentile(values, 0.9) == timedelta(minutes=18 + 0.1 * 42)
    assert percentile(minutes(7), 0.9) == timedelta(minutes=7)
    assert percentile([], 0.5) is None


def test_summarise_counts_and_breakdowns():
    s = summarise(shift())
    assert s.mentions_total == 66
    assert s.mentions_by_platform == {"bluesky": 12, "mastodon": 54}
    assert s.mentions_by_sentiment == {"negative": 51, "neutral": 12, "positive": 3}
    assert s.mentions_table["mastodon"] == {"negative": 42, "neutral": 12}
    assert s.first_response_median == timedelta(minutes=11)
    assert s.first_response_p90 == timedelta(minutes=22, seconds=12)
    assert s.breaches_by_operator == {"Ben": 2, "unclaimed": 1}
    assert s.open_by_state == {"awaiting_customer": 1, "claimed": 1, "new": 1}
    assert s.open_by_holder == {"Anna": 2, "unclaimed": 1}


def test_empty_shift_summarises_without_numbers():
    now = FrozenClock().now()
    s = summarise(HandoverData(now - timedelta(hours=1), now))
    assert s.first_response_median is None and s.mentions_total == 0
    text = render_markdown(s)
    assert "median –, p90 –" in text and "nobody signed in" in text and "none stood out" in text
    with pytest.raises(ValueError):
        summarise(HandoverData(now, now - timedelta(hours=1)))


def test_markdown_for_the_next_shift():
    text = render_markdown(summarise(shift()), zone=BERLIN)
    lines = text.splitlines()
    assert lines[0] == "# Handover Wed 25 Nov 06:00 – Wed 25 Nov 14:00 (Europe/Berlin)"
    assert "**Worked this shift:** Anna, Ben" in lines
    assert "| mastodon | 42 | 12 | 0 | 54 |" in lines
    assert "| **all** | 51 | 12 | 3 | 66 |" in lines
    assert "## Replies out: 37 public, 4 DM" in lines
    assert "## First response: median 11m 00s, p90 22m 12s (10 conversations)" in lines
    # Breaches in the order they happened, with who held them.
    breach_lines = [l for l in lines if l.startswith("- #") and "response, due" in l]
    assert (
        breach_lines[0] == "- #9 @max (bluesky) P2 next response, due Wed 25 Nov 07:00, unclaimed"
    )
    assert [l.split()[1] for l in breach_lines] == ["#9", "#17", "#21"]
    # Open conversations soonest due first; the pipe in a handle cannot break the table.
    assert "- #32 @ann\\|e (mastodon) P1 claimed, due Wed 25 Nov 14:05, Anna" in lines
    assert "By holder: Anna 2, unclaimed 1" in lines
    assert "- #33 @kim (mastodon) P3 awaiting_customer, clock stopped, Anna" in lines
    assert "- #17 @lena (mastodon) P1 first response, due Wed 25 Nov 08:00, held by Ben" in lines
    assert "- #40 @jo_k (mastodon) in DM since Wed 25 Nov 11:00, Ben" in lines
    # Escape sequences from text never reach the terminal.
    assert "\x1b" not in text
    assert "- Wed 25 Nov 07:00 Anna: Outage ticket INC-88[31m open; status page updated" in lines
    assert "- Wed 25 Nov 12:00 Ben on #40: Jo wants a callback" in lines
    assert "- Wed 25 Nov 07:00 – Wed 25 Nov 08:30 (1h 30m), peak 32 negative/min" in lines
    assert "- Wed 25 Nov 13:45 – still going (15m 00s), peak 12 negative/min" in lines
    assert lines[-2:] == ["1. app crash (25)", "2. order missing (11)"]


def test_long_lists_are_capped_in_markdown_but_not_in_json():
    data = shift()
    many = tuple(OpenConversation(i, f"user{i}", "mastodon", "new", "P3") for i in range(30))
    data = HandoverData(**{**data.__dict__, "open_conversations": many})
    s = summarise(data)
    text = render_markdown(s, max_items=5)
    assert "- … and 25 more (see `--format json`)" in text
    assert len(render_json(s)["open"]["conversations"]) == 30


def test_json_is_complete_and_serialisable():
    out = render_json(summarise(shift()))
    assert json.loads(json.dumps(out)) == out
    assert out["period"] == {"start": "2026-11-25T05:00:00Z", "end": "2026-11-25T13:00:00Z"}
    assert out["first_response_seconds"] == {"count": 10, "median": 660.0, "p90": 1332.0}
    assert out["breaches"]["total"] == 3
    assert [b["conversation_id"] for b in out["breaches"]["conversations"]] == [9, 17, 21]
    assert out["mentions"]["by_platform_and_sentiment"]["bluesky"] == {"negative": 9, "positive": 3}
    assert out["crises"][1]["ended_at"] is None
    assert out["themes"][0] == {"term": "app crash", "count": 25}
    # JSON keeps the original text; it is the renderer's job to make it safe for a terminal.
    assert "\x1b" in out["pinned_notes"][0]["text"]


@pytest.mark.parametrize(
    "value, text",
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=4, seconds=5), "4m 05s"),
        (timedelta(hours=1, minutes=12), "1h 12m"),
        (timedelta(days=2, hours=3), "2d 3h"),
        (timedelta(minutes=-5), "-5m 00s"),
        (None, "–"),
    ],
)
def test_format_duration(value, text):
    assert format_duration(value) == text
