"""A post that answers or quotes a post of a conversation we hold joins it,
whatever its text (issue 13, point 4): the customer adding to their own
complaint, someone else answering in their thread. A reply to a post that is
in none of our conversations is still not about us.

Listening (pure) marks such a post `thread` only; ingest keeps it only when
what it answers or quotes is stored. Posts are shaped by each platform's
fake (tests/fakes: Mastodon statuses, Bluesky post views) and the webhook's
own parser, and go through the real rules (rules/) on a real PostgreSQL.
Against the real Bluesky AppView: tests/test_peer_bluesky.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from backend.clock import FrozenClock
from backend.connectors.bluesky import post_to_inbound
from backend.connectors.mastodon import status_to_post
from backend.connectors.own import Identity
from backend.connectors.webhook import parse_batch
from backend.ingest.store import Ingest, make_processor
from backend.listening import THREAD, Listener, only_by_thread
from backend.model import Author, InboundPost
from backend.rulebook import load_rulebook
from backend.sla.policy import fixed_deadlines
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import FakeMastodon

RULES = Path(__file__).resolve().parent.parent / "rules"
RULEBOOK = load_rulebook(RULES)


def make_ingest(clock: FrozenClock) -> Ingest:
    return Ingest(
        make_processor(RULEBOOK),
        fixed_deadlines(timedelta(minutes=60), timedelta(minutes=30)),
        clock,
    )


async def conversation_of(db, platform: str, post_id: str) -> int | None:
    return await db.fetchval(
        "SELECT conversation_id FROM mentions WHERE platform = $1 AND post_id = $2",
        platform,
        post_id,
    )


def test_listening_marks_an_unmatched_reply_or_quote_thread_only():
    listener = Listener.from_dir(RULES)
    jo = Author("u-jo", "jo", "Jo", 10)

    def post(**kw) -> InboundPost:
        return InboundPost("simulator", "p", jo, "it was order 4411", FrozenClock().now(), **kw)

    assert listener.process(post()) is None  # says nothing about us, answers nothing
    reply = listener.process(post(in_reply_to="1"))
    assert reply is not None and reply.match.how == (THREAD,) and only_by_thread(reply.match.how)
    assert listener.process(post(quote_of="1")).match.how == (THREAD,)
    # A reply that names us is matched by its words, not only by where it sits.
    named = listener.process(
        InboundPost(
            "simulator", "p", jo, "@acme still waiting", FrozenClock().now(), in_reply_to="1"
        )
    )
    assert named is not None and not only_by_thread(named.match.how)


async def test_mastodon_replies_in_our_threads_join_whatever_their_text(db, clock):
    fake = FakeMastodon()
    ingest = make_ingest(clock)
    us = Identity("mastodon", fake.account("acme")["id"], "acme")
    complaint = fake.post("jo", "@acme my parcel never came")
    await ingest.store(db, [status_to_post(complaint, us)])
    cid = await conversation_of(db, "mastodon", complaint["id"])
    assert cid is not None

    own_addendum = fake.post("jo", "it was order 4411", in_reply_to_id=complaint["id"])
    other = fake.post("max", "same here", in_reply_to_id=own_addendum["id"])
    elsewhere = fake.post("max", "lovely weather", in_reply_to_id=fake.post("kim", "hi")["id"])
    result = await ingest.store(
        db, [status_to_post(s, us) for s in (own_addendum, other, elsewhere)]
    )
    assert await conversation_of(db, "mastodon", own_addendum["id"]) == cid
    # Answering the addendum, which is now in the conversation, joins too.
    assert await conversation_of(db, "mastodon", other["id"]) == cid
    assert await conversation_of(db, "mastodon", elsewhere["id"]) is None
    assert result.stored == 2 and result.dropped == 1
    assert await db.fetchval("SELECT count(*) FROM conversations") == 1


async def test_bluesky_replies_and_quotes_in_our_threads_join(db, clock):
    fake = FakeBluesky(us="acme.bsky.social")
    ingest = make_ingest(clock)
    us = Identity("bluesky", fake.account("acme.bsky.social")["did"], "acme.bsky.social")
    complaint = fake.post("jo.bsky.social", "@acme.bsky.social my parcel never came")
    await ingest.store(db, [post_to_inbound(complaint, us=us)])
    cid = await conversation_of(db, "bluesky", complaint["uri"])
    assert cid is not None

    addendum = fake.post("jo.bsky.social", "order 4411", reply_to=complaint["uri"])
    quote = fake.post("max.bsky.social", "look at this", quote=complaint["uri"])
    unrelated = fake.post(
        "lee.bsky.social", "nice", quote=fake.post("kim.bsky.social", "hi")["uri"]
    )
    posts = [post_to_inbound(v, us=us) for v in (addendum, quote, unrelated)]
    assert posts[0].in_reply_to == complaint["uri"] and posts[1].quote_of == complaint["uri"]
    result = await ingest.store(db, posts)
    assert await conversation_of(db, "bluesky", addendum["uri"]) == cid
    assert await conversation_of(db, "bluesky", quote["uri"]) == cid
    assert await conversation_of(db, "bluesky", unrelated["uri"]) is None
    assert result.stored == 2 and result.dropped == 1
    # Left out before anything is written: no author row for Lee either.
    assert await db.fetchval("SELECT count(*) FROM authors WHERE handle = 'lee.bsky.social'") == 0
    match_how = await db.fetchval(
        "SELECT match_how FROM mentions WHERE post_id = $1", addendum["uri"]
    )
    assert match_how == [THREAD]


async def test_webhook_replies_and_quotes_in_our_threads_join(db, clock):
    ingest = make_ingest(clock)

    def pushed(*posts: dict) -> list[InboundPost]:
        batch = parse_batch("partner", json.dumps({"posts": list(posts)}).encode(), 1 << 20)
        assert not batch.refused, batch.refused
        return batch.posts

    def item(pid: str, author: str, text: str, **kw) -> dict:
        return {
            "id": pid,
            "author": {"id": f"u-{author}", "handle": author},
            "text": text,
            "created_at": kw.pop("created_at", "2026-11-25T09:00:00Z"),
            **kw,
        }

    await ingest.store(db, pushed(item("1", "jo", "#acmefail the app is down")))
    cid = await conversation_of(db, "partner", "1")
    result = await ingest.store(
        db,
        pushed(
            item("2", "jo", "since this morning", in_reply_to="1", thread_root="1"),
            item("3", "max", "this", quote_of="1"),
            item("4", "max", "same", in_reply_to="99"),
            # A post that opens a conversation, and an answer to it in the same batch.
            item("5", "kim", "#acmefail no signal", created_at="2026-11-25T09:01:00Z"),
            item("6", "lee", "here too", in_reply_to="5", created_at="2026-11-25T09:02:00Z"),
        ),
    )
    assert await conversation_of(db, "partner", "2") == cid
    assert await conversation_of(db, "partner", "3") == cid
    assert await conversation_of(db, "partner", "4") is None
    kim = await conversation_of(db, "partner", "5")
    assert kim is not None and kim != cid
    assert await conversation_of(db, "partner", "6") == kim
    assert result.dropped == 1
