"""The Bluesky connector against a fake PDS/AppView/chat shaped by the lexicons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


# ---------------------------------------------------------------- addressing, facets, exactly once
# Peer: the lexicon-shaped fake (tests/fakes/bluesky.py) for all that follows.

QUEUED = datetime(2026, 11, 25, 8, 59, 30, 250000, tzinfo=UTC)


def to_jo(fake, key: str, text: str, **kw) -> OutboundMessage:
    jo = fake.account("jo.bsky.social")
    return OutboundMessage(
        idempotency_key=key,
        platform="bluesky",
        text=text,
        recipient=Author(platform_id=jo["did"], handle="jo.bsky.social"),
        created_at=QUEUED,
        **kw,
    )


def spans(record) -> list[tuple[str, str]]:
    raw = record["text"].encode("utf-8")
    return [
        (
            f["features"][0]["$type"].rsplit("#", 1)[1],
            raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(),
        )
        for f in record.get("facets", [])
    ]


async def test_a_reply_to_the_customers_post_addresses_them_by_its_reply_refs(fake, make):
    c = make()
    theirs = fake.post("jo.bsky.social", "@acme.bsky.social parcel lost")
    msg = to_jo(
        fake,
        "b-10",
        "Sorry Jo, see https://acme.example/track #AcmeHilfe",
        in_reply_to=theirs["uri"],
        reply_to_author_id=theirs["author"]["did"],
    )
    await c.publish(msg)
    record = fake.created[-1]["record"]
    assert record["text"] == msg.text  # no @ needed: the reply notifies its parent's author
    assert record["reply"]["parent"]["uri"] == theirs["uri"]
    assert spans(record) == [("link", "https://acme.example/track"), ("tag", "#AcmeHilfe")]
    assert record["createdAt"] == "2026-11-25T08:59:30.250Z"  # the time queued, every retry


async def test_anything_else_public_starts_with_a_mention_facet_of_the_customer(fake, make):
    c = make()
    fake.account("lena.bsky.social")
    msg = to_jo(fake, "b-11", "All fixed, Jo, thanks to @lena.bsky.social and @nobody.example")
    await c.publish(msg)
    record = fake.created[-1]["record"]
    assert record["text"].startswith("@jo.bsky.social All fixed") and "reply" not in record
    assert spans(record) == [("mention", "@jo.bsky.social"), ("mention", "@lena.bsky.social")]
    dids = [f["features"][0]["did"] for f in record["facets"]]
    assert dids == [
        fake.accounts["jo.bsky.social"]["did"],
        fake.accounts["lena.bsky.social"]["did"],
    ]
    # Someone else's post answered: the reply notifies them, so Jo still gets the @.
    other = fake.post("lena.bsky.social", "same here")
    await c.publish(
        to_jo(fake, "b-12", "Looking", in_reply_to=other["uri"], reply_to_author_id="did:x")
    )
    assert fake.created[-1]["record"]["text"] == "@jo.bsky.social Looking"


async def test_a_write_whose_answer_was_lost_is_not_published_twice(fake, make):
    c = make()
    msg = to_jo(fake, "b-13", "Thanks for waiting!")
    fake.lose_next_answer = True  # written, then 502
    first = await c.publish(msg)  # the failed answer is checked by reading the key back
    ours = [u for u, v in fake.posts.items() if v["author"]["did"] == fake.us["did"]]
    assert ours == [first.post_id] and first.post_id.endswith("/" + fake.created[0]["rkey"])
    # A crash before recording: the outbox's next attempt looks first (a new process
    # knows only the message), and a plain retry of the write meets the same key.
    assert await make().find_published(msg) == first
    assert await c.publish(msg) == first
    assert [b["rkey"] for b in fake.created] == [fake.created[0]["rkey"]] * 2
    assert len([v for v in fake.posts.values() if v["author"]["did"] == fake.us["did"]]) == 1


# ---------------------------------------------------------------- reasons, progress, windows


async def test_reply_and_quote_notifications_keep_their_reason_and_address_us(fake, make):
    c = make()
    cursor = (await c.poll({})).cursor
    ours = fake.post("acme.bsky.social", "@jo.bsky.social we're on it")
    reply = fake.post("jo.bsky.social", "still broken", reply_to=ours["uri"])
    quote = fake.post("max.bsky.social", "lol look at this", quote=ours["uri"])
    result = await c.poll(cursor)
    by_uri = {p.post_id: p for p in result.posts}
    assert by_uri[reply["uri"]].reason == "reply"
    assert by_uri[quote["uri"]].reason == "quote" and by_uri[quote["uri"]].quote_of == ours["uri"]
    for uri in (reply["uri"], quote["uri"]):
        assert "acme.bsky.social" in by_uri[uri].mentioned_handles
        assert not by_uri[uri].by_us


async def test_a_paging_cursor_that_does_not_move_ends_the_round(fake, make):
    c = make()
    cursor = (await c.poll({})).cursor
    fake.post("seed.bsky.social", "@acme.bsky.social first")
    cursor = (await c.poll(cursor)).cursor
    for i in range(8):
        fake.post(f"u{i}.bsky.social", f"@acme.bsky.social help {i}")
    fake.stuck_cursor = True
    before = len(fake.requests)
    result = await c.poll(cursor)
    calls = [r for r in fake.requests[before:] if "listNotifications" in r[1]]
    assert len(calls) == 2 and not result.more


async def test_a_post_indexed_late_below_the_high_water_mark_is_read_in_the_window(fake, make):
    c = make(reread_seconds=120)
    blind = make(reread_seconds=0)
    cursor = (await c.poll({})).cursor
    first = fake.post("jo.bsky.social", "@acme.bsky.social one")
    cursor = (await c.poll(cursor)).cursor
    late = fake.post(
        "max.bsky.social",
        "@acme.bsky.social two",
        indexed_at=datetime.fromisoformat(first["indexedAt"]) - timedelta(seconds=30),
    )
    assert late["uri"] not in {p.post_id for p in (await blind.poll(cursor)).posts}
    assert late["uri"] in {p.post_id for p in (await c.poll(cursor)).posts}


async def test_replies_below_a_post_we_found_are_read_though_nothing_notifies_us(fake, make):
    """The AppView notifies us of replies below our own posts only (checked against
    dev-env in test_peer_bluesky): a customer adding to their own complaint, or
    someone answering them, comes only from reading the complaint's replies."""
    c = make(watch_posts=2)
    cursor = (await c.poll({})).cursor
    complaint = fake.post("jo.bsky.social", "@acme.bsky.social parcel lost")
    first = await c.poll(cursor)
    assert [p.post_id for p in first.posts] == [complaint["uri"]]
    assert list(first.cursor["watch"]) == [complaint["uri"]]
    addendum = fake.post("jo.bsky.social", "order 4411", reply_to=complaint["uri"])
    assert not any(n["uri"] == addendum["uri"] for n in fake.notifications)
    second = await c.poll(first.cursor)
    assert [p.post_id for p in second.posts] == [addendum["uri"]]
    assert second.posts[0].in_reply_to == complaint["uri"]
    # Read once; the addendum is watched in turn, the oldest drop out past watch_posts.
    third = await c.poll(second.cursor)
    assert third.posts == []
    assert set(third.cursor["watch"]) == {complaint["uri"], addendum["uri"]}
    threads = [p for m, p, h in fake.requests if "getPostThread" in p]
    assert len(threads) == 1 + 1 + 2  # the addendum is read from the round after it came
    assert (await make(watch_posts=0).poll(first.cursor)).cursor["watch"] == {}
