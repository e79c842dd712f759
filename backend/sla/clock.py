"""The SLA clock: warning and breach events at the moment they happen.

The due times are stored on each conversation (ingest and the actions keep
them), so the clock holds no state of its own: it reads what is pending,
lets `sla.next_deadline_events` decide, writes the events and the flags in
one transaction, and sleeps until the next stored deadline. Any event on the
hub (a reply, a new mention, a claim on another backend) wakes it early, since
a deadline may have moved.

Several backends may run it against one database: rows are taken
`FOR UPDATE SKIP LOCKED` and the WHERE re-checks the flags, so each warning
and breach is written exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import asyncpg
from aiohttp import web

from backend import events
from backend.clock import Clock
from backend.sla.policy import Watched, next_deadline_events

log = logging.getLogger(__name__)

BATCH = 500  # rows per transaction; more are taken at once in the next round
LONGEST_SLEEP = timedelta(minutes=1)
MIN_SLEEP = timedelta(
    milliseconds=200
)  # re-read now and then even when nothing wakes us (clock steps)

PENDING = """
    SELECT c.id, c.sla_warn_at, c.sla_due_at, c.sla_warned, c.sla_breached, c.sla_kind, c.priority, c.state,
           c.claimed_by, o.display_name AS holder_name,
           -- Whoever holds it as the clock runs out (the clock wakes at each due time);
           -- nobody personally when nobody does, not whoever last touched it.
           c.claimed_by AS accountable_id
    FROM conversations c LEFT JOIN operators o ON o.id = c.claimed_by
    WHERE c.id IN (
        (SELECT id FROM conversations
         WHERE sla_warn_at IS NOT NULL AND NOT sla_warned AND NOT sla_breached AND sla_warn_at <= $1
         ORDER BY sla_warn_at LIMIT $2)
        UNION
        (SELECT id FROM conversations
         WHERE sla_due_at IS NOT NULL AND NOT sla_breached AND sla_due_at <= $1
         ORDER BY sla_due_at LIMIT $2))
      AND ((c.sla_warn_at <= $1 AND NOT c.sla_warned AND NOT c.sla_breached)
           OR (c.sla_due_at <= $1 AND NOT c.sla_breached))
    FOR UPDATE OF c SKIP LOCKED
"""

NEXT_PENDING = """
    SELECT least(
        (SELECT min(sla_warn_at) FROM conversations
         WHERE sla_warn_at IS NOT NULL AND NOT sla_warned AND NOT sla_breached),
        (SELECT min(sla_due_at) FROM conversations WHERE sla_due_at IS NOT NULL AND NOT sla_breached))
"""

MARK_WARNED = "UPDATE conversations SET sla_warned = true WHERE id = ANY($1::bigint[])"
MARK_BREACHED = (
    "UPDATE conversations SET sla_warned = true, sla_breached = true WHERE id = ANY($1::bigint[])"
)

# The shift the accountable operator was working when the reply fell due.
RECORD_BREACH = """
    INSERT INTO sla_breaches (conversation_id, sla_kind, priority, due_at, operator_id, shift_id)
    VALUES ($1, $2, $3, $4, $5,
            (SELECT s.id FROM shifts s WHERE s.operator_id = $5 AND s.started_at <= $4
               AND (s.ended_at IS NULL OR s.ended_at > $4) ORDER BY s.started_at DESC LIMIT 1))
    ON CONFLICT (conversation_id, due_at) DO NOTHING
"""

# Breaches per operator (and per shift) over a period: for the handover and /metrics.
BREACHES_BY_OPERATOR = """
    SELECT o.display_name AS operator, count(*) AS breaches
    FROM sla_breaches b LEFT JOIN operators o ON o.id = b.operator_id
    WHERE b.due_at >= $1 AND b.due_at < $2
    GROUP BY o.display_name ORDER BY count(*) DESC, o.display_name
"""
BREACHES_BY_SHIFT = """
    SELECT b.shift_id, count(*) AS breaches FROM sla_breaches b
    WHERE b.shift_id IS NOT NULL AND b.due_at >= $1 AND b.due_at < $2
    GROUP BY b.shift_id ORDER BY b.shift_id
"""


@dataclass(frozen=True)
class CheckResult:
    """What one check wrote, and when the next deadline falls (None: nothing pending)."""

    warnings: tuple[int, ...]
    breaches: tuple[int, ...]
    next_at: datetime | None


class SlaClock:
    """Writes `sla.warning` and `sla.breach` events when conversations reach their stored times."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, batch: int = BATCH):
        self.pool = pool
        self.clock = clock
        self.batch = batch
        self.wake = asyncio.Event()
        self._checking = asyncio.Lock()

    def on_event(self, event: dict[str, Any]) -> None:
        """Hub callback: anything about a conversation may have moved a deadline."""
        if event.get("conversation_id") is not None and not event["kind"].startswith("sla."):
            self.wake.set()

    async def check(self) -> CheckResult:
        """Write every warning and breach due at the clock's now; return when the next one falls."""
        warned: list[int] = []
        breached: list[int] = []
        async with (
            self._checking
        ):  # the task and a caller take turns; other backends are kept apart by locks
            while True:
                w, b, full = await self._check_batch()
                warned += w
                breached += b
                if not full:
                    break
            next_at = await self.pool.fetchval(NEXT_PENDING)
        return CheckResult(tuple(warned), tuple(breached), next_at)

    async def _check_batch(self) -> tuple[list[int], list[int], bool]:
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(PENDING, now, self.batch)
            if not rows:
                return [], [], False
            by_id = {r["id"]: r for r in rows}
            found = next_deadline_events(
                (
                    Watched(
                        r["id"],
                        r["sla_warn_at"],
                        r["sla_due_at"],
                        r["sla_warned"],
                        r["sla_breached"],
                    )
                    for r in rows
                ),
                now,
            )
            warned = [cast(int, e.conversation_id) for e in found.events if e.kind == "sla_warning"]
            breached = [
                cast(int, e.conversation_id) for e in found.events if e.kind == "sla_breach"
            ]
            if warned:
                await conn.execute(MARK_WARNED, warned)
            if breached:
                await conn.execute(MARK_BREACHED, breached)
            new_events = []
            for e in found.events:
                r = by_id[e.conversation_id]
                priority = f"P{r['priority']}"
                if e.kind == "sla_breach":
                    await conn.execute(
                        RECORD_BREACH,
                        r["id"],
                        r["sla_kind"] or "first",
                        r["priority"],
                        r["sla_due_at"],
                        r["accountable_id"],
                    )
                new_events.append(
                    events.NewEvent(
                        "sla.breach" if e.kind == "sla_breach" else "sla.warning",
                        r["id"],
                        None,
                        r["state"],
                        r["state"],
                        {
                            "holder_id": r["claimed_by"],
                            "holder_name": r["holder_name"],
                            "accountable_id": r["accountable_id"],
                            "priority": priority,
                            "sla_kind": r["sla_kind"],
                            "due": r["sla_due_at"].isoformat() if r["sla_due_at"] else None,
                            "warn": r["sla_warn_at"].isoformat() if r["sla_warn_at"] else None,
                        },
                        at=e.at,
                    )
                )
            await events.record_many(conn, new_events)
            return warned, breached, len(rows) >= self.batch

    async def run(self) -> None:
        """Check, then sleep until the next deadline or until something changes."""
        while True:
            self.wake.clear()  # before the check: a change during it wakes the next wait
            try:
                result = await self.check()
                wait = LONGEST_SLEEP
                if result.next_at is not None:
                    # A deadline already past is on a row another transaction holds; its commit wakes us.
                    wait = min(wait, max(result.next_at - self.clock.now(), MIN_SLEEP))
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                log.warning("SLA clock: database unavailable (%s)", exc)
                wait = timedelta(seconds=5)
            try:
                await asyncio.wait_for(self.wake.wait(), wait.total_seconds())
            except TimeoutError:
                pass


async def breaches_by_operator(
    conn: asyncpg.Connection | asyncpg.Pool, start: datetime, end: datetime
) -> dict[str, int]:
    """Breaches that fell due in [start, end), by the operator accountable ('unclaimed' for nobody)."""
    return {
        (r["operator"] or "unclaimed"): r["breaches"]
        for r in await conn.fetch(BREACHES_BY_OPERATOR, start, end)
    }


async def breaches_by_shift(
    conn: asyncpg.Connection | asyncpg.Pool, start: datetime, end: datetime
) -> dict[int, int]:
    """Breaches that fell due in [start, end) inside someone's shift, by shift id."""
    return {r["shift_id"]: r["breaches"] for r in await conn.fetch(BREACHES_BY_SHIFT, start, end)}


SLA_CLOCK = web.AppKey("sla_clock", SlaClock)
