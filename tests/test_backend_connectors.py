"""Mastodon and Bluesky connectors running inside the backend, against the fake
platforms over real HTTP, on a real PostgreSQL: mentions land with their
cursor, restarts neither lose nor repeat, 429/5xx lose nothing, replies go out
through the outbox, and a customer's answer to our reply joins the conversation."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from backend.config import DEFAULT_CONFIG, load_config
from backend.ingest.pollers import POLLERS
from backend.yamlfile import FileErrors
from tests.conftest import start_backend
from tests.fakes import serve
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import FakeMastodon

MASTODON_TOKEN = "s3cret-mastodon-token"
BLUESKY_PASSWORD = "s3cret-app-password"
ENV = {
    "SHIFTDESK_MASTODON_TOKEN": MASTODON_TOKEN,
    "SHIFTDESK_BLUESKY_APP_PASSWORD": BLUESKY_PASSWORD,
}


@pytest_asyncio.fixture(loop_scope="function")
async def mastodon():
    server = FakeMastodon(token=MASTODON_TOKEN)
    async with serve(server.app()) as url:
        server.url = url
        yield server


@pytest_asyncio.fixture(loop_scope="function")
async def bluesky():
    server = FakeBluesky(password=BLUESKY_PASSWORD)
    async with serve(server.app()) as url:
        server.url = url
        yield server


def config_for(
    tmp_path: Path, *, mastodon: FakeMastodon | None = None, bluesky: FakeBluesky | None = None
):
    """The shipped config plus a file that points the connectors at the fakes."""
    text = "connectors:\n"
    if mastodon is not None:
        text += (
            f"  mastodon:\n    enabled: true\n    base_url: {mastodon.url}\n    account: acme\n"
            "    token_env: SHIFTDESK_MASTODON_TOKEN\n    page_limit: 2\n    timeout_s: 2\n"
            "    poll_interval_seconds: 0.05\n"
            # These tests are about polling; streaming has tests of its own.
            "    streaming: false\n"
        )
    if bluesky is not None:
        text += (
            f"  bluesky:\n    enabled: true\n    service_url: {bluesky.url}\n"
            "    identifier: acme.bsky.social\n    password_env: SHIFTDESK_BLUESKY_APP_PASSWORD\n"
            "    page_limit: 2\n    timeout_s: 2\n    poll_interval_seconds: 0.05\n"
        )
    path = tmp_path / "fakes.yaml"
    path.write_text(text)
    return load_config([DEFAULT_CONFIG, path], env={})


async def rounds(backend, name: str, n: int = 1) -> None:
    """Wait for `n` more committed polls of connector `name`."""
    status = backend.app[POLLERS][name]
    target = status.rounds + n
    await asyncio.wait_for(status.wait_until(lambda s: s.rounds >= target), 10)


async def stored(backend, name: str, n: int) -> None:
    status = backend.app[POLLERS][name]
    await asyncio.wait_for(status.wait_until(lambda s: s.stored >= n), 10)


async def next_event(sub, kind: str) -> dict:
    seen = []
    while True:
        try:
            event = await asyncio.wait_for(sub.queue.get(), 10)
        except TimeoutError:
            raise AssertionError(f"no {kind} event; saw {seen}") from None
        if event and event.get("type") == "event" and event["event"]["kind"] == kind:
            return event["event"]
        seen.append(event["event"]["kind"] if event and event.get("type") == "event" else event)


async def test_mastodon_mentions_are_stored_with_their_cursor_and_a_restart_neither_loses_nor_repeats(
    db_url, tmp_path, mastodon
):
    config = config_for(tmp_path, mastodon=mastodon)
    backend = await start_backend(config, db_url, env=ENV)
    try:
        await rounds(backend, "mastodon")  # listening has started
        posted = [mastodon.post(f"user{i}", f"@acme my order {i} is late") for i in range(5)]
        mastodon.post("bystander", "nothing about anyone")
        await stored(backend, "mastodon", 5)  # three pages of two
        pool = backend.pool
        cursor = await pool.fetchval(
            "SELECT cursor FROM connector_state WHERE connector = 'mastodon:acme'"
        )
        assert cursor["notifications"] == mastodon.notifications[-1]["id"]
    finally:
        await backend.runner.cleanup()

    # While the backend is down, two more customers write.
    later = [mastodon.post(f"late{i}", f"@acme still waiting {i}") for i in range(2)]
    seen_before = len(mastodon.requests)
    backend = await start_backend(config, db_url, env=ENV)
    try:
        await stored(backend, "mastodon", 2)
        await rounds(backend, "mastodon")
        pool = backend.pool
        rows = await pool.fetch(
            "SELECT post_id FROM mentions WHERE platform = 'mastodon' ORDER BY post_id"
        )
        assert sorted(r["post_id"] for r in rows) == sorted(s["id"] for s in posted + later)
        assert backend.app[POLLERS]["mastodon"].stored == 2  # nothing stored a second time
        # The restarted poller asked from the committed cursor, not from the start.
        first = next(
            path
            for _, path in mastodon.requests[seen_before:]
            if path.startswith("/api/v1/notifications")
        )
        assert f"min_id={cursor['notifications']}" in first
    finally:
        await backend.runner.cleanup()


async def test_rate_limits_and_server_errors_lose_no_mention(db_url, tmp_path, mastodon):
    backend = await start_backend(config_for(tmp_path, mastodon=mastodon), db_url, env=ENV)
    try:
        await rounds(backend, "mastodon")
        reset = datetime.now(UTC) + timedelta(seconds=0.2)
        mastodon.rate_limit("/api/v1/notifications", reset)
        mastodon.fail("/api/v1/notifications", 503)
        mastodon.malformed("/api/v1/notifications", "<html>gateway</html>")
        posted = [mastodon.post(f"user{i}", f"@acme help {i}") for i in range(3)]
        await stored(backend, "mastodon", 3)
        assert not mastodon.faults.pending  # every fault was served
        ids = {r["post_id"] for r in await backend.pool.fetch("SELECT post_id FROM mentions")}
        assert ids == {s["id"] for s in posted}
    finally:
        await backend.runner.cleanup()


async def test_reply_is_published_to_mastodon_and_the_customers_answer_joins_the_conversation(
    db_url, tmp_path, mastodon
):
    backend = await start_backend(config_for(tmp_path, mastodon=mastodon), db_url, env=ENV)
    try:
        svc = backend.services
        await rounds(backend, "mastodon")
        mention = mastodon.post("jo_k", "@acme your app ate my order")
        await stored(backend, "mastodon", 1)
        conv = await svc.pool.fetchval(
            "SELECT conversation_id FROM mentions WHERE post_id = $1", mention["id"]
        )
        _, token = await backend.add_operator("anna")
        sub = svc.hub.subscribe()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            async with s.post(f"{backend.url}/api/conversations/{conv}/claim") as r:
                assert r.status == 200
            async with s.post(
                f"{backend.url}/api/conversations/{conv}/reply",
                json={"text": "Hi jo_k, sorry about that. Which order number is it?"},
            ) as r:
                assert r.status == 201, await r.text()
        published = await next_event(sub, "message.published")
        key = await svc.pool.fetchval("SELECT idempotency_key FROM outbox")
        sent = mastodon.published[-1]
        assert sent["in_reply_to_id"] == mention["id"] and sent["Idempotency-Key"] == key
        ours = published["data"]["platform_post_id"]
        assert mastodon.statuses[ours]["in_reply_to_id"] == mention["id"]

        # Jo answers our reply (and, separately, sends a DM): the answer joins the
        # conversation and goes back to the operator who replied; the DM threads apart.
        answer = mastodon.post("jo_k", "@acme it's 4711", in_reply_to_id=ours)
        dm = mastodon.post("jo_k", "@acme my address is in here", visibility="direct")
        before = svc.pollers["mastodon"].stored
        await stored(backend, "mastodon", before + 2)
        rows = {
            r["post_id"]: r
            for r in await svc.pool.fetch("SELECT post_id, conversation_id FROM mentions")
        }
        assert rows[answer["id"]]["conversation_id"] == conv
        assert rows[dm["id"]]["conversation_id"] != conv
        state, holder = await svc.pool.fetchrow(
            "SELECT state, claimed_by FROM conversations WHERE id = $1", conv
        )
        assert (state, holder is not None) == ("claimed", True)
        assert await svc.pool.fetchval(
            "SELECT is_direct FROM conversations WHERE id = $1", rows[dm["id"]]["conversation_id"]
        )
    finally:
        await backend.runner.cleanup()


async def test_bluesky_mentions_and_thread_replies_with_cursor_across_a_restart(
    db_url, tmp_path, bluesky
):
    config = config_for(tmp_path, bluesky=bluesky)
    backend = await start_backend(config, db_url, env=ENV)
    try:
        await rounds(backend, "bluesky")
        first = bluesky.post("lena.bsky.social", "@acme.bsky.social the app is down again")
        follow = bluesky.post(
            "lena.bsky.social", "@acme.bsky.social hello?? still down", reply_to=first["uri"]
        )
        other = bluesky.post("max.bsky.social", "@acme.bsky.social where is my parcel")
        await stored(backend, "bluesky", 3)
        cursor = await backend.pool.fetchval(
            "SELECT cursor FROM connector_state WHERE connector = 'bluesky:acme.bsky.social'"
        )
        seen_at = datetime.fromisoformat(cursor["notifications"]["seen_at"])
        assert seen_at == datetime.fromisoformat(other["indexedAt"])
    finally:
        await backend.runner.cleanup()

    late = bluesky.post("lena.bsky.social", "@acme.bsky.social anyone?", reply_to=follow["uri"])
    backend = await start_backend(config, db_url, env=ENV)
    try:
        await stored(backend, "bluesky", 1)
        await rounds(backend, "bluesky")
        pool = backend.pool
        rows = {
            r["post_id"]: r["conversation_id"]
            for r in await pool.fetch("SELECT post_id, conversation_id FROM mentions")
        }
        assert set(rows) == {first["uri"], follow["uri"], other["uri"], late["uri"]}
        # Lena's thread is one conversation; Max has his own.
        assert rows[first["uri"]] == rows[follow["uri"]] == rows[late["uri"]] != rows[other["uri"]]
        assert backend.app[POLLERS]["bluesky"].stored == 1
    finally:
        await backend.runner.cleanup()


async def test_a_failing_poller_is_restarted_and_its_log_never_shows_the_token(
    db_url, tmp_path, mastodon, caplog
):
    mastodon.token = "a-different-token"  # the platform refuses ours: 401 on every poll
    caplog.set_level(logging.WARNING)
    backend = await start_backend(config_for(tmp_path, mastodon=mastodon), db_url, env=ENV)
    try:
        status = backend.app[POLLERS]["mastodon"]
        await asyncio.wait_for(status.wait_until(lambda s: s.restarts >= 1), 10)
        assert "refused with 401" in (status.last_error or "")
        assert any("mastodon:acme poller stopped" in r.getMessage() for r in caplog.records)
        assert MASTODON_TOKEN not in caplog.text
        assert backend.app[POLLERS]["mastodon"].rounds == 0
    finally:
        await backend.runner.cleanup()


async def test_an_enabled_connector_without_its_token_stops_start_up_naming_the_key(
    db_url, tmp_path, mastodon
):
    with pytest.raises(FileErrors) as err:
        await start_backend(config_for(tmp_path, mastodon=mastodon), db_url, env={})
    assert "connectors.mastodon.token_env" in str(err.value)
    assert "SHIFTDESK_MASTODON_TOKEN is not set" in str(err.value)
