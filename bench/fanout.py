"""Commit-to-console latency of live events with 50 WebSocket clients connected.

Mentions are committed one by one (through the real ingest); each of the 50
consoles records when the mention's event reaches it. Compared, in the same
run, with a bare PostgreSQL LISTEN/NOTIFY round trip (the floor).

    python bench/fanout.py [--clients 50] [--mentions 300] [--rate 30]
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


async def notify_floor(db_url: str, n: int) -> list[float]:
    listener, sender = await connect(db_url), await connect(db_url)
    got: asyncio.Queue[float] = asyncio.Queue()
    await listener.add_listener("bench_floor", lambda *a: got.put_nowait(time.perf_counter()))
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            await sender.execute("NOTIFY bench_floor")
            out.append(await got.get() - t0)
    finally:
        await listener.close()
        await sender.close()
    return out


# Events that mean "a mention reached this console".
ARRIVALS = ("conversation.opened", "mention.received")


async def client(
    url: str,
    token: str,
    arrivals: dict[int, float],
    ready: asyncio.Event,
    ready_count: list[int],
    total: int,
    done: asyncio.Event,
) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.ws_connect(f"{url}/api/stream?after=0", max_msg_size=0) as ws:
            async for msg in ws:
                data = msg.json()
                if data["type"] == "live":
                    ready_count[0] -= 1
                    if ready_count[0] == 0:
                        ready.set()
                # A new customer's first mention arrives as conversation.opened (which carries
                # its mention count); later ones as mention.received. Either is "it's here".
                elif data["type"] == "event" and data["event"]["kind"] in ARRIVALS:
                    arrivals[data["event"]["conversation_id"]] = time.perf_counter()
                    if len(arrivals) == total:
                        done.set()
                        return


async def main(args: argparse.Namespace) -> None:
    with postgres() as admin_url:
        db_url = await fresh_database(admin_url)
        conn = await connect(db_url)
        tokens = [(await operators.add(conn, f"op{i}"))[1] for i in range(args.clients)]
        floor = await notify_floor(db_url, args.mentions)
        async with backend_process(db_url) as url:
            arrivals = [dict() for _ in range(args.clients)]
            ready, ready_count = asyncio.Event(), [args.clients]
            dones = [asyncio.Event() for _ in range(args.clients)]
            tasks = [
                asyncio.create_task(
                    client(url, tokens[i], arrivals[i], ready, ready_count, args.mentions, dones[i])
                )
                for i in range(args.clients)
            ]
            await asyncio.wait_for(ready.wait(), 30)
            clock = Clock()
            ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
            committed: dict[int, float] = {}
            for i in range(args.mentions):
                post = InboundPost(
                    "simulator",
                    f"f{i}",
                    Author(f"a{i}", f"c{i}", f"C {i}", 1),
                    f"@acme {i}",
                    clock.now(),
                )
                result = await ingest.store(conn, [post])
                committed[result.conversation_ids[0]] = time.perf_counter()
                await asyncio.sleep(1 / args.rate)
            try:
                await asyncio.wait_for(asyncio.gather(*(d.wait() for d in dones)), 30)
            except TimeoutError:
                pass
            for t in tasks:
                t.cancel()
        await conn.close()
    latencies = [a[cid] - t for a in arrivals for cid, t in committed.items() if cid in a]
    missing = sum(1 for a in arrivals for cid in committed if cid not in a)
    if not latencies:
        raise SystemExit(f"no console saw any of the {len(committed)} mentions: is the stream up?")
    rows = [
        (
            "bare LISTEN/NOTIFY (floor)",
            len(floor),
            ms(percentile(floor, 0.5)),
            ms(percentile(floor, 0.99)),
            ms(max(floor)),
            0,
        ),
        (
            f"mention commit -> {args.clients} consoles",
            len(latencies),
            ms(percentile(latencies, 0.5)),
            ms(percentile(latencies, 0.99)),
            ms(max(latencies)),
            missing,
        ),
    ]
    print(
        table(
            f"event fan-out: {args.mentions} mentions at {args.rate}/s, {args.clients} WebSocket consoles",
            ["path", "deliveries", "p50 ms", "p99 ms", "max ms", "missing"],
            rows,
        )
    )
    print("target: p99 under 250 ms, none missing")


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--mentions", type=int, default=300)
    p.add_argument("--rate", type=float, default=30.0)
    asyncio.run(main(p.parse_args()))
