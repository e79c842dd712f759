"""Idle WebSocket streams: does a crowd of open consoles slow down a new one?

Opens `--idle` streams on /api/stream (spread over `--operators` operators,
as consoles of a large team, each reading what it is sent) and measures the
time a new console needs from connecting until the backend says it is live,
before and while the idle streams are open; and the backend's CPU use while
nothing happens but the idle streams being kept (heartbeats, presence).
Only loopback; counts and durations are bounded.

    python bench/idle_streams.py [--idle 500] [--operators 100] [--connects 40] [--quiet-s 35]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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

from backend import operators
from backend.db.pool import connect

kinds: dict[str, int] = {}  # messages idle consoles received, by type


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def connect_time(session: aiohttp.ClientSession, url: str) -> float:
    """Seconds from opening a stream until the backend says it is live."""
    t0 = time.perf_counter()
    async with session.ws_connect(f"{url}/api/stream?after=0", max_msg_size=0) as ws:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and msg.json().get("type") == "live":
                return time.perf_counter() - t0
    raise RuntimeError("the stream closed before it was live")


async def connect_times(url: str, token: str, n: int) -> list[float]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        return [await connect_time(s, url) for _ in range(n)]


async def idle_console(
    url: str, token: str, live: asyncio.Event, counter: list[int], want: int, received: list[int]
) -> None:
    """One console left open: it reads (and counts) what it is sent until cancelled."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.ws_connect(f"{url}/api/stream?after=0", max_msg_size=0) as ws:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                received[0] += 1
                data = msg.json()
                kind = data.get("type", "?") + (f" {data['status']}" if "status" in data else "")
                kinds[kind] = kinds.get(kind, 0) + 1
                if data.get("type") == "live":
                    counter[0] += 1
                    if counter[0] >= want:
                        live.set()


async def run(idle: int, n_operators: int, connects: int, quiet_s: float) -> None:
    with postgres() as admin:
        db_url = await fresh_database(admin)
        try:
            conn = await connect(db_url)
            try:
                tokens = [
                    (await operators.add(conn, f"op{i}", f"Op {i}"))[1] for i in range(n_operators)
                ]
                _, newcomer = await operators.add(conn, "newcomer", "Newcomer")
            finally:
                await conn.close()
            async with backend_process(db_url) as url:
                pid = PROCESSES[url].pid
                await connect_times(url, newcomer, 5)  # warm up
                before = await connect_times(url, newcomer, connects)
                rss_before = resident_mb(pid)

                live, counter, received = asyncio.Event(), [0], [0]
                t0 = time.perf_counter()
                tasks = []
                for i in range(idle):
                    tasks.append(
                        asyncio.create_task(
                            idle_console(
                                url, tokens[i % n_operators], live, counter, idle, received
                            )
                        )
                    )
                await asyncio.wait_for(live.wait(), 300)
                open_all = time.perf_counter() - t0
                open_now = counter[0]
                during = await connect_times(url, newcomer, connects)

                # Nothing happens but keeping the streams: what does that cost the backend?
                cpu0, sent0 = cpu_seconds(pid), received[0]
                kinds.clear()
                await asyncio.sleep(quiet_s)  # the measurement window itself, not a synchronisation
                idle_cpu = (cpu_seconds(pid) - cpu0) / quiet_s
                idle_msgs = received[0] - sent0
                quiet_kinds = dict(kinds)
                rss_during = resident_mb(pid)
                still_open = sum(1 for t in tasks if not t.done())
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await drop_database(admin, db_url)

    rows = [
        [
            "before (no idle streams)",
            ms(percentile(before, 0.5)),
            ms(percentile(before, 0.99)),
            rss_before,
        ],
        [
            f"during {idle} idle streams",
            ms(percentile(during, 0.5)),
            ms(percentile(during, 0.99)),
            rss_during,
        ],
    ]
    print(
        table(
            f"Connect time of a new console on /api/stream ({connects} connects each)",
            ["phase", "p50 ms", "p99 ms", "backend RSS MB"],
            rows,
        )
    )
    print(
        f"opening {idle} streams of {n_operators} operators took {open_all:.1f} s ({open_now} live)"
    )
    print(f"streams still open after the quiet window: {still_open} of {idle}")
    print(
        f"idle backend CPU over {quiet_s:.0f} s with {idle} streams: {100 * idle_cpu:.1f}% of a core;"
        f" messages sent to idle consoles: {idle_msgs} {quiet_kinds}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=500, help="idle streams (<= 2000)")
    parser.add_argument("--operators", type=int, default=100, help="operators they belong to")
    parser.add_argument("--connects", type=int, default=40, help="new connects per phase")
    parser.add_argument("--quiet-s", type=float, default=35.0, help="idle window measured, s")
    args = parser.parse_args()
    if not 0 < args.idle <= 2000 or not 0 < args.operators <= args.idle:
        parser.error("--idle must be 1..2000 and --operators 1..idle (bounded on purpose)")
    asyncio.run(run(args.idle, args.operators, args.connects, min(args.quiet_s, 120.0)))


if __name__ == "__main__":
    main()
