"""POST /ingest/{source} over real HTTP on a real PostgreSQL: signed batches
are stored whole, anything wrong is refused with nothing stored; and
`shiftdesk simulate` drives a running backend through it."""

from __future__ import annotations

import asyncio
import json

import aiohttp
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
    bad = json.dumps({"posts": [post("1"), {**post("2"), "author": {"id": "u2"}}]}).encode()
    status, answer = await send(pushed, bad, signed(bad))
    assert status == 422 and answer["error"] == "posts[1].author.handle: missing"
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
    assert await count(pushed) == 0  # the valid first post of the 422 batch was not kept


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
