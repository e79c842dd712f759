"""Mastodon's streaming API: the recorded events parsed and mapped, the
connector against the fake's streams over HTTP, and the backend streaming
with a catch-up poll after every (re)connect and polling while it cannot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from backend.clock import FrozenClock
from backend.config import DEFAULT_CONFIG, load_config
from backend.connectors.base import PermanentError, TransientError
from backend.connectors.mastodon import MastodonConfig, MastodonConnector
from backend.connectors.own import Identity
from backend.connectors.sse import SseParser
from backend.ingest.pollers import POLLERS
from tests.conftest import start_backend
from tests.fakes import serve
from tests.fakes.mastodon import DATA, FakeMastodon
from tests.processes import until

TOKEN = "s3cret-mastodon-token"
ENV = {"SHIFTDESK_MASTODON_TOKEN": TOKEN}


def recorded_stream() -> str:
    doc = yaml.safe_load((DATA / "test_stream_user_direct.yaml").read_text(encoding="utf-8"))
    exchange = doc["interactions"][12]
    assert exchange["request"]["uri"].endswith("/api/v1/streaming/user")
    return exchange["response"]["body"]["string"]


def parse_all(body: str) -> tuple[list, SseParser]:
    parser = SseParser()
    events = [e for line in body.split("\n") if (e := parser.feed(line))]
    return events, parser


# ---------------------------------------------------------------- pure


def test_the_recorded_user_stream_parses_into_its_events():
    events, parser = parse_all(recorded_stream())
    assert [e.name for e in events] == [
        "update",
        "notification",
        "update",
        "notification",
        "status.update",
        "delete",
    ]
    assert events[-1].data == "117024236332527350"
    assert parser.comments >= 1  # the opening ":)"


def test_sse_joins_data_lines_and_drops_events_without_data():
    parser = SseParser()
    lines = [":thump", "event: x", "data: a", "data:b", "", "event: empty", "", "data: c", ""]
    events = [e for line in lines if (e := parser.feed(line + "\r\n"))]
    assert [(e.name, e.data) for e in events] == [("x", "a\nb"), ("message", "c")]


def test_only_mention_notifications_become_posts_on_the_user_stream():
    events, _ = parse_all(recorded_stream())
    us = Identity("mastodon", "117020617404561855", "mastodonpy_test")
    posts = [MastodonConnector._streamed_post(e, True, us, "u") for e in events]
    kept = [(e.name, p.post_id) for e, p in zip(events, posts) if p is not None]
    # Home timeline updates, the edit and the delete bring nothing; both mentions do.
    assert [name for name, _ in kept] == ["notification", "notification"]
    assert all(p is None or p.platform == "mastodon" for p in posts)


def test_a_malformed_stream_event_is_a_transient_error_naming_the_stream():
    from backend.connectors.sse import Event

    us = Identity("mastodon", "1", "acme")
    with pytest.raises(TransientError, match="malformed notification event"):
        MastodonConnector._streamed_post(
            Event("notification", '{"type": "mention"}'), True, us, "http://x/api/v1/streaming/user"
        )


# ---------------------------------------------------------------- the connector over HTTP


@pytest_asyncio.fixture(loop_scope="function")
async def fake():
    server = FakeMastodon(token=TOKEN)
    async with serve(server.app()) as url:
        server.url = url
        yield server


def connector(fake: FakeMastodon, **overrides) -> MastodonConnector:
    cfg = MastodonConfig(
        base_url=fake.url,
        account="acme",
        token_env="SHIFTDESK_MASTODON_TOKEN",
        **{"timeout_s": 2.0, "reread_seconds": 0, **overrides},
    )
    return MastodonConnector(cfg, FrozenClock(), env=ENV)


async def test_the_connector_streams_mentions_and_hashtags_and_raises_when_the_stream_ends(fake):
    c = connector(fake, hashtags=("acmefail",))
    got: asyncio.Queue = asyncio.Queue()

    async def on_post(post):
        got.put_nowait(post)

    readers = [
        asyncio.create_task(c.stream(path, query, lambda: None, on_post))
        for path, query in c.streams()
    ]
    try:
        await until(lambda: len(fake.open_streams) == 2, "both streams open")
        mention = fake.post("jo", "@acme where is my parcel")
        tagged = fake.post("max", "no parcel again #AcmeFail")
        fake.post("acme", "we are on it")  # our own status: a home timeline update, not a post
        fake.post("bystander", "unrelated #cats")
        first, second = await asyncio.wait_for(got.get(), 5), await asyncio.wait_for(got.get(), 5)
        assert {first.post_id, second.post_id} == {mention["id"], tagged["id"]}
        assert got.empty()
        fake.drop_streams()
        done, _ = await asyncio.wait(readers, timeout=5)
        assert len(done) == 2
        for task in done:
            with pytest.raises(TransientError, match="ended the stream"):
                task.result()
    finally:
        for task in readers:
            task.cancel()
        await c.close()


async def test_a_silent_stream_is_given_up_and_a_refused_or_redirected_one_is_permanent(fake):
    c = connector(fake, stream_idle_seconds=0.3)
    fake.heartbeat_seconds = 60  # nothing comes: no event, no :thump

    async def on_post(post):
        raise AssertionError("no post expected")

    try:
        with pytest.raises(TransientError, match="silent"):
            await asyncio.wait_for(c.stream(*c.streams()[0], lambda: None, on_post), 5)
        fake.fail("/api/v1/streaming/user", 302, headers={"Location": "http://elsewhere:4000/"})
        with pytest.raises(PermanentError, match="redirected to http://elsewhere:4000/"):
            await asyncio.wait_for(c.stream(*c.streams()[0], lambda: None, on_post), 5)
        fake.streaming_enabled = False
        with pytest.raises(PermanentError, match="404"):
            await asyncio.wait_for(c.stream(*c.streams()[0], lambda: None, on_post), 5)
    finally:
        await c.close()


async def test_heartbeats_keep_a_quiet_stream_open(fake):
    c = connector(fake, stream_idle_seconds=0.3)
    fake.heartbeat_seconds = 0.05
    got: asyncio.Queue = asyncio.Queue()

    async def on_post(post):
        got.put_nowait(post)

    reader = asyncio.create_task(c.stream(*c.streams()[0], lambda: None, on_post))
    try:
        stream = (await until(lambda: fake.open_streams, "the stream open"))[0]
        # Heartbeats only, for more than three idle limits; then a mention still
        # arrives on the same stream.
        await until(lambda: stream.beats >= 20, "twenty heartbeats (a second)")
        assert not reader.done() and fake.stream_opens == 1
        mention = fake.post("jo", "@acme still quiet here?")
        assert (await asyncio.wait_for(got.get(), 5)).post_id == mention["id"]
    finally:
        reader.cancel()
        await c.close()


# ---------------------------------------------------------------- in the backend


def config_for(tmp_path: Path, fake: FakeMastodon, **extra: object):
    text = (
        f"connectors:\n  mastodon:\n    enabled: true\n    base_url: {fake.url}\n"
        "    account: acme\n    token_env: SHIFTDESK_MASTODON_TOKEN\n    timeout_s: 2\n"
        "    hashtags: [acmefail]\n    search_terms: []\n    poll_interval_seconds: 0.2\n"
        "    stream_idle_seconds: 2\n"
    )
    text += "".join(f"    {k}: {v}\n" for k, v in extra.items())
    path = tmp_path / "stream.yaml"
    path.write_text(text)
    return load_config([DEFAULT_CONFIG, path], env={})


def polls(fake: FakeMastodon) -> int:
    return sum(1 for _, path in fake.requests if path.startswith("/api/v1/notifications"))


async def stored_ids(pool) -> set[str]:
    rows = await pool.fetch("SELECT post_id FROM mentions WHERE platform = 'mastodon'")
    return {r["post_id"] for r in rows}


async def test_the_backend_streams_and_catches_up_by_polling_after_every_reconnect(
    db_url, tmp_path, fake
):
    backend = await start_backend(config_for(tmp_path, fake), db_url, env=ENV)
    try:
        status = backend.app[POLLERS]["mastodon"]
        await until(lambda: status.streaming, "streaming")
        assert status.leadership.leading
        assert {s.kind for s in fake.open_streams} == {"user", "hashtag"}
        quiet = polls(fake)

        # Live: mentions and the hashtag arrive by stream, with no poll at all.
        mention = fake.post("jo", "@acme my card was charged twice")
        tagged = fake.post("max", "charged twice too #acmefail")
        await until(lambda: status.streamed >= 2, "two streamed mentions")
        assert {mention["id"], tagged["id"]} <= await stored_ids(backend.pool)
        assert polls(fake) == quiet
        # Our own status is left to the next poll: by stream it can overtake the
        # outbox's record of it (and be stored beside the message it is).
        ours = fake.post("acme", "We are looking into double charges #acmefail")
        late = fake.post("kim", "@acme me too")
        await until(lambda: status.streamed >= 3, "the next streamed mention")
        assert ours["id"] not in await stored_ids(backend.pool)

        # The streaming server restarts; a mention lands in the gap, on no stream.
        fake.drop_streams()
        gap = fake.post("lena", "@acme anyone there?")
        await until(lambda: status.stream_sessions >= 2 and status.streaming, "a reconnect")
        await until(
            lambda: _has(backend.pool, gap["id"]), "the gap's mention, caught up by polling"
        )
        assert polls(fake) > quiet  # the catch-up poll after the reconnect
        assert await backend.pool.fetchval(
            "SELECT is_ours FROM mentions WHERE post_id = $1", ours["id"]
        )
        assert late["id"] in await stored_ids(backend.pool)
        assert status.streamed == 3
        after = fake.post("jo", "@acme and again")
        await until(lambda: _has(backend.pool, after["id"]), "a mention after the reconnect")
        counts = await backend.pool.fetch(
            "SELECT post_id, count(*) AS n FROM mentions GROUP BY post_id HAVING count(*) > 1"
        )
        assert counts == []
    finally:
        await backend.runner.cleanup()


async def _has(pool, post_id: str) -> bool:
    return post_id in await stored_ids(pool)


async def test_without_a_streaming_api_the_backend_polls(db_url, tmp_path, fake):
    fake.streaming_enabled = False  # the server answers 404 on /api/v1/streaming
    backend = await start_backend(config_for(tmp_path, fake), db_url, env=ENV)
    try:
        status = backend.app[POLLERS]["mastodon"]
        await until(lambda: status.rounds >= 1, "the first poll")
        mention = fake.post("jo", "@acme hello?")
        await until(lambda: _has(backend.pool, mention["id"]), "the mention, by polling")
        rounds = status.rounds
        await until(lambda: status.rounds >= rounds + 3, "polling at the interval")
        assert not status.streaming and status.streamed == 0
    finally:
        await backend.runner.cleanup()


async def test_a_second_backend_on_the_same_database_neither_polls_nor_streams(
    db_url, tmp_path, fake
):
    config = config_for(tmp_path, fake)
    first = await start_backend(config, db_url, env=ENV)
    second = await start_backend(config, db_url, env=ENV)
    try:
        one, two = first.app[POLLERS]["mastodon"], second.app[POLLERS]["mastodon"]
        await until(lambda: one.streaming, "the first backend streaming")
        mention = fake.post("jo", "@acme hello from one stream")
        await until(lambda: one.streamed >= 1, "the mention streamed")
        assert len(fake.open_streams) == 2  # user + one hashtag: one backend's worth
        assert not two.leadership.leading and two.rounds == 0 and two.streamed == 0
        # The leader stops: the other takes over and catches up what came meanwhile.
        await first.runner.cleanup()
        first = None
        meanwhile = fake.post("max", "@acme is anyone on shift?")
        await until(lambda: two.streaming, "the second backend streaming", timeout=10)
        await until(lambda: _has(second.pool, meanwhile["id"]), "the mention from the handover")
        assert await stored_ids(second.pool) == {mention["id"], meanwhile["id"]}
    finally:
        await second.runner.cleanup()
        if first is not None:
            await first.runner.cleanup()
