"""claim-next under contention: 50 operators over HTTP against a real backend process.

Prints p50/p99 latency and claims per second, next to GET /api/me on the
same backend with the same concurrency (auth plus one trivial query: the
floor any API call pays).

    python bench/claims.py [--operators 50] [--conversations 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta

import aiohttp

from harness import backend_process, fresh_database, ms, percentile, postgres, table

from backend.clock import Clock
from backend.db.pool import connect
from backend.ingest import Ingest, accept_all
from backend.model import Author, InboundPost
from backend import operators


async def seed(db_url: str, conversations: int, operator_count: int) -> list[str]:
    conn = await connect(db_url)
    try:
        clock = Clock()
        ingest = Ingest(accept_all, lambda *a: timedelta(hours=1), clock)
        for start in range(0, conversations, 1000):
            posts = [InboundPost("simulator", f"b{i}", Author(f"a{i}", f"cust{i}", f"Customer {i}", 10),
                                 f"@acme problem {i}", clock.now()) for i in range(start, min(start + 1000, conversations))]
            await ingest.store(conn, posts)
        return [(await operators.add(conn, f"op{i}"))[1] for i in range(operator_count)]
    finally:
        await conn.close()


async def hammer(url: str, tokens: list[str], method: str, path: str, total: int | None) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = [total]

    async def worker(token: str) -> None:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            while True:
                if remaining[0] is not None:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                t0 = time.perf_counter()
                async with s.request(method, url + path) as r:
                    await r.read()
                    status = r.status
                if status == 404:
                    return
                if status != 200:
                    raise RuntimeError(f"{path}: HTTP {status}")
                latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in tokens))
    return latencies, time.perf_counter() - t0


async def main(args: argparse.Namespace) -> None:
    with postgres() as admin_url:
        db_url = await fresh_database(admin_url)
        tokens = await seed(db_url, args.conversations, args.operators)
        async with backend_process(db_url) as url:
            await hammer(url, tokens[:5], "GET", "/api/me", 200)      # warm up connections and caches
            base, base_s = await hammer(url, tokens, "GET", "/api/me", args.conversations)
            claims, claims_s = await hammer(url, tokens, "POST", "/api/claim-next", None)
        conn = await connect(db_url)
        try:
            held = await conn.fetchval("SELECT count(*) FROM conversations WHERE state = 'claimed'")
            distinct = await conn.fetchval(
                "SELECT count(DISTINCT conversation_id) FROM events WHERE kind = 'conversation.claimed'")
        finally:
            await conn.close()
    rows = [
        ("GET /api/me (floor)", len(base), ms(percentile(base, .5)), ms(percentile(base, .99)), len(base) / base_s),
        ("POST /api/claim-next", len(claims), ms(percentile(claims, .5)), ms(percentile(claims, .99)),
         len(claims) / claims_s),
    ]
    print(table(f"claim-next, {args.operators} concurrent operators over HTTP, {args.conversations} conversations",
                ["request", "n", "p50 ms", "p99 ms", "per s"], rows))
    print(f"claimed {held} of {args.conversations}; {distinct} distinct conversations claimed; "
          f"none twice: {len(claims) == distinct == held}")
    print("target: claim-next p99 under 25 ms")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--operators", type=int, default=50)
    p.add_argument("--conversations", type=int, default=5000)
    asyncio.run(main(p.parse_args()))
