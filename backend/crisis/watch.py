"""Crisis mode: declare a surge of negative mentions, and its end, with events.

Every backend runs a CrisisWatch that reads new negative mentions from the
database (so it counts what every backend ingested, not only its own) into a
`surge.SurgeDetector`, and checks it on a timer, because a crisis also ends by
mentions *not* arriving. Backends therefore reach the same decision; the
declaration is written under an advisory lock that first looks for an open
crisis, so only one `crisis.started` (and one `crisis.ended`) is recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from backend import events
from backend.clock import Clock
from backend.crisis.surge import CrisisEnded, CrisisStarted, SurgeDetector, Transition

log = logging.getLogger(__name__)

CRISIS_LOCK = 0x5D1F7004

# Negative mentions after a known id, counted per bucket of their arrival time.
NEW_NEGATIVE = """
    SELECT date_bin($3::interval, received_at, timestamptz '1970-01-01 00:00:00+00') AS bucket,
           count(*) AS n
    FROM mentions WHERE id > $1 AND id <= $5 AND NOT is_ours AND sentiment < $2 AND received_at > $4
    GROUP BY 1 ORDER BY 1
"""
LAST_MENTION = "SELECT coalesce(max(id), 0) FROM mentions"
OPEN_CRISIS = "SELECT id, started_at, data FROM crises WHERE ended_at IS NULL"


class CrisisWatch:
    """Feeds the surge detector from stored mentions and records crisis transitions."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, config: Any, ignore: Iterable[str] = ()):
        self.pool = pool
        self.clock = clock
        self.config = config  # backend.config.CrisisConfig
        self.ignore = tuple(ignore)  # words never taken for a complaint's topic (the brand)
        self.detector = SurgeDetector.from_config(config.surge(), clock)
        self.last_mention_id = 0
        self.wake = asyncio.Event()
        self._started = False
        self._calm_open_since: datetime | None = None
        self._checking = asyncio.Lock()

    def on_event(self, event: dict[str, Any]) -> None:
        """Hub callback: new mentions mean something to count."""
        if event["kind"] in ("mention.received", "conversation.opened"):
            self.wake.set()

    async def open_crisis(self) -> dict[str, Any] | None:
        """The crisis under way as stored (for the summary after a restart), else None."""
        row = await self.pool.fetchrow(OPEN_CRISIS)
        if row is None:
            return None
        return {"since": row["started_at"].isoformat(), **(row["data"] or {})}

    async def warm_start(self) -> list[Transition]:
        """Feed the last window + baseline of negative mentions, so a busy normal hour is not a surge."""
        cfg = self.detector.config
        since = self.clock.now() - cfg.window - cfg.baseline_window
        self.last_mention_id = 0
        transitions = await self._read_new(since)
        self._started = True
        return transitions

    async def _read_new(self, since: datetime | None = None) -> list[Transition]:
        cfg = self.detector.config
        floor = since or datetime(1970, 1, 1, tzinfo=UTC)
        # Ingest commits mentions in id order (its advisory lock), so "up to the newest id" misses none.
        latest = await self.pool.fetchval(LAST_MENTION)
        rows = await self.pool.fetch(
            NEW_NEGATIVE,
            self.last_mention_id,
            self.config.negative_below,
            cfg.bucket,
            floor,
            latest,
        )
        transitions: list[Transition] = []
        for r in rows:
            transitions += self.detector.observe(r["n"], r["bucket"])  # observe evaluates too
        self.last_mention_id = max(self.last_mention_id, latest)
        return transitions

    async def check(self) -> list[Transition]:
        """Count new negative mentions, evaluate at the clock's now, record any transition."""
        async with self._checking:  # the task and a caller (a test, a trigger) take turns
            read = await (self._read_new() if self._started else self.warm_start())
            transitions = read + self.detector.check()
            for t in transitions:
                await self.record(t)
            if not transitions:
                await self._end_orphan()
            return transitions

    async def _end_orphan(self) -> None:
        """A crisis left open by a backend that stopped: end it once this detector has been calm a cool-down."""
        if self.detector.in_crisis:
            self._calm_open_since = None
            return
        row = await self.pool.fetchrow(OPEN_CRISIS)
        now = self.clock.now()
        if row is None:
            self._calm_open_since = None
            return
        if self._calm_open_since is None:
            self._calm_open_since = now
        elif now - self._calm_open_since >= self.detector.config.cool_down:
            current, baseline = self.detector.rates(now)
            per_minute = 60.0 / self.detector.config.window.total_seconds()
            await self.record(
                CrisisEnded(
                    now,
                    row["started_at"],
                    current * per_minute,
                    baseline * per_minute,
                    0.0,
                    float((row["data"] or {}).get("peak_per_minute", 0.0)),
                )
            )
            self._calm_open_since = None

    async def record(self, transition: Transition) -> bool:
        """Write the transition once across backends; False when another backend already did."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CRISIS_LOCK)
            open_row = await conn.fetchrow(OPEN_CRISIS)
            if isinstance(transition, CrisisStarted):
                if open_row is not None:
                    return False
                data = {
                    "rate_per_minute": transition.rate_per_minute,
                    "baseline_per_minute": transition.baseline_per_minute,
                    "threshold_per_minute": transition.threshold_per_minute,
                }
                crisis_id = await conn.fetchval(
                    "INSERT INTO crises (started_at, peak_per_minute, data) VALUES ($1, $2, $3) RETURNING id",
                    transition.at,
                    transition.rate_per_minute,
                    data,
                )
                await events.record(
                    conn,
                    events.NewEvent(
                        "crisis.started", data={"crisis_id": crisis_id, **data}, at=transition.at
                    ),
                )
                return True
            if open_row is None:
                return False
            await conn.execute(
                "UPDATE crises SET ended_at = $2, peak_per_minute = greatest(peak_per_minute, $3) "
                "WHERE id = $1",
                open_row["id"],
                transition.at,
                transition.peak_per_minute,
            )
            await events.record(
                conn,
                events.NewEvent(
                    "crisis.ended",
                    data={
                        "crisis_id": open_row["id"],
                        "started_at": open_row["started_at"].isoformat(),
                        "rate_per_minute": transition.rate_per_minute,
                        "peak_per_minute": transition.peak_per_minute,
                    },
                    at=transition.at,
                ),
            )
            return True

    async def run(self) -> None:
        """Check every bucket, and as soon as new mentions are stored."""
        interval = self.detector.config.bucket.total_seconds()
        while True:
            self.wake.clear()
            try:
                await self.check()
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                log.warning("crisis watch: database unavailable (%s)", exc)
            try:
                await asyncio.wait_for(self.wake.wait(), interval)
            except TimeoutError:
                pass


async def crisis_since(conn: asyncpg.Connection | asyncpg.Pool) -> datetime | None:
    """When the crisis under way started; None when there is none."""
    return await conn.fetchval("SELECT started_at FROM crises WHERE ended_at IS NULL")


CRISIS_WATCH = web.AppKey("crisis_watch", CrisisWatch)
