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
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from backend import events
from backend.db.pool import connect

log = logging.getLogger(__name__)

CLIENT_BUFFER = 10_000  # events a console may fall behind by before it is told to resync
PRESENCE_CHANNEL = "shiftdesk_presence"
PRESENCE_TTL = 75.0  # seconds: an operator not heard from for this long is no longer shown online
PRESENCE_REFRESH = 30.0  # seconds between "still online" signals for the operators streaming here
# Open streams one operator may have on one backend; a new one beyond this ends the oldest
# (a console that reconnects after a network change leaves its old socket behind for a while).
MAX_STREAMS_PER_OPERATOR = 5
# Seconds an operator's last stream may be gone before they are announced offline: a console
# reconnecting (a network blip, a restart) does not make every console redraw them twice.
OFFLINE_GRACE = 5.0
REPLACED = {"type": "replaced"}  # told to a stream ended because its operator opened a newer one


async def announce(pool: asyncpg.Pool, payload: dict[str, Any]) -> None:
    """Tell every backend's consoles about presence. Not stored: presence is only ever 'now'."""
    await pool.execute("SELECT pg_notify($1, $2)", PRESENCE_CHANNEL, json.dumps(payload))


class Subscription:
    """One console's stream: {"type": "event"|"presence", ...} messages; None means resync,
    REPLACED that its operator opened too many newer streams."""

    def __init__(self, operator_id: int | None = None) -> None:
        self.operator_id = operator_id
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(CLIENT_BUFFER)
        self.overflowed = False

    def put(self, message: dict[str, Any]) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # Too slow to keep up: end its stream; it reconnects and resumes from its last id.
            self._end(None)

    def replace(self) -> None:
        """End this stream: its operator has opened MAX_STREAMS_PER_OPERATOR newer ones."""
        if not self.overflowed:
            self._end(REPLACED)

    def _end(self, last: dict[str, Any] | None) -> None:
        self.overflowed = True  # nothing more is queued after the last word
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(last)


class EventHub:
    def __init__(self, url: str, pool: asyncpg.Pool):
        self.url = url
        self.pool = pool
        self.last_id = 0
        self._subs: set[Subscription] = set()
        # Each operator's streams on this backend, oldest first (dicts keep insertion order).
        self._streams: dict[int, dict[Subscription, None]] = {}
        self._online_payload: dict[int, dict[str, Any]] = {}
        self._leaving: dict[int, asyncio.TimerHandle] = {}  # offline announcements not yet made
        self._pending: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self.connected = asyncio.Event()
        # operator id -> (monotonic time, presence)
        self._seen: dict[int, tuple[float, dict[str, Any]]] = {}
        # The crisis under way, as the last crisis event said (every console's banner).
        self.crisis: dict[str, Any] | None = None
        self.on_event(self._follow_crisis)

    def subscribe(
        self, operator_id: int | None = None, presence: dict[str, Any] | None = None
    ) -> Subscription:
        """A new stream's subscription; for an operator already at MAX_STREAMS_PER_OPERATOR
        streams here, the oldest of theirs is ended. `presence` is what this backend
        repeats for them every PRESENCE_REFRESH while they have a stream open here."""
        sub = Subscription(operator_id)
        self._subs.add(sub)
        if operator_id is not None:
            if presence is not None:
                self._online_payload[operator_id] = presence
            mine = self._streams.setdefault(operator_id, {})
            mine[sub] = None
            while len(mine) > MAX_STREAMS_PER_OPERATOR:
                oldest = next(iter(mine))
                del mine[oldest]
                oldest.replace()
        return sub

    def unsubscribe(self, sub: Subscription) -> bool:
        """Forget a stream; True when it was its operator's last one on this backend."""
        self._subs.discard(sub)
        if sub.operator_id is None:
            return False
        mine = self._streams.get(sub.operator_id)
        if mine is None:
            return False  # already gone
        mine.pop(sub, None)
        if mine:
            return False
        del self._streams[sub.operator_id]
        self._online_payload.pop(sub.operator_id, None)
        return True

    def leave_later(self, operator_id: int, offline: dict[str, Any]) -> None:
        """Announce `offline` after OFFLINE_GRACE unless the operator streams here again by then."""
        loop = asyncio.get_running_loop()
        if (old := self._leaving.pop(operator_id, None)) is not None:
            old.cancel()

        def leave() -> None:
            self._leaving.pop(operator_id, None)
            if not self.streams_of(operator_id):
                task = loop.create_task(self._announce_quietly(offline))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

        self._leaving[operator_id] = loop.call_later(OFFLINE_GRACE, leave)

    def returning(self, operator_id: int) -> bool:
        """A new stream of `operator_id`: True when they were about to be announced offline
        (they never looked gone to anyone, so nothing needs announcing)."""
        handle = self._leaving.pop(operator_id, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    async def _announce_quietly(self, payload: dict[str, Any]) -> None:
        try:
            await announce(self.pool, payload)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("presence: could not announce %s (%s)", payload.get("status"), exc)

    def streams_of(self, operator_id: int) -> int:
        """How many streams the operator has open on this backend."""
        return len(self._streams.get(operator_id, ()))

    def streaming_operators(self) -> list[int]:
        return list(self._streams)

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
        now = time.monotonic()
        before = self._seen.get(op_id)
        self._seen[op_id] = (now, message)
        if (
            before is not None
            and now - before[0] < PRESENCE_TTL
            and _presence_state(before[1]) == _presence_state(message)
        ):
            # A "still here" refresh: it keeps them in online(), no console needs to hear it.
            # (Fanning each refresh out to every stream cost O(streams) per operator per refresh.)
            return
        for sub in list(self._subs):
            sub.put({"type": "presence", **message})

    async def refresh_presence(self) -> None:
        """Every PRESENCE_REFRESH: one "still here" per operator streaming here, not one per
        stream, repeating what they last said (active on a conversation, typing) so a refresh
        does not overwrite it. Other backends take it as a refresh and tell no console."""
        while True:
            await asyncio.sleep(PRESENCE_REFRESH)
            for op_id, payload in list(self._online_payload.items()):
                last = self._seen.get(op_id)
                if last is not None and last[1].get("status") not in ("offline", None):
                    payload = last[1]
                try:
                    await announce(self.pool, {**payload, "at": _now_iso()})
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("presence refresh: database unavailable (%s)", exc)
                    break

    async def run(self) -> None:
        refresher = asyncio.create_task(self.refresh_presence(), name="presence-refresh")
        try:
            await self._listen()
        finally:
            refresher.cancel()
            for handle in self._leaving.values():
                handle.cancel()
            self._leaving.clear()
            for task in [refresher, *self._pending]:
                task.cancel()
            await asyncio.gather(refresher, *self._pending, return_exceptions=True)

    async def _listen(self) -> None:
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


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _presence_state(message: dict[str, Any]) -> tuple[Any, ...]:
    """What a console shows of someone's presence; a message changing none of it is a refresh."""
    status = message.get("status")
    # A console opened or closed says online/offline; both mean "here" once they are here.
    here = "here" if status in ("online", "active") else status
    return (here, message.get("conversation_id"), message.get("typing"))


HUB = web.AppKey("hub", EventHub)
