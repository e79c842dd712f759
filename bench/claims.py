"""claim-next under contention: 50 operators over HTTP against a real backend process.

Two ways of loading it, each next to GET /api/me on the same backend with the
same load (auth plus one trivial query: the floor any API call pays):

- paced: every operator presses claim-next once every --pace seconds (the
  default, 1 s, is far busier than any real team); latency is what an
  operator feels.
- saturated: every operator calls claim-next again the moment the last call
  answers; this finds the most claims per second, and its latency is mostly
  time spent queueing (about operators / throughput).

    python bench/claims.py [--operators 50] [--conversations 6000] [--pace 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta

import aiohttp
from harness import backend_process, fresh_database, ms, percentile, postgres, table

from backend import operators
from backend.clock import Clock
from backend.db.pool import connect
from backend.ingest.store import Ingest, accept_all
from backend.model import Author, InboundPost
from backend.sla.policy import fixed_deadlines


async def seed(db_url: str, conversations: int, operator_count: int) -> list[str]:
    conn = await connect(db_url)
    try:
        clock = Clock()
        ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
        for start in range(0, conversations, 1000):
            posts = [
                InboundPost(
                    "simulator",
                    f"b{i}",
                    Author(f"a{i}", f"cust{i}", f"Customer {i}", 10),
                    f"@acme problem {i}",
                    clock.now(),
                )
                for i in range(start, min(start + 1000, conversations))
            ]
            await ingest.store(conn, posts)
        return [(await operators.add(conn, f"op{i}"))[1] for i in range(operator_count)]
    finally:
        await conn.close()


async def hammer(
    url: str, tokens: list[str], method: str, path: str, total: int | None, pace: float = 0.0
) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = [total]

    async def worker(i: int, token: str) -> None:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            if pace:
                await asyncio.sleep(
                    pace * i / len(tokens)
                )  # operators do not all press at the same instant
            while True:
                if remaining[0] is not None:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                t0 = time.perf_counter()
                async with s.request(method, url + path) as r:
                    await r.read()
                    status = r.status
                if status == 404:
                    return
                if status != 200:
                    raise RuntimeError(f"{path}: HTTP {status}")
                latencies.append(time.perf_counter() - t0)
                if pace:
                    await asyncio.sleep(max(0.0, pace - (time.perf_counter() - started)))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i, t) for i, t in enumerate(tokens)))
    return latencies, time.perf_counter() - t0


async def main(args: argparse.Namespace) -> None:
    with postgres() as admin_url:
        db_url = await fresh_database(admin_url)
        tokens = await seed(db_url, args.conversations, args.operators)
        paced_n = args.operators * args.rounds
        async with backend_process(db_url) as url:
            await hammer(url, tokens[:5], "GET", "/api/me", 200)  # warm up connections and caches
            paced_base, paced_base_s = await hammer(
                url, tokens, "GET", "/api/me", paced_n, args.pace
            )
            paced, paced_s = await hammer(
                url, tokens, "POST", "/api/claim-next", paced_n, args.pace
            )
            sat_base, sat_base_s = await hammer(
                url, tokens, "GET", "/api/me", args.conversations - paced_n
            )
            sat, sat_s = await hammer(url, tokens, "POST", "/api/claim-next", None)
        conn = await connect(db_url)
        try:
            held = await conn.fetchval("SELECT count(*) FROM conversations WHERE state = 'claimed'")
            distinct = await conn.fetchval(
                "SELECT count(DISTINCT conversation_id) FROM events WHERE kind = 'conversation.claimed'"
            )
        finally:
            await conn.close()

    def row(name: str, lat: list[float], seconds: float) -> tuple:
        return (
            name,
            len(lat),
            ms(percentile(lat, 0.5)),
            ms(percentile(lat, 0.99)),
            len(lat) / seconds,
        )

    rows = [
        row(f"paced {args.pace:g}s: GET /api/me (floor)", paced_base, paced_base_s),
        row(f"paced {args.pace:g}s: POST /api/claim-next", paced, paced_s),
        row("saturated: GET /api/me (floor)", sat_base, sat_base_s),
        row("saturated: POST /api/claim-next", sat, sat_s),
    ]
    print(
        table(
            f"claim-next, {args.operators} concurrent operators over HTTP, {args.conversations} conversations",
            ["load", "n", "p50 ms", "p99 ms", "per s"],
            rows,
        )
    )
    claims = len(paced) + len(sat)
    print(
        f"claimed {held} of {args.conversations}; {distinct} distinct conversations claimed; "
        f"none twice: {claims == distinct == held}"
    )
    print("target: claim-next p99 under 25 ms")


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--operators", type=int, default=50)
    p.add_argument("--conversations", type=int, default=6000)
    p.add_argument(
        "--pace", type=float, default=1.0, help="seconds between one operator's claims (paced load)"
    )
    p.add_argument("--rounds", type=int, default=20, help="claims per operator in the paced load")
    asyncio.run(main(p.parse_args()))
