"""End to end against an independently written Mastodon server.

Peer: mastodon-mock (PyPI `mastodon-mock`, a FastAPI implementation of the
Mastodon REST API run by its own `MockServer` on a loopback port, in a thread
of this process) with Mastodon.py as the customer's client. Our side: the real
`shiftdesk serve` process (tests.processes.BackendProcess) on its own
PostgreSQL database, its Mastodon connector polling the mock and its outbox
publishing to it. Nothing here is a fake of ours.

What mastodon-mock cannot do is tested against the recorded-traffic fake
(tests/fakes/mastodon.py) instead: search paging that ignores max_id, rate
limits, statuses arriving late with older ids (test_connector_mastodon).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from backend import operators
from tests.processes import BackendProcess, until

mock_testing = pytest.importorskip("mastodon_mock.testing")
mock_config = pytest.importorskip("mastodon_mock.config")
pytest.importorskip("mastodon")

pytestmark = pytest.mark.e2e

TOKENS = {"acme": "acme-token", "jo": "jo-token", "max": "max-token"}
ENV = {
    "SHIFTDESK_MASTODON_TOKEN": TOKENS["acme"],
    "SHIFTDESK_WEBHOOK_SIMULATOR_SECRET": "webhook-secret",
}
DAVE_POST = "@acme my parcel never came #acmefail"  # written by a remote customer


@pytest.fixture
def peer():
    seed = mock_config.SeedConfig(
        accounts=[
            mock_config.SeedAccount(username=name, display_name=name.title(), access_token=token)
            for name, token in TOKENS.items()
        ]
        # A customer on another server: @dave@remote.example.
        + [mock_config.SeedAccount(username="dave", display_name="Dave", domain="remote.example")],
        statuses=[mock_config.SeedStatus(account="dave", text=DAVE_POST)],
    )
    with mock_testing.MockServer(seed=seed) as server:
        yield server


def config_file(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "peer.yaml"
    path.write_text(
        "connectors:\n"
        "  mastodon:\n"
        "    enabled: true\n"
        f"    base_url: {base_url}\n"
        "    account: acme\n"
        "    token_env: SHIFTDESK_MASTODON_TOKEN\n"
        "    hashtags: [acmefail]\n"
        "    search_terms: [Acme]\n"
        "    page_limit: 20\n"
        "    timeout_s: 5\n"
        "    poll_interval_seconds: 0.2\n"
    )
    return path


class Console:
    """What an operator's console sends: the backend's HTTP API with a token."""

    def __init__(self, url: str, token: str):
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with aiohttp.ClientSession(headers=self.headers) as s:
            async with s.post(self.url + path, json=body or {}) as r:
                out = await r.json()
                assert r.status in (200, 201), (path, r.status, out)
                return out

    async def get(self, path: str) -> dict[str, Any]:
        async with aiohttp.ClientSession(headers=self.headers) as s:
            async with s.get(self.url + path) as r:
                assert r.status == 200, (path, r.status)
                return await r.json()


async def test_a_customer_is_answered_on_mastodon_and_hears_it(peer, db_url, tmp_path):
    jo = peer.client("jo")  # Mastodon.py, logged in as the customer
    db = await asyncpg.connect(db_url)
    backend = BackendProcess(
        db_url,
        config_files=[config_file(tmp_path, peer.base_url)],
        env=ENV,
        log_path=tmp_path / "serve.log",
    )
    try:
        _, token = await operators.add(db, "anna", "Anna", "operator")
        console = Console(backend.url, token)
        mention = await asyncio.to_thread(jo.status_post, "@acme my order never arrived")
        await backend.start()

        async def stored(post_id: Any) -> int | None:
            return await db.fetchval(
                "SELECT conversation_id FROM mentions WHERE platform = 'mastodon' AND post_id = $1",
                str(post_id),
            )

        cid = await until(lambda: stored(mention.id), "the customer's mention stored")
        conversation = await console.get(f"/api/conversations/{cid}")
        assert conversation["address"] == "@jo"  # what the composer can show

        # -- a public reply: the customer is notified, our post is not taken for theirs
        await console.post(f"/api/conversations/{cid}/claim")
        await console.post(
            f"/api/conversations/{cid}/reply",
            {"text": "Sorry to hear that, Jo! Acme support is on it. #acmefail", "confirm": True},
        )
        reply_id = await until(
            lambda: db.fetchval(
                "SELECT platform_post_id FROM messages WHERE purpose = 'reply' "
                "AND status = 'published'"
            ),
            "our reply published",
        )
        seen = await asyncio.to_thread(jo.notifications)
        ours = [n for n in seen if n.type == "mention" and str(n.status.id) == reply_id]
        assert len(ours) == 1, [(n.type, n.status and n.status.content) for n in seen]
        assert ours[0].status.content.startswith("<p>@jo Sorry to hear that")
        assert str(ours[0].status.in_reply_to_id) == str(mention.id)

        # -- the customer answers our reply the way clients do (status_reply adds @acme),
        #    and someone else answers it without tagging us: both join the conversation
        answer = await asyncio.to_thread(
            jo.status_reply, await asyncio.to_thread(jo.status, reply_id), "thanks, waiting"
        )
        max_ = peer.client("max")
        aside = await asyncio.to_thread(
            max_.status_post, "same for me #acmefail", in_reply_to_id=reply_id
        )
        assert "@acme" not in aside.content
        assert await until(lambda: stored(answer.id), "the customer's answer stored") == cid
        assert await until(lambda: stored(aside.id), "the untagged reply stored") == cid
        # Our reply came back through the hashtag timeline and the name search in those
        # same rounds: it is the outbox's message, never an inbound mention.
        assert await stored(reply_id) is None
        assert await db.fetchval("SELECT count(*) FROM mentions WHERE post_id = $1", reply_id) == 0

        # -- move to DM: the DM goes out only after Mastodon accepted the acknowledgement
        await console.post(f"/api/conversations/{cid}/claim")
        await console.post(
            f"/api/conversations/{cid}/move-to-dm",
            {
                "public_text": "Jo, let's sort this out in a direct message.",
                "dm_text": "Hi Jo, could you send us your order reference?",
                "confirm": True,
            },
        )
        rows = await until(
            lambda: _published(db, cid, ("dm_ack", "dm")), "the acknowledgement and the DM"
        )
        ack, dm = rows["dm_ack"], rows["dm"]
        assert ack["published_at"] <= dm["published_at"]
        # The mock numbers statuses in the order it accepted them.
        assert int(ack["platform_post_id"]) < int(dm["platform_post_id"])
        seen = await asyncio.to_thread(jo.notifications)
        by_id = {str(n.status.id): n.status for n in seen if n.status is not None}
        assert by_id[ack["platform_post_id"]].visibility == "public"
        assert by_id[dm["platform_post_id"]].visibility == "direct"
        assert by_id[dm["platform_post_id"]].content.startswith("<p>@jo Hi Jo")

        # -- a customer on another server is addressed by their full acct
        dave = await until(
            lambda: db.fetchval(
                "SELECT m.conversation_id FROM mentions m JOIN authors a ON a.id = m.author_id "
                "WHERE a.handle = 'dave@remote.example'"
            ),
            "the remote customer's post stored",
        )
        await console.post(f"/api/conversations/{dave}/claim")
        await console.post(
            f"/api/conversations/{dave}/reply",
            {"text": "Sorry, Dave! We're checking your parcel.", "confirm": True},
        )
        dave_reply = await until(
            lambda: db.fetchval(
                "SELECT platform_post_id FROM messages WHERE conversation_id = $1 "
                "AND status = 'published'",
                dave,
            ),
            "the reply to the remote customer published",
        )
        status = await asyncio.to_thread(jo.status, dave_reply)
        assert status.content.startswith("<p>@dave@remote.example Sorry, Dave!")
        assert [m.acct for m in status.mentions] == ["dave@remote.example"]
        log = backend.log()
        assert TOKENS["acme"] not in log
    finally:
        backend.stop()
        await db.close()


async def test_start_up_stops_when_the_token_is_another_accounts(peer, db_url, tmp_path):
    """Config says @acme; the token is @max's: serve exits, naming both."""
    backend = BackendProcess(
        db_url,
        config_files=[config_file(tmp_path, peer.base_url)],
        env={**ENV, "SHIFTDESK_MASTODON_TOKEN": TOKENS["max"]},
        log_path=tmp_path / "serve.log",
    )
    try:
        with pytest.raises(AssertionError, match="backend exited with 2"):
            await backend.start(timeout=30)
        assert "configured for @acme but the token logs in as @max" in backend.log()
    finally:
        backend.stop()


async def _published(db: asyncpg.Connection, cid: int, purposes: tuple[str, ...]) -> Any:
    rows = await db.fetch(
        "SELECT purpose, platform_post_id, published_at FROM messages "
        "WHERE conversation_id = $1 AND status = 'published' AND purpose = ANY($2::text[])",
        cid,
        list(purposes),
    )
    found = {r["purpose"]: r for r in rows}
    return found if len(found) == len(purposes) else None
