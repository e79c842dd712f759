"""Reading the queue and a conversation's thread: named queries, plain dicts out."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from backend.checks.finding import render_all_stored
from backend.connectors.address import address_of
from backend.connectors.payload import media_of, profile_of
from backend.conversations import sql
from backend.conversations.lifecycle import State
from backend.conversations.search import Search, prepare, tested
from backend.i18n import SOURCE_LANGUAGE, Text, decode, say

if TYPE_CHECKING:
    from backend.checks import CheckRules

# Saved filters: name -> SQL condition on conversations c. No parameters but two
# placeholders `condition` binds: $1, the operator's id, and $now, the time by the
# backend's clock (not the database's now(): a test's or a replay's clock decides).
NOW = "$now"
FILTERS: dict[str, str] = {
    "open": sql.IS_OPEN,
    "needs_us": sql.NEEDS_US_SQL,
    "mine": "c.claimed_by = $1",
    "unclaimed": f"{sql.IS_CLAIMABLE} AND c.claimed_by IS NULL",
    "breaching": f"{sql.NEEDS_US_SQL} AND c.sla_due_at <= {NOW}",
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


def reasons_shown(stored: list[str], language: str) -> dict[str, Any]:
    """Why a conversation or post has its priority, in `language` (`priority_reasons`), with
    each reason's id and params (`priority_reason_ids`) for clients that key on them. Reasons
    stored before they were kept whole are shown as they are."""
    reasons = [decode(r) for r in stored]
    return {
        "priority_reasons": [r.render(language) for r in reasons],
        "priority_reason_ids": [r.ref() for r in reasons],
    }


def queue_row(
    r: asyncpg.Record, checks: CheckRules | None = None, language: str = SOURCE_LANGUAGE
) -> dict[str, Any]:
    """A queue row; its preview is masked like the thread, so a row never shows personal data.
    Reasons and flags are in `language`."""
    return {
        "id": r["id"],
        "platform": r["platform"],
        "state": r["state"],
        "priority": r["priority"],
        **reasons_shown(r["priority_reasons"], language),
        "is_direct": r["is_direct"],
        "escalated": r["escalated"],
        "sla_kind": r["sla_kind"],
        "sla_due_at": _iso(r["sla_due_at"]),
        "sla_warn_at": _iso(r["sla_warn_at"]),
        "claim_expires_at": _iso(r["claim_expires_at"]),
        "last_inbound_at": _iso(r["last_inbound_at"]),
        "flags": render_all_stored(r["flags"], language),
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
    """A queue filter we do not have."""

    def __init__(self, message: Text):
        self.text = message  # rendered per request in the operator's language
        self.message = str(message)
        super().__init__(self.message)


class BadKey(ValueError):
    """A queue key (after/before) that is not one the queue gave."""

    def __init__(self, message: Text):
        self.text = message  # rendered per request in the operator's language
        self.message = str(message)
        super().__init__(self.message)


# A position in the queue's order: (sla_due_at, priority, id), sla_due_at None sorting last.
Key = tuple[datetime | None, int, int]
END = "end"  # `before=end`: the last page, read backwards from the far end of the index

# Filters whose rows all have a due time: their keyset read skips the NULL half of the order.
_ALWAYS_DUE = {"breaching"}
# Totals past this are counted no further and reported as at least this many
# (`total_exact: false`): breaching depends on the time, a search on the text, so
# neither has a maintained count. Counting 10,001 breaching entries read 102 index
# pages (4 ms warm, 20-35 ms at a million when the pages had been evicted, which put
# the summary's p99 at 60 ms); 1,001 read 11, and "1,000+" breaching says enough.
COUNT_CAP = 1_000
# Deltas past this are folded into the counts by the reader that sees them;
# folding 500 delta rows took 2 ms, reading them about as long as reading folded rows.
FOLD_AT = 500


def parse_key(raw: str) -> Key:
    """`<sla_due_at ISO or empty>,<priority>,<id>`: a row's place in the queue's order."""
    due, sep, rest = raw.rpartition(",")
    due, sep2, priority = due.rpartition(",")
    if not sep or not sep2:
        raise BadKey(
            say(
                "queue.bad_key",
                "a queue key is '<sla_due_at>,<priority>,<id>', not {key!r}",
                key=raw,
            )
        )
    try:
        at = datetime.fromisoformat(due.strip().replace("Z", "+00:00")) if due.strip() else None
        key = (at, int(priority), int(rest))
    except ValueError:
        raise BadKey(
            say(
                "queue.bad_key",
                "a queue key is '<sla_due_at>,<priority>,<id>', not {key!r}",
                key=raw,
            )
        ) from None
    if at is not None and at.tzinfo is None:
        raise BadKey(
            say(
                "queue.key_without_zone",
                "a queue key's sla_due_at needs its time zone, as the queue gave it",
            )
        )
    return key


def key_of(row: dict[str, Any]) -> str:
    """The key of a queue row as the API gives it (for `after=` and `before=`)."""
    return f"{row['sla_due_at'] or ''},{row['priority']},{row['id']}"


class Params:
    """Numbered query parameters, so each statement names only what it uses."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


# Where a filter's rows are read from: the table, or (a rare search) only the conversations
# the search matched, read by id first (OFFSET 0 keeps PostgreSQL from walking the queue's
# index past rows the search does not hold, as it may when it guesses the matches are many).
TABLE = "conversations c"


def condition(
    filter: str, search: Search | None, args: Params, operator_id: int, now: datetime
) -> tuple[str, str]:
    """The filter's condition with its parameters, and where its rows are read from."""
    cond = FILTERS[filter]
    if "$1" in cond:
        cond = cond.replace("$1", args(operator_id, "::bigint"))
    if NOW in cond:
        cond = cond.replace(NOW, args(now, "::timestamptz"))
    if search is None:
        return cond, TABLE
    if search.ids is None:
        return f"{cond} AND {tested(args(search.query, '::tsquery'))}", TABLE
    ids = args(search.ids, "::bigint[]")
    return cond, f"(SELECT * FROM conversations WHERE id = ANY({ids}) OFFSET 0) c"


def keyset_ids(
    filter: str,
    cond: str,
    source: str,
    args: Params,
    take: str,
    after: Key | None,
    before: Key | str | None,
) -> str:
    """Ids of one page in the queue's order, read from the filter's index starting at a key.

    Row comparison on (sla_due_at, priority, id) is an index range; NULL due
    times sort last, so the order is two ranges (due, then not due) glued with
    UNION ALL, the second read only when the first runs out.
    """
    cols = f"SELECT c.id FROM {source}"
    due_part = f"({cols} WHERE {cond} AND c.sla_due_at IS NOT NULL"
    null_part = f"({cols} WHERE {cond} AND c.sla_due_at IS NULL"
    forward = before is None
    key = after if forward else (None if before == END else before)
    parts: list[str] = []
    if forward:
        if key is None or key[0] is not None:
            bound = (
                ""
                if key is None
                else f" AND (c.sla_due_at, c.priority, c.id) > ({args(key[0], '::timestamptz')}, {args(key[1], '::smallint')}, {args(key[2], '::bigint')})"
            )
            parts.append(f"{due_part}{bound} ORDER BY c.sla_due_at, c.priority, c.id LIMIT {take})")
        if filter not in _ALWAYS_DUE:
            bound = (
                ""
                if key is None or key[0] is not None
                else f" AND (c.priority, c.id) > ({args(key[1], '::smallint')}, {args(key[2], '::bigint')})"
            )
            parts.append(f"{null_part}{bound} ORDER BY c.priority, c.id LIMIT {take})")
    else:
        if (key is None or key[0] is None) and filter not in _ALWAYS_DUE:
            bound = (
                ""
                if key is None
                else f" AND (c.priority, c.id) < ({args(key[1], '::smallint')}, {args(key[2], '::bigint')})"
            )
            parts.append(f"{null_part}{bound} ORDER BY c.priority DESC, c.id DESC LIMIT {take})")
        bound = (
            ""
            if key is None or key[0] is None
            else f" AND (c.sla_due_at, c.priority, c.id) < ({args(key[0], '::timestamptz')}, {args(key[1], '::smallint')}, {args(key[2], '::bigint')})"
        )
        parts.append(
            f"{due_part}{bound} ORDER BY c.sla_due_at DESC, c.priority DESC, c.id DESC LIMIT {take})"
        )
    if not parts:
        return "SELECT NULL::bigint AS id WHERE false"
    return f"SELECT id FROM ({' UNION ALL '.join(parts)}) u LIMIT {take}"


# The maintained counts, shaped like conversations so the saved filters' own
# conditions apply to them: `c.claimed_by IS NULL` reads the claimed flag.
_COUNTS = """
    (SELECT state, priority, escalated, CASE WHEN claimed THEN 0 END AS claimed_by, n FROM conversation_counts
     UNION ALL
     SELECT state, priority, escalated, CASE WHEN claimed THEN 0 END, n FROM conversation_count_deltas) c
"""
# Saved filters counted from the maintained counts; "mine" and "breaching" are counted from their index.
COUNTED = [f for f in FILTERS if f not in ("mine", "breaching")]
_COUNTED_SQL = (
    "SELECT "
    + ", ".join(
        f"coalesce(sum(c.n) FILTER (WHERE {FILTERS[f]}), 0)::bigint AS {f}" for f in COUNTED
    )
    + f", (SELECT count(*) FROM conversation_count_deltas) AS pending FROM {_COUNTS}"
)


async def fold(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    """Move the counts' deltas into the totals; one backend at a time, the others skip."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            await fold(c)
        return
    async with conn.transaction():
        if await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('fold_tallies'))"):
            await conn.execute("SELECT fold_tallies()")


async def fold_if_due(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    """Fold when the deltas have grown past FOLD_AT (readers call this; writers never wait)."""
    pending = await conn.fetchval(
        "SELECT (SELECT count(*) FROM conversation_count_deltas) + (SELECT count(*) FROM tally_deltas)"
        " + (SELECT count(*) FROM mention_hour_deltas)"
    )
    if pending > FOLD_AT:
        await fold(conn)


async def filter_totals(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    """Exact totals of the counted saved filters, from the maintained counts."""
    r = await conn.fetchrow(_COUNTED_SQL)
    if r["pending"] > FOLD_AT:
        await fold(conn)
    return {f: r[f] for f in COUNTED}


async def _capped_count(
    conn: asyncpg.Connection | asyncpg.Pool, sql_text: str, args: list[Any]
) -> tuple[int, bool]:
    n = await conn.fetchval(f"SELECT count(*) FROM ({sql_text} LIMIT {COUNT_CAP + 1}) x", *args)
    return (n, True) if n <= COUNT_CAP else (COUNT_CAP, False)


async def total_of(
    conn: asyncpg.Connection | asyncpg.Pool,
    operator_id: int,
    filter: str,
    search: Search | None,
    now: datetime,
) -> tuple[int, bool]:
    """How many rows the filter (and search) holds at `now`, and whether that is exact."""
    if search is None and filter in COUNTED:
        return (await filter_totals(conn))[filter], True
    args = Params()
    cond, source = condition(filter, search, args, operator_id, now)
    return await _capped_count(conn, f"SELECT 1 FROM {source} WHERE {cond}", args.values)


async def page(
    conn: asyncpg.Connection | asyncpg.Pool,
    operator_id: int,
    *,
    now: datetime,
    filter: str = "needs_us",
    search: str = "",
    offset: int = 0,
    limit: int = 50,
    checks: CheckRules | None = None,
    after: Key | None = None,
    before: Key | str | None = None,
    language: str = SOURCE_LANGUAGE,
) -> dict[str, Any]:
    """One window of the queue in SLA order, with the total it is a window of.

    With `after` (the key of the last row the client has) or `before` (the first
    row's key, or END for the last page) the page is read from the filter's index
    at that key: its cost is the rows it returns, wherever they are. `offset`
    stays for older clients; it walks the rows it skips (from the nearer end).
    `now` is the clock's time: what "breaching" compares due times with.
    """
    if filter not in FILTERS:
        raise UnknownFilter(
            say(
                "queue.unknown_filter",
                "unknown filter {filter!r}; use one of: {filters}",
                filter=filter,
                filters=", ".join(FILTERS),
            )
        )
    found = await prepare(conn, search) if search.strip() else None
    total, exact = await total_of(conn, operator_id, filter, found, now)
    args = Params()
    cond, source = condition(filter, found, args, operator_id, now)
    if after is not None or before is not None or offset == 0:
        ids = keyset_ids(filter, cond, source, args, args(limit), after, before)
        shown_offset: int | None = 0 if after is None and before is None else None
        if before == END and exact:
            shown_offset = None  # the client places the last page at total - len(rows)
    else:
        order, skip, take = ORDER, offset, limit
        if exact and offset > total // 2:
            # OFFSET walks every skipped row; past the middle, walking from the end is shorter.
            order, take = REVERSE, max(min(limit, total - offset), 0)
            skip = max(total - offset - take, 0)
        ids = (
            f"SELECT c.id FROM {source} WHERE {cond} {order} OFFSET {args(skip)} LIMIT {args(take)}"
        )
        shown_offset = offset
    rows = await conn.fetch(f"SELECT {_ROW} {_FROM} WHERE c.id IN ({ids}) {ORDER}", *args.values)
    out = [queue_row(r, checks, language) for r in rows]
    for row in out:  # the console asks for a neighbouring page by a row's key, never builds one
        row["key"] = key_of(row)
    return {
        "filter": filter,
        "offset": shown_offset,
        "total": total,
        "total_exact": exact,
        "rows": out,
        "prev": key_of(out[0]) if out else None,
        "next": key_of(out[-1]) if out else None,
    }


_BY_STATE_PRIORITY = f"""
    SELECT c.state, c.priority, sum(c.n)::bigint AS n FROM {_COUNTS}
    WHERE {sql.NOT_CLOSED} GROUP BY c.state, c.priority ORDER BY c.state, c.priority
"""


async def open_by_state_and_priority(
    conn: asyncpg.Connection | asyncpg.Pool,
) -> list[tuple[str, int, int]]:
    """Open conversations by state and priority, from the maintained counts (zeros left out)."""
    return [
        (r["state"], r["priority"], r["n"]) for r in await conn.fetch(_BY_STATE_PRIORITY) if r["n"]
    ]


async def open_by_state(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    """Open conversations by state, from the maintained counts."""
    out: dict[str, int] = {}
    for state, _, n in await open_by_state_and_priority(conn):
        out[state] = out.get(state, 0) + n
    return out


async def counts(conn: asyncpg.Connection | asyncpg.Pool, now: datetime) -> dict[str, Any]:
    """Header figures: queue depth (maintained, exact) and how many are past their SLA at
    `now` (counted from the front of the queue's index up to COUNT_CAP, `breaching_exact` says)."""
    totals = await filter_totals(conn)
    breaching, exact = await total_of(conn, 0, "breaching", None, now)
    return {"queue": totals["needs_us"], "breaching": breaching, "breaching_exact": exact}


async def conversation(
    conn: asyncpg.Connection | asyncpg.Pool,
    conversation_id: int,
    checks: CheckRules | None = None,
    language: str = SOURCE_LANGUAGE,
) -> dict[str, Any] | None:
    """A conversation with its whole thread: inbound mentions and our messages, oldest first;
    reasons, flags and the advisories sent despite in `language`."""
    row = await conn.fetchrow(f"SELECT {_ROW} {_FROM} WHERE c.id = $1", conversation_id)
    if row is None:
        return None
    out = queue_row(row, checks, language)
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
                **reasons_shown(m["priority_reasons"], language),
                "flags": render_all_stored(m["flags"], language),
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
                "advisories": render_all_stored(g["advisories"], language),
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
