"""Store a batch of inbound posts: dedupe, thread into conversations, record
events and the connector's cursor, all in one transaction.

Batches are set-based (a handful of statements per batch, COPY for the
mentions), so a crisis of thousands of mentions a second is a few dozen
round trips, and one NOTIFY.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg
from aiohttp import web

from backend import events
from backend.clock import Clock
from backend.connectors import own as own_posts
from backend.conversations.lifecycle import (
    ESCALATED_ON_THREAT,
    THREAT_REASON,
    ConversationView,
    Holder,
    Sla,
    State,
    customer_writes,
)
from backend.i18n import encode
from backend.listening import only_by_thread
from backend.model import InboundPost
from backend.rulebook import Rulebook
from backend.sla.policy import Deadlines

log = logging.getLogger(__name__)

INGEST_LOCK = 0x5D1F7003

# The start of every stored batch: one batch at a time, the commit setting (see
# store_prepared), and keyed lookups planned as keyed lookups. The planner takes
# every unnest() for 100 rows and, for the ~1,000 keys of a batch, hashed whole
# tables (mentions, authors, conversations) or started parallel workers: work
# that grows with the database, per batch. Transaction-local, like the rest.
BEGIN_BATCH = """
    SELECT pg_advisory_xact_lock($1), set_config('synchronous_commit', $2, true),
           set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
           set_config('enable_seqscan', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)
"""

# Plain strings: an enum member's .value is a property lookup, and these run per post.
NEW, FLAGGED, DISMISSED = (
    State.NEW.value,
    State.FLAGGED_CONDUCT.value,
    State.DISMISSED.value,
)

# Priority reasons travel to SQL joined by the ASCII unit separator and are split
# there with string_to_array: far cheaper per conversation than a JSON array
# unpacked by a subquery. Reasons are JSON (backend.i18n.encode), which writes
# control characters as escapes, so the separator never occurs inside one.
REASON_SEPARATOR = "\x1f"


def join_reasons(reasons: Sequence[str]) -> str:
    """Reasons as one text for string_to_array (an empty list gives '', which splits to {})."""
    return REASON_SEPARATOR.join(
        reasons
    )  # one batch threads at a time, so two batches never open the same conversation twice


# The mentions columns COPY fills, in the order of each record (bench/ingest.py copies the same).
MENTION_COLUMNS = (
    "platform",
    "post_id",
    "conversation_id",
    "author_id",
    "text",
    "url",
    "created_at",
    "received_at",
    "in_reply_to",
    "thread_root",
    "is_direct",
    "is_ours",
    "match_how",
    "language",
    "sentiment",
    "followers",
    "priority",
    "priority_reasons",
    "flags",
    "raw",
)


@dataclass(frozen=True)
class Processed:
    """What listening found out about a post, before it is stored."""

    post: InboundPost
    ours: bool = False  # the brand's own post: stored, never queued
    match_how: tuple[str, ...] = ()  # tagged, hashtag, name, direct; thread (see only_by_thread)
    language: str | None = None
    sentiment: float | None = None
    priority: int = 3
    priority_reasons: tuple[str, ...] = ()
    flags: tuple[dict[str, Any], ...] = ()
    abusive: bool = False  # conduct check fired: house rules, no SLA pressure
    threat: bool = False  # threat of violence or damage: P1 (triage) and a lead's eyes


# A processor decides whether a post concerns us and enriches it; None drops it.
Processor = Callable[[InboundPost], Processed | None]


def accept_all(post: InboundPost) -> Processed:
    """The processor for sources that only deliver posts already about us."""
    return Processed(post, match_how=("direct",) if post.is_direct else (), language=post.language)


@dataclass
class BatchResult:
    stored: int = 0  # new mentions written
    duplicates: int = 0  # already stored before (replayed batch)
    dropped: int = 0  # not about us (no match, excluded)
    new_conversations: int = 0
    conversation_ids: list[int] = field(default_factory=list)


@dataclass
class Prepared:
    """A batch after listening, ready to store: the posts about us (in the order
    they were written) and what was set aside on the way."""

    processed: list[Processed]
    duplicates: int = 0  # the same post twice in this batch
    dropped: int = 0  # not about us


def unique_posts(posts: Sequence[InboundPost]) -> tuple[list[InboundPost], int]:
    """The batch without repeats of a post (a replayed page), and how many were repeats."""
    unique: list[InboundPost] = []
    seen: set[tuple[str, str]] = set()
    for post in posts:
        key = (post.platform, post.post_id)
        if key not in seen:
            seen.add(key)
            unique.append(post)
    return unique, len(posts) - len(unique)


def in_our_threads(
    batch: list[Processed], thread_of: dict[tuple[str, str], Any]
) -> tuple[list[Processed], int]:
    """`batch` without the posts kept only for where they sit (listening's
    `thread`) that answer or quote no post of a conversation: neither a stored
    one (`thread_of`) nor one of this batch that is itself kept. Also how many
    were left out. `batch` is in the order the posts were written."""
    kept: list[Processed] = []
    ours = set(thread_of)
    for p in batch:
        post = p.post
        if only_by_thread(p.match_how) and not any(
            ref and (post.platform, ref) in ours
            for ref in own_posts.thread_refs(post, answered_only=True)
        ):
            continue
        kept.append(p)
        ours.add((post.platform, post.post_id))
    return kept, len(batch) - len(kept)


def prepared(found: list[Processed | None], duplicates: int) -> Prepared:
    """A Prepared from each unique post's listening result (None: not about us)."""
    processed = [p for p in found if p is not None]
    processed.sort(key=lambda p: p.post.created_at)
    return Prepared(processed, duplicates, len(found) - len(processed))


def prepare(process: Processor, posts: Sequence[InboundPost]) -> Prepared:
    """Listening for one batch: drop repeats within it, match and enrich each post.

    Pure and CPU-bound (no database), so it can also run in another process
    while the previous batch is being stored (see pipeline.ListeningWorker)."""
    unique, duplicates = unique_posts(posts)
    return prepared([process(post) for post in unique], duplicates)


class ListeningUnavailable(Exception):
    """The listening worker process cannot take this batch (it died, or cannot start)."""


class Listening(Protocol):
    """Listening in another process (pipeline.ListeningWorker)."""

    async def prepare(self, posts: Sequence[InboundPost]) -> Prepared: ...


@dataclass
class Ingest:
    """Turns posts into stored mentions and conversations."""

    process: Processor
    deadlines: Deadlines
    clock: Clock
    worker: Listening | None = None  # listens to big batches in another process
    worker_min_batch: int = 50  # below this, the trip to the worker costs more than it saves
    # When a customer answers the operator who waited for them, how long it stays theirs.
    owner_first: timedelta = timedelta(minutes=5)

    async def listen(self, posts: Sequence[InboundPost]) -> Prepared:
        """Listening for a batch, before any connection is taken: in the worker
        process when there is one and the batch is big enough, else here (also
        when the worker is unavailable: nothing waits for it)."""
        worker = self.worker
        if worker is not None and len(posts) >= self.worker_min_batch:
            try:
                return await worker.prepare(posts)
            except ListeningUnavailable as exc:
                log.warning(
                    "listening worker unavailable (%s); listening in the backend's process", exc
                )
        return prepare(self.process, posts)

    async def store(
        self,
        conn: asyncpg.Connection,
        posts: Sequence[InboundPost],
        cursor: tuple[str, dict] | None = None,
    ) -> BatchResult:
        """Store `posts` (and the connector cursor that produced them) atomically."""
        return await self.store_prepared(conn, await self.listen(posts), cursor)

    async def store_from(
        self,
        pool: asyncpg.Pool,
        posts: Sequence[InboundPost],
        cursor: tuple[str, dict] | None = None,
    ) -> BatchResult:
        """`store` for the backend's sources: listen first, then take a pooled
        connection only for the transaction (listening is CPU, not database)."""
        prepared = await self.listen(posts)
        async with pool.acquire() as conn:
            return await self.store_prepared(conn, prepared, cursor)

    async def store_prepared(
        self, conn: asyncpg.Connection, prepared: Prepared, cursor: tuple[str, dict] | None = None
    ) -> BatchResult:
        """Store a batch `prepare` made (here or in a worker process), with its cursor, atomically."""
        result = BatchResult(duplicates=prepared.duplicates, dropped=prepared.dropped)
        processed = prepared.processed
        async with conn.transaction():
            if processed:
                # A batch with a cursor may commit without waiting for the WAL flush
                # (synchronous_commit off, this transaction only). Safe: if the server
                # crashes before the flush, the cursor rolls back with the rows, so the
                # connector fetches the same posts again; and any later durable commit
                # (an operator's reply to one of these) flushes this batch first. A
                # batch without a cursor (the webhook, which has already answered 202)
                # has no second chance, so it waits for the flush as before.
                await conn.execute(BEGIN_BATCH, INGEST_LOCK, "off" if cursor is not None else "on")
                await self._store(conn, processed, result)
            if cursor is not None:
                name, state = cursor
                await conn.execute(
                    """INSERT INTO connector_state (connector, cursor, updated_at) VALUES ($1, $2, now())
                       ON CONFLICT (connector) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()""",
                    name,
                    state,
                )
        return result

    async def _store(
        self, conn: asyncpg.Connection, batch: list[Processed], result: BatchResult
    ) -> None:
        now = self.clock.now()
        existing = await conn.fetch(
            """SELECT m.platform, m.post_id FROM mentions m
               JOIN unnest($1::text[], $2::text[]) AS k(platform, post_id)
                 ON m.platform = k.platform AND m.post_id = k.post_id""",
            [p.post.platform for p in batch],
            [p.post.post_id for p in batch],
        )
        known = {(r["platform"], r["post_id"]) for r in existing}
        fresh = [p for p in batch if (p.post.platform, p.post.post_id) not in known]
        fresh = await own_posts.recognise(conn, fresh)  # our published posts coming back
        result.duplicates += len(batch) - len(fresh)
        if not fresh:
            return

        thread_of = await self._conversations_of_posts(conn, fresh)
        fresh, outside = in_our_threads(fresh, thread_of)
        result.dropped += outside
        if not fresh:
            return
        author_ids = await self._upsert_authors(conn, fresh)
        open_of = await self._open_conversations_of_authors(conn, fresh, author_ids)

        # Decide each post's conversation in arrival order, so a follow-up in the
        # same batch joins the conversation its first post opened.
        new_convs: list[dict[str, Any]] = []  # conversations to create
        assign: list[Any] = []  # per post: existing id, or ("new", index)
        touched: dict[int, dict[str, Any]] = {}  # existing conversation id -> inbound summary
        kept: list[Processed] = []  # `fresh` less the thread-only posts outside our threads
        for p in fresh:
            post = p.post
            author_id = author_ids[(post.platform, post.author.platform_id)]
            if p.ours:
                conv: Any = thread_of.get((post.platform, post.in_reply_to or "")) or thread_of.get(
                    (post.platform, post.thread_root or "")
                )
                kept.append(p)
                assign.append(conv)  # our own post: joins its thread if known, never queued
                if conv is not None:
                    thread_of[(post.platform, post.post_id)] = conv
                continue
            conv = None
            by_thread = only_by_thread(p.match_how)
            for ref in own_posts.thread_refs(post, answered_only=by_thread):
                if ref and (post.platform, ref) in thread_of:
                    conv = thread_of[(post.platform, ref)]
                    break
            if conv is None and by_thread:  # it answers one of our own posts outside any thread
                result.dropped += 1
                continue
            kept.append(p)
            if conv is None:
                conv = open_of.get((author_id, post.is_direct))
            if conv is None:
                conv = ("new", len(new_convs))
                new_convs.append(
                    {
                        "p": p,
                        "author_id": author_id,
                        "last": post.created_at,
                        "priority": p.priority,
                        "reasons": list(p.priority_reasons),
                        "flags": list(p.flags),
                        "abusive": p.abusive,
                        "threat": p.threat,
                        "clean_first": None if p.abusive else post.created_at,
                    }
                )
                open_of[(author_id, post.is_direct)] = conv
            elif isinstance(conv, tuple):
                nc = new_convs[conv[1]]
                nc["last"] = max(nc["last"], post.created_at)
                nc["abusive"] |= p.abusive
                nc["threat"] |= p.threat
                if not p.abusive and nc["clean_first"] is None:
                    nc["clean_first"] = post.created_at
                self._raise_priority(nc, p)
            else:
                t = touched.setdefault(
                    conv,
                    {
                        "last": post.created_at,
                        "priority": p.priority,
                        "reasons": list(p.priority_reasons),
                        "flags": [],
                        "abusive": False,
                        "threat": False,
                        "clean_last": None,
                    },
                )
                t["last"] = max(t["last"], post.created_at)
                t["abusive"] |= p.abusive
                t["threat"] |= p.threat
                if not p.abusive:
                    t["clean_last"] = max(t["clean_last"] or post.created_at, post.created_at)
                self._raise_priority(t, p)
            thread_of[(post.platform, post.post_id)] = conv
            assign.append(conv)

        new_ids = await self._create_conversations(conn, new_convs, now)
        result.new_conversations = len(new_ids)

        def conv_id(a: Any) -> int | None:
            if isinstance(a, tuple):
                return new_ids[a[1]]
            return a

        fresh = kept
        records = []
        for p, a in zip(fresh, assign):
            post = p.post
            records.append(
                (
                    post.platform,
                    post.post_id,
                    conv_id(a),
                    author_ids[(post.platform, post.author.platform_id)],
                    post.text,
                    post.url,
                    post.created_at,
                    now,
                    post.in_reply_to,
                    post.thread_root,
                    post.is_direct,
                    p.ours,
                    list(p.match_how),
                    p.language,
                    p.sentiment,
                    post.author.followers,
                    p.priority,
                    list(p.priority_reasons),
                    list(p.flags),
                    post.raw,
                )
            )
        await conn.copy_records_to_table(
            "mentions",
            records=records,
            columns=MENTION_COLUMNS,
        )
        result.stored = len(records)

        state_events = await self._touch_conversations(conn, touched, now)
        per_conv: dict[int, int] = {}
        for p, a in zip(fresh, assign):
            cid = conv_id(a)
            if cid is not None and not p.ours:
                per_conv[cid] = per_conv.get(cid, 0) + 1
        # A conversation this batch opened says how many mentions it opened with;
        # mention.received is for mentions joining one that existed already. Every
        # stored customer mention is counted exactly once across the two kinds.
        evs = [
            events.NewEvent(
                "conversation.opened",
                cid,
                state_after=FLAGGED if nc["abusive"] else NEW,
                data={
                    "priority": nc["priority"],
                    "platform": nc["p"].post.platform,
                    "count": per_conv.pop(cid),
                },
            )
            for cid, nc in zip(new_ids, new_convs)
        ]
        # A threat goes to a lead at once (the rule for existing conversations says the same).
        evs += [
            events.NewEvent(
                ESCALATED_ON_THREAT.kind,
                cid,
                state_before=state,
                state_after=state,
                data={"reason": THREAT_REASON},
            )
            for cid, nc in zip(new_ids, new_convs)
            if nc["threat"]
            for state in (FLAGGED if nc["abusive"] else NEW,)
        ]
        evs += state_events
        evs += [
            events.NewEvent("mention.received", cid, data={"count": n})
            for cid, n in per_conv.items()
        ]
        await events.record_many(conn, evs, at=now)
        result.conversation_ids = new_ids + list(per_conv)

    @staticmethod
    def _raise_priority(summary: dict[str, Any], p: Processed) -> None:
        summary["flags"].extend(p.flags)
        if p.abusive:
            return  # abuse never makes a conversation more urgent
        if p.priority < summary["priority"]:
            summary["priority"] = p.priority
            summary["reasons"] = list(p.priority_reasons)

    async def _upsert_authors(
        self, conn: asyncpg.Connection, batch: list[Processed]
    ) -> dict[tuple[str, str], int]:
        latest: dict[tuple[str, str], InboundPost] = {}
        for p in batch:
            latest[(p.post.platform, p.post.author.platform_id)] = p.post
        keys = list(latest)
        # Known authors are updated only when their profile changed (in a pile-on
        # nearly every author is known and unchanged: no new row versions), new
        # ones inserted plainly: only ingest writes authors, under INGEST_LOCK,
        # so no other writer can insert the same author in between.
        rows = await conn.fetch(
            """WITH given AS (
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
                            AS g(platform, platform_id, handle, display_name, followers)),
               known AS (
                   SELECT a.id, g.platform, g.platform_id FROM authors a
                   JOIN given g ON a.platform = g.platform AND a.platform_id = g.platform_id),
               changed AS (
                   UPDATE authors a SET handle = g.handle, display_name = g.display_name,
                          followers = g.followers, updated_at = now()
                   FROM given g
                   WHERE a.platform = g.platform AND a.platform_id = g.platform_id
                     AND (a.handle, a.display_name, a.followers)
                         IS DISTINCT FROM (g.handle, g.display_name, g.followers)),
               added AS (
                   INSERT INTO authors (platform, platform_id, handle, display_name, followers)
                   SELECT g.* FROM given g WHERE NOT EXISTS (
                       SELECT 1 FROM authors a WHERE a.platform = g.platform AND a.platform_id = g.platform_id)
                   RETURNING id, platform, platform_id)
               SELECT id, platform, platform_id FROM known
               UNION ALL SELECT id, platform, platform_id FROM added""",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [latest[k].author.handle for k in keys],
            [latest[k].author.display_name for k in keys],
            [latest[k].author.followers for k in keys],
        )
        return {(r["platform"], r["platform_id"]): r["id"] for r in rows}

    async def _conversations_of_posts(
        self, conn: asyncpg.Connection, batch: list[Processed]
    ) -> dict[tuple[str, str], int]:
        """Conversation of every post these posts reply to: a mention we stored, or one of our replies."""
        refs = {(p.post.platform, r) for p in batch for r in own_posts.thread_refs(p.post) if r}
        if not refs:
            return {}
        plats, ids = [r[0] for r in refs], [r[1] for r in refs]
        rows = await conn.fetch(
            """SELECT m.platform, m.post_id, m.conversation_id FROM mentions m
               JOIN unnest($1::text[], $2::text[]) AS k(platform, post_id)
                 ON m.platform = k.platform AND m.post_id = k.post_id
               WHERE m.conversation_id IS NOT NULL
               UNION ALL
               SELECT c.platform, g.platform_post_id, g.conversation_id FROM messages g
               JOIN conversations c ON c.id = g.conversation_id
               JOIN unnest($1::text[], $2::text[]) AS k(platform, post_id)
                 ON c.platform = k.platform AND g.platform_post_id = k.post_id""",
            plats,
            ids,
        )
        return {(r["platform"], r["post_id"]): r["conversation_id"] for r in rows}

    async def _open_conversations_of_authors(
        self,
        conn: asyncpg.Connection,
        batch: list[Processed],
        author_ids: dict[tuple[str, str], int],
    ) -> dict[tuple[int, bool], int]:
        """Each author's latest conversation that a new post should join: one still
        open, or one resolved (a new post reopens it). Dismissed ones stay closed."""
        ids = list(
            {author_ids[(p.post.platform, p.post.author.platform_id)] for p in batch if not p.ours}
        )
        if not ids:
            return {}
        rows = await conn.fetch(
            """SELECT DISTINCT ON (author_id, is_direct) author_id, is_direct, id, state
               FROM conversations WHERE author_id = ANY($1::bigint[])
               ORDER BY author_id, is_direct, last_inbound_at DESC, id DESC""",
            ids,
        )
        return {(r["author_id"], r["is_direct"]): r["id"] for r in rows if r["state"] != DISMISSED}

    async def _create_conversations(
        self, conn: asyncpg.Connection, new: list[dict[str, Any]], now: datetime
    ) -> list[int]:
        if not new:
            return []
        cols: dict[str, list[Any]] = {
            k: []
            for k in (
                "platform",
                "author_id",
                "thread_root",
                "is_direct",
                "state",
                "priority",
                "reasons",
                "first",
                "last",
                "warn",
                "due",
                "language",
                "sentiment",
                "flags",
                "escalated",
            )
        }
        for nc in new:
            post = nc["p"].post
            started = min(post.created_at, now)  # the customer has waited since they posted
            # Abuse carries no SLA pressure: the clock runs only for what else they wrote.
            clean = nc["clean_first"]
            warn, due = (
                self.deadlines(nc["priority"], post.platform, min(clean, now), "first")
                if clean
                else (None, None)
            )
            cols["platform"].append(post.platform)
            cols["author_id"].append(nc["author_id"])
            cols["thread_root"].append(post.thread_root or post.post_id)
            cols["is_direct"].append(post.is_direct)
            cols["state"].append(FLAGGED if nc["abusive"] else NEW)
            cols["priority"].append(nc["priority"])
            cols["reasons"].append(join_reasons(nc["reasons"]))
            cols["first"].append(started)
            cols["last"].append(nc["last"])
            cols["warn"].append(warn)
            cols["due"].append(due)
            cols["language"].append(nc["p"].language)
            cols["sentiment"].append(nc["p"].sentiment)
            cols["flags"].append(json.dumps(nc["flags"]) if nc["flags"] else "[]")
            cols["escalated"].append(nc["threat"])
        rows = await conn.fetch(
            """INSERT INTO conversations (platform, author_id, thread_root, is_direct, state, priority,
                   priority_reasons, first_inbound_at, last_inbound_at, sla_kind, sla_started_at, sla_warn_at,
                   sla_due_at, language, sentiment, flags, escalated)
               SELECT platform, author_id, thread_root, is_direct, state, priority,
                      string_to_array(reasons, E'\x1f'), first, last,
                      CASE WHEN due IS NULL THEN NULL ELSE 'first' END, CASE WHEN due IS NULL THEN NULL ELSE first END,
                      warn, due, language, sentiment, flags::jsonb, escalated
               FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bool[], $5::text[], $6::smallint[], $7::text[],
                           $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::text[],
                           $13::real[], $14::text[], $15::bool[]) WITH ORDINALITY
                    AS n(platform, author_id, thread_root, is_direct, state, priority, reasons, first, last, warn,
                         due, language, sentiment, flags, escalated, ord)
               ORDER BY ord
               RETURNING id""",
            *cols.values(),
        )
        # INSERT ... SELECT ... ORDER BY keeps serial ids in input order.
        return sorted(r["id"] for r in rows)

    async def _touch_conversations(
        self, conn: asyncpg.Connection, touched: dict[int, dict[str, Any]], now: datetime
    ) -> list[events.NewEvent]:
        """New posts in existing conversations: reopen or restart the clock where the
        customer had the turn, raise the priority if the new post is more urgent."""
        if not touched:
            return []
        ids = list(touched)
        rows = await conn.fetch(
            """SELECT id, state, priority, platform, claimed_by, sla_kind, sla_started_at, sla_due_at
               FROM conversations WHERE id = ANY($1::bigint[]) FOR UPDATE""",
            ids,
        )
        upd_ids, states, prios, reasons, lasts, warns, dues, starts, kinds, flags, escalate, evs = (
            [] for _ in range(12)
        )
        holders: list[int | None] = []
        leases: list[datetime | None] = []
        for r in rows:
            t = touched[r["id"]]
            state = r["state"]
            prio = min(r["priority"], t["priority"])
            warn = due = None
            started, kind = r["sla_started_at"], r["sla_kind"]
            if prio < r["priority"] and r["sla_due_at"] is not None and started is not None:
                # More urgent now: a running clock tightens to the new priority's target.
                warn, due = self.deadlines(prio, r["platform"], started, kind or "first")
                if due >= r["sla_due_at"]:
                    warn = due = None
            holder = Holder(r["claimed_by"], "") if r["claimed_by"] is not None else None
            decision = customer_writes(
                ConversationView(State(state), holder),
                wrote_cleanly=t["clean_last"] is not None,
                abusive=t["abusive"],
                threat=t["threat"],
            )
            if decision.sla == Sla.START_NEXT:
                started, kind = min(t["clean_last"], now), "next"
                warn, due = self.deadlines(prio, r["platform"], started, "next")
            evs += [
                events.NewEvent(
                    step.kind,
                    r["id"],
                    state_before=step.before.value,
                    state_after=step.after.value,
                    data={"reason": step.reason} if step.reason else None,
                )
                for step in decision.steps
            ]
            state = decision.state.value
            upd_ids.append(r["id"])
            states.append(state)
            prios.append(prio)
            reasons.append(join_reasons(t["reasons"]) if t["priority"] < r["priority"] else None)
            lasts.append(t["last"])
            warns.append(warn)
            dues.append(due)
            starts.append(started)
            kinds.append(kind)
            flags.append(json.dumps(t["flags"]) if t["flags"] else "[]")
            escalate.append(decision.escalate)
            holders.append(decision.holder_id)
            # Back to the operator who waited: theirs for a short while, then the queue.
            handed_back = decision.holder_id is not None and decision.state.value != r["state"]
            leases.append(now + self.owner_first if handed_back else None)
        await conn.execute(
            """UPDATE conversations c SET
                   state = u.state,
                   priority = u.priority,
                   priority_reasons = CASE WHEN u.reasons IS NULL THEN c.priority_reasons
                                           ELSE string_to_array(u.reasons, E'\x1f') END,
                   last_inbound_at = greatest(c.last_inbound_at, u.last),
                   sla_kind = CASE WHEN u.due IS NULL THEN c.sla_kind ELSE u.kind END,
                   sla_started_at = CASE WHEN u.due IS NULL THEN c.sla_started_at ELSE u.started END,
                   sla_warn_at = CASE WHEN u.due IS NULL THEN c.sla_warn_at ELSE u.warn END,
                   sla_due_at = coalesce(u.due, c.sla_due_at),
                   sla_warned = CASE WHEN u.due IS NULL THEN c.sla_warned ELSE false END,
                   sla_breached = CASE WHEN u.due IS NULL THEN c.sla_breached ELSE false END,
                   resolved_at = CASE WHEN u.state = 'new' AND c.state = 'resolved' THEN NULL ELSE c.resolved_at END,
                   flags = c.flags || u.flags::jsonb,
                   escalated = c.escalated OR u.escalate,
                   claimed_by = u.holder,
                   claim_expires_at = CASE WHEN u.holder IS NULL THEN NULL
                                           ELSE coalesce(u.lease, c.claim_expires_at) END,
                   updated_at = $12
               FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::text[], $5::timestamptz[],
                           $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[],
                           $11::bool[], $13::bigint[], $14::timestamptz[])
                    AS u(id, state, priority, reasons, last, warn, due, started, kind, flags, escalate,
                         holder, lease)
               WHERE c.id = u.id""",
            upd_ids,
            states,
            prios,
            reasons,
            lasts,
            warns,
            dues,
            starts,
            kinds,
            flags,
            escalate,
            now,
            holders,
            leases,
        )
        return evs


INGEST = web.AppKey("ingest", Ingest)


def is_abusive(flags: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> bool:
    return any(f.get("check") == "abusive" for f in flags)


def is_threat(flags: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> bool:
    return any(f.get("check") == "threat" for f in flags)


def make_processor(rulebook: Rulebook) -> Processor:
    """The ingest step: None for posts not about us; our own posts marked as ours."""
    listener = rulebook.listener

    def process(post: InboundPost) -> Processed | None:
        found = listener.process(post)
        if found is None:
            return None
        how = tuple(found.match.how)
        e = found.enrichment
        if e is None:
            return Processed(post, ours=True, match_how=how)
        return Processed(
            post,
            match_how=how,
            language=e.language,
            sentiment=e.sentiment,
            priority=int(e.priority[1:]),
            # Kept whole, so "why P1" shows in each reader's language (queue.reasons_shown).
            priority_reasons=tuple(encode(r) for r in e.reasons),
            flags=tuple(e.flags),
            abusive=is_abusive(e.flags),
            threat=is_threat(e.flags),
        )

    return process
