"""The SLA clock against a real database, time moved by a FrozenClock: events at the exact due time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from backend.clock import FrozenClock
from backend.handover.shifts import start_shift
from backend.model import Author, InboundPost
from backend.sla.clock import SLA_CLOCK, breaches_by_operator, breaches_by_shift
from tests.conftest import start_backend


@pytest.fixture
async def timed(config, db_url, clock: FrozenClock):
    b = await start_backend(config, db_url, clock=clock)
    yield b
    await b.runner.cleanup()


async def mention(b, text: str, pid: str, handle: str = "jo_k", **kw) -> int:
    svc = b.services
    post = InboundPost(
        "simulator",
        pid,
        Author(f"id-{handle}", handle, "Jo Kamara", 50),
        text,
        svc.clock.now(),
        **kw,
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])
        return await conn.fetchval("SELECT conversation_id FROM mentions WHERE post_id = $1", pid)


async def sla_events(b, cid: int) -> list[dict]:
    rows = await b.pool.fetch(
        "SELECT kind, at, data FROM events WHERE conversation_id = $1 AND kind LIKE 'sla.%' ORDER BY id",
        cid,
    )
    return [dict(r) for r in rows]


async def times(b, cid: int):
    return await b.pool.fetchrow(
        "SELECT sla_kind, sla_warn_at, sla_due_at, sla_warned, sla_breached, state FROM conversations WHERE id = $1",
        cid,
    )


async def test_warning_and_breach_are_written_at_the_exact_stored_time(timed, clock):
    cid = await mention(timed, "@acme my order never arrived", "p1")
    t = await times(timed, cid)
    assert t["sla_kind"] == "first" and t["sla_warn_at"] < t["sla_due_at"]
    sla = timed.app[SLA_CLOCK]

    clock.set(t["sla_warn_at"] - timedelta(seconds=1))
    result = await sla.check()
    assert await sla_events(timed, cid) == []
    assert result.next_at == t["sla_warn_at"]

    clock.set(t["sla_warn_at"])
    await sla.check()
    evs = await sla_events(timed, cid)
    assert [e["kind"] for e in evs] == ["sla.warning"]
    assert evs[0]["at"] == t["sla_warn_at"]

    clock.set(
        t["sla_due_at"] + timedelta(minutes=3)
    )  # noticed late: the event still says when it happened
    result = await sla.check()
    evs = await sla_events(timed, cid)
    assert [e["kind"] for e in evs] == ["sla.warning", "sla.breach"]
    assert evs[1]["at"] == t["sla_due_at"]
    assert evs[1]["data"]["due"] == t["sla_due_at"].isoformat()
    assert evs[1]["data"]["priority"].startswith("P") and evs[1]["data"]["holder_id"] is None
    after = await times(timed, cid)
    assert after["sla_warned"] and after["sla_breached"]
    assert result.next_at is None
    await sla.check()  # nothing is written twice
    assert len(await sla_events(timed, cid)) == 2


async def test_clock_pauses_while_awaiting_customer_and_restarts_with_next_target(timed, clock):
    svc = timed.services
    anna, _ = await timed.add_operator("anna")
    cid = await mention(timed, "@acme the app crashes when I pay", "p1")
    first = await times(timed, cid)
    async with svc.pool.acquire() as conn:
        await svc.actions.claim(conn, anna, cid)
        await svc.actions.reply_publicly(
            conn, anna, cid, "Hi Jo, sorry about that. Which phone do you use?", confirm=True
        )
    paused = await times(timed, cid)
    assert paused["state"] == "awaiting_customer" and paused["sla_due_at"] is None

    clock.set(first["sla_due_at"] + timedelta(hours=1))
    await svc.sla_clock.check()
    assert await sla_events(timed, cid) == []  # paused: nothing breaches

    await mention(
        timed, "@acme an iPhone 12, still broken", "p2", in_reply_to="p1", thread_root="p1"
    )
    again = await times(timed, cid)
    assert again["sla_kind"] == "next" and again["sla_due_at"] is not None
    assert not again["sla_warned"] and not again["sla_breached"]
    assert again["sla_due_at"] > clock.now()

    clock.set(again["sla_due_at"])
    await svc.sla_clock.check()
    evs = await sla_events(timed, cid)
    assert evs[-1]["kind"] == "sla.breach" and evs[-1]["at"] == again["sla_due_at"]
    assert evs[-1]["data"]["sla_kind"] == "next"
    # Nobody holds it now, but Anna handled it last: the breach is hers.
    row = await svc.pool.fetchrow(
        "SELECT sla_kind, operator_id FROM sla_breaches WHERE conversation_id = $1", cid
    )
    assert row["sla_kind"] == "next" and row["operator_id"] == anna.id


async def test_breaches_count_per_operator_and_per_shift(timed, clock):
    svc = timed.services
    anna, _ = await timed.add_operator("anna")
    start = clock.now()
    async with svc.pool.acquire() as conn:
        shift = await start_shift(conn, anna, clock.now())
        held = await mention(timed, "@acme refund please", "p1", handle="a")
        await svc.actions.claim(conn, anna, held)
        await mention(timed, "@acme where is my parcel", "p2", handle="b")
    due = await svc.pool.fetchval("SELECT max(sla_due_at) FROM conversations")
    clock.set(due)
    await svc.sla_clock.check()
    end = clock.now() + timedelta(seconds=1)
    assert await breaches_by_operator(svc.pool, start, end) == {"Anna": 1, "unclaimed": 1}
    assert await breaches_by_shift(svc.pool, start, end) == {shift["id"]: 1}


async def test_the_running_clock_wakes_when_a_conversation_changes(timed, clock):
    """The task itself, not a direct check: moving time then any event makes it write the breach."""
    svc = timed.services
    sub = svc.hub.subscribe()
    cid = await mention(timed, "@acme charged twice", "p1")
    clock.set((await times(timed, cid))["sla_due_at"])
    await mention(
        timed, "@acme hello?", "p2", handle="other"
    )  # an event: the clock wakes and looks

    async def breach() -> dict:
        while True:
            message = await sub.queue.get()
            if message and message["type"] == "event" and message["event"]["kind"] == "sla.breach":
                return message["event"]

    event = await asyncio.wait_for(breach(), 10)
    assert event["conversation_id"] == cid
    svc.hub.unsubscribe(sub)
