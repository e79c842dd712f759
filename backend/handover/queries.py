"""The facts of a handover period, read from the database into `handover.HandoverData`.

`backend/handover/report.py` does the arithmetic and the rendering; this module only
asks PostgreSQL. Every query is bounded by the period, except what is still
open, which is "now" by definition: that is counted from the maintained
counts and listed only LISTED deep.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import asyncpg

from backend.conversations import queue
from backend.handover import hours
from backend.handover.report import (
    UNCLAIMED,
    Breach,
    CrisisPeriod,
    HandoverData,
    MentionCount,
    OpenConversation,
    OwedClose,
    PinnedNote,
)
from backend.i18n import SOURCE_LANGUAGE, Refused, say
from backend.listening.themes import top_themes

NEGATIVE_BELOW = (
    -0.25
)  # sentiment bands for the mentions table (the crisis config's threshold by default)
POSITIVE_ABOVE = 0.25
# How far before its declaration a crisis's peak minute is looked for (the detector's window).
CRISIS_WINDOW = timedelta(minutes=5)
THEME_SAMPLE = 5000  # most recent negative posts the themes are counted over
THEMES = 8

WORKED = """
    SELECT o.display_name FROM operators o
    WHERE EXISTS (SELECT 1 FROM shifts s WHERE s.operator_id = o.id
                    AND s.started_at < $2 AND (s.ended_at IS NULL OR s.ended_at > $1))
       OR EXISTS (SELECT 1 FROM messages m WHERE m.operator_id = o.id AND m.created_at >= $1 AND m.created_at < $2)
       OR EXISTS (SELECT 1 FROM notes n WHERE n.operator_id = o.id AND n.created_at >= $1 AND n.created_at < $2)
    ORDER BY o.display_name
"""

# The period's mentions counted one by one: only when the bands asked for are not the
# tally's (hours.uses_tally); it reads every mention of the period (1.2 s for a million).
MENTIONS = """
    SELECT platform,
           CASE WHEN sentiment < $3 THEN 'negative' WHEN sentiment > $4 THEN 'positive' ELSE 'neutral' END AS band,
           count(*) AS n
    FROM mentions WHERE received_at >= $1 AND received_at < $2 AND NOT is_ours
    GROUP BY 1, 2
"""

REPLIES_OUT = """
    SELECT channel, count(*) AS n FROM messages
    WHERE status = 'published' AND published_at >= $1 AND published_at < $2 GROUP BY channel
"""

FIRST_RESPONSES = """
    SELECT first_response_at - first_inbound_at AS took FROM conversations
    WHERE first_response_at >= $1 AND first_response_at < $2
"""

BREACHES = """
    SELECT b.conversation_id, a.handle, c.platform, b.priority, b.sla_kind, b.due_at, o.display_name AS operator
    FROM sla_breaches b JOIN conversations c ON c.id = b.conversation_id JOIN authors a ON a.id = c.author_id
    LEFT JOIN operators o ON o.id = b.operator_id
    WHERE b.due_at >= $1 AND b.due_at < $2 ORDER BY b.due_at LIMIT $3
"""
BREACH_COUNTS = """
    SELECT o.display_name AS operator, count(*) AS n
    FROM sla_breaches b LEFT JOIN operators o ON o.id = b.operator_id
    WHERE b.due_at >= $1 AND b.due_at < $2 GROUP BY o.display_name
"""

# Lists are the first LISTED of each kind, with database counts beside them: at a
# million open conversations listing them all took 24.7 s and gave the next shift
# a report nobody reads past the first screen.
LISTED = 200

# The most urgent open conversations, from the queue's index (conversations_queue).
STILL_OPEN = """
    SELECT c.id, a.handle, c.platform, c.state, c.priority, o.display_name AS holder, c.sla_due_at
    FROM conversations c JOIN authors a ON a.id = c.author_id LEFT JOIN operators o ON o.id = c.claimed_by
    WHERE c.state NOT IN ('resolved', 'dismissed')
    ORDER BY c.sla_due_at NULLS LAST, c.priority, c.id LIMIT $1
"""
# Who holds what: from the holder index, so it costs the held conversations, not the open ones.
OPEN_BY_HOLDER = """
    SELECT o.display_name AS holder, count(*) AS n
    FROM conversations c JOIN operators o ON o.id = c.claimed_by
    WHERE c.claimed_by IS NOT NULL AND c.state NOT IN ('resolved', 'dismissed') GROUP BY o.display_name
"""

OWING_CLOSE = """
    SELECT c.id, a.handle, c.platform, o.display_name AS holder,
           coalesce((SELECT max(e.at) FROM events e WHERE e.conversation_id = c.id
                      AND e.kind = 'conversation.moved_to_dm'), c.updated_at) AS since
    FROM conversations c JOIN authors a ON a.id = c.author_id LEFT JOIN operators o ON o.id = c.claimed_by
    WHERE c.owes_public_close AND c.state NOT IN ('resolved', 'dismissed')
    ORDER BY c.updated_at LIMIT $1
"""
OWING_CLOSE_COUNT = """
    SELECT count(*) FROM conversations c WHERE c.owes_public_close AND c.state NOT IN ('resolved', 'dismissed')
"""

# Pinned notes written in the period or still on an open conversation, and the
# handover notes of shifts that ended in the period (shift-wide notes).
PINNED = """
    SELECT o.display_name AS author, n.text, n.created_at AS at, n.conversation_id
    FROM notes n JOIN operators o ON o.id = n.operator_id JOIN conversations c ON c.id = n.conversation_id
    WHERE n.pinned AND n.created_at < $2
      AND (n.created_at >= $1 OR c.state NOT IN ('resolved', 'dismissed'))
    UNION ALL
    SELECT o.display_name, h.note, h.created_at, NULL
    FROM handovers h JOIN operators o ON o.id = h.operator_id
    WHERE h.note <> '' AND h.created_at >= $1 AND h.created_at < $2
    ORDER BY 3
"""

# The real per-minute peak of negative mentions in each crisis (from the detector's window
# before it was declared to its end), counted, not the detector's smoothed window rate: a
# crisis with 4,162 negative mentions in one minute once reported "peak 5/min". Bounded by
# the crisis's own time span (mentions_received_negative).
CRISES = """
    SELECT c.started_at, c.ended_at,
           coalesce((SELECT max(n) FROM (
                        SELECT count(*) AS n FROM mentions m
                        WHERE m.received_at >= c.started_at - make_interval(secs => $3)
                          AND m.received_at < coalesce(c.ended_at, $2)
                          AND m.sentiment < $4 AND m.sentiment < 0 AND NOT m.is_ours
                        GROUP BY date_trunc('minute', m.received_at)) per_minute),
                    c.peak_per_minute) AS peak_per_minute
    FROM crises c
    WHERE c.started_at < $2 AND (c.ended_at IS NULL OR c.ended_at > $1) ORDER BY c.started_at
"""

# `sentiment < 0` spelled out (the threshold is below zero) so mentions_received_negative applies.
NEGATIVE_TEXTS = """
    SELECT text FROM mentions WHERE received_at >= $1 AND received_at < $2 AND NOT is_ours AND sentiment < $3
      AND sentiment < 0
    ORDER BY received_at DESC LIMIT $4
"""
NEGATIVE_TEXTS_ABOVE_ZERO = """
    SELECT text FROM mentions WHERE received_at >= $1 AND received_at < $2 AND NOT is_ours AND sentiment < $3
    ORDER BY received_at DESC LIMIT $4
"""


async def collect(
    conn: asyncpg.Connection | asyncpg.Pool,
    start: datetime,
    end: datetime,
    *,
    negative_below: float = NEGATIVE_BELOW,
    ignore: Iterable[str] = (),
    crisis_window: timedelta = CRISIS_WINDOW,
) -> HandoverData:
    """Everything the handover for [start, end) needs; `ignore` keeps the brand out of the themes."""
    await queue.fold_if_due(conn)
    replies = {r["channel"]: r["n"] for r in await conn.fetch(REPLIES_OUT, start, end)}
    by_state = await queue.open_by_state(conn)
    open_total = sum(by_state.values())
    held = {r["holder"]: r["n"] for r in await conn.fetch(OPEN_BY_HOLDER)}
    unclaimed = open_total - sum(held.values())
    by_holder = {**held, **({UNCLAIMED: unclaimed} if unclaimed else {})}
    breach_counts = {
        r["operator"] or UNCLAIMED: r["n"] for r in await conn.fetch(BREACH_COUNTS, start, end)
    }
    ended_at = lambda r: r["ended_at"] if r["ended_at"] is None or r["ended_at"] < end else None  # noqa: E731
    return HandoverData(
        period_start=start,
        period_end=end,
        operators=[r["display_name"] for r in await conn.fetch(WORKED, start, end)],
        mentions=await mention_counts(conn, start, end, negative_below),
        replies_out=replies.get("public", 0),
        dms_out=replies.get("dm", 0),
        first_responses=[
            max(r["took"], timedelta()) for r in await conn.fetch(FIRST_RESPONSES, start, end)
        ],
        breaches=[
            Breach(
                r["conversation_id"],
                r["handle"],
                r["platform"],
                f"P{r['priority']}",
                r["sla_kind"],
                r["due_at"],
                r["operator"],
            )
            for r in await conn.fetch(BREACHES, start, end, LISTED)
        ],
        breaches_total=sum(breach_counts.values()),
        breaches_by_operator=breach_counts,
        open_conversations=[
            OpenConversation(
                r["id"],
                r["handle"],
                r["platform"],
                r["state"],
                f"P{r['priority']}",
                r["holder"],
                r["sla_due_at"],
            )
            for r in await conn.fetch(STILL_OPEN, LISTED)
        ],
        open_total=open_total,
        open_by_state={k: v for k, v in by_state.items() if v},
        open_by_holder=by_holder,
        owing_public_close=[
            OwedClose(r["id"], r["handle"], r["platform"], r["since"], r["holder"])
            for r in await conn.fetch(OWING_CLOSE, LISTED)
        ],
        owing_public_close_total=await conn.fetchval(OWING_CLOSE_COUNT),
        notes=[
            PinnedNote(r["author"], r["text"], r["at"], r["conversation_id"])
            for r in await conn.fetch(PINNED, start, end)
        ],
        crises=[
            CrisisPeriod(r["started_at"], ended_at(r), r["peak_per_minute"])
            for r in await conn.fetch(
                CRISES, start, end, crisis_window.total_seconds(), negative_below
            )
        ],
        themes=top_themes(
            [
                r["text"]
                for r in await conn.fetch(
                    NEGATIVE_TEXTS if negative_below <= 0 else NEGATIVE_TEXTS_ABOVE_ZERO,
                    start,
                    end,
                    negative_below,
                    THEME_SAMPLE,
                )
            ],
            limit=THEMES,
            ignore=ignore,
        ),
    )


async def mention_counts(
    conn: asyncpg.Connection | asyncpg.Pool,
    start: datetime,
    end: datetime,
    negative_below: float = NEGATIVE_BELOW,
) -> list[MentionCount]:
    """The customers' mentions received in [start, end) by platform and sentiment band: from
    the hourly tally and the period's edges when its bands are the ones asked for."""
    if hours.uses_tally(negative_below, POSITIVE_ABOVE):
        sql, args = hours.count_sql(hours.pieces(start, end))
        rows = await conn.fetch(sql, *args)
    else:
        rows = await conn.fetch(MENTIONS, start, end, negative_below, POSITIVE_ABOVE)
    return [MentionCount(r["platform"], r["band"], r["n"]) for r in rows]


async def report(
    conn: asyncpg.Connection | asyncpg.Pool,
    now: datetime,
    since: datetime | None,
    fmt: str,
    *,
    negative_below: float = NEGATIVE_BELOW,
    ignore: Iterable[str] = (),
    language: str = SOURCE_LANGUAGE,
) -> str | dict:
    """The handover from `since` (default: the end of the last handover, else 8 hours) until `now`,
    as Markdown text in `language` (fmt "md") or JSON-ready data (fmt "json")."""
    from backend.handover.report import render_json, render_markdown, summarise
    from backend.handover.shifts import default_since

    if fmt not in ("md", "json"):
        raise Refused(
            say("handover.bad_format", "format must be md or json, not {format!r}", format=fmt)
        )
    start = since or await default_since(conn, now)
    if start > now:
        raise Refused(
            say(
                "handover.since_future",
                "'since' ({since}) is in the future",
                since=start.isoformat(),
            )
        )
    summary = summarise(
        await collect(conn, start, now, negative_below=negative_below, ignore=ignore)
    )
    return render_markdown(summary, language=language) if fmt == "md" else render_json(summary)
