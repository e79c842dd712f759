"""Reading the queue and a conversation's thread: named queries, plain dicts out."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from backend.connectors.address import address_of
from backend.connectors.payload import media_of, profile_of
from backend.conversations import sql
from backend.conversations.lifecycle import State

if TYPE_CHECKING:
    from backend.checks import CheckRules

# Saved filters: name -> SQL condition on conversations c (no parameters but $1 = operator id).
FILTERS: dict[str, str] = {
    "open": sql.IS_OPEN,
    "needs_us": sql.NEEDS_US_SQL,
    "mine": "c.claimed_by = $1",
    "unclaimed": f"{sql.IS_CLAIMABLE} AND c.claimed_by IS NULL",
    "breaching": f"{sql.NEEDS_US_SQL} AND c.sla_due_at <= now()",
    "p1": f"{sql.IS_OPEN} AND c.priority = 1",
    "in_dm": sql.state_in([State.IN_DM]),
    "awaiting_customer": sql.state_in([State.AWAITING_CUSTOMER]),
    "escalated": f"c.escalated AND {sql.NOT_CLOSED}",
}

_ROW = f"""
    c.id, c.platform, c.state, c.priority, c.priority_reasons, c.is_direct, c.escalated,
    c.sla_kind, c.sla_due_at, c.claim_expires_at, c.last_inbound_at, c.flags, c.language, c.sentiment,
    a.handle AS author_handle, a.display_name AS author_name, a.followers AS author_followers,
    o.id AS holder_id, o.display_name AS holder_name,
    ({sql.LATEST_CUSTOMER_TEXT}) AS latest_text,
    c.sla_warn_at,
    ARRAY(SELECT t.name FROM conversation_tags ct JOIN tags t ON t.id = ct.tag_id
          WHERE ct.conversation_id = c.id ORDER BY t.name) AS tags
"""

_FROM = """
    FROM conversations c
    JOIN authors a ON a.id = c.author_id
    LEFT JOIN operators o ON o.id = c.claimed_by
"""

ORDER = "ORDER BY c.sla_due_at ASC NULLS LAST, c.priority, c.id"
# The same order backwards: deep pages (the end of a 100,000-row queue) read from the far end.
REVERSE = "ORDER BY c.sla_due_at DESC NULLS FIRST, c.priority DESC, c.id DESC"


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def queue_row(r: asyncpg.Record, checks: CheckRules | None = None) -> dict[str, Any]:
    """A queue row; its preview is masked like the thread, so a row never shows personal data."""
    return {
        "id": r["id"],
        "platform": r["platform"],
        "state": r["state"],
        "priority": r["priority"],
        "priority_reasons": list(r["priority_reasons"]),
        "is_direct": r["is_direct"],
        "escalated": r["escalated"],
        "sla_kind": r["sla_kind"],
        "sla_due_at": _iso(r["sla_due_at"]),
        "sla_warn_at": _iso(r["sla_warn_at"]),
        "claim_expires_at": _iso(r["claim_expires_at"]),
        "last_inbound_at": _iso(r["last_inbound_at"]),
        "flags": r["flags"],
        "language": r["language"],
        "sentiment": r["sentiment"],
        "author": {
            "handle": r["author_handle"],
            "name": r["author_name"],
            "followers": r["author_followers"],
        },
        "holder": {"id": r["holder_id"], "name": r["holder_name"]} if r["holder_id"] else None,
        "latest_text": _masked(checks, r["latest_text"] or "", r["flags"]),
        "tags": list(r["tags"]),
    }


def _masked(checks: CheckRules | None, text: str, flags: list[dict[str, Any]] | None) -> str:
    """The post with personal data masked, for the console to show until the operator reveals it.
    `flags` None: text no check has seen (a bio, an old preview), so always look."""
    if checks is None or (
        flags is not None and not any(f.get("check") == "personal_data" for f in flags)
    ):
        return text
    from backend.checks import mask_personal_data

    return mask_personal_data(checks, text)


EARLIER_CONVERSATIONS = 5  # shown beside the thread; the newest first

EARLIER = f"""
    SELECT c.id, c.state, c.first_inbound_at, c.resolved_at, ({sql.LATEST_CUSTOMER_TEXT}) AS text
    FROM conversations c WHERE c.author_id = $1 AND c.id <> $2
    ORDER BY c.last_inbound_at DESC LIMIT $3
"""
EARLIER_COUNT = "SELECT count(*) FROM conversations WHERE author_id = $1 AND id <> $2"


async def _customer(
    conn: asyncpg.Connection | asyncpg.Pool,
    row: asyncpg.Record,
    mentions: list[asyncpg.Record],
    checks: CheckRules | None,
) -> dict[str, Any]:
    """Who the customer is: profile facts from their latest post's payload, the link to the
    post that started it, and their earlier conversations with us (masked like the thread)."""
    theirs = [m for m in mentions if not m["is_ours"]]
    profile = profile_of(theirs[-1]["raw"]) if theirs else {}
    if "bio" in profile:
        profile["bio"] = _masked(checks, profile["bio"], None)
    author_id = await conn.fetchval("SELECT author_id FROM conversations WHERE id = $1", row["id"])
    earlier = await conn.fetch(EARLIER, author_id, row["id"], EARLIER_CONVERSATIONS)
    return {
        "followers": row["author_followers"],
        **profile,
        "first_post_url": next((m["url"] for m in theirs if m["url"]), None),
        "earlier_conversations": [
            {
                "id": e["id"],
                "state": e["state"],
                "started_at": _iso(e["first_inbound_at"]),
                "resolved_at": _iso(e["resolved_at"]),
                "text": _masked(checks, e["text"] or "", None),
            }
            for e in earlier
        ],
        "earlier_total": await conn.fetchval(EARLIER_COUNT, author_id, row["id"]),
    }


class UnknownFilter(ValueError):
    pass


# Search: the author's handle or name, or any of the customer's posts, contains the text.
def _search(param: str) -> str:
    return f"""({param}::text = '' OR a.handle ILIKE {param} OR a.display_name ILIKE {param}
             OR EXISTS (SELECT 1 FROM mentions s WHERE s.conversation_id = c.id AND s.text ILIKE {param}))"""


def _like(search: str) -> str:
    search = search.strip()
    if not search:
        return ""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def page(
    conn: asyncpg.Connection | asyncpg.Pool,
    operator_id: int,
    *,
    filter: str = "needs_us",
    search: str = "",
    offset: int = 0,
    limit: int = 50,
    checks: CheckRules | None = None,
) -> dict[str, Any]:
    """One window of the queue in SLA order, with the total it is a window of."""
    if filter not in FILTERS:
        raise UnknownFilter(f"unknown filter {filter!r}; use one of: {', '.join(FILTERS)}")
    cond = FILTERS[filter]
    like = _like(search)
    total = await conn.fetchval(
        f"""SELECT count(*) FROM conversations c JOIN authors a ON a.id = c.author_id
            WHERE {cond} AND {_search("$2")} AND $1::bigint IS NOT NULL""",
        operator_id,
        like,
    )
    order, skip, take = ORDER, offset, limit
    if offset > total // 2:
        # OFFSET walks every skipped row; past the middle, walking from the end is shorter.
        order, take = REVERSE, max(min(limit, total - offset), 0)
        skip = max(total - offset - take, 0)
    rows = (
        await conn.fetch(
            f"SELECT {_ROW} {_FROM} WHERE {cond} AND {_search('$4')} AND $1::bigint IS NOT NULL {order} "
            "OFFSET $2 LIMIT $3",
            operator_id,
            skip,
            take,
            like,
        )
        if take
        else []
    )
    if order is REVERSE:
        rows = list(reversed(rows))
    return {
        "filter": filter,
        "offset": offset,
        "total": total,
        "rows": [queue_row(r, checks) for r in rows],
    }


COUNTS = f"""
    SELECT count(*) FILTER (WHERE {sql.NEEDS_US_SQL}) AS queue,
           count(*) FILTER (WHERE {sql.NEEDS_US_SQL} AND c.sla_due_at <= now()) AS breaching
    FROM conversations c WHERE {sql.NOT_CLOSED}
"""


async def counts(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    """Header figures: queue depth and how many are past their SLA."""
    r = await conn.fetchrow(COUNTS)
    return {"queue": r["queue"], "breaching": r["breaching"]}


async def conversation(
    conn: asyncpg.Connection | asyncpg.Pool, conversation_id: int, checks: CheckRules | None = None
) -> dict[str, Any] | None:
    """A conversation with its whole thread: inbound mentions and our messages, oldest first."""
    row = await conn.fetchrow(f"SELECT {_ROW} {_FROM} WHERE c.id = $1", conversation_id)
    if row is None:
        return None
    out = queue_row(row, checks)
    out["address"] = address_of(out["platform"], out["author"]["handle"])  # see connectors.address
    mentions = await conn.fetch(
        """SELECT m.id, m.post_id, m.text, m.url, m.created_at, m.is_direct, m.is_ours, m.match_how,
                  m.priority, m.priority_reasons, m.flags, m.language, m.sentiment, a.handle, a.display_name,
                  m.raw
           FROM mentions m JOIN authors a ON a.id = m.author_id
           WHERE m.conversation_id = $1 ORDER BY m.created_at, m.id""",
        conversation_id,
    )
    messages = await conn.fetch(
        """SELECT g.id, g.channel, g.purpose, g.text, g.status, g.platform_post_id, g.url, g.error,
                  g.created_at, g.published_at, g.advisories, o.display_name AS operator_name
           FROM messages g LEFT JOIN operators o ON o.id = g.operator_id
           WHERE g.conversation_id = $1 ORDER BY g.created_at, g.id""",
        conversation_id,
    )
    notes = await conn.fetch(
        """SELECT n.id, n.text, n.pinned, n.created_at, o.display_name AS operator_name
           FROM notes n JOIN operators o ON o.id = n.operator_id
           WHERE n.conversation_id = $1 ORDER BY n.created_at, n.id""",
        conversation_id,
    )
    thread: list[dict[str, Any]] = []
    for m in mentions:
        thread.append(
            {
                "kind": "inbound",
                "id": m["id"],
                "post_id": m["post_id"],
                "at": _iso(m["created_at"]),
                "channel": "dm" if m["is_direct"] else "public",
                "ours": m["is_ours"],
                "author": {"handle": m["handle"], "name": m["display_name"]},
                "text": m["text"],
                "masked_text": _masked(checks, m["text"], m["flags"]),
                "url": m["url"],
                "match_how": list(m["match_how"]),
                "priority": m["priority"],
                "priority_reasons": list(m["priority_reasons"]),
                "flags": m["flags"],
                "language": m["language"],
                "sentiment": m["sentiment"],
                "media": media_of(m["raw"]),
            }
        )
    for g in messages:
        thread.append(
            {
                "kind": "outbound",
                "id": g["id"],
                "at": _iso(g["created_at"]),
                "channel": g["channel"],
                "purpose": g["purpose"],
                "text": g["text"],
                "status": g["status"],
                "operator": g["operator_name"],
                "platform_post_id": g["platform_post_id"],
                "url": g["url"],
                "error": g["error"],
                "published_at": _iso(g["published_at"]),
                "advisories": g["advisories"],
            }
        )
    thread.sort(key=lambda e: (e["at"], e["kind"] == "outbound", e["id"]))
    out["thread"] = thread
    out["customer"] = await _customer(conn, row, mentions, checks)
    out["notes"] = [
        {
            "id": n["id"],
            "text": n["text"],
            "pinned": n["pinned"],
            "at": _iso(n["created_at"]),
            "operator": n["operator_name"],
        }
        for n in notes
    ]
    return out
