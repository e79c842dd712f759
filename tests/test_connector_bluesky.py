"""The Bluesky connector against a fake PDS/AppView/chat shaped by the lexicons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_asyncio

from backend.clock import FrozenClock
from backend.connectors.base import PermanentError, RateLimited, TransientError
from backend.connectors.bluesky import (
    CHAT_PROXY,
    BlueskyConfig,
    BlueskyConnector,
    post_to_inbound,
    read_config,
)
from backend.model import Author, OutboundMessage
from backend.yamlfile import FileError, parse
from tests.fakes import serve
from tests.fakes.bluesky import FakeBluesky

PASSWORD = "app-pass-secret-9"
ENV = {"SHIFTDESK_BLUESKY_PASSWORD": PASSWORD}


# The fake must run on the test's own event loop (fixtures default to the session loop).
@pytest_asyncio.fixture(loop_scope="function")
async def fake():
    server = FakeBluesky(password=PASSWORD)
    async with serve(server.app()) as url:
        server.url = url
        yield server


@pytest_asyncio.fixture(loop_scope="function")
async def make(fake):
    made = []

    def build(**overrides) -> BlueskyConnector:
        cfg = BlueskyConfig(
            service_url=fake.url,
            identifier="acme.bsky.social",
            password_env="SHIFTDESK_BLUESKY_PASSWORD",
            # No re-read window unless a test asks: replays then return nothing at all.
            **{"page_limit": 3, "timeout_s": 2.0, "reread_seconds": 0, **overrides},
        )
        c = BlueskyConnector(cfg, FrozenClock(), env=ENV)
        made.append(c)
        return c

    yield build
    for c in made:
        await c.close()


def test_post_view_maps_refs_facets_and_keeps_cid():
    fake = FakeBluesky()
    root = fake.post("jo.bsky.social", "@acme.bsky.social my order 🚚 #acmefail")
    reply = fake.post("lena.bsky.social", "same here", reply_to=root["uri"])
    post = post_to_inbound(root)
    assert post.mentioned_handles == ("acme.bsky.social",) and post.hashtags == ("acmefail",)
    assert post.post_id.startswith("at://did:plc:") and post.raw["cid"] == root["cid"]
    assert (
        post.url == f"https://bsky.app/profile/jo.bsky.social/post/{root['uri'].rsplit('/', 1)[1]}"
    )
    assert post.created_at.tzinfo is not None and post.language == "en"
    threaded = post_to_inbound(reply)
    assert threaded.in_reply_to == root["uri"] and threaded.thread_root == root["uri"]


def test_config_requires_password_env_name():
    doc = parse(
        "connectors:\n  bluesky:\n    service_url: https://bsky.social\n    identifier: acme\n",
        "config/shiftdesk.yaml",
    )
    with pytest.raises(
        FileError, match=r"config/shiftdesk.yaml:2: connectors.bluesky.password_env: missing"
    ):
        read_config(doc)


async def test_notifications_and_searches_collected_and_replay_is_empty(fake, make):
    c = make(search_terms=("acme bank",), hashtags=("AcmeFail",))
    first = await c.poll({})
    assert first.posts == []
    fake.post("seed.bsky.social", "acme bank seed #acmefail")  # gives the searches a starting point
    cursor = (await c.poll({})).cursor
    mentions = [fake.post(f"u{i}.bsky.social", f"@acme.bsky.social help {i}") for i in range(7)]
    named = fake.post("max.bsky.social", "Acme Bank lost my card")
    tagged = fake.post("lena.bsky.social", "down again #AcmeFail")
    fake.post("other.bsky.social", "nothing relevant")
    result = await c.poll(cursor)
    assert sorted(p.post_id for p in result.posts) == sorted(
        [m["uri"] for m in mentions] + [named["uri"], tagged["uri"]]
    )
    assert not result.more
    again = await c.poll(result.cursor)
    assert again.posts == []
    # Chat-free listening calls never carry the chat proxy header.
    assert all("atproto-proxy" not in h for m, p, h in fake.requests if "notification" in p)


async def test_same_instant_posts_are_not_lost_or_repeated(fake, make):
    c = make()
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    a = fake.post("a.bsky.social", "@acme.bsky.social one", at=at)
    cursor = (await c.poll({})).cursor
    b = fake.post("b.bsky.social", "@acme.bsky.social two", at=at)  # same indexedAt as a
    result = await c.poll(cursor)
    assert [p.post_id for p in result.posts] == [b["uri"]]
    assert a["uri"] in result.cursor["notifications"]["uris"]


async def test_backlog_past_page_bound_is_backfilled_next_poll(fake, make):
    c = make(max_pages=2)
    fake.post("seed.bsky.social", "@acme.bsky.social first")
    cursor = (await c.poll({})).cursor
    made = {fake.post(f"u{i}.bsky.social", f"@acme.bsky.social {i}")["uri"] for i in range(10)}
    first = await c.poll(cursor)
    assert first.more and len(first.posts) == 6
    fake.post("late.bsky.social", "@acme.bsky.social arrived meanwhile")
    second = await c.poll(first.cursor)
    third = await c.poll(second.cursor)
    got = [p.post_id for r in (first, second, third) for p in r.posts]
    assert set(got) >= made and len(got) == len(set(got)) == 11
    assert (await c.poll(third.cursor)).posts == []


async def test_expired_session_is_refreshed_and_the_call_retried(fake, make):
    c = make()
    await c.poll({})
    fake.expire_sessions()
    fake.post("jo.bsky.social", "@acme.bsky.social hello?")
    await c.poll({})
    assert fake.refreshes == 1 and fake.logins == 1


async def test_wrong_password_is_permanent_and_never_printed(fake):
    cfg = BlueskyConfig(service_url=fake.url, identifier="acme.bsky.social", password_env="P")
    c = BlueskyConnector(cfg, FrozenClock(), env={"P": "not-the-password"})
    try:
        with pytest.raises(PermanentError) as err:
            await c.poll({})
        assert "Invalid identifier or password" in str(err.value)
        assert "not-the-password" not in str(err.value) + repr(c) + repr(c._password)
    finally:
        await c.close()


async def test_429_becomes_rate_limited_at_reset_epoch(fake, make):
    c = make()
    fake.rate_limit("app.bsky.notification.listNotifications", 1_795_000_000)
    with pytest.raises(RateLimited) as err:
        await c.poll({})
    assert err.value.retry_at == datetime.fromtimestamp(1_795_000_000, tz=UTC)


@pytest.mark.parametrize("fault", ["5xx", "slow", "not json", "no list", "bad item"])
async def test_server_trouble_is_transient(fake, make, fault):
    c = make(timeout_s=0.2)
    nsid = "app.bsky.notification.listNotifications"
    {
        "5xx": lambda: fake.fail(nsid, 502),
        "slow": lambda: fake.slow(nsid, 2.0),
        "not json": lambda: fake.malformed(nsid, "<html>gateway</html>"),
        "no list": lambda: fake.malformed(nsid, '{"cursor": "x"}'),
        "bad item": lambda: fake.malformed(
            nsid,
            '{"notifications": [{"uri": "at://x", "reason": "mention",'
            ' "indexedAt": "2026-11-25T09:00:00Z"}]}',
        ),
    }[fault]()
    expected = {
        "5xx": "server error 502",
        "slow": "no answer within 0.2 s",
        "not json": "not JSON",
        "no list": "expected an object with a notifications list",
        "bad item": "item 0: missing 'record'",
    }
    with pytest.raises(TransientError, match=expected[fault]) as err:
        await c.poll({})
    assert "listNotifications" in str(err.value)


async def test_reply_carries_root_and_parent_strong_refs(fake, make):
    c = make()
    root = fake.post("jo.bsky.social", "@acme.bsky.social parcel lost")
    parent = fake.post("jo.bsky.social", "still nothing", reply_to=root["uri"])
    # thread_root unknown to the caller: taken from the parent's own reply ref.
    msg = OutboundMessage(
        idempotency_key="b-1",
        platform="bluesky",
        text="Sorry Jo, checking now.",
        in_reply_to=parent["uri"],
    )
    published = await c.publish(msg)
    record = fake.created[-1]["record"]
    assert record["reply"] == {
        "root": {"uri": root["uri"], "cid": root["cid"]},
        "parent": {"uri": parent["uri"], "cid": parent["cid"]},
    }
    assert record["$type"] == "app.bsky.feed.post" and record["createdAt"].endswith("Z")
    assert fake.posts[published.post_id]["record"]["text"] == "Sorry Jo, checking now."
    assert published.url.startswith("https://bsky.app/profile/acme.bsky.social/post/")


async def test_reply_to_deleted_post_is_permanent(fake, make):
    c = make()
    with pytest.raises(PermanentError, match="is gone"):
        await c.publish(
            OutboundMessage(
                idempotency_key="b-2",
                platform="bluesky",
                text="hi",
                in_reply_to="at://did:plc:nobody/app.bsky.feed.post/3lgone",
            )
        )


async def test_find_published_finds_our_reply_after_a_crash(fake, make):
    c = make()
    theirs = fake.post("jo.bsky.social", "@acme.bsky.social where is it")
    msg = OutboundMessage(
        idempotency_key="b-3", platform="bluesky", text="On its way!", in_reply_to=theirs["uri"]
    )
    assert await c.find_published(msg) is None
    published = await c.publish(msg)
    # A new process (the crash) knows nothing but the message.
    after_restart = make()
    assert await after_restart.find_published(msg) == published
    elsewhere = OutboundMessage(idempotency_key="b-4", platform="bluesky", text="On its way!")
    assert await after_restart.find_published(elsewhere) is None


async def test_dm_goes_through_chat_with_proxy_header_and_is_found_again(fake, make):
    c = make()
    jo = fake.account("jo.bsky.social")
    msg = OutboundMessage(
        idempotency_key="b-5",
        platform="bluesky",
        text="Could you DM your order number?",
        is_direct=True,
        recipient=Author(platform_id=jo["did"], handle="jo.bsky.social"),
    )
    published = await c.publish(msg)
    chat_calls = [(p, h) for m, p, h in fake.requests if "/xrpc/chat." in p]
    assert [p.split("?")[0] for p, h in chat_calls] == [
        "/xrpc/chat.bsky.convo.getConvoForMembers",
        "/xrpc/chat.bsky.convo.sendMessage",
    ]
    assert all(h.get("atproto-proxy") == CHAT_PROXY for p, h in chat_calls)
    sent = fake.sent_messages[-1]
    assert sent["message"] == {"text": "Could you DM your order number?"} and sent[
        "convoId"
    ].startswith("convo-")
    assert await make().find_published(msg) == published
