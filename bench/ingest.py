"""Ingest speed: N mentions through the whole pipeline — match, enrich, thread,
store, notify — and, in the same run, raw COPY of the same mention rows into
an equivalent table. Prints mentions per second for both and their ratio.

    .venv/bin/python bench/ingest.py [--n 100000] [--batch 1000] [--seed 7] [--serial]
    .venv/bin/python bench/ingest.py --memory          # 1,000,000 mentions, RSS at checkpoints

End to end is listening with the rules of this checkout (Listener.process for
every post) then `Ingest.store_prepared` (authors upserted, threads and open
conversations looked up, conversations created or touched, mentions COPYed,
events written, one NOTIFY per batch, cursor committed), one batch per
transaction. By default listening runs in a `ListeningWorker` process, batch
N+1 there while batch N is stored here; `--serial` runs `Ingest.store`, all
in this process.

All the pipeline's wall time counts except the post generator's (it is not
the pipeline; it runs here between batches and its time is printed
separately); raw COPY's time includes turning posts into rows.

Raw COPY writes the same rows (the posts' own fields, fixed enrichment) with
`copy_records_to_table` into `bench_raw_mentions`, created LIKE mentions
INCLUDING INDEXES: the same primary key, unique (platform, post_id) and
indexes, no foreign keys and no triggers. It is the floor: what PostgreSQL
costs for the rows alone.

Posts come from a seeded generator with bounded state (a window of recent
customers to follow up on), so memory measures ingest, not the generator:
English and German; tagged @acme, #hashtags and plain names; follow-ups in
threads; DMs; the brand's own replies; about 8 % not about us.

The database is SHIFTDESK_TEST_DATABASE_URL if set, else an embedded
PostgreSQL in a temporary directory; a fresh database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.clock import Clock  # noqa: E402
from backend.db.pool import connect  # noqa: E402
from backend.heap import settle_after_startup  # noqa: E402
from backend.ingest.store import MENTION_COLUMNS, Ingest  # noqa: E402
from backend.ingest.worker import ListeningWorker, load_rulebook, make_processor  # noqa: E402
from backend.model import Author, InboundPost  # noqa: E402
from backend.simulator.scenarios import FOLLOW_UPS, LINES, NAMES  # noqa: E402
from backend.sla.policy import fixed_deadlines  # noqa: E402
from bench.harness import drop_database, fresh_database, postgres  # noqa: E402

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NOT_ABOUT_US = [
    "lovely weather in Berlin today, going for a walk",
    "Wile E. Coyote just ordered another Acme anvil",
    "Heute gibt es Kuchen im Büro",
    "anyone watching the match tonight?",
]
BRAND_AS = {
    "mastodon": ["@acme", "#acmefail", "Acme", "#acme"],
    "bluesky": ["@acme.bsky.social", "#acmefail", "Acme"],
}
OURS = {"mastodon": "acme@social.example", "bluesky": "acme.bsky.social"}
FOLLOW_WINDOW = 2000  # recent customers a follow-up may come from


def generate(count: int, seed: int, start: int = 0) -> Iterator[InboundPost]:
    """`count` posts, the same for the same seed; state stays bounded however many."""
    rng = random.Random(seed)
    recent: deque[tuple[Author, str, str, str, str]] = deque(
        maxlen=FOLLOW_WINDOW
    )  # author, platform, lang, root, last
    for i in range(start, start + count):
        at = START + timedelta(milliseconds=i)
        roll = rng.random()
        platform = "mastodon" if rng.random() < 0.7 else "bluesky"
        pid = f"b{seed}-{i}"
        if roll < 0.08:
            author = Author(
                f"{platform}-u{rng.randrange(1_000_000)}", f"passer{rng.randrange(10_000)}"
            )
            yield InboundPost(platform, pid, author, rng.choice(NOT_ABOUT_US), at)
            continue
        if roll < 0.33 and recent:
            k = rng.randrange(len(recent))
            author, plat, lang, root, last = recent[k]
            if rng.random() < 0.15:  # our reply in their thread
                us = Author(f"{plat}-acme", OURS[plat], "Acme Support", 5000)
                yield InboundPost(
                    plat,
                    pid,
                    us,
                    "Sorry about that, we're on it. ^Ben",
                    at,
                    in_reply_to=last,
                    thread_root=root,
                    language=lang,
                )
            else:
                direct = rng.random() < 0.1
                text = rng.choice(FOLLOW_UPS[lang])
                if not direct:
                    text = f"{BRAND_AS[plat][0]} {text}"
                yield InboundPost(
                    plat,
                    pid,
                    author,
                    text,
                    at,
                    in_reply_to=None if direct else last,
                    thread_root=None if direct else root,
                    is_direct=direct,
                    language=lang,
                )
            recent[k] = (author, plat, lang, root, pid)
            continue
        lang = "de" if rng.random() < 0.35 else "en"
        mood = rng.choice(["angry", "angry", "neutral", "happy"])
        template = rng.choice([t for language, m, t in LINES if language == lang and m == mood])
        n = rng.randrange(len(NAMES))
        author = Author(
            f"{platform}-c{i}",
            f"{NAMES[n].split()[0].lower()}{i}",
            NAMES[n],
            int(rng.lognormvariate(5.0, 1.8)),
        )
        tag = rng.choice(BRAND_AS[platform])
        yield InboundPost(
            platform,
            pid,
            author,
            template.format(tag=tag),
            at,
            mentioned_handles=(tag[1:],) if tag.startswith("@") else (),
            hashtags=(tag[1:],) if tag.startswith("#") else (),
        )
        recent.append((author, platform, lang, pid, pid))


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


RAW_COLUMNS = list(MENTION_COLUMNS)


async def end_to_end(
    url: str, n: int, batch: int, seed: int, checkpoints: int, serial: bool = False
) -> tuple[float, float, list[tuple[int, float]], list[tuple[int, float]]]:
    """(seconds in the pipeline, seconds in the generator, RSS checkpoints here and in the worker)."""
    rulebook = load_rulebook(ROOT / "rules")
    ingest = Ingest(make_processor(rulebook), fixed_deadlines(timedelta(minutes=60)), Clock())
    worker = None if serial else ListeningWorker(ROOT / "rules")
    conn = await connect(url)
    settle_after_startup()  # as `shiftdesk serve` does once it has started
    rss: list[tuple[int, float]] = [(0, rss_mb())]
    worker_rss: list[tuple[int, float]] = []
    posts = generate(n, seed)
    generating = 0.0

    def next_chunk(done: int) -> list[InboundPost]:
        nonlocal generating
        t = time.perf_counter()
        chunk = [next(posts) for _ in range(min(batch, n - done))]
        generating += time.perf_counter() - t
        return chunk

    try:
        if worker is not None:
            await worker.prepare([])  # the worker's start-up (imports, rules) is not ingest
            worker_rss.append((0, await worker.resident_mb()))
        done = 0
        t0 = time.perf_counter()
        if worker is None:
            while done < n:
                chunk = next_chunk(done)
                await ingest.store(conn, chunk, cursor=("bench", {"sequence": done + len(chunk)}))
                done += len(chunk)
                if checkpoints and done % checkpoints == 0:
                    rss.append((done, rss_mb()))
        else:
            # Listening for batch N+1 runs in the worker while batch N is stored here.
            chunk = next_chunk(0)
            pending = asyncio.ensure_future(worker.prepare(chunk))
            while done < n:
                prepared = await pending
                size = len(chunk)
                if done + size < n:
                    chunk = next_chunk(done + size)
                    pending = asyncio.ensure_future(worker.prepare(chunk))
                await ingest.store_prepared(
                    conn, prepared, cursor=("bench", {"sequence": done + size})
                )
                done += size
                if checkpoints and done % checkpoints == 0:
                    rss.append((done, rss_mb()))
                    worker_rss.append((done, await worker.resident_mb()))
        # The generator runs in this process between batches: its time is not the pipeline's.
        elapsed = time.perf_counter() - t0 - generating
        stored = await conn.fetchval("SELECT count(*) FROM mentions")
        print(
            f"  end to end: {stored} mentions stored of {n} posts "
            f"({await conn.fetchval('SELECT count(*) FROM conversations')} conversations, "
            f"{await conn.fetchval('SELECT count(*) FROM events')} events)",
            file=sys.stderr,
        )
    finally:
        await conn.close()
        if worker is not None:
            worker.close()
    return elapsed, generating, rss, worker_rss


async def raw_copy(url: str, n: int, batch: int, seed: int) -> float:
    conn = await connect(url)
    try:
        await conn.execute(
            "CREATE TABLE bench_raw_mentions (LIKE mentions INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        posts = generate(n, seed)
        now = datetime.now(UTC)
        done = 0
        elapsed = 0.0
        while done < n:
            chunk = [next(posts) for _ in range(min(batch, n - done))]
            t0 = time.perf_counter()
            records = [
                (
                    p.platform,
                    p.post_id,
                    1,
                    1,
                    p.text,
                    p.url,
                    p.created_at,
                    now,
                    p.in_reply_to,
                    p.thread_root,
                    p.is_direct,
                    False,
                    ["tagged"],
                    p.language,
                    0.0,
                    p.author.followers,
                    3,
                    [],
                    [],
                    p.raw,
                )
                for p in chunk
            ]
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "bench_raw_mentions", records=records, columns=RAW_COLUMNS
                )
            elapsed += time.perf_counter() - t0
            done += len(chunk)
        return elapsed
    finally:
        await conn.close()


async def run(admin_url: str, args: argparse.Namespace) -> None:
    url = await fresh_database(admin_url)
    try:
        e2e, generating, rss, worker_rss = await end_to_end(
            url, args.n, args.batch, args.seed, args.checkpoint, args.serial
        )
        raw = await raw_copy(url, args.n, args.batch, args.seed)
    finally:
        await drop_database(admin_url, url)
    e2e_rate, raw_rate = args.n / e2e, args.n / raw
    mode = "one process" if args.serial else "listening worker"
    print(f"{'N':>9} {'batch':>6} {'end to end/s':>13} {'raw COPY/s':>11} {'ratio':>6}  mode")
    print(
        f"{args.n:>9} {args.batch:>6} {e2e_rate:>13,.0f} {raw_rate:>11,.0f} {raw_rate / e2e_rate:>5.1f}x  {mode}"
    )
    print(
        f"end to end {e2e:.1f} s (+ {generating:.1f} s generating posts, not counted), raw COPY {raw:.1f} s "
        f"(raw: same rows into an equally indexed table, no foreign keys, no triggers)"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if len(rss) > 1:
        print("RSS (MB) after mentions:  " + "  ".join(f"{done:,}: {mb:.0f}" for done, mb in rss))
    if len(worker_rss) > 1:
        print(
            "worker RSS (MB) after:    "
            + "  ".join(f"{done:,}: {mb:.0f}" for done, mb in worker_rss)
        )
    print(f"peak RSS {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="mentions (default 100,000)")
    parser.add_argument(
        "--batch", type=int, default=1000, help="mentions per transaction (default 1,000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--memory", action="store_true", help="1,000,000 mentions, RSS every 100,000"
    )
    parser.add_argument("--checkpoint", type=int, default=0, help="RSS every this many mentions")
    parser.add_argument(
        "--serial",
        action="store_true",
        help="listening in this process (Ingest.store), not in a worker process",
    )
    args = parser.parse_args()
    if args.memory:
        args.n = 1_000_000
        args.checkpoint = args.checkpoint or 100_000
    with postgres() as admin_url:
        asyncio.run(run(admin_url, args))


if __name__ == "__main__":
    main()
