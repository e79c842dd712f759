"""Soak: minutes of simulated crisis against a real backend process.

All on loopback: `shiftdesk serve` on a fresh database; a feeder pushing the
simulator's pile-on scenario through the signed webhook at --rate mentions/s
(several requests in flight, so it keeps the rate while the backend answers);
--operators simulated operators doing claim-next, about --think-s seconds of
reading and typing, and a public reply; and a recording platform
(Mastodon's status API, as the backend's Mastodon connector calls it) that
counts every publish per idempotency key. Bounded: the feed runs --minutes,
then the operators drain the queue for at most --drain seconds.

The crisis's shape (backend.simulator.scenarios, scenario "pileon"): of the 2,000
mentions a second only --new-customers-per-s (10) are a new customer's first
post; 25 % name Acme but are not about us (cartoon anvils; the listening
rules drop them); the rest lands on the 100 most recent customers: 35 % the
customer chasing in their own thread, 25 % strangers replying inside that
thread (joining its conversation), 15 % customers quoting each other ("same
here"). A post in an answered conversation reopens it, so operators answer
hot threads again and again: the table prints conversations opened, reopened
and the share of mentions that joined an existing conversation.

    .venv/bin/python bench/soak.py                       # 3 minutes at 2,000/s, 50 operators
    .venv/bin/python bench/soak.py --seconds 15 --rate 200 --operators 5

Prints what was held: mentions in and stored, conversations, claims, replies
queued, published and published twice, errors, the backend's RSS over time and
the queue and outbox depth at the end. Exit status 1 if an invariant broke.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import itertools
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend import operators as operators_mod  # noqa: E402
from backend.simulator.feeder import drive  # noqa: E402
from bench.harness import fresh_database, postgres, table  # noqa: E402
from tests.processes import BackendProcess  # noqa: E402

SECRET = "soak-webhook-secret"
NEW_CUSTOMERS_PER_S = 10.0
THINK_S = 1.0  # far quicker than a person; 50 operators at most 50 replies/s
SHAPE = (
    "(see backend.simulator.scenarios's pileon scenario): 25 % not about us (dropped), and in the 100 most recent "
    "customers' threads 25 % strangers replying, 15 % customers quoting each other, 35 % customers chasing"
)
TOKEN = "soak-platform-token"
FLAT_MIB = 16.0  # growth after warm-up, in the backend or its listening worker, still called flat


class RecordingPlatform:
    """Mastodon's status endpoints, recording each publish by idempotency key."""

    def __init__(self) -> None:
        self.posts_by_key: collections.Counter[str] = collections.Counter()
        self.ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/statuses", self.create)
        app.router.add_get("/api/v1/notifications", self.empty)
        app.router.add_get("/api/v1/accounts/verify_credentials", self.me)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self.empty)
        return app

    async def create(self, request: web.Request) -> web.Response:
        await request.post()
        key = request.headers.get("Idempotency-Key", "")
        self.posts_by_key[key] += 1
        sid = str(next(self.ids))
        return web.json_response({"id": sid, "url": f"http://127.0.0.1/@acme/{sid}"})

    async def empty(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def me(self, request: web.Request) -> web.Response:
        return web.json_response({"id": "1", "acct": "acme"})


IN_FLIGHT = 4  # webhook requests the feeder keeps outstanding
BATCH = 500  # mentions per request


def feed(url: str, seconds: float, rate: float, new_per_s: float, seed: int) -> dict:
    """The feeder, in a process of its own (so generating posts does not starve the operators):
    `shiftdesk simulate`'s sender playing the pile-on for `seconds`."""

    async def run() -> dict:
        r = await drive(
            url,
            "mastodon",
            SECRET,
            "pileon",
            rate,
            seconds,
            seed=seed,
            batch_max=BATCH,
            timeout_s=60,
            in_flight=IN_FLIGHT,
            new_customers_per_s=new_per_s,
        )
        return {
            "sent": r.sent,
            "accepted": r.accepted,
            "stored": r.stored,
            "duplicates": r.duplicates,
            "dropped": r.dropped,
            "refused": r.refused,
            "errors": collections.Counter(r.errors),
            "elapsed": r.elapsed,
            "requests": r.requests,
        }

    return asyncio.run(run())


@dataclass
class Operators:
    claims: int = 0
    replies: int = 0
    empty: int = 0  # claim-next found nothing
    errors: collections.Counter = field(default_factory=collections.Counter)


async def operator(
    url: str,
    token: str,
    stats: Operators,
    stop: asyncio.Event,
    idle: asyncio.Event,
    think_s: float = 0.0,
    rng: random.Random | None = None,
) -> None:
    """Claim the next conversation, read it and type for about `think_s` seconds, answer it;
    until told to stop and the queue is empty."""
    rng = rng or random.Random(0)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as s:
        while True:
            try:
                async with s.post(f"{url}/api/claim-next") as r:
                    body = await r.json()
                    if r.status == 404:
                        stats.empty += 1
                        if stop.is_set():
                            idle.set()
                            return
                        await asyncio.sleep(0.2)  # an operator glancing at an empty queue
                        continue
                    if r.status != 200:
                        stats.errors[f"claim {r.status}: {body.get('error', '')[:60]}"] += 1
                        continue
                stats.claims += 1
                if think_s:
                    await asyncio.sleep(
                        think_s * rng.uniform(0.5, 1.5)
                    )  # reading the thread, typing
                async with s.post(
                    f"{url}/api/conversations/{body['id']}/reply",
                    json={
                        "text": "Sorry about the trouble today. We're on it and will update you here.",
                        "confirm": True,
                    },
                ) as r:
                    if r.status == 201:
                        stats.replies += 1
                    else:
                        stats.errors[f"reply {r.status}: {(await r.text())[:60]}"] += 1
            except (TimeoutError, aiohttp.ClientError) as exc:
                stats.errors[f"operator: {type(exc).__name__}"] += 1


def config_file(directory: Path, platform_url: str) -> Path:
    path = directory / "soak.yaml"
    path.write_text(
        "database:\n  pool_max: 20\n"
        f"connectors:\n  mastodon:\n    enabled: true\n    base_url: {platform_url}\n    account: acme\n"
        "    token_env: SHIFTDESK_MASTODON_TOKEN\n    poll_interval_seconds: 30\n"
        "    hashtags: []\n    search_terms: []\n"
        "webhook:\n  sources:\n    mastodon: SHIFTDESK_WEBHOOK_MASTODON_SECRET\n"
        "outbox:\n  poll_interval_seconds: 0.5\n"
    )
    return path


async def soak(
    seconds: float,
    rate: float,
    n_operators: int,
    drain: float,
    seed: int,
    new_per_s: float = NEW_CUSTOMERS_PER_S,
    think_s: float = THINK_S,
) -> int:
    platform = RecordingPlatform()
    runner = web.AppRunner(platform.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    platform_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    tmp = Path(tempfile.mkdtemp(prefix="shiftdesk-soak-"))
    with postgres() as admin:
        db_url = await fresh_database(admin)
        pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
        tokens = [
            (await operators_mod.add(pool, f"op{i}", f"Operator {i}"))[1]
            for i in range(n_operators)
        ]
        backend = BackendProcess(
            db_url,
            config_files=[config_file(tmp, platform_url)],
            log_path=tmp / "serve.log",
            env={"SHIFTDESK_WEBHOOK_MASTODON_SECRET": SECRET, "SHIFTDESK_MASTODON_TOKEN": TOKEN},
        )
        await backend.start()
        proc = psutil.Process(backend.proc.pid)
        rss: list[tuple[float, float, float]] = []  # t, backend MiB, its listening worker MiB

        def resident() -> tuple[float, float, float]:
            workers = 0.0
            for child in proc.children(recursive=True):
                try:
                    workers += child.memory_info().rss
                except psutil.Error:
                    pass  # a process that ended between listing and reading
            return time.monotonic() - started, proc.memory_info().rss / 2**20, workers / 2**20

        started = time.monotonic()

        async def sample() -> None:
            while True:
                rss.append(resident())
                await asyncio.sleep(max(1.0, seconds / 12))

        stats = Operators()
        stop, sampler = asyncio.Event(), asyncio.create_task(sample())
        idles = [asyncio.Event() for _ in tokens]
        workers = [
            asyncio.create_task(
                operator(backend.url, t, stats, stop, idle, think_s, random.Random(seed * 100 + i))
            )
            for i, (t, idle) in enumerate(zip(tokens, idles))
        ]
        try:
            with concurrent.futures.ProcessPoolExecutor(1) as feeder:
                fed = await asyncio.get_running_loop().run_in_executor(
                    feeder, feed, backend.url, seconds, rate, new_per_s, seed
                )
            feed_elapsed = time.monotonic() - started
            stop.set()
            # Drain: operators keep claiming until the queue is empty, then the outbox until it is.
            deadline = time.monotonic() + drain
            while time.monotonic() < deadline and not all(i.is_set() for i in idles):
                await asyncio.sleep(0.5)
            while time.monotonic() < deadline and await pool.fetchval(
                "SELECT count(*) FROM outbox WHERE done_at IS NULL"
            ):
                await asyncio.sleep(0.5)
            rss.append(resident())
        finally:
            for w in workers:
                w.cancel()
            sampler.cancel()
            await asyncio.gather(*workers, sampler, return_exceptions=True)
            backend.stop()
        stored = await pool.fetchval("SELECT count(*) FROM mentions")
        queue = await pool.fetchval(
            "SELECT count(*) FROM conversations WHERE state IN ('new', 'claimed', 'flagged_conduct')"
        )
        outbox_left = await pool.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL")
        queued = await pool.fetchval("SELECT count(*) FROM messages")
        published = await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'published'")
        failed = await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'failed'")
        opened = await pool.fetchval("SELECT count(*) FROM conversations")
        reopened = await pool.fetchval(
            "SELECT count(*) FROM events WHERE kind IN ('conversation.customer_replied', 'conversation.reopened')"
        )
        await pool.close()
    await runner.cleanup()

    twice = sum(1 for n in platform.posts_by_key.values() if n > 1)
    errors = sum(stats.errors.values()) + fed["refused"] + failed
    print(
        f"pile-on: {rate:g} mentions/s, of them {new_per_s:g}/s a new customer's first post; the rest "
        f"{SHAPE}; signed webhook requests of {BATCH}, {IN_FLIGHT} in flight"
    )
    print(
        f"operators: {n_operators}, each claim-next, about {think_s:g} s reading and typing, public reply"
    )
    print(
        table(
            f"soak: {seconds:g} s of crisis at {rate:g} mentions/s, {n_operators} operators",
            ["what", "count"],
            [
                ["mentions sent", fed["sent"]],
                [
                    "mentions sent per s (achieved)",
                    round(fed["sent"] / fed["elapsed"], 1) if fed["elapsed"] else 0.0,
                ],
                ["mentions stored", stored],
                ["not about us (dropped)", fed["dropped"]],
                ["mentions refused", fed["refused"]],
                ["conversations opened", opened],
                ["conversations reopened (customer wrote after our reply)", reopened],
                [
                    "share of stored mentions joining a conversation (%)",
                    round(100.0 * (stored - opened) / stored, 1) if stored else 0.0,
                ],
                ["claims", stats.claims],
                ["replies queued", queued],
                ["replies published", published],
                ["replies failed", failed],
                ["publishes seen by the platform", sum(platform.posts_by_key.values())],
                ["replies published twice", twice],
                ["operator errors", sum(stats.errors.values())],
                ["queue left (new/claimed/flagged)", queue],
                ["outbox left", outbox_left],
                ["feed seconds", round(feed_elapsed, 1)],
            ],
        )
    )
    print()
    print(
        table(
            "backend RSS over time",
            ["t (s)", "backend (MiB)", "listening worker (MiB)"],
            [[round(t, 1), round(m, 1), round(w, 1)] for t, m, w in rss],
        )
    )
    for error, n in (stats.errors + collections.Counter(fed["errors"])).most_common(10):
        print(f"  {n} x {error}")
    steady = [(m, w) for t, m, w in rss if t >= min(30.0, seconds / 3)] or [
        (m, w) for _, m, w in rss
    ]
    growth = max(steady[-1][i] - min(x[i] for x in steady) for i in (0, 1))
    print(f"\nRSS growth after warm-up: {growth:.1f} MiB (flat: at most {FLAT_MIB:g})")
    ok = (
        growth <= FLAT_MIB
        and errors == 0
        and twice == 0
        and queue == 0
        and outbox_left == 0
        and published == queued == stats.replies
        and stored == fed["stored"]
        and fed["sent"] == fed["accepted"]
    )
    print("held" if ok else "NOT HELD")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, help="overrides --minutes")
    parser.add_argument("--rate", type=float, default=2000.0, help="mentions per second")
    parser.add_argument("--operators", type=int, default=50)
    parser.add_argument(
        "--drain", type=float, default=120.0, help="seconds allowed to empty queue and outbox"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--think-s",
        type=float,
        default=THINK_S,
        help="seconds an operator spends on one reply, on average (0: none at all)",
    )
    parser.add_argument(
        "--new-customers-per-s",
        type=float,
        default=NEW_CUSTOMERS_PER_S,
        help="how many of the mentions per second are a new customer's first post",
    )
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    return asyncio.run(
        soak(
            seconds,
            args.rate,
            args.operators,
            args.drain,
            args.seed,
            args.new_customers_per_s,
            args.think_s,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
