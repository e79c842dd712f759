"""The shared-shift workflow over real HTTP: DM, resolve, checks at send time, roles, bulk, presence."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from backend.model import Author, InboundPost


class Api:
    """A tiny HTTP client for one operator."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body) as r:
            data = await r.json(content_type=None) if r.status != 204 else None
            return r.status, data

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.call("POST", path, body if body is not None else {})

    async def get(self, path: str) -> tuple[int, Any]:
        return await self.call("GET", path)

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def team(backend):
    anna_op, anna = await backend.add_operator("anna")
    ben_op, ben = await backend.add_operator("ben")
    lea_op, lea = await backend.add_operator("lea", role="lead")
    apis = {
        "anna": Api(backend.url, anna),
        "ben": Api(backend.url, ben),
        "lea": Api(backend.url, lea),
    }
    ids = {"anna": anna_op.id, "ben": ben_op.id, "lea": lea_op.id}
    yield apis, ids
    for api in apis.values():
        await api.close()


async def mention(
    backend, text: str, pid: str = "p1", handle: str = "jo_k", name: str = "Jo Kamara", **kw: Any
) -> int:
    svc = backend.services
    post = InboundPost(
        "simulator", pid, Author(f"id-{handle}", handle, name, 50), text, svc.clock.now(), **kw
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])
        return await conn.fetchval("SELECT conversation_id FROM mentions WHERE post_id = $1", pid)


async def published(backend, n: int) -> list:
    """Wait for the outbox to publish n messages, driven by its own wake-ups (no sleeps)."""
    svc = backend.services
    for _ in range(200):
        if len(svc.simulated.published) >= n:
            break
        await svc.outbox.publish_due()
        await asyncio.sleep(0)
    return [m for m, _, _ in svc.simulated.published.values()]


async def last_events(backend, cid: int) -> list[dict]:
    rows = await backend.pool.fetch(
        "SELECT kind, operator_id, state_before, state_after, data FROM events WHERE conversation_id = $1 ORDER BY id",
        cid,
    )
    return [dict(r) for r in rows]


GOOD_PUBLIC = "Hi Jo, sorry about the trouble with your order. We'll look into it right away."


async def test_move_to_dm_queues_public_ack_and_dm_together_and_keeps_the_claim(backend, team):
    apis, ids = team
    cid = await mention(backend, "@acme my order is missing and I was charged twice")
    anna = apis["anna"]
    assert (await anna.post(f"/api/conversations/{cid}/claim"))[0] == 200
    status, body = await anna.post(
        f"/api/conversations/{cid}/move-to-dm",
        {
            "public_text": "Sorry Jo, that's not right. We've sent you a DM so we can look at your account.",
            "dm_text": "Hi Jo, could you send us your order number here? We'll sort out the double charge.",
            "confirm": True,
        },
    )
    assert status == 201, body
    assert len(body["message_ids"]) == 2
    msgs = await published(backend, 2)
    assert [m.is_direct for m in msgs] == [False, True]
    assert msgs[0].in_reply_to == "p1"
    assert msgs[1].recipient.handle == "jo_k"
    status, conv = await anna.get(f"/api/conversations/{cid}")
    assert conv["state"] == "in_dm" and conv["holder"]["name"] == "Anna"
    purposes = [t["purpose"] for t in conv["thread"] if t["kind"] == "outbound"]
    assert purposes == ["dm_ack", "dm"]
    assert await backend.pool.fetchval(
        "SELECT owes_public_close FROM conversations WHERE id = $1", cid
    )


async def test_move_to_dm_without_public_acknowledgement_is_refused(backend, team):
    apis, _ = team
    cid = await mention(backend, "@acme help with my account")
    await apis["anna"].post(f"/api/conversations/{cid}/claim")
    status, body = await apis["anna"].post(
        f"/api/conversations/{cid}/move-to-dm",
        {"public_text": " ", "dm_text": "Hi Jo, DM us please"},
    )
    assert status == 422 and "public acknowledgement" in body["error"]
    assert await backend.pool.fetchval("SELECT count(*) FROM messages") == 0


async def test_resolve_needs_closing_text_and_a_later_post_reopens(backend, team):
    apis, _ = team
    cid = await mention(backend, "@acme where is my parcel")
    anna = apis["anna"]
    await anna.post(f"/api/conversations/{cid}/claim")
    status, body = await anna.post(f"/api/conversations/{cid}/resolve", {"text": ""})
    assert status == 422 and "closing" in body["error"]
    status, body = await anna.post(
        f"/api/conversations/{cid}/resolve",
        {"text": "Glad the parcel arrived, Jo! Thanks for your patience.", "confirm": True},
    )
    assert status == 201, body
    assert (await anna.get(f"/api/conversations/{cid}"))[1]["state"] == "resolved"
    await mention(backend, "@acme it's broken already", pid="p2")
    conv = (await anna.get(f"/api/conversations/{cid}"))[1]
    assert conv["state"] == "new" and conv["sla_due_at"] is not None
    assert "conversation.reopened" in [e["kind"] for e in await last_events(backend, cid)]


async def test_personal_data_in_a_public_reply_is_refused_but_allowed_in_dm(backend, team):
    apis, _ = team
    cid = await mention(backend, "@acme refund please")
    anna = apis["anna"]
    await anna.post(f"/api/conversations/{cid}/claim")
    status, body = await anna.post(
        f"/api/conversations/{cid}/reply",
        {"text": "Hi Jo, we refunded it to DE89 3704 0044 0532 0130 00 today.", "confirm": True},
    )
    assert status == 422
    assert body["findings"][0]["check"] == "personal_data"
    assert "IBAN" in body["error"]
    assert await backend.pool.fetchval("SELECT count(*) FROM messages") == 0
    status, body = await anna.post(
        f"/api/conversations/{cid}/move-to-dm",
        {
            "public_text": "Hi Jo, sorry for the wait. We've sent you a DM with the details.",
            "dm_text": "Hi Jo, the refund went to DE89 3704 0044 0532 0130 00 today.",
            "confirm": True,
        },
    )
    assert status == 201, body


async def test_advisories_need_confirmation_and_the_choice_is_recorded(backend, team):
    apis, _ = team
    cid = await mention(backend, "@acme this is the worst service ever, I am furious")
    anna = apis["anna"]
    await anna.post(f"/api/conversations/{cid}/claim")
    defensive = "As we already said, that's not our fault."
    status, body = await anna.post(f"/api/conversations/{cid}/reply", {"text": defensive})
    assert status == 409 and body["needs_confirmation"] is True
    checks = {f["check"] for f in body["findings"]}
    assert "defensive" in checks
    status, body = await anna.post(
        f"/api/conversations/{cid}/reply", {"text": defensive, "confirm": True}
    )
    assert status == 201
    waived = await backend.pool.fetchval(
        "SELECT advisories FROM messages WHERE id = $1", body["message_id"]
    )
    assert "defensive" in {f["check"] for f in waived}


async def test_advise_returns_findings_for_the_composer(backend, team):
    apis, _ = team
    cid = await mention(backend, "@acme furious, my order is gone")
    status, body = await apis["anna"].post(
        "/api/advise",
        {"text": "YOU SHOULD HAVE READ THE FAQ", "channel": "public", "conversation_id": cid},
    )
    assert status == 200
    assert {"shouting", "defensive"} <= {f["check"] for f in body["findings"]}


async def test_another_operators_conversation_is_403_and_lead_can_reassign(backend, team):
    apis, ids = team
    cid = await mention(backend, "@acme app crashes")
    await apis["anna"].post(f"/api/conversations/{cid}/claim")
    status, body = await apis["ben"].post(f"/api/conversations/{cid}/reply", {"text": GOOD_PUBLIC})
    assert status == 403 and "Anna" in body["error"]
    status, body = await apis["ben"].post(
        f"/api/conversations/{cid}/reassign", {"operator_id": ids["ben"]}
    )
    assert status == 403
    status, body = await apis["ben"].post(f"/api/conversations/{cid}/force-release")
    assert status == 403
    status, body = await apis["lea"].post(
        f"/api/conversations/{cid}/reassign", {"operator_id": ids["ben"]}
    )
    assert status == 200 and body["holder_id"] == ids["ben"]
    status, body = await apis["lea"].post(f"/api/conversations/{cid}/force-release")
    assert status == 200 and body["holder_id"] is None and body["state"] == "new"
    kinds = [e["kind"] for e in await last_events(backend, cid)]
    assert kinds[-2:] == ["conversation.reassigned", "conversation.force_released"]


async def test_dismiss_notes_tags_escalate(backend, team):
    apis, _ = team
    cid = await mention(backend, "@acme win a free iphone click here")
    anna = apis["anna"]
    assert (await anna.post(f"/api/conversations/{cid}/dismiss", {"reason": "boring"}))[0] == 422
    assert (
        await anna.post(
            f"/api/conversations/{cid}/notes",
            {"text": "Spam wave from new accounts", "pinned": True},
        )
    )[0] == 201
    assert (await anna.post(f"/api/conversations/{cid}/tags", {"tag": "  Spam  Wave "}))[0] == 201
    assert (await anna.post(f"/api/conversations/{cid}/escalate", {"reason": ""}))[0] == 422
    assert (await anna.post(f"/api/conversations/{cid}/escalate", {"reason": "many of these"}))[
        0
    ] == 200
    conv = (await anna.get(f"/api/conversations/{cid}"))[1]
    assert conv["tags"] == ["spam wave"] and conv["escalated"] is True
    assert conv["notes"][0]["pinned"] is True
    assert (await anna.call("DELETE", f"/api/conversations/{cid}/tags/spam%20wave"))[0] == 200
    assert (await anna.post(f"/api/conversations/{cid}/dismiss", {"reason": "spam"}))[0] == 200
    assert (await anna.get(f"/api/conversations/{cid}"))[1]["state"] == "dismissed"
    events = await last_events(backend, cid)
    dismissed = events[-1]
    assert dismissed["kind"] == "conversation.dismissed"
    assert dismissed["state_before"] == "new" and dismissed["state_after"] == "dismissed"
    assert dismissed["data"]["reason"] == "spam"
    assert {"note.added", "tag.added", "tag.removed", "conversation.escalated"} <= {
        e["kind"] for e in events
    }


async def test_house_rules_answer_for_an_abusive_post(backend, team):
    apis, _ = team
    cid = await mention(backend, "@acme you fucking idiots")
    anna = apis["anna"]
    conv = (await anna.get(f"/api/conversations/{cid}"))[1]
    assert conv["state"] == "flagged_conduct" and conv["sla_due_at"] is None
    await anna.post(f"/api/conversations/{cid}/claim")
    status, body = await anna.post(f"/api/conversations/{cid}/house-rules", {})
    assert status == 201, body
    msgs = await published(backend, 1)
    assert msgs[0].in_reply_to == "p1" and len(msgs[0].text) > 20
    assert (await anna.get(f"/api/conversations/{cid}"))[1]["state"] == "awaiting_customer"


async def test_bulk_tag_release_and_assign(backend, team):
    apis, ids = team
    cids = [
        await mention(backend, f"@acme issue {i}", pid=f"b{i}", handle=f"user{i}") for i in range(3)
    ]
    anna, lea = apis["anna"], apis["lea"]
    for cid in cids[:2]:
        await anna.post(f"/api/conversations/{cid}/claim")
    status, body = await anna.post("/api/bulk", {"action": "tag", "ids": cids, "tag": "outage"})
    assert status == 200 and all(r["ok"] for r in body["results"])
    status, body = await anna.post("/api/bulk", {"action": "release", "ids": cids})
    assert [r["ok"] for r in body["results"]] == [True, True, False]
    assert "Claim" in body["results"][2]["error"]
    status, body = await anna.post(
        "/api/bulk", {"action": "assign", "ids": cids, "operator_id": ids["ben"]}
    )
    assert status == 403
    status, body = await lea.post(
        "/api/bulk", {"action": "assign", "ids": cids, "operator_id": ids["ben"]}
    )
    assert all(r["ok"] for r in body["results"])
    status, page = await apis["ben"].get("/api/queue?filter=mine")
    assert sorted(r["id"] for r in page["rows"]) == sorted(cids)
    assert all(r["tags"] == ["outage"] for r in page["rows"])


async def test_presence_reaches_other_consoles_and_is_not_stored(backend, team):
    apis, ids = team
    cid = await mention(backend, "@acme hello")
    async with apis["ben"].session.ws_connect(f"{backend.url}/api/stream") as ws:
        async for msg in ws:
            if msg.json()["type"] == "live":
                break
        assert (await apis["anna"].post("/api/presence", {"conversation_id": cid, "typing": True}))[
            0
        ] == 204
        async for msg in ws:
            data = msg.json()
            if data["type"] == "presence" and data["operator"]["id"] == ids["anna"]:
                assert data["conversation_id"] == cid and data["typing"] is True
                break
    online = (await apis["lea"].get("/api/summary"))[1]["online"]
    assert ids["anna"] in {o["id"] for o in online}
    assert (
        await backend.pool.fetchval("SELECT count(*) FROM events WHERE kind LIKE 'presence%'") == 0
    )


async def test_fifty_operators_claim_next_on_500_conversations(backend):
    svc = backend.services
    posts = [
        InboundPost(
            "simulator",
            f"c{i}",
            Author(f"id-{i}", f"cust{i}", f"Cust {i}", 1),
            f"@acme problem number {i}",
            svc.clock.now(),
        )
        for i in range(500)
    ]
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, posts)
    tokens = [(await backend.add_operator(f"op{i}"))[1] for i in range(50)]
    claimed: list[tuple[int, int]] = []

    async def work(i: int, token: str) -> None:
        api = Api(backend.url, token)
        try:
            while True:
                status, body = await api.post("/api/claim-next")
                if status == 404:
                    return
                assert status == 200, body
                claimed.append((body["id"], i))
        finally:
            await api.close()

    await asyncio.gather(*(work(i, t) for i, t in enumerate(tokens)))
    ids = [cid for cid, _ in claimed]
    assert len(ids) == 500 and len(set(ids)) == 500  # none twice, none lost
    assert len({op for _, op in claimed}) > 1
    held = await svc.pool.fetchval("SELECT count(*) FROM conversations WHERE state = 'claimed'")
    assert held == 500


ENDPOINTS = [
    ("GET", "/api/me"),
    ("GET", "/api/summary"),
    ("GET", "/api/operators"),
    ("GET", "/api/templates"),
    ("GET", "/api/queue"),
    ("POST", "/api/claim-next"),
    ("POST", "/api/advise"),
    ("POST", "/api/bulk"),
    ("POST", "/api/presence"),
    ("GET", "/api/conversations/{id}"),
    ("POST", "/api/conversations/{id}/claim"),
    ("POST", "/api/conversations/{id}/release"),
    ("POST", "/api/conversations/{id}/heartbeat"),
    ("POST", "/api/conversations/{id}/reply"),
    ("POST", "/api/conversations/{id}/move-to-dm"),
    ("POST", "/api/conversations/{id}/dm"),
    ("POST", "/api/conversations/{id}/resolve"),
    ("POST", "/api/conversations/{id}/house-rules"),
    ("POST", "/api/conversations/{id}/dismiss"),
    ("POST", "/api/conversations/{id}/escalate"),
    ("POST", "/api/conversations/{id}/notes"),
    ("POST", "/api/conversations/{id}/tags"),
    ("DELETE", "/api/conversations/{id}/tags/{tag}"),
    ("POST", "/api/conversations/{id}/reassign"),
    ("POST", "/api/conversations/{id}/force-release"),
    ("GET", "/api/events"),
    ("GET", "/api/stream"),
    ("POST", "/api/shift/start"),
    ("POST", "/api/shift/end"),
    ("GET", "/api/handover"),
    ("GET", "/api/handover/latest"),
    ("GET", "/api/crisis/groups"),
    ("POST", "/api/crisis/holding-statement"),
]


async def test_every_endpoint_refuses_missing_and_revoked_tokens(backend, team):
    from backend import operators
    from backend.web.guard import AUTH_GUARD

    # This test sends many refused tokens on purpose: past the guard's limit it would
    # answer 429 (tests/test_access.py checks that) instead of the 401 checked here.
    backend.app[AUTH_GUARD].limit = 1_000
    apis, _ = team
    cid = await mention(backend, "@acme hi")
    _, token = await backend.add_operator("gone")
    await operators.revoke(backend.pool, "gone")
    async with (
        aiohttp.ClientSession() as anon,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as revoked,
    ):
        for method, path in ENDPOINTS:
            url = backend.url + path.format(id=cid, tag="x")
            for session in (anon, revoked):
                async with session.request(method, url, json={}) as r:
                    assert r.status == 401, (method, path, r.status)
                    assert "token" in (await r.json())["error"]


async def test_leads_find_escalated_conversations(backend, team):
    apis, _ = team
    cid = await mention(backend, "@acme my account was hacked")
    await mention(backend, "@acme thanks!", pid="p9", handle="happy")
    assert (
        await apis["anna"].post(f"/api/conversations/{cid}/escalate", {"reason": "possible fraud"})
    )[0] == 200
    status, page = await apis["lea"].get("/api/queue?filter=escalated")
    assert status == 200 and [r["id"] for r in page["rows"]] == [cid]
