"""POST /ingest/{source} over real HTTP on a real PostgreSQL: signed batches
are stored whole, anything wrong is refused with nothing stored; and
`shiftdesk simulate` drives a running backend through it."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import pytest_asyncio

from backend import cli
from backend.config import Config
from backend.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.conftest import start_backend

SECRET = "webhook-shared-secret"
ENV = {"SHIFTDESK_WEBHOOK_PARTNER_SECRET": SECRET, "SHIFTDESK_WEBHOOK_SIMULATOR_SECRET": SECRET}


@pytest_asyncio.fixture(loop_scope="function")
async def pushed(config: Config, db_url: str):
    webhook = config.webhook.model_copy(
        update={
            "max_body_bytes": 4096,
            "sources": {
                "partner": "SHIFTDESK_WEBHOOK_PARTNER_SECRET",
                "simulator": "SHIFTDESK_WEBHOOK_SIMULATOR_SECRET",
                "unready": "SHIFTDESK_WEBHOOK_UNSET_SECRET",
            },
        }
    )
    cfg = config.model_copy(update={"webhook": webhook})
    backend = await start_backend(cfg, db_url, env=ENV)
    yield backend
    await backend.runner.cleanup()


def post(pid: str, text: str = "#acmefail the app is down", **kw) -> dict:
    return {
        "id": pid,
        "author": {"id": "u1", "handle": "@jo_k", "display_name": "Jo", "followers": 12},
        "text": text,
        "created_at": "2026-11-25T09:00:00Z",
        **kw,
    }


def signed(
    body: bytes, *, secret: str = SECRET, age: int = 0, content_type: str = "application/json"
) -> dict:
    import time

    stamp = str(int(time.time()) - age)
    return {
        "Content-Type": content_type,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, stamp, body),
    }


async def send(backend, body: bytes, headers: dict, source: str = "partner") -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{backend.url}/ingest/{source}", data=body, headers=headers) as r:
            return r.status, await r.json()


async def count(backend) -> int:
    return await backend.pool.fetchval("SELECT count(*) FROM mentions")


async def test_a_signed_batch_is_stored_and_threaded_and_a_replay_stores_nothing_twice(pushed):
    body = json.dumps(
        {
            "posts": [
                post("1"),
                post("2", "#acme hello??", in_reply_to="1", thread_root="1"),
                post("3", "the weather is nice"),
            ]
        }
    ).encode()
    status, answer = await send(pushed, body, signed(body))
    assert status == 202 and answer == {"stored": 2, "duplicates": 0, "dropped": 1}
    rows = await pushed.pool.fetch("SELECT platform, conversation_id FROM mentions")
    assert {r["platform"] for r in rows} == {"partner"}
    assert len({r["conversation_id"] for r in rows}) == 1  # the follow-up joined the thread
    status, answer = await send(pushed, body, signed(body))
    assert status == 202 and answer == {"stored": 0, "duplicates": 2, "dropped": 1}
    assert await count(pushed) == 2


async def test_bad_signatures_and_stale_timestamps_are_refused_with_nothing_stored(pushed):
    body = json.dumps(post("1")).encode()
    status, answer = await send(pushed, body, signed(body, secret="guessed"))
    assert status == 401 and "does not match" in answer["error"]
    status, answer = await send(pushed, body, signed(body, age=600))  # a captured request, replayed
    assert status == 401 and "outside the 300 s window" in answer["error"]
    headers = signed(body)
    status, answer = await send(pushed, body + b" ", headers)  # body changed after signing
    assert status == 401
    status, answer = await send(pushed, body, {"Content-Type": "application/json"})
    assert status == 401 and TIMESTAMP_HEADER in answer["error"]
    assert SECRET not in json.dumps(answer)
    assert await count(pushed) == 0


async def test_malformed_and_oversized_bodies_are_refused_whole(pushed):
    bad = json.dumps({"posts": [{**post("2"), "author": {"id": "u2"}}]}).encode()
    status, answer = await send(pushed, bad, signed(bad))
    assert status == 422 and answer["refused"] == [
        {"index": 0, "error": "posts[0].author.handle: missing"}
    ]
    garbage = b"{not json"
    status, answer = await send(pushed, garbage, signed(garbage))
    assert status == 400 and "not JSON" in answer["error"]
    body = json.dumps(post("1")).encode()
    status, answer = await send(pushed, body, signed(body, content_type="text/plain"))
    assert status == 415
    huge = json.dumps({"posts": [post(str(i), "#acme " + "x" * 200) for i in range(30)]}).encode()
    assert len(huge) > 4096
    status, answer = await send(pushed, huge, signed(huge))
    assert status == 413 and "4096" in answer["error"]
    assert await count(pushed) == 0


async def test_unknown_and_unready_sources(pushed):
    body = json.dumps(post("1")).encode()
    status, answer = await send(pushed, body, signed(body), source="nobody")
    assert status == 404
    status, answer = await send(pushed, body, signed(body), source="unready")
    assert status == 503 and "SHIFTDESK_WEBHOOK_UNSET_SECRET" not in answer["error"]
    assert await count(pushed) == 0


async def test_shiftdesk_simulate_drives_a_running_backend_through_the_webhook(
    pushed, monkeypatch, capsys
):
    monkeypatch.setenv("SHIFTDESK_WEBHOOK_SIMULATOR_SECRET", SECRET)
    # Batches of 50 pass the 4096-byte cap here: the sender halves them on 413.
    args = [
        "simulate",
        "--scenario",
        "crisis",
        "--rate",
        "400",
        "--duration",
        "0.5",
        "--url",
        pushed.url,
        "--seed",
        "11",
        "--batch",
        "50",
    ]
    code = await asyncio.to_thread(cli.main, args)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "sent      200 mentions" in out
    stored = await pushed.pool.fetchval(
        "SELECT count(*) FROM mentions WHERE platform = 'simulator'"
    )
    assert stored == 200 and "stored 200" in out
    # Follow-ups joined their customers' threads: fewer conversations than mentions.
    convs = await pushed.pool.fetchval("SELECT count(*) FROM conversations")
    assert 0 < convs < 200
    # The same seed again: the backend recognises every mention.
    code = await asyncio.to_thread(cli.main, args)
    assert code == 0 and "stored 0, duplicates 200" in capsys.readouterr().out


async def test_shiftdesk_simulate_plays_the_pileon_with_requests_in_flight(
    pushed, monkeypatch, capsys
):
    monkeypatch.setenv("SHIFTDESK_WEBHOOK_SIMULATOR_SECRET", SECRET)
    args = [
        "simulate",
        "--scenario",
        "pileon",
        "--rate",
        "400",
        "--duration",
        "0.5",
        "--url",
        pushed.url,
        "--seed",
        "12",
        "--batch",
        "40",
        "--in-flight",
        "3",
        "--new-customers-per-s",
        "20",
    ]
    code = await asyncio.to_thread(cli.main, args)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "sent      200 mentions" in out
    # 20 new customers a second for half a second: the rest chase or pile onto their threads.
    assert await pushed.pool.fetchval("SELECT count(*) FROM conversations") <= 12
    assert (
        await asyncio.to_thread(cli.main, ["simulate", "--url", pushed.url, "--in-flight", "0"])
        == 2
    )
    assert "--in-flight must be at least 1" in capsys.readouterr().err


@pytest.mark.faults
async def test_a_bad_post_is_refused_with_its_index_and_the_good_ones_are_stored_once(pushed):
    """One bad post used to fail the whole signed batch with a 500, retried for ever."""
    posts = [
        post("1"),
        post("2", author={"id": "u2", "handle": "big", "followers": 2**31}),
        post("3", "#acme the app crashes"),
        {**post("4"), "extra": {"note": "\ud800"}},  # json.dumps writes it as a \\ud800 escape
        {**post("5"), "created_at": "0001-01-01T00:00:00Z"},
        {**post("6"), "nested": json.loads("[" * 20 + "]" * 20)},
    ]
    body = json.dumps({"posts": posts}).encode()
    for attempt in range(2):  # the platform retries the same batch: nothing is stored twice
        status, answer = await send(pushed, body, signed(body))
        assert status == 422, answer
        assert [r["index"] for r in answer["refused"]] == [1, 3, 4, 5]
        assert "posts[1].author.followers" in answer["refused"][0]["error"]
        assert (
            "posts[3].extra.note: contains a lone UTF-16 surrogate" in answer["refused"][1]["error"]
        )
        assert "posts[4].created_at" in answer["refused"][2]["error"]
        assert "nested more than" in answer["refused"][3]["error"]
        assert (answer["stored"], answer["duplicates"]) == ((2, 0) if attempt == 0 else (0, 2))
    assert sorted(
        r["post_id"] for r in await pushed.pool.fetch("SELECT post_id FROM mentions")
    ) == [
        "1",
        "3",
    ]


@pytest.mark.faults
async def test_malformed_headers_are_4xx_before_the_body_is_read_and_never_a_traceback(
    pushed, caplog
):
    body = json.dumps(post("1")).encode()
    good = signed(body)
    for stamp in ["¹⁷⁶⁴⁰⁶¹²⁰⁰", "١٧٦٤٠٦١٢٠٠", "１７６４０６１２００", "9" * 5000, "12 34"]:
        status, answer = await send(pushed, body, {**good, TIMESTAMP_HEADER: stamp})
        assert status == 401 and "expected Unix seconds" in answer["error"], (stamp, answer)
    for signature in ["sha256=" + "é" * 64, "sha256=" + "0" * 6400, "", "sha1=abc"]:
        status, answer = await send(pushed, body, {**good, SIGNATURE_HEADER: signature})
        assert status == 401, (signature, answer)
    assert not [r for r in caplog.records if r.exc_info], "a malformed header logged a traceback"
    assert await count(pushed) == 0


async def stall(url: str, headers: dict, declared: int, sent: bytes) -> asyncio.StreamReader:
    """A request that sends its headers and part of its body, then stops; its reader."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = ["POST /ingest/partner HTTP/1.1", f"Host: {host}", f"Content-Length: {declared}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + sent)
    await writer.drain()
    reader._stall_writer = writer  # type: ignore[attr-defined]  # kept open with the reader
    return reader


@pytest.mark.faults
async def test_stalled_senders_hold_at_most_the_read_slots_and_time_out(pushed):
    from backend.ingest.webhook import READ_GATE
    from tests.processes import until

    gate = pushed.app[READ_GATE]
    gate.limit, gate.read_timeout_s = 2, 1.0
    body = json.dumps(post("1")).encode()
    stalled = [await stall(pushed.url, signed(body), len(body), body[:10]) for _ in range(2)]
    await until(lambda: gate.reading == 2, "both stalled requests to hold a read slot")
    # A third slow sender is turned away at once, before any of its body is read...
    third = await stall(pushed.url, signed(body), len(body), body[:10])
    head = await asyncio.wait_for(third.read(400), 5)
    assert head.startswith(b"HTTP/1.1 503") and b"Retry-After: " in head, head
    assert b"at most 2" in head
    # ...while a sender whose body came with its headers needs no slot and is served.
    status, answer = await send(pushed, body, signed(body))
    assert status == 202 and answer["stored"] == 1
    for reader in stalled:  # each is answered 408 at its deadline, and its slot given back
        head = await asyncio.wait_for(reader.read(200), 10)
        assert head.startswith(b"HTTP/1.1 408"), head
    for reader in [*stalled, third]:
        reader._stall_writer.close()  # type: ignore[attr-defined]
    assert gate.reading == 0
    # A stale or unsigned request never takes a slot: refused on its headers alone.
    gate.limit = 0
    other = json.dumps(post("2")).encode()
    stale = await stall(pushed.url, signed(other, age=600), len(other), other[:10])
    assert (await asyncio.wait_for(stale.read(200), 5)).startswith(b"HTTP/1.1 401")
    stale._stall_writer.close()  # type: ignore[attr-defined]
    assert await count(pushed) == 1
