"""Live events: one LISTEN connection per backend, fanned out to its consoles.

A notification only says "there is something new"; the hub then reads
every event after the last one it delivered, so nothing is lost when
notifications are folded together or the connection drops and comes back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from aiohttp import web

from backend import events
from backend.db.pool import connect

log = logging.getLogger(__name__)

CLIENT_BUFFER = 10_000  # events a console may fall behind by before it is told to resync
PRESENCE_CHANNEL = "shiftdesk_presence"
PRESENCE_TTL = 75.0  # seconds: an operator not heard from for this long is no longer shown online


async def announce(pool: asyncpg.Pool, payload: dict[str, Any]) -> None:
    """Tell every backend's consoles about presence. Not stored: presence is only ever 'now'."""
    await pool.execute("SELECT pg_notify($1, $2)", PRESENCE_CHANNEL, json.dumps(payload))


class Subscription:
    """One console's stream: {"type": "event"|"presence", ...} messages; None means resync."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(CLIENT_BUFFER)
        self.overflowed = False

    def put(self, message: dict[str, Any]) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # Too slow to keep up: end its stream; it reconnects and resumes from its last id.
            self.overflowed = True
            self.queue.get_nowait()
            self.queue.put_nowait(None)


class EventHub:
    def __init__(self, url: str, pool: asyncpg.Pool):
        self.url = url
        self.pool = pool
        self.last_id = 0
        self._subs: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self.connected = asyncio.Event()
        # operator id -> (monotonic time, presence)
        self._seen: dict[int, tuple[float, dict[str, Any]]] = {}
        # The crisis under way, as the last crisis event said (every console's banner).
        self.crisis: dict[str, Any] | None = None
        self.on_event(self._follow_crisis)

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def on_event(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call `callback` for every event this backend sees (e.g. to wake the outbox)."""
        self._listeners.append(callback)

    def _follow_crisis(self, event: dict[str, Any]) -> None:
        if event["kind"] == "crisis.started":
            self.crisis = {"since": event["at"], **event["data"]}
        elif event["kind"] == "crisis.ended":
            self.crisis = None

    def crisis_state(self) -> dict[str, Any]:
        """What the consoles' banner shows: whether a crisis is on, and since when."""
        return {"active": self.crisis is not None, "since": (self.crisis or {}).get("since")}

    def online(self) -> list[dict[str, Any]]:
        """Operators heard from lately (on any backend), newest first."""
        cutoff = time.monotonic() - PRESENCE_TTL
        for op_id in [
            k for k, (t, p) in self._seen.items() if t < cutoff or p.get("status") == "offline"
        ]:
            del self._seen[op_id]
        return [p["operator"] for _, p in sorted(self._seen.values(), key=lambda tp: -tp[0])]

    def _presence(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            op_id = int(message["operator"]["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed presence notification")
            return
        self._seen[op_id] = (time.monotonic(), message)
        for sub in list(self._subs):
            sub.put({"type": "presence", **message})

    async def run(self) -> None:
        self.last_id = await events.last_event_id(self.pool)
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self.url)
                await conn.add_listener(events.CHANNEL, self._notified)
                await conn.add_listener(PRESENCE_CHANNEL, self._presence)
                self.connected.set()
                delay = 0.5
                await self._drain()  # anything committed while we were not listening
                while not conn.is_closed():
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=5)
                    except TimeoutError:
                        # Cheap liveness check, so a dead connection is noticed without traffic.
                        await conn.fetchval("SELECT 1")
                    self._wake.clear()
                    await self._drain()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.connected.clear()
                log.warning(
                    "event stream: lost the database (%s); reconnecting in %.1fs", exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                if conn is not None and not conn.is_closed():
                    await conn.close()

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _drain(self) -> None:
        while True:
            batch = await events.events_after(self.pool, self.last_id, 1000)
            for event in batch:
                self.last_id = event["id"]
                for sub in list(self._subs):
                    sub.put({"type": "event", "event": event})
                for cb in self._listeners:
                    cb(event)
            if len(batch) < 1000:
                return


HUB = web.AppKey("hub", EventHub)
