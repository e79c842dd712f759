"""Listening by stream where the platform pushes, with polling to catch up.

One session: open every stream the connector names, then poll from the
committed cursor until no page is waiting (the catch-up), while posts from
the streams are stored as they come. A post that arrives between the two is
read twice; ingest keeps one (mentions are unique on platform and post id).
While the streams are live, sources no stream carries (name searches) are
polled at the interval, and a full poll runs every `resync` seconds, so the
cursor keeps up and a reconnect has little to catch up on.

When a stream ends, goes silent or cannot open, the session ends and plain
polling takes over at the interval until the next attempt, after a jittered
backoff. A stream post that could not be stored is not lost: streams never
move the cursor, so the catch-up after the reconnect reads it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from backend.clock import Clock
from backend.connectors.backoff import Backoff, Store, run_poller
from backend.connectors.base import (
    ConnectorError,
    PermanentError,
    RateLimited,
    StreamingConnector,
    TransientError,
)
from backend.model import InboundPost

log = logging.getLogger(__name__)

RECONNECT_BASE_SECONDS = 1.0
RECONNECT_CAP_SECONDS = 60.0
# A refusal (404: no streaming API here, 401/403: not for this token) is not
# retried soon; polling carries the account meanwhile.
REFUSED_RETRY_SECONDS = 600.0
OPEN_TIMEOUT_SECONDS = 30.0
STREAM_BATCH = 500  # streamed posts stored in one transaction, at most


async def run_streaming(
    connector: StreamingConnector,
    load_cursor: Callable[[], Awaitable[dict[str, Any]]],
    store: Store,
    store_posts: Callable[[list[InboundPost]], Awaitable[None]],
    clock: Clock,
    interval: float,
    resync: float,
    *,
    rng: random.Random | None = None,
    on_live: Callable[[bool], None] = lambda live: None,
) -> None:
    """Stream `connector` for good, polling while the streams are down.

    `store(posts, cursor)` commits a poll's posts with its cursor; `store_posts`
    commits streamed posts (no cursor). Errors from either propagate, as in
    run_poller: the caller restarts this, which starts with a catch-up."""
    rng = rng or random.Random()
    reconnect = Backoff(RECONNECT_BASE_SECONDS, RECONNECT_CAP_SECONDS, rng)
    poll_backoff = Backoff(interval, max(interval, 300.0), rng)
    while True:
        try:
            await _session(
                connector, load_cursor, store, store_posts, interval, resync, on_live, reconnect
            )
        except PermanentError as exc:
            wait = REFUSED_RETRY_SECONDS
            log.warning(
                "%s: stream refused (%s); polling, trying again in %.0f s",
                connector.platform,
                exc,
                wait,
            )
        except RateLimited as exc:
            wait = max((exc.retry_at - clock.now()).total_seconds(), reconnect.next_delay())
            log.warning("%s: %s; polling, streaming again in %.1f s", connector.platform, exc, wait)
        except (TransientError, ConnectorError) as exc:
            wait = reconnect.next_delay()
            log.warning("%s: %s; polling, reconnecting in %.1f s", connector.platform, exc, wait)
        # Polling carries the account until the next attempt.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await run_poller(
                    connector,
                    load_cursor,
                    store,
                    clock,
                    asyncio.sleep,
                    interval,
                    backoff=poll_backoff,
                )


async def _poll_until_caught_up(
    connector: StreamingConnector,
    load_cursor: Callable[[], Awaitable[dict[str, Any]]],
    store: Store,
    *,
    streamed: bool,
) -> None:
    while True:
        result = await connector.poll(await load_cursor(), streamed=streamed)
        await store(result.posts, result.cursor)
        if not result.more:
            return


async def _session(
    connector: StreamingConnector,
    load_cursor: Callable[[], Awaitable[dict[str, Any]]],
    store: Store,
    store_posts: Callable[[list[InboundPost]], Awaitable[None]],
    interval: float,
    resync: float,
    on_live: Callable[[bool], None],
    reconnect: Backoff,
) -> None:
    """One streaming session; returns only by raising (a ConnectorError when a stream ends)."""
    specs = connector.streams()
    queue: asyncio.Queue[InboundPost] = asyncio.Queue()
    opened = asyncio.Event()
    count = [0]

    def on_open() -> None:
        count[0] += 1
        if count[0] == len(specs):
            opened.set()

    async def on_post(post: InboundPost) -> None:
        if post.by_us:
            # Our own status comes back by stream within milliseconds, before the
            # outbox has recorded its platform id, and would be stored beside the
            # message it is. Never queued anyway: the next poll brings it, by then known.
            return
        queue.put_nowait(post)

    async def write() -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < STREAM_BATCH:
                batch.append(queue.get_nowait())
            await store_posts(batch)

    async def polls() -> None:
        """Name searches at the interval, and everything every `resync` seconds."""
        loop = asyncio.get_running_loop()
        next_full = loop.time() + resync
        while True:
            await asyncio.sleep(interval if connector.polls_while_streaming else resync)
            full = loop.time() >= next_full
            if full:
                next_full = loop.time() + resync
            try:
                await _poll_until_caught_up(connector, load_cursor, store, streamed=not full)
            except (TransientError, RateLimited) as exc:
                # The streams are still live; the next poll tries again.
                log.warning("%s: poll while streaming: %s", connector.platform, exc)

    tasks = [asyncio.create_task(connector.stream(p, q, on_open, on_post)) for p, q in specs]
    tasks.append(asyncio.create_task(write()))
    try:
        waiter = asyncio.create_task(opened.wait())
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_SECONDS):
                await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise TransientError("streams did not open in time") from None
        finally:
            waiter.cancel()
        _raise_from_done(tasks)
        # Everything from before the streams opened, from the committed cursor.
        await _poll_until_caught_up(connector, load_cursor, store, streamed=False)
        reconnect.reset()
        log.info("%s: streaming (%d streams)", connector.platform, len(specs))
        on_live(True)
        tasks.append(asyncio.create_task(polls()))
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        _raise_from_done(tasks)
        raise TransientError("a stream ended")
    finally:
        on_live(False)
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)  # unlike awaiting each, never swallows our own cancellation


def _raise_from_done(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        if task.done():
            task.result()  # every task here only ends by raising
            raise TransientError("a stream ended")
