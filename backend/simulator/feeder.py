"""`shiftdesk simulate`: drive a scenario's mentions into a running backend
through its webhook, signed like any pushing platform, at a steady rate.

Posts come from the seeded simulator, so a run is reproducible; post ids
carry the seed, so the same seed twice stores nothing twice (the second run
reports duplicates) and another seed brings fresh customers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from backend.clock import Clock
from backend.connectors.webhook import MAX_POSTS, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from backend.simulator.scenarios import SCENARIOS, Simulator, webhook_post

TICK_SECONDS = 0.05  # how often the sender checks what is due


@dataclass
class SimulateReport:
    """What a run sent and what the backend said about it."""

    scenario: str
    seed: int
    rate: float
    duration: float
    sent: int = 0  # posts sent
    requests: int = 0
    accepted: int = 0  # posts in requests answered 202
    stored: int = 0
    duplicates: int = 0
    dropped: int = 0  # not about us
    refused: int = 0  # posts in requests answered with an error
    errors: dict[str, int] = field(default_factory=dict)  # "status: message" -> requests
    elapsed: float = 0.0

    def lines(self) -> list[str]:
        """The summary a person reads at the end of a run."""
        per_s = self.sent / self.elapsed if self.elapsed else 0.0
        out = [
            f"scenario {self.scenario} (seed {self.seed}): {self.rate:g} mentions/s for {self.duration:g} s",
            f"sent      {self.sent} mentions in {self.requests} requests over {self.elapsed:.1f} s ({per_s:.1f}/s)",
            f"accepted  {self.accepted}: stored {self.stored}, duplicates {self.duplicates}, "
            f"not about us {self.dropped}",
        ]
        if self.refused:
            out.append(f"refused   {self.refused}")
            out += [f"  {n} x {error}" for error, n in self.errors.items()]
        return out


def due(rate: float, elapsed: float) -> int:
    """How many mentions a steady `rate` has owed by `elapsed` seconds."""
    return int(rate * elapsed)


async def drive(
    url: str,
    source: str,
    secret: str,
    scenario: str,
    rate: float,
    duration: float,
    *,
    seed: int = 7,
    batch_max: int = 500,
    brand_handle: str = "acme",
    brand_name: str = "Acme",
    clock: Clock | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    timeout_s: float = 30.0,
    in_flight: int = 1,
    new_customers_per_s: float | None = None,
) -> SimulateReport:
    """Send the scenario's mentions to `url`/ingest/`source` at `rate` per second for `duration` seconds.

    Up to `in_flight` requests are outstanding at once, so the sender keeps the
    rate while the backend answers the last batch. `new_customers_per_s` bounds
    how many of the mentions are a new customer's first (pile-on scenarios)."""
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be more than 0")
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    clock = clock or Clock()
    batch_max = max(1, min(batch_max, MAX_POSTS))
    if new_customers_per_s is None and scenario in SCENARIOS:
        new_customers_per_s = SCENARIOS[scenario].new_customers_per_s
    share = None if new_customers_per_s is None else min(1.0, new_customers_per_s / rate)
    # Pile-on lands only in threads older than what may still be in flight (see Simulator).
    sim = Simulator(
        scenario,
        seed,
        clock,
        brand_handle,
        brand_name,
        new_customer_share=share,
        settle_posts=in_flight * batch_max,
    )
    report = SimulateReport(scenario, seed, rate, duration)
    endpoint = f"{url.rstrip('/')}/ingest/{source}"
    total = due(rate, duration)
    start = monotonic()
    slots = asyncio.Semaphore(in_flight)
    sending: set[asyncio.Task[None]] = set()

    async def send(posts: list[dict[str, Any]]) -> None:
        try:
            await _send(session, endpoint, secret, posts, clock, report)
        finally:
            slots.release()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        while report.sent < total:
            owed = min(total, due(rate, monotonic() - start)) - report.sent
            if owed <= 0:
                # The next mention is due at (sent + 1) / rate seconds after the start.
                await asyncio.sleep(
                    max(0.0, min(TICK_SECONDS, (report.sent + 1) / rate - (monotonic() - start)))
                )
                continue
            await slots.acquire()
            # Whatever fell due while we waited for a slot goes in this batch.
            owed = min(total, due(rate, monotonic() - start)) - report.sent
            posts = list(sim.posts(min(owed, batch_max)))
            report.sent += len(posts)
            task = asyncio.create_task(send([webhook_post(p) for p in posts]))
            sending.add(task)
            task.add_done_callback(sending.discard)
        await asyncio.gather(*sending)
    report.elapsed = monotonic() - start
    return report


async def _send(
    session: aiohttp.ClientSession,
    endpoint: str,
    secret: str,
    posts: list[dict[str, Any]],
    clock: Clock,
    report: SimulateReport,
) -> None:
    body = json.dumps({"posts": posts}, ensure_ascii=False).encode("utf-8")
    stamp = str(int(clock.now().timestamp()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, stamp, body),
    }
    report.requests += 1
    try:
        async with session.post(endpoint, data=body, headers=headers) as resp:
            try:
                answer = await resp.json(content_type=None)
            except ValueError:
                answer = {"error": (await resp.text())[:200]}
            status = resp.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        status, answer = 0, {"error": f"no answer ({type(exc).__name__})"}
    if status == 202:
        report.accepted += len(posts)
        report.stored += int(answer.get("stored", 0))
        report.duplicates += int(answer.get("duplicates", 0))
        report.dropped += int(answer.get("dropped", 0))
        return
    if status == 413 and len(posts) > 1:
        # The backend caps request size: send the batch again in halves.
        half = len(posts) // 2
        await _send(session, endpoint, secret, posts[:half], clock, report)
        await _send(session, endpoint, secret, posts[half:], clock, report)
        return
    report.refused += len(posts)
    error = f"{status or 'no answer'}: {answer.get('error', '') if isinstance(answer, dict) else answer}"
    report.errors[error] = report.errors.get(error, 0) + 1
