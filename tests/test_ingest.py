"""Ingest on a real PostgreSQL: dedupe, threading, reopening, cursor with the rows."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from backend.clock import FrozenClock
from backend.ingest.store import Ingest, accept_all
from backend.model import Author, InboundPost
from backend.simulator.scenarios import Simulator
from backend.sla.policy import fixed_deadlines
from tests.invariants import ORPHANED_REFERENCES


def make_ingest(clock: FrozenClock) -> Ingest:
    return Ingest(accept_all, fixed_deadlines(timedelta(minutes=60), timedelta(minutes=30)), clock)


def post(
    clock: FrozenClock, pid: str, author: str = "jo", text: str = "@acme help", **kw
) -> InboundPost:
    return InboundPost(
        "simulator",
        pid,
        Author(f"id-{author}", author, author.title(), 10),
        text,
        clock.now(),
        **kw,
    )


async def test_replaying_a_batch_stores_nothing_twice(db, clock):
    ingest = make_ingest(clock)
    sim = Simulator("crisis", seed=3, clock=clock)
    batch = list(sim.posts(200))
    first = await ingest.store(db, batch)
    again = await ingest.store(db, batch)
    assert first.stored == 200
    assert again.stored == 0 and again.duplicates == 200
    assert await db.fetchval("SELECT count(*) FROM mentions") == 200
    # Every non-follow-up post opened a conversation; follow-ups joined their thread.
    follow_ups = sum(1 for p in batch if p.in_reply_to)
    assert follow_ups > 0
    assert await db.fetchval("SELECT count(*) FROM conversations") == 200 - follow_ups


async def test_replies_join_the_thread_and_new_posts_join_the_open_conversation(db, clock):
    ingest = make_ingest(clock)
    await ingest.store(db, [post(clock, "1")])
    clock.advance(minutes=1)
    await ingest.store(
        db,
        [
            post(clock, "2", text="hello??", in_reply_to="1", thread_root="1"),
            post(clock, "3", text="@acme also this"),
        ],
    )
    convs = await db.fetch("SELECT id FROM conversations")
    assert len(convs) == 1
    ids = await db.fetch("SELECT DISTINCT conversation_id FROM mentions")
    assert [r["conversation_id"] for r in ids] == [convs[0]["id"]]


async def test_direct_messages_thread_by_participant_apart_from_public(db, clock):
    ingest = make_ingest(clock)
    await ingest.store(
        db,
        [
            post(clock, "1"),
            post(clock, "2", text="my order number", is_direct=True),
            post(clock, "3", text="and the address", is_direct=True),
        ],
    )
    rows = await db.fetch(
        "SELECT is_direct, count(*) AS n FROM mentions GROUP BY is_direct ORDER BY is_direct"
    )
    convs = await db.fetch("SELECT is_direct FROM conversations ORDER BY is_direct")
    assert [r["is_direct"] for r in convs] == [False, True]
    assert [r["n"] for r in rows] == [1, 2]


async def test_customer_writing_after_resolution_reopens_with_next_response_clock(db, clock):
    ingest = make_ingest(clock)
    await ingest.store(db, [post(clock, "1")])
    await db.execute(
        "UPDATE conversations SET state = 'resolved', sla_due_at = NULL, resolved_at = now()"
    )
    clock.advance(hours=2)
    await ingest.store(db, [post(clock, "2", text="it broke again")])
    conv = await db.fetchrow("SELECT state, sla_kind, sla_due_at, resolved_at FROM conversations")
    assert conv["state"] == "new"
    assert conv["sla_kind"] == "next"
    assert conv["sla_due_at"] == clock.now() + timedelta(minutes=30)
    assert conv["resolved_at"] is None
    kinds = [r["kind"] for r in await db.fetch("SELECT kind FROM events ORDER BY id")]
    assert "conversation.reopened" in kinds


async def test_cursor_commits_with_the_rows_or_not_at_all(db, clock):
    ingest = make_ingest(clock)
    await ingest.store(db, [post(clock, "1")], cursor=("sim", {"sequence": 1}))
    assert await db.fetchval("SELECT cursor FROM connector_state WHERE connector = 'sim'") == {
        "sequence": 1
    }
    bad = post(clock, "2", text="x\x00y")  # PostgreSQL text cannot hold NUL: the batch fails
    with pytest.raises(asyncpg.exceptions.CharacterNotInRepertoireError):
        await ingest.store(db, [bad], cursor=("sim", {"sequence": 2}))
    assert await db.fetchval("SELECT cursor FROM connector_state WHERE connector = 'sim'") == {
        "sequence": 1
    }
    assert await db.fetchval("SELECT count(*) FROM mentions") == 1


async def test_one_notification_per_batch(db, db_url, clock):
    from backend.db.pool import connect

    listener = await connect(db_url)
    got = []
    await listener.add_listener("shiftdesk_events", lambda *a: got.append(a))
    try:
        result = await make_ingest(clock).store(db, list(Simulator("calm", 1, clock).posts(50)))
        await listener.fetchval("SELECT 1")  # notifications are delivered before the next reply
        assert len(got) == 1
        # Many events in that one notification: every conversation opened or joined,
        # each stored customer mention counted once.
        assert await db.fetchval("SELECT count(*) FROM events") >= result.new_conversations > 10
        assert await db.fetchval(
            "SELECT sum((data->>'count')::int) FROM events WHERE kind IN ('conversation.opened', 'mention.received')"
        ) == await db.fetchval("SELECT count(*) FROM mentions WHERE NOT is_ours")
    finally:
        await listener.close()


async def test_relaxed_commit_stays_inside_a_cursor_batch(db, clock):
    """A connector batch commits without waiting for the WAL flush (its cursor rolls
    back with it); that setting must not outlive the transaction, or a webhook
    batch on the same pooled connection would lose its durability."""
    ingest = make_ingest(clock)
    before = await db.fetchval("SHOW synchronous_commit")
    await ingest.store(db, [post(clock, "1")], cursor=("sim", {"sequence": 1}))
    assert await db.fetchval("SHOW synchronous_commit") == before == "on"
    await ingest.store(db, [post(clock, "2", author="ana")])
    assert await db.fetchval("SHOW synchronous_commit") == "on"
    assert await db.fetchval("SELECT count(*) FROM mentions") == 2


async def test_priority_reasons_survive_the_trip_to_sql(db, clock):
    from backend.ingest.store import Processed

    def urgent(p):
        return Processed(
            p, priority=1, priority_reasons=("negative (-0.72)", "urgent words: refund, Kündigung")
        )

    ingest = Ingest(urgent, fixed_deadlines(timedelta(minutes=60)), clock)
    await ingest.store(db, [post(clock, "1")])
    assert await db.fetchval("SELECT priority_reasons FROM conversations") == [
        "negative (-0.72)",
        "urgent words: refund, Kündigung",
    ]
    quiet = Ingest(
        lambda p: Processed(p, priority=3), fixed_deadlines(timedelta(minutes=60)), clock
    )
    await quiet.store(db, [post(clock, "2")])  # less urgent: reasons stay
    assert await db.fetchval("SELECT priority_reasons FROM conversations") == [
        "negative (-0.72)",
        "urgent words: refund, Kündigung",
    ]
    none = Ingest(lambda p: Processed(p, priority=1), fixed_deadlines(timedelta(minutes=60)), clock)
    await none.store(db, [post(clock, "3", author="ana")])
    assert (
        await db.fetchval(
            "SELECT priority_reasons FROM conversations WHERE priority = 1 AND "
            "author_id = (SELECT id FROM authors WHERE handle = 'ana')"
        )
        == []
    )


async def test_every_stored_reference_points_at_a_stored_row(db, clock):
    """Mentions and conversations have no foreign keys on the ingest path (migration
    0004): over batches that open, join, reopen and thread conversations, with our
    own posts among them, every author and conversation referenced is stored."""
    ingest = make_ingest(clock)
    for seed, scenario in ((5, "calm"), (6, "crisis")):
        posts = list(Simulator(scenario, seed, clock).posts(600))
        for i in range(0, len(posts), 150):  # follow-ups land in later batches than their threads
            await ingest.store(db, posts[i : i + 150])
            clock.advance(minutes=5)
    assert await db.fetchval("SELECT count(*) FROM mentions") == 1200
    assert (
        await db.fetchval(
            "SELECT count(*) FROM mentions WHERE conversation_id IS NULL AND NOT is_ours"
        )
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM mentions m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.author_id <> m.author_id AND m.in_reply_to IS NULL AND NOT m.is_ours"
        )
        == 0
    )
    assert await db.fetchval(ORPHANED_REFERENCES) == 0


async def test_an_author_row_changes_only_when_their_profile_did(db, clock):
    ingest = make_ingest(clock)
    await ingest.store(db, [post(clock, "1")])
    version = await db.fetchrow(
        "SELECT id, xmin::text AS v FROM authors WHERE platform_id = 'id-jo'"
    )
    await ingest.store(db, [post(clock, "2")])  # same profile: row untouched
    assert (
        await db.fetchval("SELECT xmin::text FROM authors WHERE id = $1", version["id"])
        == version["v"]
    )
    renamed = InboundPost(
        "simulator",
        "3",
        Author("id-jo", "jo_new", "Jo N.", 5000),
        "@acme still waiting",
        clock.now(),
    )
    await ingest.store(db, [renamed])
    row = await db.fetchrow(
        "SELECT id, handle, display_name, followers FROM authors WHERE platform_id = 'id-jo'"
    )
    assert tuple(row) == (version["id"], "jo_new", "Jo N.", 5000)
    assert await db.fetchval("SELECT count(DISTINCT author_id) FROM mentions") == 1


async def test_a_threat_escalates_the_conversation_whether_new_or_open(db, clock):
    """The lifecycle says a threat goes to a lead; ingest writes it for new and open conversations."""
    from backend.ingest.store import Processed

    def flag_threats(p: InboundPost) -> Processed:
        threat = "burn" in p.text
        return Processed(p, priority=1 if threat else 3, threat=threat)

    ingest = Ingest(flag_threats, fixed_deadlines(timedelta(minutes=60)), clock)
    await ingest.store(db, [post(clock, "1", "jo", "@acme I will burn your shop down")])
    await ingest.store(db, [post(clock, "2", "max", "@acme where is my parcel")])
    clock.advance(minutes=1)
    await ingest.store(db, [post(clock, "3", "max", "@acme answer or I burn it down")])
    rows = await db.fetch(
        """SELECT a.handle, c.escalated, c.priority,
                  (SELECT count(*) FROM events e WHERE e.conversation_id = c.id
                     AND e.kind = 'conversation.escalated'
                     AND e.data->>'reason' = 'threat of violence or damage') AS escalations
           FROM conversations c JOIN authors a ON a.id = c.author_id ORDER BY a.handle"""
    )
    assert [tuple(r) for r in rows] == [("jo", True, 1, 1), ("max", True, 1, 1)]
