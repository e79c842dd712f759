"""Our own posts coming back, and posts answering or quoting ours, at ingest
on a real PostgreSQL. Platform: none (InboundPosts as the connectors make them;
the connectors' side is in test_connector_address, the whole path in
test_peer_mastodon and test_backend_connectors)."""

from __future__ import annotations

from datetime import timedelta

from backend.conversations.actions import Actions
from backend.ingest.store import Ingest, accept_all
from backend.model import Author, InboundPost
from backend.operators import add as add_operator
from backend.outbox import OutboxPublisher
from backend.sla.policy import fixed_deadlines
from tests.test_outbox import OrderedPlatform

JO = Author("a1", "jo", "Jo", 10)
US = Author("a0", "acme", "Acme Support", 1000)


def post(clock, post_id: str, text: str, author: Author = JO, **kw) -> InboundPost:
    return InboundPost("simulator", post_id, author, text, clock.now(), **kw)


async def published_reply(pool, clock) -> tuple[int, str]:
    """A conversation with one public reply, published as platform post 'post-1'."""
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    async with pool.acquire() as conn:
        await ingest.store(conn, [post(clock, "p1", "@acme my order is late")])
        op, _ = await add_operator(conn, "anna")
        cid = await conn.fetchval("SELECT id FROM conversations")
        actions = Actions(clock, timedelta(minutes=5))
        await actions.claim(conn, op, cid)
        await actions.reply_publicly(conn, op, cid, "Sorry Jo, looking now")
    outbox = OutboxPublisher(pool, {"simulator": OrderedPlatform()}, clock)
    await outbox.publish_due()
    return cid, await pool.fetchval("SELECT platform_post_id FROM messages")


async def test_our_published_post_coming_back_is_never_stored_as_inbound(pool, clock):
    cid, ours = await published_reply(pool, clock)
    assert ours == "post-1"
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    # It comes back by every channel: a notification, a hashtag timeline, a name search.
    echo = post(clock, ours, "@jo Sorry Jo, looking now", US, in_reply_to="p1", by_us=True)
    async with pool.acquire() as conn:
        for _ in range(3):
            result = await ingest.store(conn, [echo])
            assert result.stored == 0 and result.duplicates == 1
    assert await pool.fetchval("SELECT count(*) FROM mentions") == 1
    state = await pool.fetchval("SELECT state FROM conversations WHERE id = $1", cid)
    assert state == "awaiting_customer"  # our own post did not reopen it as the customer's turn


async def test_a_post_by_our_account_is_ours_whatever_the_listening_rules_said(pool, clock):
    """Published outside shiftdesk (or before the outbox recorded its id): the
    account that wrote it decides, not a handle the rules may spell differently."""
    cid, _ = await published_reply(pool, clock)
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    ours = post(clock, "p-ours", "@jo one more thing", US, in_reply_to="p1", by_us=True)
    async with pool.acquire() as conn:
        result = await ingest.store(conn, [ours])
    assert result.stored == 1 and result.new_conversations == 0
    row = await pool.fetchrow(
        "SELECT is_ours, conversation_id FROM mentions WHERE post_id = 'p-ours'"
    )
    assert row["is_ours"] and row["conversation_id"] == cid
    assert await pool.fetchval("SELECT state FROM conversations WHERE id = $1", cid) == (
        "awaiting_customer"
    )


async def test_replies_and_quotes_of_our_reply_join_its_conversation(pool, clock):
    cid, ours = await published_reply(pool, clock)
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    clock.advance(minutes=1)
    reply = post(clock, "p2", "still nothing", in_reply_to=ours, reason="reply")
    quote = post(
        clock,
        "p3",
        "look how they answer",
        Author("a9", "max", "Max"),
        quote_of=ours,
        reason="quote",
    )
    async with pool.acquire() as conn:
        result = await ingest.store(conn, [reply, quote])
    assert result.stored == 2 and result.new_conversations == 0
    rows = await pool.fetch("SELECT post_id, conversation_id FROM mentions ORDER BY id")
    assert [(r["post_id"], r["conversation_id"]) for r in rows] == [
        ("p1", cid),
        ("p2", cid),
        ("p3", cid),
    ]
    # The customer's turn is over: it goes back to the operator who replied, claimed for them.
    state, holder = await pool.fetchrow(
        "SELECT state, claimed_by FROM conversations WHERE id = $1", cid
    )
    assert (state, holder is not None) == ("claimed", True)
