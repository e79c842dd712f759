"""Every request the console makes, timed against queues of 10,000, 100,000 and 1,000,000 open.

    .venv/bin/python bench/api_latency.py [--sizes 10000,100000,1000000] [--repeat 30] [--keep]

For each size a backend process (`shiftdesk serve`, real HTTP) reads a database
seeded the way bench/tui.py seeds it (bench/harness.py QUEUE_SEED); `--keep`
keeps those databases and reuses them next run (a million takes about two
minutes to seed). Each request is made `--repeat` times one after another;
p50 and p99 in ms, `GET /api/me` (token check, no query) as the floor in the
same run. The deep offset page is the old way, shown for contrast.

Targets at every size: queue page p99 < 50 ms, summary < 50 ms, handover < 1 s,
/metrics < 100 ms. Sign-in shows the last stored handover (POST /api/shift/start);
the live report (GET /api/handover, the H key) also counts the period's mentions
(a million, all received at seeding, in its period). The searches (`q=`): an order
number and a handle match one post and 50 conversations; "late" is in every post.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiohttp
import asyncpg
from harness import backend_process, drop_database, percentile, postgres, queue_database, table

from backend import operators

TARGETS = {
    "GET /api/summary": "< 50 ms",
    "GET /api/queue first page": "< 50 ms",
    "GET /api/queue after= (middle)": "< 50 ms",
    "GET /api/queue before=end (G)": "< 50 ms",
    "GET /api/queue?filter=p1 after=": "< 50 ms",
    "POST /api/shift/start (sign-in handover)": "< 1000 ms",
    "GET /api/handover (live report, H)": "< 1000 ms",
    "GET /metrics": "< 100 ms",
    "GET /api/queue?q= order number": "< 50 ms",
    "GET /api/queue?q= handle": "< 50 ms",
    "GET /api/queue?q= common word": "< 50 ms",
}


async def timed(s: aiohttp.ClientSession, url: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        post = url.startswith("POST ")
        async with s.request("POST" if post else "GET", url.removeprefix("POST ")) as r:
            await r.read()
            assert r.status in (200, 201), f"{url}: {r.status} {await r.text()}"
        out.append((time.perf_counter() - started) * 1000)
    return out


async def measure(db_url: str, n: int, repeat: int) -> list[tuple[str, list[float]]]:
    conn = await asyncpg.connect(db_url)
    try:
        _, token = await operators.add(conn, f"bench{time.time_ns()}", "Bench", "lead")
        middle = await conn.fetchrow(
            "SELECT sla_due_at, priority, id FROM conversations "
            "WHERE state IN ('new', 'claimed', 'flagged_conduct', 'in_dm') "
            "ORDER BY sla_due_at NULLS LAST, priority, id OFFSET $1 LIMIT 1",
            n // 2,
        )
    finally:
        await conn.close()
    key = f"{middle['sla_due_at'].isoformat()},{middle['priority']},{middle['id']}"
    key = key.replace("+", "%2B")  # a URL query reads a bare + as a space
    async with backend_process(db_url) as url:
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as s:
            await timed(s, f"{url}/api/summary", 2)  # warm the pool and the caches
            q = f"{url}/api/queue?limit=100"
            cases = [
                ("GET /api/me (floor)", f"{url}/api/me"),
                ("GET /api/summary", f"{url}/api/summary"),
                ("GET /api/queue first page", q),
                ("GET /api/queue after= (middle)", f"{q}&after={key}"),
                ("GET /api/queue before=end (G)", f"{q}&before=end"),
                ("GET /api/queue?filter=p1 after=", f"{q}&filter=p1&after={key}"),
                ("GET /api/queue offset= (middle, old way)", f"{q}&offset={n // 2}"),
                # The seed's posts read '@acme order <id> is late again...', authors 'customer<g>':
                # a rare number, one customer's handle, and a word in every post.
                ("GET /api/queue?q= order number", f"{q}&q={middle['id']}"),
                ("GET /api/queue?q= handle", f"{q}&q=customer{n // 100 + 7}"),
                ("GET /api/queue?q= common word", f"{q}&q=late"),
                ("POST /api/shift/start (sign-in handover)", f"POST {url}/api/shift/start"),
                ("GET /api/handover (live report, H)", f"{url}/api/handover"),
                ("GET /metrics", f"{url}/metrics"),
                ("GET /api/crisis/groups", f"{url}/api/crisis/groups"),
            ]
            out = []
            for name, target in cases:
                slow = ("handover", "offset", "q=")
                reps = max(3, repeat // 5) if any(w in name for w in slow) else repeat
                out.append((name, await timed(s, target, reps)))
            return out


async def run(admin: str, sizes: list[int], repeat: int, keep: bool) -> None:
    results: dict[int, list[tuple[str, list[float]]]] = {}
    for n in sizes:
        db_url, kept = await queue_database(admin, n, keep)
        try:
            results[n] = await measure(db_url, n, repeat)
        finally:
            if not kept:
                await drop_database(admin, db_url)
    names = [name for name, _ in results[sizes[0]]]
    rows = []
    for name in names:
        row: list[object] = [name]
        for n in sizes:
            values = dict(results[n])[name]
            row += [f"{percentile(values, 0.5):.1f}", f"{percentile(values, 0.99):.1f}"]
        row.append(TARGETS.get(name, ""))
        rows.append(row)
    header = ["request (ms)"]
    for n in sizes:
        header += [f"p50 @{n:,}", f"p99 @{n:,}"]
    header.append("target (p99)")
    print(table("API latency by open conversations", header, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the seeded databases for reuse")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    with postgres() as admin:
        asyncio.run(run(admin, sizes, args.repeat, args.keep))


if __name__ == "__main__":
    sys.exit(main())
