"""Backoff arithmetic and the poll loop, with a fake sleep that only counts."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, timedelta

import pytest

from backend.clock import FrozenClock
from backend.connectors.backoff import Backoff, run_poller
from backend.connectors.base import PollResult, RateLimited, TransientError
from backend.model import Author, InboundPost


def test_backoff_grows_to_the_cap_with_seeded_jitter():
    b = Backoff(base=1.0, cap=30.0, rng=random.Random(7))
    delays = [b.next_delay() for _ in range(12)]
    assert all(1.0 <= d <= 30.0 for d in delays)
    ceilings = [min(30.0, 2.0**i) for i in range(12)]
    assert all(d <= c for d, c in zip(delays, ceilings))
    assert max(delays[6:]) > 8  # it did grow
    again = Backoff(base=1.0, cap=30.0, rng=random.Random(7))
    assert [again.next_delay() for _ in range(12)] == delays  # seeded: repeatable
    b.reset()
    assert b.next_delay() == 1.0


def post(n: int) -> InboundPost:
    from datetime import datetime

    return InboundPost(
        "mastodon", str(n), Author("a", "jo"), "hi", datetime(2026, 1, 1, tzinfo=UTC)
    )


class Scripted:
    """A connector whose polls follow a script of results and errors."""

    platform = "mastodon"

    def __init__(self, script):
        self.script = list(script)
        self.cursors = []

    async def poll(self, cursor):
        self.cursors.append(cursor)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


async def run(connector, clock, limit):
    stop = asyncio.Event()
    sleeps, stored = [], []

    async def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) >= limit:
            stop.set()

    async def store(posts, cursor):
        stored.append(([p.post_id for p in posts], cursor))

    async def load():
        return {"n": 0}

    await run_poller(
        connector,
        load,
        store,
        clock,
        sleep,
        interval=5.0,
        backoff=Backoff(1.0, 60.0, random.Random(1)),
        stop=stop,
    )
    return sleeps, stored


async def test_polls_store_and_resume_from_the_stored_cursor():
    c = Scripted([PollResult([post(1)], {"n": 1}), PollResult([], {"n": 1})])
    sleeps, stored = await run(c, FrozenClock(), limit=2)
    assert stored == [(["1"], {"n": 1}), ([], {"n": 1})]
    assert c.cursors == [{"n": 0}, {"n": 1}] and sleeps == [5.0, 5.0]


async def test_rate_limit_waits_until_reset_then_transient_errors_back_off():
    clock = FrozenClock()
    c = Scripted(
        [
            RateLimited(clock.now() + timedelta(seconds=42)),
            TransientError("GET x: server error 503"),
            TransientError("GET x: server error 503"),
            TransientError("GET x: server error 503"),
            PollResult([post(1)], {"n": 1}),
        ]
    )
    sleeps, stored = await run(c, clock, limit=5)
    assert sleeps[0] == 42.0
    assert all(s >= 1.0 for s in sleeps[1:4])  # never a busy loop
    assert sleeps[4] == 5.0 and stored == [(["1"], {"n": 1})]
    assert c.cursors == [{"n": 0}] * 5  # failures never advance the cursor


async def test_reset_in_the_past_still_sleeps():
    clock = FrozenClock()
    c = Scripted([RateLimited(clock.now() - timedelta(seconds=10)), PollResult([], {"n": 0})])
    sleeps, _ = await run(c, clock, limit=2)
    assert sleeps[0] >= 1.0


async def test_more_pages_poll_again_without_waiting():
    c = Scripted([PollResult([post(1)], {"n": 1}, more=True), PollResult([post(2)], {"n": 2})])
    sleeps, stored = await run(c, FrozenClock(), limit=1)
    assert len(stored) == 2 and sleeps == [5.0]


async def test_store_failure_propagates_without_moving_on():
    c = Scripted([PollResult([post(1)], {"n": 1})])

    async def store(posts, cursor):
        raise RuntimeError("database went away")

    async def load():
        return {}

    async def sleep(s):
        raise AssertionError("must not sleep past a failed store")

    with pytest.raises(RuntimeError, match="database went away"):
        await run_poller(c, load, store, FrozenClock(), sleep, interval=5.0)
