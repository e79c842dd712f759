"""Mention-to-queue latency: from the platform accepting a post to the mention's
event (conversation.opened / mention.received) reaching a console's /api/stream.

Three ways in, against one `shiftdesk serve` process on a fresh database:

- the signed webhook (POST /ingest/simulator; the clock starts as the
  platform would send it, right after accepting the post);
- Mastodon's streaming API, against the fake Mastodon's streaming endpoint
  (the clock starts as the fake accepts the status);
- polling at its interval: the same fake with its streaming API switched
  off, so the backend falls back to polling every --poll-interval seconds.

One mention in flight at a time, each from a new customer, so each arrival
is the mention just sent. Polling mentions are spaced by a random share of
the interval, so they land at every phase of it. The floor, measured in the
same run: a bare LISTEN/NOTIFY round trip (bench/fanout.py's).

    python bench/latency.py [--n 200] [--poll-interval 5] [--poll-n 30] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from fanout import ARRIVALS, notify_floor
from harness import ROOT, drop_database, fresh_database, ms, percentile, postgres, table

from backend import operators
from backend.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from backend.db.pool import connect

sys.path.insert(0, str(ROOT))
from tests.fakes import serve  # noqa: E402
from tests.fakes.mastodon import FakeMastodon  # noqa: E402
from tests.processes import BackendProcess  # noqa: E402

SECRET = "latency-bench-webhook-secret"
TOKEN = "latency-bench-mastodon-token"
TARGET_P99_S = 2.0  # webhook and stream


class Console:
    """One operator's /api/stream; `arrivals` gets the time of each mention's event."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.arrivals: asyncio.Queue[float] = asyncio.Queue()
        self.live = asyncio.Event()

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.ws_connect(f"{self.url}/api/stream?after=0", max_msg_size=0) as ws:
                async for msg in ws:
                    data = msg.json()
                    if data["type"] == "live":
                        self.live.set()
                    elif data["type"] == "event" and data["event"]["kind"] in ARRIVALS:
                        self.arrivals.put_nowait(time.perf_counter())

    async def next_arrival(self, timeout: float) -> float | None:
        try:
            return await asyncio.wait_for(self.arrivals.get(), timeout)
        except TimeoutError:
            return None


async def measure(
    console: Console,
    send,
    n: int,
    timeout: float,
    gap: float | None = None,
) -> tuple[list[float], int]:
    """Latencies of `n` mentions sent one at a time by `send(i)`; and how many never arrived."""
    rng = random.Random(7)
    out, missing = [], 0
    for i in range(n):
        t0 = time.perf_counter()
        await send(i)
        arrived = await console.next_arrival(timeout)
        if arrived is None:
            missing += 1
        else:
            out.append(arrived - t0)
        if gap:
            await asyncio.sleep(rng.uniform(0, gap))  # land at every phase of the poll interval
    return out, missing


def webhook_body(i: int) -> bytes:
    post = {
        "id": f"wh{i}",
        "author": {"id": f"wa{i}", "handle": f"webhook_customer{i}", "followers": 3},
        "text": f"@acme my order {i} never came",
        "created_at": datetime.now(UTC).isoformat(),
        "mentions": ["acme"],
    }
    return json.dumps({"posts": [post]}).encode()


def config_file(tmp: Path, url: str, interval: float) -> Path:
    path = tmp / "latency.yaml"
    path.write_text(
        f"connectors:\n  mastodon:\n    enabled: true\n    base_url: {url}\n    account: acme\n"
        "    token_env: SHIFTDESK_MASTODON_TOKEN\n    timeout_s: 5\n"
        f"    poll_interval_seconds: {interval}\n    hashtags: [acmefail]\n"
        "    search_terms: []\n    streaming: true\n"
    )
    return path


async def main(args: argparse.Namespace) -> None:
    with postgres() as admin_url, tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        db_url = await fresh_database(admin_url)
        conn = await connect(db_url)
        try:
            _, token = await operators.add(conn, "bench")
            floor = await notify_floor(db_url, max(args.n, 50))
        finally:
            await conn.close()
        fake = FakeMastodon(token=TOKEN)
        async with serve(fake.app()) as fake_url:
            backend = BackendProcess(
                db_url,
                config_files=[config_file(Path(tmp), fake_url, args.poll_interval)],
                env={
                    "SHIFTDESK_WEBHOOK_SIMULATOR_SECRET": SECRET,
                    "SHIFTDESK_MASTODON_TOKEN": TOKEN,
                },
                log_path=Path(tmp) / "serve.log",
            )
            await backend.start()
            console = Console(backend.url, token)
            reader = asyncio.create_task(console.run())
            try:
                await asyncio.wait_for(console.live.wait(), 30)
                rows = await run_paths(args, backend, fake, console)
            finally:
                # Close the console first: an open /api/stream holds up a graceful stop.
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                backend.stop()
        await drop_database(admin_url, db_url)
    rows.insert(0, ("bare LISTEN/NOTIFY (floor)", len(floor), *stats(floor), 0))
    print(
        table(
            "mention-to-queue latency: platform accepts a post -> its event on a console's /api/stream",
            ["path", "mentions", "p50 ms", "p99 ms", "max ms", "missing"],
            rows,
        )
    )
    print(f"target: p99 under {TARGET_P99_S * 1000:.0f} ms for the webhook and the stream")


def stats(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    return ms(percentile(values, 0.5)), ms(percentile(values, 0.99)), ms(max(values))


async def run_paths(
    args: argparse.Namespace, backend: BackendProcess, fake: FakeMastodon, console: Console
) -> list[tuple]:
    rows = []
    async with aiohttp.ClientSession() as http:

        async def webhook(i: int) -> None:
            body = webhook_body(i)
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign(SECRET, stamp, body),
            }
            async with http.post(
                f"{backend.url}/ingest/simulator", data=body, headers=headers
            ) as r:
                assert r.status == 202, await r.text()

        got, missing = await measure(console, webhook, args.n, timeout=10)
        rows.append(("signed webhook", len(got), *stats(got), missing))

    # The backend streams once elected and caught up: wait for the fake to see both streams.
    for _ in range(600):
        if len(fake.open_streams) == 2:
            break
        await asyncio.sleep(0.05)
    else:
        raise SystemExit(f"the backend never opened its Mastodon streams: {backend.log()[-2000:]}")

    async def mastodon(i: int) -> None:
        fake.post(f"customer{i}", f"@acme card {i} charged twice")

    got, missing = await measure(console, mastodon, args.n, timeout=10)
    rows.append(("Mastodon stream", len(got), *stats(got), missing))

    # No streaming API any more: the backend falls back to polling at its interval.
    fake.streaming_enabled = False
    mark = len(fake.requests)
    fake.drop_streams()
    for _ in range(600):
        if _refused_then_polled(fake, mark):
            break
        await asyncio.sleep(0.05)
    else:
        raise SystemExit(f"the backend never fell back to polling: {backend.log()[-2000:]}")

    async def polled(i: int) -> None:
        fake.post(f"polled{i}", f"@acme parcel {i} lost")

    got, missing = await measure(
        console, polled, args.poll_n, timeout=args.poll_interval * 3 + 10, gap=args.poll_interval
    )
    rows.append((f"polling every {args.poll_interval:g} s", len(got), *stats(got), missing))
    return rows


def _refused_then_polled(fake: FakeMastodon, mark: int) -> bool:
    """The backend asked for a stream after `mark`, was refused, and has polled since."""
    paths = [path for _, path in fake.requests[mark:]]
    refused = [i for i, path in enumerate(paths) if path.startswith("/api/v1/streaming")]
    return bool(refused) and any(
        path.startswith("/api/v1/notifications") for path in paths[refused[0] + 1 :]
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=200, help="mentions per pushed path")
    p.add_argument("--poll-interval", type=float, default=5.0)
    p.add_argument("--poll-n", type=int, default=30, help="mentions through polling")
    p.add_argument("--quick", action="store_true", help="a small run, under 30 s")
    a = p.parse_args()
    if a.quick:
        a.n, a.poll_interval, a.poll_n = 20, 0.5, 8
    asyncio.run(main(a))
