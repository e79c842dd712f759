"""The Mastodon connector against a fake server built from recorded exchanges."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from backend.clock import FrozenClock
from backend.connectors.backoff import Backoff, run_poller
from backend.connectors.base import PermanentError, RateLimited, TransientError
from backend.connectors.mastodon import (
    MastodonConfig,
    MastodonConnector,
    html_to_text,
    parse_link_header,
    read_config,
    status_to_post,
)
from backend.model import Author, OutboundMessage
from backend.yamlfile import FileErrors, parse
from tests.fakes import serve
from tests.fakes.mastodon import FakeMastodon, recorded

TOKEN = "s3cret-mastodon-token"
ENV = {"SHIFTDESK_MASTODON_TOKEN": TOKEN}


# The fake must run on the test's own event loop (fixtures default to the session loop).
@pytest_asyncio.fixture(loop_scope="function")
async def fake():
    server = FakeMastodon(token=TOKEN)
    async with serve(server.app()) as url:
        server.url = url
        yield server


def connector(fake, clock=None, **overrides) -> MastodonConnector:
    cfg = MastodonConfig(
        base_url=fake.url,
        account="acme",
        token_env="SHIFTDESK_MASTODON_TOKEN",
        # No re-read window unless a test asks: replays then return nothing at all.
        **{"page_limit": 3, "timeout_s": 2.0, "reread_seconds": 0, **overrides},
    )
    return MastodonConnector(cfg, clock or FrozenClock(), env=ENV)


# ---------------------------------------------------------------- pure mapping


def test_recorded_mention_maps_to_inbound_post():
    page, headers = recorded("test_notifications_mentions_only", 1)
    post = status_to_post(page[0]["status"])
    assert post.post_id == "117020577157693549"
    assert post.author.handle == "admin" and post.author.platform_id == "117020565693913441"
    assert post.author.followers == 1
    assert post.text == "@mastodonpy_test hello!"
    assert post.mentioned_handles == ("mastodonpy_test",)
    assert post.created_at == datetime(2026, 8, 1, 13, 51, 42, 823000, tzinfo=UTC)
    assert post.language == "en" and post.url.endswith("/@admin/117020577157693549")
    assert post.raw["id"] == post.post_id
    # The recorded Link header parses into both directions.
    links = parse_link_header(headers["link"][0])
    assert links["prev"].endswith("min_id=21&types%5B%5D=mention")


def test_recorded_direct_and_reply_and_hashtag_statuses():
    dm = status_to_post(recorded("test_conversations", 1)[0])
    assert dm.is_direct and dm.text == "@admin ilu bby ;3"
    reply = status_to_post(recorded("test_status_reply", 2)[0])
    assert reply.in_reply_to == "117020583245459824" and not reply.is_direct
    tagged = status_to_post(recorded("test_hashtag_tl", 2)[0][0])
    assert tagged.hashtags == ("hoot",) and tagged.text == "#hoot (hashtag toot)"


def test_html_to_text_keeps_line_breaks_and_unescapes():
    assert (
        html_to_text("<p>a &amp; b<br />c</p><p>&lt;d&gt; &#39;e&#39;</p>") == "a & b\nc\n\n<d> 'e'"
    )


def test_config_errors_name_the_key_and_line():
    doc = parse(
        "connectors:\n  mastodon:\n    base_url: ftp://x\n    account: acme\n"
        "    token_env: my token\n    hashtag: [acme]\n",
        "config/shiftdesk.yaml",
    )
    with pytest.raises(FileErrors) as err:
        read_config(doc)
    text = str(err.value)
    assert (
        "config/shiftdesk.yaml:3: connectors.mastodon.base_url: expected an http(s):// URL" in text
    )
    assert "config/shiftdesk.yaml:5: connectors.mastodon.token_env: expected the NAME" in text
    assert "config/shiftdesk.yaml:6: connectors.mastodon.hashtag: unknown setting" in text
    ok = read_config(
        parse(
            "connectors:\n  mastodon:\n    base_url: https://m.example/\n    account: '@acme'\n"
            "    token_env: T\n    hashtags: ['#AcmeFail']\n    search_terms: [Acme Bank]\n"
        )
    )
    assert (
        ok.base_url == "https://m.example" and ok.account == "acme" and ok.hashtags == ("AcmeFail",)
    )


def test_missing_token_names_the_variable_not_a_value(fake):
    cfg = MastodonConfig(base_url="http://x", account="acme", token_env="SHIFTDESK_MASTODON_TOKEN")
    with pytest.raises(PermanentError, match="SHIFTDESK_MASTODON_TOKEN is not set"):
        MastodonConnector(cfg, FrozenClock(), env={})


# ---------------------------------------------------------------- listening


async def test_pagination_collects_every_page_and_replay_returns_nothing_new(fake):
    c = connector(fake)
    try:
        first = await c.poll({})
        assert first.posts == [] and first.cursor["notifications"] == "0"
        for i in range(8):  # 8 mentions, page size 3: three pages
            fake.post(f"user{i}", f"@acme order {i} is late")
        fake.post("bystander", "nothing to see")
        # The first poll with no cursor only took the newest page: start from it.
        start = await c.poll({})
        result = await c.poll(first.cursor)  # the cursor committed before the burst
        assert sorted(p.text for p in result.posts) == sorted(
            f"@acme order {i} is late" for i in range(8)
        )
        assert not result.more
        assert len([r for r in fake.requests if r[1].startswith("/api/v1/notifications?")]) >= 3 + 2
        again = await c.poll(result.cursor)
        assert again.posts == [] and again.cursor == result.cursor
        assert len(start.posts) == 3  # newest page only, when no cursor yet
    finally:
        await c.close()


async def test_page_bound_leaves_rest_for_next_poll_without_losing_any(fake):
    c = connector(fake, max_pages=2)
    try:
        for i in range(10):
            fake.post(f"user{i}", f"@acme help {i}")
        first = await c.poll({"notifications": "0"})
        assert len(first.posts) == 6 and first.more
        second = await c.poll(first.cursor)
        assert len(second.posts) == 4 and not second.more
        assert {p.post_id for p in first.posts}.isdisjoint(p.post_id for p in second.posts)
    finally:
        await c.close()


async def test_hashtags_and_search_terms_are_followed(fake):
    c = connector(fake, hashtags=("AcmeFail",), search_terms=("acme bank",))
    try:
        cursor = (await c.poll({})).cursor
        tagged = fake.post("lena", "app down again #acmefail")
        named = fake.post("max", "Acme Bank lost my card")
        both = fake.post("jo", "@acme Acme Bank #AcmeFail twice")
        result = await c.poll(cursor)
        ids = [p.post_id for p in result.posts]
        assert sorted(ids) == sorted([tagged["id"], named["id"], both["id"]])  # each once
        assert (await c.poll(result.cursor)).posts == []
    finally:
        await c.close()


async def test_search_cut_short_backfills_on_next_poll(fake):
    c = connector(fake, search_terms=("acme",), max_pages=1)
    fake.post("seed", "acme before we started listening")
    try:
        cursor = (await c.poll({})).cursor
        assert cursor["search"]["acme"]["since"] is not None
        made = {fake.post(f"u{i}", f"acme thing {i}")["id"] for i in range(5)}
        first = await c.poll(cursor)
        assert first.more and "backfill" in first.cursor["search"]["acme"]
        second = await c.poll(first.cursor)
        third = await c.poll(second.cursor)
        seen = [p.post_id for r in (first, second, third) for p in r.posts]
        assert sorted(seen) == sorted(made) and not third.more
        assert (await c.poll(third.cursor)).posts == []
    finally:
        await c.close()


async def test_429_becomes_rate_limited_at_the_reset_time(fake):
    c = connector(fake)
    reset = datetime(2026, 8, 1, 15, 0, 0, 869078, tzinfo=UTC)
    fake.rate_limit("/api/v1/notifications", reset)
    try:
        with pytest.raises(RateLimited) as err:
            await c.poll({})
        assert err.value.retry_at == reset
    finally:
        await c.close()


async def test_retry_after_used_when_no_reset_header(fake):
    clock = FrozenClock()
    c = connector(fake, clock)
    fake.fail(
        "/api/v1/notifications", 429, headers={"Retry-After": "30"}, body='{"error":"slow down"}'
    )
    try:
        with pytest.raises(RateLimited) as err:
            await c.poll({})
        assert (err.value.retry_at - clock.now()).total_seconds() == 30
    finally:
        await c.close()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient_and_name_the_url(fake, status):
    c = connector(fake)
    fake.fail("/api/v1/notifications", status, body="<html>oops</html>")
    try:
        with pytest.raises(
            TransientError, match=rf"GET http://127\.0\.0\.1:\d+/api/v1/notifications\?.*{status}"
        ):
            await c.poll({})
    finally:
        await c.close()


async def test_timeout_is_transient(fake):
    c = connector(fake, timeout_s=0.2)
    fake.slow("/api/v1/notifications", 2.0)
    try:
        with pytest.raises(TransientError, match="no answer within 0.2 s"):
            await c.poll({})
    finally:
        await c.close()


@pytest.mark.parametrize(
    "body, what",
    [
        ('[{"id": "1", "type": "ment', "not JSON"),
        ('{"error": "not a list"}', "expected a list, got dict"),
        ('[{"id": "30", "type": "mention", "status": {"id": "5"}}]', "item 0: missing 'account'"),
    ],
)
async def test_malformed_page_is_transient_and_says_what(fake, body, what):
    c = connector(fake)
    fake.malformed("/api/v1/notifications", body)
    try:
        with pytest.raises(TransientError, match=what):
            await c.poll({})
    finally:
        await c.close()


async def test_bad_token_is_permanent_and_never_printed(fake):
    cfg = MastodonConfig(base_url=fake.url, account="acme", token_env="T")
    c = MastodonConnector(cfg, FrozenClock(), env={"T": "wrong-token-value"})
    try:
        with pytest.raises(PermanentError) as err:
            await c.poll({})
        assert err.value.status == 401 and "access token is invalid" in str(err.value)
        assert "wrong-token-value" not in str(err.value) + repr(err.value) + repr(c) + repr(
            c._token
        )
    finally:
        await c.close()


# ---------------------------------------------------------------- publishing


async def test_public_reply_carries_in_reply_to_id_and_idempotency_key(fake):
    c = connector(fake)
    theirs = fake.post("jo_k", "@acme your app ate my order")
    msg = OutboundMessage(
        idempotency_key="out-1",
        platform="mastodon",
        text="@jo_k Sorry, Jo. Looking now.",
        in_reply_to=theirs["id"],
    )
    try:
        published = await c.publish(msg)
        sent = fake.published[-1]
        assert sent["in_reply_to_id"] == theirs["id"] and sent["visibility"] == "public"
        assert sent["Idempotency-Key"] == "out-1"
        assert fake.statuses[published.post_id]["in_reply_to_id"] == theirs["id"]
        assert published.url.endswith(published.post_id)
    finally:
        await c.close()


async def test_repeat_with_same_idempotency_key_returns_same_status(fake):
    c = connector(fake)
    msg = OutboundMessage(idempotency_key="out-2", platform="mastodon", text="Thanks for waiting!")
    try:
        one = await c.publish(msg)
        two = await c.publish(msg)  # the answer to the first was "lost"
        assert one == two
        assert len(fake.published) == 2
        assert sum(1 for s in fake.statuses.values() if s["account"]["acct"] == "acme") == 1
    finally:
        await c.close()


async def test_dm_is_direct_and_starts_with_the_recipient(fake):
    c = connector(fake)
    msg = OutboundMessage(
        idempotency_key="out-3",
        platform="mastodon",
        text="Could you send your order number?",
        is_direct=True,
        recipient=Author(platform_id="9", handle="jo_k"),
    )
    try:
        published = await c.publish(msg)
        sent = fake.published[-1]
        assert sent["visibility"] == "direct" and sent["status"].startswith("@jo_k ")
        assert fake.statuses[published.post_id]["mentions"][0]["acct"] == "jo_k"
        # Already addressed: not addressed twice.
        await c.publish(
            OutboundMessage(
                idempotency_key="out-4",
                platform="mastodon",
                text="@jo_k hi",
                is_direct=True,
                recipient=Author(platform_id="9", handle="jo_k"),
            )
        )
        assert fake.published[-1]["status"] == "@jo_k hi"
    finally:
        await c.close()


async def test_rejected_text_is_permanent(fake):
    c = connector(fake)
    try:
        with pytest.raises(PermanentError, match="422: Validation failed: Text can't be blank"):
            await c.publish(OutboundMessage(idempotency_key="out-5", platform="mastodon", text=" "))
    finally:
        await c.close()


async def test_find_published_finds_our_reply_after_a_crash(fake):
    c = connector(fake)
    theirs = fake.post("jo_k", "@acme where is my parcel")
    msg = OutboundMessage(
        idempotency_key="out-6",
        platform="mastodon",
        text="@jo_k On its way & tracked!",
        in_reply_to=theirs["id"],
    )
    try:
        assert await c.find_published(msg) is None
        published = await c.publish(msg)
        assert await c.find_published(msg) == published
        other = OutboundMessage(
            idempotency_key="out-7", platform="mastodon", text="@jo_k On its way & tracked!"
        )
        assert await c.find_published(other) is None  # same text, different reply target
    finally:
        await c.close()


async def test_run_poller_over_real_http_stores_each_mention_once(fake):
    clock = FrozenClock()
    c = connector(fake, clock)
    committed: dict = {"cursor": {"notifications": "0"}}
    stored: list[str] = []
    sleeps: list[float] = []
    stop = asyncio.Event()
    for i in range(5):
        fake.post(f"user{i}", f"@acme {i}")
    fake.fail("/api/v1/notifications", 503)
    fake.rate_limit("/api/v1/notifications", clock.now() + timedelta(seconds=90))

    async def store(posts, cursor):
        stored.extend(p.post_id for p in posts)
        committed["cursor"] = cursor

    async def load():
        return committed["cursor"]

    async def sleep(seconds):
        sleeps.append(seconds)
        clock.advance(seconds=seconds)  # time passes while the poller waits
        if len(sleeps) == 3:
            fake.post("late", "@acme late one")
        if len(sleeps) == 4:
            stop.set()

    try:
        await run_poller(
            c,
            load,
            store,
            clock,
            sleep,
            interval=10.0,
            backoff=Backoff(2.0, 60.0, random.Random(3)),
            stop=stop,
        )
    finally:
        await c.close()
    # The rate-limit wait ends at the reset time, 90 s after the start.
    assert 2.0 <= sleeps[0] <= 60.0 and sleeps[0] + sleeps[1] == 90.0 and sleeps[2:] == [10.0, 10.0]
    assert len(stored) == len(set(stored)) == 6


# ---------------------------------------------------------------- addressing, exactly once
# Peer: the recorded-traffic fake (tests/fakes/mastodon.py) for all that follows.


@pytest.mark.parametrize(
    "handle, text, sent",
    [
        ("jo_k", "Sorry, Jo. Looking now.", "@jo_k Sorry, Jo. Looking now."),
        ("dave@remote.example", "Sorry, Dave!", "@dave@remote.example Sorry, Dave!"),
        ("jo_k", "Thanks @jo_k, fixed.", "Thanks @jo_k, fixed."),
    ],
)
async def test_every_public_status_mentions_the_customer_and_carries_an_idempotency_key(
    fake, handle, text, sent
):
    c = connector(fake)
    theirs = fake.post("jo_k", "@acme your app ate my order")
    msg = OutboundMessage(
        idempotency_key=f"out-{handle}",
        platform="mastodon",
        text=text,
        in_reply_to=theirs["id"],
        recipient=Author(platform_id="9", handle=handle),
    )
    try:
        published = await c.publish(msg)
        assert fake.published[-1]["status"] == sent
        assert fake.published[-1]["Idempotency-Key"] == f"out-{handle}"
        # find_published compares what was really sent, address included.
        assert await c.find_published(msg) == published
    finally:
        await c.close()


async def test_every_status_post_has_an_idempotency_key(fake):
    c = connector(fake)
    jo = Author(platform_id="9", handle="jo_k")
    try:
        for i, direct in enumerate([False, True, False]):
            await c.publish(
                OutboundMessage(f"key-{i}", "mastodon", f"text {i}", is_direct=direct, recipient=jo)
            )
        posts = [r for r in fake.requests if r == ("POST", "/api/v1/statuses")]
        assert len(posts) == len(fake.published) == 3
        assert [p["Idempotency-Key"] for p in fake.published] == ["key-0", "key-1", "key-2"]
    finally:
        await c.close()


# ---------------------------------------------------------------- progress, bounds, pacing


async def test_a_search_whose_page_cursor_does_not_move_ends_the_round(fake):
    """The server answers every search with its newest page, whatever max_id says:
    the round stops at the repeat instead of spending its requests on it."""
    fake.search_ignores_paging = True
    c = connector(fake, search_terms=("acme bank",), page_limit=2)
    try:
        cursor = (await c.poll({})).cursor
        new = [fake.post(f"u{i}", f"Acme Bank ate card {i}") for i in range(5)]
        before = len(fake.requests)
        result = await c.poll(cursor)
        searches = [r for r in fake.requests[before:] if r[1].startswith("/api/v2/search")]
        assert len(searches) == 2 and not result.more  # one page, one repeat: done
        assert {p.post_id for p in result.posts} == {new[-1]["id"], new[-2]["id"]}
        again = await c.poll(result.cursor)
        assert again.posts == [] and not again.more
    finally:
        await c.close()


async def test_a_round_makes_at_most_max_requests(fake):
    c = connector(fake, hashtags=("a", "b", "c"), search_terms=("x",), max_requests=3)
    try:
        cursor = (await c.poll({})).cursor  # identifies us too
        before = len(fake.requests)
        result = await c.poll(cursor)
        assert len(fake.requests) - before == 3
        assert result.more  # the rest next round, straight away
    finally:
        await c.close()


async def test_rate_limit_headers_pace_the_next_request(fake):
    clock = FrozenClock()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds=seconds)

    cfg = MastodonConfig(
        base_url=fake.url,
        account="acme",
        token_env="SHIFTDESK_MASTODON_TOKEN",
        page_limit=3,
        reread_seconds=0,
        hashtags=("acmefail",),
    )
    c = MastodonConnector(cfg, clock, env=ENV, sleep=sleep)
    try:
        # 2 requests left of 300 for the next 6 s: spread them, 2 s apart.
        fake.rate_limit_remaining = "2"
        fake.rate_limit_reset = clock.now() + timedelta(seconds=6)
        await c.poll({})
        assert sleeps and all(s == pytest.approx(2.0, abs=0.01) for s in sleeps[:1])
        # None left and the reset far away: the round is told to wait (RateLimited), not sent.
        fake.rate_limit_remaining = "0"
        fake.rate_limit_reset = clock.now() + timedelta(minutes=5)
        with pytest.raises(RateLimited) as limited:
            await c.poll({})
        sent = len(fake.requests)
        with pytest.raises(RateLimited):
            await c.poll({})
        assert len(fake.requests) == sent  # held back without asking the server
        assert limited.value.retry_at == fake.rate_limit_reset
    finally:
        await c.close()


async def test_a_late_status_below_the_high_water_mark_is_read_in_the_window(fake):
    """A remote status posted with a slow clock gets an id older than ones we have read."""
    c = connector(fake, hashtags=("acmefail",), reread_seconds=120)
    blind = connector(fake, hashtags=("acmefail",), reread_seconds=0)
    try:
        first = fake.post("lena", "app down #acmefail")
        cursor = (await c.poll({})).cursor
        assert cursor["tags"]["acmefail"] == first["id"]
        late_id = str(int(first["id"]) - (5_000 << 16))  # written 5 s "before" the first
        late = fake.post("remote_max", "me too #acmefail", status_id=late_id)
        assert late["id"] not in {p.post_id for p in (await blind.poll(cursor)).posts}
        result = await c.poll(cursor)
        assert late["id"] in {p.post_id for p in result.posts}
        assert result.cursor["tags"]["acmefail"] == first["id"]  # the high-water mark stays
    finally:
        await c.close()
        await blind.close()
