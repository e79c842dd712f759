"""Outbox throughput: replies published per second against a platform that answers in --latency-ms.

A fake Mastodon status endpoint runs in a process of its own and answers
each POST /api/v1/statuses after --latency-ms, counting publishes per
Idempotency-Key. Against it, in this process:

- floor: --replies bare POSTs with the same form and headers, --window at a
  time over one session: what the HTTP round trips alone allow;
- rounds of 20: `publish_due()` called in a loop (lease 20, send them,
  record them, only then the next 20), as the publisher used to run;
- window: `OutboxPublisher.run()` with --window sends in flight and results
  recorded in batches, as `shiftdesk serve` runs it.

"record commits" counts the transactions that recorded results (each takes
the events lock that every writer shares).

Every publisher run starts from --replies queued replies in a real
PostgreSQL (the embedded one, or SHIFTDESK_TEST_DATABASE_URL) and must end
with each published exactly once.

    .venv/bin/python bench/outbox.py [--replies 3000] [--latency-ms 5] [--window 64]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing
import sys
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.clock import Clock  # noqa: E402
from backend.connectors.mastodon import MastodonConfig, MastodonConnector  # noqa: E402
from backend.db.pool import create_pool  # noqa: E402
from backend.ingest.store import Ingest, accept_all  # noqa: E402
from backend.model import Author, InboundPost  # noqa: E402
from backend.outbox import OutboxPublisher  # noqa: E402
from backend.sla.policy import fixed_deadlines  # noqa: E402
from bench.harness import free_port, fresh_database, postgres, table  # noqa: E402

TOKEN_ENV = "BENCH_MASTODON_TOKEN"
TEXT = "Sorry about the trouble today. We're on it and will update you here."


def serve_platform(port: int, latency_s: float) -> None:
    """The fake Mastodon, in its own process: answers after `latency_s`, counts publishes per key."""
    posts: collections.Counter[str] = collections.Counter()

    async def create(request: web.Request) -> web.Response:
        await request.post()
        posts[request.headers.get("Idempotency-Key", "")] += 1
        await asyncio.sleep(latency_s)
        sid = str(sum(posts.values()))
        return web.json_response({"id": sid, "url": f"http://127.0.0.1/@acme/{sid}"})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {"published": sum(posts.values()), "twice": sum(1 for n in posts.values() if n > 1)}
        )

    async def reset(request: web.Request) -> web.Response:
        posts.clear()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/v1/statuses", create)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def queue_replies(pool, n: int, round_name: str) -> None:
    """One queued public reply for each of `n` conversations (created on first use)."""
    if await pool.fetchval("SELECT count(*) FROM conversations") < n:
        clock = Clock()
        ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
        async with pool.acquire() as conn:
            for start in range(0, n, 1000):
                await ingest.store(
                    conn,
                    [
                        InboundPost(
                            "mastodon",
                            f"m{i}",
                            Author(f"a{i}", f"cust{i}", f"Customer {i}", 10),
                            f"@acme problem {i}",
                            clock.now(),
                        )
                        for i in range(start, min(start + 1000, n))
                    ],
                )
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO messages (conversation_id, channel, text, in_reply_to)
                   SELECT c.id, 'public', $1, c.thread_root FROM conversations c ORDER BY c.id LIMIT $2""",
                TEXT,
                n,
            )
            await conn.execute(
                """INSERT INTO outbox (message_id, idempotency_key, platform)
                   SELECT m.id, $1 || m.id, 'mastodon' FROM messages m
                   WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id)""",
                f"bench-{round_name}-",
            )


async def floor(base_url: str, n: int, window: int) -> float:
    """Seconds for `n` bare POSTs, `window` at a time."""
    gate = asyncio.Semaphore(window)
    headers = {"Authorization": "Bearer x", "User-Agent": "shiftdesk/0.1"}
    async with aiohttp.ClientSession() as s:

        async def one(i: int) -> None:
            async with gate:
                async with s.post(
                    f"{base_url}/api/v1/statuses",
                    data={"status": TEXT, "visibility": "public"},
                    headers={**headers, "Idempotency-Key": f"floor-{i}"},
                ) as r:
                    await r.json()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t0


async def drained(pool) -> bool:
    return not await pool.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL")


async def rounds(outbox: OutboxPublisher, pool) -> float:
    t0 = time.perf_counter()
    while await outbox.publish_due(20):
        pass
    assert await drained(pool)
    return time.perf_counter() - t0


async def windowed(outbox: OutboxPublisher, pool) -> float:
    t0 = time.perf_counter()
    task = asyncio.create_task(outbox.run(poll_interval=0.05))
    try:
        while not await drained(pool):
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return time.perf_counter() - t0


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    platform = multiprocessing.get_context("spawn").Process(
        target=serve_platform, args=(port, args.latency_ms / 1000), daemon=True
    )
    platform.start()
    base_url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(200):
                try:
                    async with s.get(base_url + "/stats") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)

            async def platform_stats() -> dict:
                async with s.get(base_url + "/stats") as r:
                    return await r.json()

            async def reset() -> None:
                async with s.post(base_url + "/reset") as r:
                    await r.read()

            await floor(base_url, 200, args.window)  # warm up
            await reset()
            seconds = await floor(base_url, args.replies, args.window)
            rows.append(
                [
                    f"floor: bare POSTs, {args.window} at a time",
                    args.replies,
                    seconds,
                    args.replies / seconds,
                    "-",
                    "-",
                ]
            )
            with postgres() as admin:
                db_url = await fresh_database(admin)
                pool = await create_pool(db_url, 2, 10)
                try:
                    for name, run, window in (
                        ("rounds of 20 (publish_due in a loop)", rounds, args.window),
                        (f"window of {args.window} (run)", windowed, args.window),
                    ):
                        await reset()
                        await queue_replies(pool, args.replies, name.split()[0])
                        connector = MastodonConnector(
                            MastodonConfig(base_url=base_url, account="acme", token_env=TOKEN_ENV),
                            Clock(),
                            env={TOKEN_ENV: "bench-token"},
                        )
                        outbox = OutboxPublisher(
                            pool, {"mastodon": connector}, Clock(), window=window
                        )
                        try:
                            seconds = await run(outbox, pool)
                        finally:
                            await connector.close()
                        seen = await platform_stats()
                        # Rows recorded by one transaction share its xmin: how many commits recording took.
                        commits = await pool.fetchval(
                            "SELECT count(DISTINCT xmin::text) FROM outbox WHERE idempotency_key LIKE $1",
                            f"bench-{name.split()[0]}-%",
                        )
                        published = await pool.fetchval(
                            "SELECT count(*) FROM messages WHERE status = 'published'"
                        )
                        await pool.execute(
                            "UPDATE messages SET status = 'failed' WHERE status = 'published'"
                        )
                        ok = seen["published"] == published == args.replies and seen["twice"] == 0
                        rows.append(
                            [
                                name,
                                args.replies,
                                seconds,
                                args.replies / seconds,
                                commits,
                                "yes" if ok else f"NO ({seen}, {published} recorded)",
                            ]
                        )
                finally:
                    await pool.close()
    finally:
        platform.terminate()
        platform.join(5)
    print(
        table(
            f"outbox: {args.replies} replies against a platform answering in {args.latency_ms:g} ms",
            ["how", "replies", "seconds", "per s", "record commits", "each once"],
            rows,
        )
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replies", type=int, default=3000)
    p.add_argument("--latency-ms", type=float, default=5.0)
    p.add_argument("--window", type=int, default=64)
    asyncio.run(main(p.parse_args()))
