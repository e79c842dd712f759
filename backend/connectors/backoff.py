"""Waiting between polls and retries: exponential backoff with full jitter, and
the poll loop the ingest runner starts once per connector."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from backend.clock import Clock
from backend.connectors.base import Connector, RateLimited, TransientError
from backend.model import InboundPost

log = logging.getLogger(__name__)


class Backoff:
    """Delays that double per failure up to `cap`, each drawn uniformly ("full
    jitter") so that several backends retrying together spread out. The draw
    never goes below `base`, so a run of failures can never spin."""

    def __init__(self, base: float, cap: float, rng: random.Random):
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        """Seconds to wait after one more failure."""
        ceiling = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        return self._rng.uniform(self.base, ceiling) if ceiling > self.base else self.base

    def reset(self) -> None:
        """A success: the next failure starts from `base` again."""
        self.failures = 0


Store = Callable[[list[InboundPost], dict[str, Any]], Awaitable[None]]


async def run_poller(
    connector: Connector,
    load_cursor: Callable[[], Awaitable[dict[str, Any]]],
    store: Store,
    clock: Clock,
    sleep: Callable[[float], Awaitable[Any]],
    interval: float,
    *,
    backoff: Backoff | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Poll `connector` until `stop` is set (or the task is cancelled).

    Each round hands (posts, cursor) to `store`, which commits both in one
    transaction; the next round starts from that cursor. A rate limit waits
    until the platform's reset time; a transient error backs off with jitter;
    every path through the loop sleeps, except straight after a poll that
    said more pages are waiting. Errors from `store` propagate: the caller
    restarts the poller, which reloads the committed cursor.
    """
    backoff = backoff or Backoff(base=max(interval, 1.0), cap=300.0, rng=random.Random())
    cursor = await load_cursor()
    while stop is None or not stop.is_set():
        try:
            result = await connector.poll(cursor)
        except RateLimited as exc:
            wait = (exc.retry_at - clock.now()).total_seconds()
            # A reset time already past (clock skew) must not turn into a spin.
            wait = wait if wait > 0 else backoff.next_delay()
            log.warning("%s: %s; waiting %.1f s", connector.platform, exc, wait)
            await sleep(wait)
            continue
        except TransientError as exc:
            wait = backoff.next_delay()
            log.warning("%s: %s; retrying in %.1f s", connector.platform, exc, wait)
            await sleep(wait)
            continue
        backoff.reset()
        await store(result.posts, result.cursor)
        cursor = result.cursor
        if not result.more:
            await sleep(interval)
