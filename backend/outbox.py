"""The outbox publisher: sends queued replies and DMs to their platforms.

A message is marked as attempted (and hidden from other publishers for a
while) in its own committed transaction before it is sent; the result is
recorded afterwards. If we crash in between, the next attempt either
carries the same idempotency key (the platform deduplicates) or first looks
for our post on the platform — so a crash never publishes twice.

Throughput: `run` keeps a bounded window of sends in flight (a slow answer
holds one slot, not a whole round) and records whatever has finished in one
transaction — one commit and one events lock for many results. Each message
still keeps its own attempts, backoff, rate-limit wait and final error.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import asyncpg
from aiohttp import web

from backend import events
from backend.clock import Clock
from backend.connectors.base import PermanentError, RateLimited
from backend.model import Author, OutboundMessage, Published

log = logging.getLogger(__name__)

ATTEMPT_LEASE = timedelta(
    seconds=60
)  # how long one attempt may take before another publisher retries
WINDOW = 64  # sends in flight at once, per publisher (outbox.window)
LEASE_BATCH = 200  # most rows leased in one query
GATHER_SECONDS = 0.02  # a finished send waits at most this long to be recorded with others

# Queue a message and its outbox row (one statement: one round trip less under
# the conversation's lock). It goes out after the conversation's latest message
# still on its way (not published, not failed, not held): the DM after its public
# acknowledgement, a closing after the DM. Callers hold the conversation row
# locked, so two actions never pick the same predecessor concurrently.
# $1 conversation, $2 operator, $3 channel, $4 purpose, $5 text, $6 in_reply_to,
# $7 advisories, $8 now, $9 idempotency key suffix, $10 platform.
QUEUE_MESSAGE = """
    WITH m AS (
        INSERT INTO messages (conversation_id, operator_id, channel, purpose, text, in_reply_to,
                              advisories, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id),
    before AS (
        SELECT o.id FROM outbox o JOIN messages p ON p.id = o.message_id
        WHERE p.conversation_id = $1 AND o.done_at IS NULL AND o.held_reason IS NULL
        ORDER BY o.id DESC LIMIT 1)
    INSERT INTO outbox (message_id, idempotency_key, platform, next_attempt_at, after_id)
    SELECT id, 'shiftdesk-' || id || '-' || $9, $10, $8, (SELECT id FROM before) FROM m
    RETURNING message_id
"""

# Due, and (when it follows another message) only once the platform accepted that one.
DUE = """
    SELECT o.id, o.idempotency_key, o.platform, o.attempts, m.id AS message_id, m.text,
           m.channel, m.in_reply_to, m.created_at AS queued_at, c.thread_root,
           c.id AS conversation_id,
           a.platform_id AS author_id, a.handle AS author_handle, a.display_name AS author_name,
           (SELECT ra.platform_id FROM mentions rm JOIN authors ra ON ra.id = rm.author_id
             WHERE rm.platform = c.platform AND rm.post_id = m.in_reply_to) AS reply_to_author_id
    FROM outbox o JOIN messages m ON m.id = o.message_id
    JOIN conversations c ON c.id = m.conversation_id JOIN authors a ON a.id = c.author_id
    WHERE o.done_at IS NULL AND o.next_attempt_at <= $1 AND o.held_reason IS NULL
      AND (o.after_id IS NULL OR EXISTS (
          SELECT 1 FROM outbox b WHERE b.id = o.after_id AND b.done_at IS NOT NULL
                                   AND b.last_error IS NULL))
    ORDER BY o.next_attempt_at, o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED
"""
# Everything waiting (directly or down a chain) on messages that failed for good.
WAITING_ON = """
    WITH RECURSIVE failed AS (
        SELECT * FROM unnest($1::bigint[]) AS f(id)),
    held AS (
        SELECT o.id, o.message_id, f.id AS cause FROM outbox o JOIN failed f ON o.after_id = f.id
        WHERE o.done_at IS NULL AND o.held_reason IS NULL
        UNION ALL
        SELECT o.id, o.message_id, h.cause FROM outbox o JOIN held h ON o.after_id = h.id
        WHERE o.done_at IS NULL AND o.held_reason IS NULL)
    SELECT h.id, h.message_id, m.conversation_id, h.cause, cm.purpose AS cause_purpose,
           cm.id AS cause_message_id
    FROM held h JOIN messages m ON m.id = h.message_id
    JOIN outbox co ON co.id = h.cause JOIN messages cm ON cm.id = co.message_id
"""
HELD_OUTBOX = """
    UPDATE outbox o SET held_reason = u.reason, next_attempt_at = 'infinity'
    FROM unnest($1::bigint[], $2::text[]) AS u(id, reason) WHERE o.id = u.id
"""
HELD_MESSAGES = """
    UPDATE messages m SET error = u.reason
    FROM unnest($1::bigint[], $2::text[]) AS u(id, reason) WHERE m.id = u.id
"""
# How the console names the message a held one waited for.
PURPOSE_NAMES = {
    "dm_ack": "public acknowledgement",
    "dm": "DM",
    "reply": "reply",
    "closing": "closing message",
    "house_rules": "house-rules answer",
    "holding": "holding statement",
}
LEASE = (
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = ANY($1::bigint[])"
)
PUBLISHED_MESSAGES = """
    UPDATE messages m SET status = 'published', platform_post_id = u.post_id, url = u.url,
                          published_at = $4, error = NULL
    FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, post_id, url) WHERE m.id = u.id
"""
PUBLISHED_OUTBOX = "UPDATE outbox SET done_at = $2, last_error = NULL WHERE id = ANY($1::bigint[])"
FAILED_MESSAGES = """
    UPDATE messages m SET status = 'failed', error = u.error
    FROM unnest($1::bigint[], $2::text[]) AS u(id, error) WHERE m.id = u.id
"""
FAILED_OUTBOX = """
    UPDATE outbox o SET done_at = $3, last_error = u.error
    FROM unnest($1::bigint[], $2::text[]) AS u(id, error) WHERE o.id = u.id
"""
RETRY_OUTBOX = """
    UPDATE outbox o SET next_attempt_at = u.retry, last_error = u.error
    FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS u(id, retry, error) WHERE o.id = u.id
"""


class Publisher(Protocol):
    platform: str

    async def publish(self, msg: OutboundMessage) -> Published: ...

    async def find_published(self, msg: OutboundMessage) -> Published | None: ...


def is_permanent(exc: BaseException) -> bool:
    """A platform's final "no" (bad token, text rejected): retrying cannot help."""
    return isinstance(exc, (PermanentError, LookupError))


def retry_at_of(exc: BaseException) -> datetime | None:
    """When a rate-limited platform said to come back."""
    return exc.retry_at if isinstance(exc, RateLimited) else None


@dataclass(frozen=True)
class Attempt:
    """One leased outbox row and what its send came to: a Published, or the exception."""

    row: asyncpg.Record
    outcome: Published | BaseException


@dataclass
class OutboxPublisher:
    pool: asyncpg.Pool
    publishers: dict[str, Publisher]
    clock: Clock
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    window: int = WINDOW

    def __post_init__(self) -> None:
        self.wake = asyncio.Event()

    def backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with jitter: somewhere between half and all of the doubled wait."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=self.rng.uniform(ceiling / 2, ceiling))

    async def run(self, poll_interval: float) -> None:
        """Publish until cancelled: up to `window` sends in flight, results recorded in batches."""
        in_flight: set[asyncio.Task[Attempt]] = set()
        finished: list[Attempt] = []
        loop = asyncio.get_running_loop()
        first_finished = 0.0  # loop time the oldest unrecorded result came in
        try:
            while True:
                # Cleared before looking, so a message queued while we look still wakes us.
                self.wake.clear()
                free = self.window - len(in_flight)
                try:
                    # Against a slow platform sends finish one by one: gather a few
                    # results (or a few ms) per transaction, not one commit each.
                    if finished and (
                        len(finished) >= self.window // 4
                        or not in_flight
                        or loop.time() - first_finished >= GATHER_SECONDS
                    ):
                        await self.record(finished)
                        finished = []
                    # Lease in batches, not one row per finished send.
                    leased = (
                        await self._lease(free) if free >= self.window // 4 or not in_flight else []
                    )
                except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                    # Unrecorded results stay in `finished`; their leases keep others off them meanwhile.
                    log.warning("outbox: database unavailable (%s); retrying", exc)
                    await self._pause(in_flight, poll_interval)
                    finished += self._harvest(in_flight)
                    continue
                in_flight |= {asyncio.create_task(self._attempt(r)) for r in leased}
                # Wait for a send to finish (at once if one has), new work, or the poll
                # interval; with results waiting, no longer than their gathering time.
                timeout = (
                    poll_interval
                    if not finished
                    else max(0.0, min(poll_interval, first_finished + GATHER_SECONDS - loop.time()))
                )
                await self._pause(in_flight, timeout)
                if not finished:
                    first_finished = loop.time()
                finished += self._harvest(in_flight)
        finally:
            for task in in_flight:
                task.cancel()

    async def _pause(self, in_flight: set[asyncio.Task[Attempt]], timeout: float) -> None:
        """Until a send finishes, new work is announced, or `timeout` passes."""
        waker = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait(
                {waker, *in_flight}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waker.cancel()

    @staticmethod
    def _harvest(in_flight: set[asyncio.Task[Attempt]]) -> list[Attempt]:
        done = [t for t in in_flight if t.done()]
        in_flight.difference_update(done)
        return [t.result() for t in done]

    async def publish_due(self, limit: int = 20) -> bool:
        """Publish what is due now, one batch sent and recorded; True if there was anything to do."""
        rows = await self._lease(limit)
        if not rows:
            return False
        gate = asyncio.Semaphore(self.window)

        async def bounded(r: asyncpg.Record) -> Attempt:
            async with gate:
                return await self._attempt(r)

        await self.record(await asyncio.gather(*(bounded(r) for r in rows)))
        return True

    async def _lease(self, limit: int) -> list[asyncpg.Record]:
        """Due rows, their attempt claimed durably (committed) before any send."""
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                rows = await conn.fetch(DUE, now, min(limit, LEASE_BATCH))
                if rows:
                    await conn.execute(LEASE, [r["id"] for r in rows], now + ATTEMPT_LEASE)
        return rows

    async def _attempt(self, r: asyncpg.Record) -> Attempt:
        """Send one message (after looking for it first on a retry); never raises."""
        msg = OutboundMessage(
            idempotency_key=r["idempotency_key"],
            platform=r["platform"],
            text=r["text"],
            is_direct=r["channel"] == "dm",
            in_reply_to=r["in_reply_to"],
            thread_root=r["thread_root"],
            recipient=Author(r["author_id"], r["author_handle"], r["author_name"]),
            reply_to_author_id=r["reply_to_author_id"],
            created_at=r["queued_at"],
        )
        publisher = self.publishers.get(r["platform"])
        try:
            if publisher is None:
                raise LookupError(f"no connector configured for platform {r['platform']!r}")
            found = await publisher.find_published(msg) if r["attempts"] > 0 else None
            return Attempt(r, found or await publisher.publish(msg))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none may stop the publisher
            return Attempt(r, exc)

    async def record(self, attempts: Sequence[Attempt]) -> None:
        """Record a batch of results in one transaction: published, retry later, or failed for good."""
        now = self.clock.now()
        published: list[tuple[asyncpg.Record, Published]] = []
        failed: list[tuple[asyncpg.Record, str, int]] = []
        retry: list[tuple[asyncpg.Record, str, datetime]] = []
        for a in attempts:
            tries = a.row["attempts"] + 1
            if isinstance(a.outcome, Published):
                published.append((a.row, a.outcome))
                continue
            error = str(a.outcome) or type(a.outcome).__name__
            final = is_permanent(a.outcome) or tries >= self.max_attempts
            if final:
                failed.append((a.row, error, tries))
            else:
                retry.append((a.row, error, retry_at_of(a.outcome) or now + self.backoff(tries)))
            log.warning(
                "outbox: message %s attempt %d failed%s: %s",
                a.row["message_id"],
                tries,
                " for good" if final else "",
                error,
            )
        evs = [
            events.NewEvent(
                "message.published",
                r["conversation_id"],
                data={"message_id": r["message_id"], "platform_post_id": p.post_id, "url": p.url},
            )
            for r, p in published
        ]
        evs += [
            events.NewEvent(
                "message.failed",
                r["conversation_id"],
                data={"message_id": r["message_id"], "error": error, "attempts": tries},
            )
            for r, error, tries in failed
        ]
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                if published:
                    await conn.execute(
                        PUBLISHED_MESSAGES,
                        [r["message_id"] for r, _ in published],
                        [p.post_id for _, p in published],
                        [p.url for _, p in published],
                        now,
                    )
                    await conn.execute(PUBLISHED_OUTBOX, [r["id"] for r, _ in published], now)
                if failed:
                    await conn.execute(
                        FAILED_MESSAGES,
                        [r["message_id"] for r, _, _ in failed],
                        [e for _, e, _ in failed],
                    )
                    await conn.execute(
                        FAILED_OUTBOX,
                        [r["id"] for r, _, _ in failed],
                        [e for _, e, _ in failed],
                        now,
                    )
                if retry:
                    await conn.execute(
                        RETRY_OUTBOX,
                        [r["id"] for r, _, _ in retry],
                        [t for _, _, t in retry],
                        [e for _, e, _ in retry],
                    )
                if failed:
                    evs += await self._hold_followers(conn, {r["id"]: e for r, e, _ in failed})
                await events.record_many(conn, evs)

    @staticmethod
    async def _hold_followers(
        conn: asyncpg.Connection, errors: dict[int, str]
    ) -> list[events.NewEvent]:
        """Hold every message waiting on one that failed for good, saying why."""
        rows = await conn.fetch(WAITING_ON, list(errors))
        if not rows:
            return []
        reasons = [
            f"held: the {PURPOSE_NAMES.get(r['cause_purpose'], r['cause_purpose'])} before it "
            f"(message {r['cause_message_id']}) was not published: {errors[r['cause']]}"
            for r in rows
        ]
        await conn.execute(HELD_OUTBOX, [r["id"] for r in rows], reasons)
        await conn.execute(HELD_MESSAGES, [r["message_id"] for r in rows], reasons)
        for r, reason in zip(rows, reasons):
            log.warning("outbox: message %s %s", r["message_id"], reason)
        return [
            events.NewEvent(
                "message.held",
                r["conversation_id"],
                data={
                    "message_id": r["message_id"],
                    "after_message_id": r["cause_message_id"],
                    "reason": reason,
                },
            )
            for r, reason in zip(rows, reasons)
        ]


OUTBOX = web.AppKey("outbox", OutboxPublisher)
