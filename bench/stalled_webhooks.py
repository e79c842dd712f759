"""Stalled webhook senders: memory stays flat and prompt senders stay fast.

Hundreds of connections to POST /ingest/{source} send their headers (signed
and fresh, so they pass every check that can be made before the body) and a
part of a large declared body, then stall. Meanwhile a normal sender posts
signed one-post batches one after another. Compared, in the same run, with the
same normal traffic before any stall: p50/p99 latency of the normal requests,
and the backend's resident memory before, during and after the stall. Every
connection is to a loopback address, counts and times are bounded.

    python bench/stalled_webhooks.py [--stalled 400] [--requests 300] [--body-kb 512] [--sent-kb 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
from harness import (
    PROCESSES,
    backend_process,
    drop_database,
    fresh_database,
    ms,
    percentile,
    postgres,
    resident_mb,
    table,
)

from backend.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "bench-stalled-secret"


def post(pid: str) -> bytes:
    return json.dumps(
        {
            "id": pid,
            "author": {"id": f"a{pid}", "handle": f"user{pid}", "followers": 3},
            "text": "@acme the app is down again",
            "created_at": "2026-11-25T09:00:00Z",
        }
    ).encode()


def headers(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(SECRET, stamp, body),
    }


async def normal_requests(url: str, n: int, prefix: str) -> tuple[list[float], dict[int, int]]:
    """`n` signed one-post batches one after another: latencies and statuses."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            body = post(f"{prefix}{i}")
            t0 = time.perf_counter()
            async with s.post(f"{url}/ingest/simulator", data=body, headers=headers(body)) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            latencies.append(time.perf_counter() - t0)
    return latencies, statuses


async def stall(
    url: str, body_kb: int, sent_kb: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Headers of a signed request declaring `body_kb` KiB, `sent_kb` KiB of it, then nothing."""
    host, port = url.removeprefix("http://").split(":")
    assert host == "127.0.0.1", "loopback only"
    reader, writer = await asyncio.open_connection(host, int(port))
    declared = body_kb * 1024
    fake = b"x" * declared  # signed over the whole body it never sends
    head = [
        "POST /ingest/simulator HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {declared}",
        *(f"{k}: {v}" for k, v in headers(fake).items()),
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + fake[: sent_kb * 1024])
    await writer.drain()
    return reader, writer


async def answered(reader: asyncio.StreamReader) -> int | None:
    """The status a stalled connection was answered with (None: still waiting)."""
    try:
        line = await asyncio.wait_for(reader.readline(), 0.01)
    except TimeoutError:
        return None
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1") else None


async def run(stalled: int, requests: int, body_kb: int, sent_kb: int) -> None:
    with postgres() as admin:
        db_url = await fresh_database(admin)
        try:
            async with backend_process(
                db_url,
                SHIFTDESK_WEBHOOK_SIMULATOR_SECRET=SECRET,
            ) as url:
                pid = PROCESSES[url].pid
                await normal_requests(url, min(50, requests), "warm")  # warm the pool and caches
                rss_before = resident_mb(pid)
                base, base_status = await normal_requests(url, requests, "base")

                conns = await asyncio.gather(
                    *(stall(url, body_kb, sent_kb) for _ in range(stalled))
                )
                during, during_status = await normal_requests(url, requests, "during")
                rss_during = resident_mb(pid)
                turned_away = [await answered(r) for r, _ in conns]
                for _, writer in conns:
                    writer.close()
                after, after_status = await normal_requests(url, requests, "after")
                rss_after = resident_mb(pid)
        finally:
            await drop_database(admin, db_url)

    def row(name: str, lat: list[float], statuses: dict[int, int], rss: float) -> list[object]:
        ok = statuses.get(202, 0)
        return [name, ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), f"{ok}/{len(lat)}", rss]

    print(
        table(
            f"Stalled webhook senders: {stalled} connections, each declaring {body_kb} KiB and"
            f" sending {sent_kb} KiB; {requests} normal signed requests per phase",
            ["phase", "p50 ms", "p99 ms", "202", "backend RSS MB"],
            [
                row("baseline (no stall)", base, base_status, rss_before),
                row(f"during {stalled} stalls", during, during_status, rss_during),
                row("after the stalls", after, after_status, rss_after),
            ],
        )
    )
    refused = sum(1 for s in turned_away if s == 503)
    timed_out = sum(1 for s in turned_away if s == 408)
    print(
        f"stalled connections: {refused} turned away with 503 before their body was read,"
        f" {timed_out} answered 408 at the read deadline,"
        f" {sum(1 for s in turned_away if s is None)} still held when measured"
    )
    print(f"RSS growth during the stall: {rss_during - rss_before:+.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stalled", type=int, default=400, help="stalled connections (<= 1000)")
    parser.add_argument("--requests", type=int, default=300, help="normal requests per phase")
    parser.add_argument("--body-kb", type=int, default=512, help="declared body, KiB (< 1024)")
    parser.add_argument("--sent-kb", type=int, default=64, help="sent before stalling, KiB")
    args = parser.parse_args()
    if not 0 < args.stalled <= 1000 or not 0 < args.requests <= 5000:
        parser.error("--stalled must be 1..1000 and --requests 1..5000 (bounded on purpose)")
    asyncio.run(run(args.stalled, args.requests, args.body_kb, min(args.sent_kb, args.body_kb)))


if __name__ == "__main__":
    main()
