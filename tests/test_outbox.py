"""The outbox publisher: retries with backoff, final failures, and no double publish after a crash."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from backend.connectors.base import PermanentError, RateLimited, TransientError
from backend.conversations.actions import Actions
from backend.ingest.store import Ingest, accept_all
from backend.model import Author, InboundPost, OutboundMessage, Published
from backend.operators import Operator
from backend.operators import add as add_operator
from backend.outbox import OUTBOX, OutboxPublisher
from backend.sla.policy import fixed_deadlines
from tests.processes import until


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
    return OutboxPublisher(
        pool, {"simulator": platform}, clock, backoff_base=2.0, backoff_cap=60.0, **kw
    )


async def test_transient_failures_back_off_then_publish_once(pool, clock):
    message_id = await queued_reply(pool, clock)
    platform = FlakyPlatform(
        [
            TransientError("HTTP 503 from https://x/api/v1/statuses"),
            ConnectionError("connection refused"),
        ]
    )
    outbox = publisher(pool, clock, platform)
    assert await outbox.publish_due() is True
    retry_at = await pool.fetchval("SELECT next_attempt_at FROM outbox")
    assert clock.now() + timedelta(seconds=1) <= retry_at <= clock.now() + timedelta(seconds=2)
    assert await outbox.publish_due() is False  # not due yet: no busy loop
    clock.set(retry_at)
    await outbox.publish_due()
    second = await pool.fetchval("SELECT next_attempt_at FROM outbox")
    assert second - retry_at >= timedelta(seconds=2)  # the wait grows
    clock.set(second)
    await outbox.publish_due()
    row = await pool.fetchrow(
        "SELECT status, platform_post_id FROM messages WHERE id = $1", message_id
    )
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
    await outbox.publish_due()  # sent, but we never heard back
    assert await pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == "queued"
    clock.set(await pool.fetchval("SELECT next_attempt_at FROM outbox"))
    await outbox.publish_due()  # looks first, finds it, records it
    assert platform.lookups == 1 and platform.publish_calls == 1
    assert len(platform.sent) == 1
    assert (
        await pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == "published"
    )


async def test_attempt_in_flight_is_not_taken_by_a_second_publisher(pool, clock):
    await queued_reply(pool, clock)
    first = publisher(pool, clock, FlakyPlatform(crash_after_send=True))
    await first.publish_due()
    second = FlakyPlatform()
    assert (
        await publisher(pool, clock, second).publish_due() is False
    )  # still inside the attempt lease
    assert second.publish_calls == 0


async def queued_replies(pool, clock, n: int) -> list[int]:
    """`n` customers, each answered once: `n` messages waiting in the outbox."""
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    posts = [
        InboundPost(
            "simulator",
            f"p{i}",
            Author(f"a{i}", f"cust{i}", f"Customer {i}", 1),
            "@acme help",
            clock.now(),
        )
        for i in range(n)
    ]
    async with pool.acquire() as conn:
        await ingest.store(conn, posts)
        op, _ = await add_operator(conn, "anna")
        actions = Actions(clock, timedelta(minutes=5))
        ids = []
        for cid in [r["id"] for r in await conn.fetch("SELECT id FROM conversations ORDER BY id")]:
            await actions.claim(conn, op, cid)
            ids.append(
                (await actions.reply_publicly(conn, op, cid, "Hi, sorry! Looking now."))[
                    "message_id"
                ]
            )
        return ids


class GatedPlatform(FlakyPlatform):
    """Holds the first send until `gate` is set; counts sends in flight at once."""

    def __init__(self):
        super().__init__()
        self.gate = asyncio.Event()
        self.in_flight = self.most_in_flight = 0
        self.held = False

    async def publish(self, msg):
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if not self.held:
                self.held = True
                await self.gate.wait()
            else:
                await asyncio.sleep(0)  # an answer that takes a turn of the loop
            return await super().publish(msg)
        finally:
            self.in_flight -= 1


async def test_a_slow_send_holds_one_slot_while_the_rest_publish(pool, clock):
    message_ids = await queued_replies(pool, clock, 12)
    platform = GatedPlatform()
    outbox = publisher(pool, clock, platform, window=3)
    published = "SELECT count(*) FROM messages WHERE status = 'published'"
    task = asyncio.create_task(outbox.run(poll_interval=0.05))
    try:
        await until(lambda: _equals(pool, published, 11), "every reply but the held one published")
        held = await pool.fetchval("SELECT id FROM messages WHERE status = 'queued'")
        assert held == message_ids[0]
        platform.gate.set()
        await until(lambda: _equals(pool, published, 12), "the held reply published")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert platform.most_in_flight == 3  # the window, never more
    assert len(platform.sent) == 12 and platform.publish_calls == 12
    assert await pool.fetchval("SELECT count(*) FROM events WHERE kind = 'message.published'") == 12


async def _equals(pool, sql: str, n: int) -> bool:
    return await pool.fetchval(sql) == n


async def test_a_batch_is_recorded_in_one_transaction_each_message_with_its_own_outcome(
    pool, clock
):
    message_ids = await queued_replies(pool, clock, 5)
    platform = FlakyPlatform(
        [TransientError("HTTP 503"), PermanentError("422: text too long", 422)]
    )
    assert await publisher(pool, clock, platform).publish_due() is True
    rows = await pool.fetch(
        "SELECT m.id, m.status, o.done_at IS NOT NULL AS done, o.next_attempt_at, o.xmin::text "
        "AS tx FROM messages m JOIN outbox o ON o.message_id = m.id ORDER BY m.id"
    )
    assert [r["status"] for r in rows] == [
        "queued",
        "failed",
        "published",
        "published",
        "published",
    ]
    assert rows[0]["next_attempt_at"] > clock.now() and not rows[0]["done"]  # backs off on its own
    assert len({r["tx"] for r in rows}) == 1  # one commit for the batch
    kinds = [
        r["kind"]
        for r in await pool.fetch(
            "SELECT kind FROM events WHERE kind LIKE 'message.%' AND kind <> 'message.queued' ORDER BY id"
        )
    ]
    assert sorted(kinds) == ["message.failed"] + ["message.published"] * 3
    assert [r["id"] for r in rows] == message_ids


class PoolDownOnce:
    """The real pool, except that the `n`-th acquire finds the database unavailable."""

    def __init__(self, pool, n: int):
        self.pool, self.n, self.calls = pool, n, 0

    def acquire(self):
        self.calls += 1
        if self.calls == self.n:
            raise ConnectionRefusedError("database unavailable")
        return self.pool.acquire()


async def test_a_result_the_database_could_not_take_is_recorded_later_not_sent_again(pool, clock):
    message_id = await queued_reply(pool, clock)
    platform = FlakyPlatform()
    # Acquire 1 leases, 2 would record the send: the database is down just then.
    outbox = OutboxPublisher(PoolDownOnce(pool, 2), {"simulator": platform}, clock)
    task = asyncio.create_task(outbox.run(poll_interval=0.05))
    try:
        await until(
            lambda: _equals(pool, "SELECT count(*) FROM messages WHERE status = 'published'", 1),
            "the reply recorded once the database is back",
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (
        platform.publish_calls == 1 and platform.lookups == 0
    )  # kept the result, did not send again
    assert (
        await pool.fetchval("SELECT platform_post_id FROM messages WHERE id = $1", message_id)
        == "post-1"
    )


async def test_the_backend_sends_as_many_at_once_as_outbox_window_says(db_url):
    from backend.config import load_config
    from tests.conftest import start_backend

    backend = await start_backend(load_config(env={"SHIFTDESK_OUTBOX_WINDOW": "7"}), db_url)
    try:
        assert backend.app[OUTBOX].window == 7
    finally:
        await backend.runner.cleanup()


# ---------------------------------------------------------------- order within a conversation
# Platform: an in-process double (OrderedPlatform) standing for any platform; what
# is checked is what the outbox lets reach it, and when.

ACK = "Sorry, Jo! Let's sort this out in a DM."
DM = "Hi Jo, what is your order number?"
CLOSING = "All sorted, thanks for your patience, Jo!"


class OrderedPlatform:
    """Accepts or refuses each text as told; records every call and every acceptance."""

    platform = "simulator"

    def __init__(self, failures: dict[str, list[Exception]] | None = None):
        self.failures = failures or {}
        self.calls: list[str] = []
        self.accepted: list[str] = []
        self.gate: dict[str, asyncio.Event] = {}  # text -> released when the test says
        self.called: dict[str, asyncio.Event] = {}

    async def publish(self, msg: OutboundMessage) -> Published:
        self.calls.append(msg.text)
        self.called.setdefault(msg.text, asyncio.Event()).set()
        if msg.text in self.gate:
            await self.gate[msg.text].wait()
        failures = self.failures.get(msg.text)
        if failures:
            raise failures.pop(0)
        self.accepted.append(msg.text)
        return Published(f"post-{len(self.accepted)}")

    async def find_published(self, msg: OutboundMessage) -> Published | None:
        return None


async def moved_to_dm(pool, clock, *, resolve: bool = False) -> int:
    """A conversation moved to DM (ack + DM queued together), optionally resolved at once."""
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    post = InboundPost("simulator", "p1", Author("a1", "jo", "Jo", 1), "@acme help", clock.now())
    async with pool.acquire() as conn:
        await ingest.store(conn, [post])
        op, _ = await add_operator(conn, "anna")
        cid = await conn.fetchval("SELECT id FROM conversations")
        actions = Actions(clock, timedelta(minutes=5))
        await actions.claim(conn, op, cid)
        await actions.move_to_dm(conn, op, cid, ACK, DM)
        if resolve:
            await actions.resolve(conn, op, cid, CLOSING)
        return cid


async def test_the_dm_waits_until_the_platform_accepted_its_acknowledgement(pool, clock):
    await moved_to_dm(pool, clock)
    platform = OrderedPlatform({ACK: [TransientError("HTTP 503"), TransientError("HTTP 503")]})
    outbox = publisher(pool, clock, platform)
    ack_retry = """SELECT o.next_attempt_at FROM outbox o JOIN messages m ON m.id = o.message_id
                   WHERE m.purpose = 'dm_ack'"""
    await outbox.publish_due()
    assert platform.calls == [ACK]  # the DM was due by the clock, but not before the ack
    clock.set(await pool.fetchval(ack_retry))
    await outbox.publish_due()
    assert platform.calls == [ACK, ACK] and not platform.accepted
    clock.set(await pool.fetchval(ack_retry))
    await outbox.publish_due()  # the ack goes through; the DM was not leased with it
    assert platform.accepted == [ACK] and DM not in platform.calls
    await outbox.publish_due()
    assert platform.accepted == [ACK, DM]
    assert platform.calls == [ACK, ACK, ACK, DM]


async def test_while_the_acknowledgement_is_in_flight_the_dm_cannot_be_leased(pool, clock):
    """The running publisher, no timing luck: the ack's send is held open by the test,
    and every lease made meanwhile (the publisher's own, and ours) leaves the DM alone."""
    await moved_to_dm(pool, clock)
    platform = OrderedPlatform()
    platform.gate[ACK] = asyncio.Event()
    outbox = publisher(pool, clock, platform)
    task = asyncio.create_task(outbox.run(poll_interval=0.01))
    try:
        await asyncio.wait_for(platform.called.setdefault(ACK, asyncio.Event()).wait(), 10)
        assert await outbox._lease(10) == []  # the ack is leased; the DM is not due
        outbox.wake.set()
        assert platform.calls == [ACK]
        platform.gate[ACK].set()
        await asyncio.wait_for(platform.called.setdefault(DM, asyncio.Event()).wait(), 10)
        assert platform.accepted[0] == ACK and platform.calls == [ACK, DM]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_failed_acknowledgement_holds_the_dm_and_the_closing_and_says_why(pool, clock):
    cid = await moved_to_dm(pool, clock, resolve=True)
    platform = OrderedPlatform({ACK: [PermanentError("422 text rejected", status=422)]})
    outbox = publisher(pool, clock, platform)
    for _ in range(3):
        await outbox.publish_due()
        clock.advance(minutes=10)
    assert platform.calls == [ACK]  # neither the DM nor the closing ever went out
    rows = await pool.fetch(
        """SELECT m.purpose, m.status, m.error, o.held_reason, o.done_at FROM messages m
           JOIN outbox o ON o.message_id = m.id ORDER BY m.id"""
    )
    assert [(r["purpose"], r["status"]) for r in rows] == [
        ("dm_ack", "failed"),
        ("dm", "queued"),
        ("closing", "queued"),
    ]
    ack_id = await pool.fetchval("SELECT id FROM messages WHERE purpose = 'dm_ack'")
    for r in rows[1:]:
        assert r["held_reason"] == r["error"]
        assert r["held_reason"].startswith(
            f"held: the public acknowledgement before it (message {ack_id}) was not published: "
        )
        assert "422 text rejected" in r["held_reason"] and r["done_at"] is None
    held = await pool.fetch(
        "SELECT data FROM events WHERE kind = 'message.held' AND conversation_id = $1 ORDER BY id",
        cid,
    )
    assert len(held) == 2 and all(e["data"]["after_message_id"] == ack_id for e in held)


async def test_a_new_reply_after_a_failure_is_not_held_behind_it(pool, clock):
    message_id = await queued_reply(pool, clock)
    text = await pool.fetchval("SELECT text FROM messages WHERE id = $1", message_id)
    platform = OrderedPlatform({text: [PermanentError("gone", status=404)]})
    outbox = publisher(pool, clock, platform)
    await outbox.publish_due()
    async with pool.acquire() as conn:
        op = await conn.fetchrow("SELECT id FROM operators")
        actions = Actions(clock, timedelta(minutes=5))
        cid = await conn.fetchval("SELECT id FROM conversations")
        anna = Operator(op["id"], "anna", "Anna", "operator")
        await actions.claim(conn, anna, cid)
        await actions.reply_publicly(conn, anna, cid, "Trying again: sorry, Jo!")
    assert await pool.fetchval("SELECT after_id FROM outbox ORDER BY id DESC LIMIT 1") is None
    await outbox.publish_due()
    assert platform.accepted == ["Trying again: sorry, Jo!"]
