"""The outbox publisher: retries with backoff, final failures, and no double publish after a crash."""

from __future__ import annotations

from datetime import timedelta


from backend.actions import Actions
from backend.connectors.base import PermanentError, RateLimited, TransientError
from backend.ingest import Ingest, accept_all, fixed_deadlines
from backend.model import Author, InboundPost, OutboundMessage, Published
from backend.operators import add as add_operator
from backend.outbox import OutboxPublisher


class FlakyPlatform:
    """A platform double that fails as told, and remembers what really went out."""

    platform = "simulator"

    def __init__(self, failures: list[Exception] | None = None, crash_after_send: bool = False):
        self.failures = list(failures or [])
        self.crash_after_send = crash_after_send
        self.sent: dict[str, Published] = {}
        self.publish_calls = 0
        self.lookups = 0

    async def publish(self, msg: OutboundMessage) -> Published:
        self.publish_calls += 1
        if self.failures:
            raise self.failures.pop(0)
        result = Published(f"post-{len(self.sent) + 1}")
        self.sent[msg.idempotency_key] = result
        if self.crash_after_send:
            self.crash_after_send = False
            raise ConnectionResetError("connection dropped before the answer arrived")
        return result

    async def find_published(self, msg: OutboundMessage) -> Published | None:
        self.lookups += 1
        return self.sent.get(msg.idempotency_key)


async def queued_reply(pool, clock) -> int:
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    post = InboundPost("simulator", "p1", Author("a1", "jo", "Jo", 1), "@acme help", clock.now())
    async with pool.acquire() as conn:
        await ingest.store(conn, [post])
        op, _ = await add_operator(conn, "anna")
        cid = await conn.fetchval("SELECT id FROM conversations")
        actions = Actions(clock, timedelta(minutes=5))
        await actions.claim(conn, op, cid)
        result = await actions.reply_publicly(conn, op, cid, "Hi Jo, sorry! Looking now.")
        return result["message_id"]


def publisher(pool, clock, platform, **kw) -> OutboxPublisher:
    return OutboxPublisher(pool, {"simulator": platform}, clock, backoff_base=2.0, backoff_cap=60.0, **kw)


async def test_transient_failures_back_off_then_publish_once(pool, clock):
    message_id = await queued_reply(pool, clock)
    platform = FlakyPlatform([TransientError("HTTP 503 from https://x/api/v1/statuses"),
                              ConnectionError("connection refused")])
    outbox = publisher(pool, clock, platform)
    assert await outbox.publish_due() is True
    retry_at = await pool.fetchval("SELECT next_attempt_at FROM outbox")
    assert clock.now() + timedelta(seconds=1) <= retry_at <= clock.now() + timedelta(seconds=2)
    assert await outbox.publish_due() is False          # not due yet: no busy loop
    clock.set(retry_at)
    await outbox.publish_due()
    second = await pool.fetchval("SELECT next_attempt_at FROM outbox")
    assert second - retry_at >= timedelta(seconds=2)   # the wait grows
    clock.set(second)
    await outbox.publish_due()
    row = await pool.fetchrow("SELECT status, platform_post_id FROM messages WHERE id = $1", message_id)
    assert (row["status"], row["platform_post_id"]) == ("published", "post-1")
    assert len(platform.sent) == 1 and platform.publish_calls == 3


async def test_rate_limit_waits_until_the_platform_says(pool, clock):
    await queued_reply(pool, clock)
    later = clock.now() + timedelta(minutes=7)
    outbox = publisher(pool, clock, FlakyPlatform([RateLimited(later, "429 from https://x")]))
    await outbox.publish_due()
    assert await pool.fetchval("SELECT next_attempt_at FROM outbox") == later


async def test_permanent_failure_is_final_and_shown_as_an_event(pool, clock):
    message_id = await queued_reply(pool, clock)
    outbox = publisher(pool, clock, FlakyPlatform([PermanentError("422: text too long", 422)]))
    await outbox.publish_due()
    row = await pool.fetchrow("SELECT status, error FROM messages WHERE id = $1", message_id)
    assert row["status"] == "failed" and "too long" in row["error"]
    event = await pool.fetchrow("SELECT kind, data FROM events ORDER BY id DESC LIMIT 1")
    assert event["kind"] == "message.failed" and event["data"]["message_id"] == message_id
    assert await pool.fetchval("SELECT done_at IS NOT NULL FROM outbox") is True


async def test_gives_up_after_max_attempts(pool, clock):
    message_id = await queued_reply(pool, clock)
    outbox = publisher(pool, clock, FlakyPlatform([TransientError("503")] * 10), max_attempts=3)
    for _ in range(3):
        await outbox.publish_due()
        clock.set(await pool.fetchval("SELECT next_attempt_at FROM outbox"))
    assert await pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == "failed"


async def test_crash_between_send_and_record_does_not_publish_twice(pool, clock):
    message_id = await queued_reply(pool, clock)
    platform = FlakyPlatform(crash_after_send=True)
    outbox = publisher(pool, clock, platform)
    await outbox.publish_due()                         # sent, but we never heard back
    assert await pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == "queued"
    clock.set(await pool.fetchval("SELECT next_attempt_at FROM outbox"))
    await outbox.publish_due()                         # looks first, finds it, records it
    assert platform.lookups == 1 and platform.publish_calls == 1
    assert len(platform.sent) == 1
    assert await pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == "published"


async def test_attempt_in_flight_is_not_taken_by_a_second_publisher(pool, clock):
    await queued_reply(pool, clock)
    first = publisher(pool, clock, FlakyPlatform(crash_after_send=True))
    await first.publish_due()
    second = FlakyPlatform()
    assert await publisher(pool, clock, second).publish_due() is False   # still inside the attempt lease
    assert second.publish_calls == 0
