"""The operator API over real HTTP against a real PostgreSQL."""

from __future__ import annotations

import asyncio

import aiohttp

from backend.simulator.scenarios import SIMULATED, Simulator
from backend.web.keys import CLOCK, CONFIG


async def seed(backend, n: int = 5) -> list[int]:
    svc = backend.services
    sim = Simulator("crisis", seed=5, clock=svc.clock)
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, list(sim.posts(n)))
        return [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM conversations ORDER BY sla_due_at, priority, id"
            )
        ]


def client(token: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})


async def test_requests_without_a_valid_token_are_refused(backend):
    async with aiohttp.ClientSession() as s:
        async with s.get(backend.url + "/api/queue") as r:
            assert r.status == 401
            assert "token" in (await r.json())["error"]
    async with client("sd_not-a-token") as s:
        async with s.get(backend.url + "/api/queue") as r:
            assert r.status == 401
    async with aiohttp.ClientSession() as s:
        async with s.get(backend.url + "/healthz") as r:
            assert r.status == 200 and (await r.json())["database"] is True


async def test_queue_is_ordered_by_sla_due_time(backend):
    ids = await seed(backend, 8)
    _, token = await backend.add_operator("anna")
    async with client(token) as s:
        async with s.get(backend.url + "/api/queue") as r:
            page = await r.json()
    assert [row["id"] for row in page["rows"]] == ids
    dues = [row["sla_due_at"] for row in page["rows"]]
    assert dues == sorted(dues)
    assert page["total"] == len(ids)


async def test_claim_race_has_one_winner_and_the_loser_is_told_who(backend):
    ids = await seed(backend, 1)
    _, anna = await backend.add_operator("anna")
    _, ben = await backend.add_operator("ben")
    async with client(anna) as a, client(ben) as b:
        responses = await asyncio.gather(
            a.post(f"{backend.url}/api/conversations/{ids[0]}/claim"),
            b.post(f"{backend.url}/api/conversations/{ids[0]}/claim"),
        )
        statuses = sorted(r.status for r in responses)
        bodies = [await r.json() for r in responses]
    assert statuses == [200, 409]
    loser = next(body for body in bodies if "error" in body)
    winner = next(body for body in bodies if "error" not in body)
    assert loser["holder"]["id"] == winner["holder_id"]
    assert loser["holder"]["name"] in loser["error"]


async def test_reply_goes_through_the_outbox_and_is_published(backend):
    ids = await seed(backend, 1)
    _, token = await backend.add_operator("anna")
    async with client(token) as s:
        async with s.post(
            f"{backend.url}/api/conversations/{ids[0]}/reply", json={"text": "Hi!"}
        ) as r:
            assert r.status == 409
            assert "Claim" in (await r.json())["error"]
        await s.post(f"{backend.url}/api/conversations/{ids[0]}/claim")
        async with s.post(
            f"{backend.url}/api/conversations/{ids[0]}/reply",
            json={"text": "Sorry about that, Jo — we're on it."},
        ) as r:
            assert r.status == 201
            message_id = (await r.json())["message_id"]
        # Wait for the publish event on the live stream, not a timer.
        async with s.ws_connect(f"{backend.url}/api/stream?after=0") as ws:
            async for msg in ws:
                data = msg.json()
                if data["type"] == "event" and data["event"]["kind"] == "message.published":
                    assert data["event"]["data"]["message_id"] == message_id
                    break
        async with s.get(f"{backend.url}/api/conversations/{ids[0]}") as r:
            conv = await r.json()
    assert conv["state"] == "awaiting_customer"
    ours = [t for t in conv["thread"] if t["kind"] == "outbound"]
    assert ours[0]["status"] == "published" and ours[0]["platform_post_id"].startswith("sim-reply-")
    published = backend.app[SIMULATED].published
    assert [m.text for m, _, _ in published.values()] == ["Sorry about that, Jo — we're on it."]


async def test_bad_requests_get_clear_errors(backend):
    ids = await seed(backend, 1)
    _, token = await backend.add_operator("anna")
    async with client(token) as s:
        async with s.post(
            f"{backend.url}/api/conversations/{ids[0]}/reply", data=b"{not json"
        ) as r:
            assert r.status == 400 and "not valid JSON" in (await r.json())["error"]
        async with s.get(f"{backend.url}/api/queue?limit=abc") as r:
            assert r.status == 400 and "limit" in (await r.json())["error"]
        async with s.get(f"{backend.url}/api/queue?filter=nope") as r:
            assert r.status == 400 and "unknown filter" in (await r.json())["error"]
        async with s.get(f"{backend.url}/api/conversations/999999") as r:
            assert r.status == 404


async def test_stream_resumes_after_the_last_event_seen(backend):
    await seed(backend, 3)
    _, token = await backend.add_operator("anna")
    async with client(token) as s:
        async with s.get(f"{backend.url}/api/events?after=0") as r:
            all_events = (await r.json())["events"]
        middle = all_events[1]["id"]
        async with s.ws_connect(f"{backend.url}/api/stream?after={middle}") as ws:
            got = []
            async for msg in ws:
                data = msg.json()
                if data["type"] == "live":
                    break
                got.append(data["event"]["id"])
    assert got == [e["id"] for e in all_events if e["id"] > middle]


async def test_expired_lease_goes_back_to_the_queue_with_an_event(backend, db):
    from datetime import timedelta

    from backend.conversations.actions import expire_leases

    ids = await seed(backend, 1)
    _, token = await backend.add_operator("anna")
    async with client(token) as s:
        await s.post(f"{backend.url}/api/conversations/{ids[0]}/claim")
    later = backend.app[CLOCK].now() + timedelta(
        seconds=backend.app[CONFIG].claims.lease_seconds + 1
    )
    assert await expire_leases(db, later) == [ids[0]]
    row = await db.fetchrow("SELECT state, claimed_by FROM conversations WHERE id = $1", ids[0])
    assert row["state"] == "new" and row["claimed_by"] is None
    assert (
        await db.fetchval("SELECT kind FROM events ORDER BY id DESC LIMIT 1")
        == "conversation.lease_expired"
    )


async def test_deep_pages_match_the_forward_order(backend):
    ids = await seed(backend, 40)
    n = len(ids)
    _, token = await backend.add_operator("anna")
    async with client(token) as s:
        pages = []
        for offset in range(0, n, 7):
            async with s.get(f"{backend.url}/api/queue?offset={offset}&limit=7") as r:
                page = await r.json()
            assert page["total"] == n
            pages += [row["id"] for row in page["rows"]]
        async with s.get(f"{backend.url}/api/queue?offset={n + 5}&limit=7") as r:
            assert (await r.json())["rows"] == []
    assert pages == ids


async def test_the_conversation_carries_the_customers_context_and_rows_never_show_personal_data(
    backend,
):
    """Issue 14: profile facts, the first post's link, earlier conversations, media marks;
    personal data masked in the queue row as in the thread."""
    from datetime import timedelta

    from backend.model import Author, InboundPost

    svc = backend.services
    jo = Author("id-jo", "jo_k", "Jo K", 412)
    status = {
        "account": {
            "url": "https://social.example/@jo_k",
            "note": "<p>Baker, call 0151 2345 6789</p>",
            "followers_count": 412,
        },
        "media_attachments": [{"type": "image"}],
    }
    # An earlier conversation with us: in private, so the new public post opens another.
    old = InboundPost(
        "simulator", "p0", jo, "my first order was late", svc.clock.now(), is_direct=True
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [old])
        first = await conn.fetchval("SELECT id FROM conversations")
    post = InboundPost(
        "simulator",
        "p1",
        jo,
        "@acme parcel lost, call me on 0151 2345 6789",
        svc.clock.now() + timedelta(seconds=1),
        url="https://social.example/@jo_k/1",
        raw=status,
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])
        cid = await conn.fetchval("SELECT max(id) FROM conversations")
    _, token = await backend.add_operator("anna")
    async with client(token) as s:
        async with s.get(backend.url + "/api/queue?filter=open") as r:
            row = next(x for x in (await r.json())["rows"] if x["id"] == cid)
        async with s.get(f"{backend.url}/api/conversations/{cid}") as r:
            conv = await r.json()
    assert "2345 6789" not in row["latest_text"] and "parcel lost" in row["latest_text"]
    customer = conv["customer"]
    assert customer["profile_url"] == "https://social.example/@jo_k"
    assert customer["followers"] == 412 and customer["first_post_url"].endswith("/1")
    assert customer["bio"].startswith("Baker") and "2345 6789" not in customer["bio"]
    assert customer["earlier_total"] == 1
    assert [e["id"] for e in customer["earlier_conversations"]] == [first]
    assert "first order" in customer["earlier_conversations"][0]["text"]
    assert conv["thread"][-1]["media"] == ["image"]
