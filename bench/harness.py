"""Shared set-up for benchmarks: a real PostgreSQL and a real backend process.

The backend runs as `shiftdesk serve` in its own process, so the load
generator (this process) and the server do not share an event loop, as in
production. With SHIFTDESK_TEST_DATABASE_URL set, that server is used;
otherwise the embedded PostgreSQL starts in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.db.embedded import scratch_server  # noqa: E402
from backend.db.migrate import migrate_url  # noqa: E402
from backend.db.setup import with_database  # noqa: E402


def postgres() -> contextlib.AbstractContextManager[str]:
    return scratch_server("shiftdesk-bench-")


async def fresh_database(admin_url: str) -> str:
    """A new, migrated database on the server at `admin_url`; its URL."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(admin_url, name)
    await migrate_url(url)
    return url


async def drop_database(admin_url: str, url: str) -> None:
    """Remove a database fresh_database made (it matters on a shared SHIFTDESK_TEST_DATABASE_URL)."""
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# The `shiftdesk serve` process behind each URL backend_process yields (to read its memory).
PROCESSES: dict[str, subprocess.Popen] = {}


def resident_mb(pid: int) -> float:
    """Resident memory of process `pid` in MB (Linux)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


# N open conversations (all new, due across two hours, one mention each), the way
# bench/tui.py and bench/api_latency.py fill a queue. g::bigint: g * 7919 overflowed
# a 32-bit integer past 271,000 rows.
QUEUE_SEED = """
INSERT INTO authors (platform, platform_id, handle, display_name, followers)
SELECT 'simulator', 'a' || g, 'customer' || g, 'Customer ' || g, g % 5000
FROM generate_series(1, 20000) g;

INSERT INTO conversations (platform, author_id, state, priority, first_inbound_at, last_inbound_at,
                           sla_kind, sla_started_at, sla_warn_at, sla_due_at)
SELECT 'simulator', 1 + g % 20000, 'new', 1 + g % 4, now() - interval '5 minutes', now() - interval '5 minutes',
       'first', now(), now() + make_interval(secs => (g::bigint * 7919) % 7200 - 600),
       now() + make_interval(secs => (g::bigint * 7919) % 7200)
FROM generate_series(1, $N) g;

INSERT INTO mentions (platform, post_id, conversation_id, author_id, text, created_at)
SELECT 'simulator', 'p' || c.id, c.id, c.author_id,
       '@acme order ' || c.id || ' is late again, where is it? #acmefail', c.first_inbound_at
FROM conversations c;
"""


async def queue_database(admin_url: str, n: int, keep: bool = False) -> tuple[str, bool]:
    """A migrated database holding N open conversations (QUEUE_SEED) and whether it is
    to be kept. With `keep` it is named after N and reused by the next run with the same
    N (seeding a million takes minutes), migrated to today's schema first."""
    name = f"shiftdesk_bench_queue_{n}" if keep else f"bench_{uuid.uuid4().hex[:8]}"
    url = with_database(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT true FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    await migrate_url(url)
    conn = await asyncpg.connect(url)
    try:
        if exists and await conn.fetchval("SELECT count(*) FROM conversations") == n:
            print(f"reusing {name} ({n:,} open conversations)", file=sys.stderr)
            return url, keep
        if exists:
            await conn.execute("TRUNCATE authors, conversations, mentions, events CASCADE")
            await conn.execute(
                # TRUNCATE fires no row or statement trigger: the kept counts go with the rows.
                "TRUNCATE conversation_counts, conversation_count_deltas, tallies, tally_deltas,"
                " mention_hours, mention_hour_deltas"
            )
        started = time.perf_counter()
        await conn.execute(QUEUE_SEED.replace("$N", str(int(n))))
        await conn.execute("VACUUM ANALYZE")
        print(
            f"seeded {n:,} open conversations in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    finally:
        await conn.close()
    return url, keep


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def backend_process(db_url: str, **env: str) -> AsyncIterator[str]:
    """`shiftdesk serve` on a free loopback port; yields its base URL once healthy."""
    port = free_port()
    environ = {
        **os.environ,
        "SHIFTDESK_DATABASE_URL": db_url,
        "SHIFTDESK_SERVER_PORT": str(port),
        "SHIFTDESK_SERVER_HOST": "127.0.0.1",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    PROCESSES[url] = proc
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(300):
                if proc.poll() is not None:
                    raise RuntimeError(f"backend exited: {proc.stderr.read().decode()[-2000:]}")
                try:
                    async with s.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("backend did not become healthy")
        yield url
    finally:
        PROCESSES.pop(url, None)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in header]] + [
        [f"{c:.2f}" if isinstance(c, float) else str(c) for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    out = [title, line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]
    return "\n".join(out)


def ms(seconds: float) -> float:
    return seconds * 1000.0


__all__ = [
    "QUEUE_SEED",
    "queue_database",
    "postgres",
    "fresh_database",
    "backend_process",
    "PROCESSES",
    "resident_mb",
    "percentile",
    "table",
    "ms",
    "statistics",
    "time",
]
