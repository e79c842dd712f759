"""The outbox publisher: sends queued replies and DMs to their platforms.

A message is marked as attempted (and hidden from other publishers for a
while) in its own committed transaction before it is sent; the result is
recorded afterwards. If we crash in between, the next attempt either
carries the same idempotency key (the platform deduplicates) or first looks
for our post on the platform — so a crash never publishes twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import asyncpg

from . import events
from .clock import Clock
from .connectors.base import PermanentError, RateLimited
from .model import Author, OutboundMessage, Published

log = logging.getLogger(__name__)

ATTEMPT_LEASE = timedelta(seconds=60)   # how long one attempt may take before another publisher retries


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


@dataclass
class OutboxPublisher:
    pool: asyncpg.Pool
    publishers: dict[str, Publisher]
    clock: Clock
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    rng: random.Random = field(default_factory=lambda: random.Random(11))

    def __post_init__(self) -> None:
        self.wake = asyncio.Event()

    def backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with jitter: somewhere between half and all of the doubled wait."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=self.rng.uniform(ceiling / 2, ceiling))

    async def run(self, poll_interval: float) -> None:
        while True:
            try:
                busy = await self.publish_due()
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                log.warning("outbox: database unavailable (%s); retrying", exc)
                busy = False
            if not busy:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), poll_interval)
                except asyncio.TimeoutError:
                    pass

    async def publish_due(self, limit: int = 20) -> bool:
        """Publish what is due now; True if there was anything to do."""
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                rows = await conn.fetch(
                    """SELECT o.id, o.idempotency_key, o.platform, o.attempts, m.id AS message_id, m.text,
                              m.channel, m.in_reply_to, c.thread_root, c.id AS conversation_id,
                              a.platform_id AS author_id, a.handle AS author_handle, a.display_name AS author_name
                       FROM outbox o JOIN messages m ON m.id = o.message_id
                       JOIN conversations c ON c.id = m.conversation_id JOIN authors a ON a.id = c.author_id
                       WHERE o.done_at IS NULL AND o.next_attempt_at <= $1
                       ORDER BY o.next_attempt_at, o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED""",
                    now, limit,
                )
                if not rows:
                    return False
                # Claim the attempts durably before any send.
                await conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = ANY($1::bigint[])",
                    [r["id"] for r in rows], now + ATTEMPT_LEASE,
                )
        await asyncio.gather(*(self._publish_one(r) for r in rows))
        return True

    async def _publish_one(self, r: asyncpg.Record) -> None:
        msg = OutboundMessage(
            idempotency_key=r["idempotency_key"], platform=r["platform"], text=r["text"],
            is_direct=r["channel"] == "dm", in_reply_to=r["in_reply_to"], thread_root=r["thread_root"],
            recipient=Author(r["author_id"], r["author_handle"], r["author_name"]),
        )
        attempts = r["attempts"] + 1
        publisher = self.publishers.get(r["platform"])
        try:
            if publisher is None:
                raise LookupError(f"no connector configured for platform {r['platform']!r}")
            found = await publisher.find_published(msg) if attempts > 1 else None
            result = found or await publisher.publish(msg)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none may stop the publisher
            await self._record_failure(r, attempts, exc)
        else:
            await self._record_success(r, result)

    async def _record_success(self, r: asyncpg.Record, result: Published) -> None:
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute(
                    """UPDATE messages SET status = 'published', platform_post_id = $2, url = $3,
                           published_at = $4, error = NULL WHERE id = $1""",
                    r["message_id"], result.post_id, result.url, now,
                )
                await conn.execute("UPDATE outbox SET done_at = $2, last_error = NULL WHERE id = $1", r["id"], now)
                await events.record(conn, events.NewEvent(
                    "message.published", r["conversation_id"],
                    data={"message_id": r["message_id"], "platform_post_id": result.post_id, "url": result.url},
                ))

    async def _record_failure(self, r: asyncpg.Record, attempts: int, exc: BaseException) -> None:
        now = self.clock.now()
        error = str(exc) or type(exc).__name__
        final = is_permanent(exc) or attempts >= self.max_attempts
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                if final:
                    await conn.execute("UPDATE messages SET status = 'failed', error = $2 WHERE id = $1",
                                       r["message_id"], error)
                    await conn.execute("UPDATE outbox SET done_at = $2, last_error = $3 WHERE id = $1",
                                       r["id"], now, error)
                    await events.record(conn, events.NewEvent(
                        "message.failed", r["conversation_id"],
                        data={"message_id": r["message_id"], "error": error, "attempts": attempts},
                    ))
                else:
                    retry = retry_at_of(exc) or now + self.backoff(attempts)
                    await conn.execute("UPDATE outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
                                       r["id"], retry, error)
        log.warning("outbox: message %s attempt %d failed%s: %s", r["message_id"], attempts,
                    " for good" if final else "", error)


