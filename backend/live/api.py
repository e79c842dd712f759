"""The live side of the API: the event stream, catch-up, presence and the header summary."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from backend import events
from backend.conversations import lifecycle, queue
from backend.live import sessions
from backend.live.hub import HUB, MAX_STREAMS_PER_OPERATOR, REPLACED, announce
from backend.operators import Operator
from backend.web.errors import ApiError
from backend.web.keys import CLOCK, CONFIG, POOL, operator_of
from backend.web.request import flag_field, int_param, is_id, read_json

STREAM_HEARTBEAT = 30.0  # seconds between pings: a dead peer is noticed, idle ones cost little
STREAM_SIGNED_OUT = 4401  # WebSocket close code (application range): sign in again
SIGNED_OUT_REASON = "Your access was revoked or your token was reissued; sign in again."
STREAM_REPLACED = 4409  # WebSocket close code: this operator opened too many newer streams
REPLACED_REASON = (
    f"You opened more than {MAX_STREAMS_PER_OPERATOR} live streams; this, the oldest, was closed."
)


async def me(request: web.Request) -> web.Response:
    op = operator_of(request)
    return web.json_response(
        {"id": op.id, "name": op.name, "display_name": op.display_name, "role": op.role}
    )


async def summary(request: web.Request) -> web.Response:
    """The console's header: queue counts, the crisis banner, who is online."""
    hub = request.app[HUB]
    brand = request.app[CONFIG].brand
    counts = await queue.counts(request.app[POOL], request.app[CLOCK].now())
    return web.json_response(
        {
            "brand": {"name": brand.name, "handle": brand.handle},
            **counts,
            "last_event_id": hub.last_id,
            "crisis": hub.crisis_state(),
            "online": hub.online(),
            # What a dismissal may give as its reason (the lifecycle's list, not the console's).
            "dismiss_reasons": [
                {"id": r, "label": r.replace("_", " ")} for r in lifecycle.DISMISS_REASONS
            ],
        }
    )


async def operators_list(request: web.Request) -> web.Response:
    online = {o["id"] for o in request.app[HUB].online()}
    rows = await request.app[POOL].fetch(
        "SELECT id, name, display_name, role FROM operators WHERE revoked_at IS NULL ORDER BY display_name"
    )
    return web.json_response(
        {"operators": [{**dict(r), "online": r["id"] in online} for r in rows]}
    )


async def presence(request: web.Request) -> web.Response:
    op = operator_of(request)
    body = await read_json(request)
    cid = body.get("conversation_id")
    if cid is not None and not is_id(cid):
        raise ApiError(400, "Field 'conversation_id' must be a conversation id or null.")
    payload = presence_payload(op, "active", cid, flag_field(body, "typing"))
    await announce(request.app[POOL], payload)
    return web.Response(status=204)


def presence_payload(
    op: Operator, status: str, conversation_id: int | None = None, typing: bool = False
) -> dict[str, Any]:
    return {
        "operator": {"id": op.id, "display_name": op.display_name, "role": op.role},
        "status": status,
        "conversation_id": conversation_id,
        "typing": typing,
        "at": datetime.now(UTC).isoformat(),
    }


async def sign_out(request: web.Request) -> web.Response:
    """POST {keep_claims?}: the console is closing; give back what the operator holds
    (unless they keep it for a short break) and say they are gone."""
    op = operator_of(request)
    body = await read_json(request)
    keep = flag_field(body, "keep_claims")
    async with request.app[POOL].acquire() as conn:
        released = await sessions.sign_out(conn, op.id, request.app[CLOCK].now(), keep)
    await announce(request.app[POOL], presence_payload(op, "offline"))
    return web.json_response({"released": released, "kept_claims": keep})


async def events_page(request: web.Request) -> web.Response:
    after = int_param(request, "after", 0, 0, 2**62)
    limit = int_param(request, "limit", 500, 1, 5000)
    rows = await events.events_after(request.app[POOL], after, limit)
    return web.json_response({"events": rows})


async def stream(request: web.Request) -> web.WebSocketResponse:
    """Live events over a WebSocket, starting after the client's last seen id, plus presence."""
    pool, hub = request.app[POOL], request.app[HUB]
    op = operator_of(request)
    after = int_param(request, "after", 0, 0, 2**62)
    ws = web.WebSocketResponse(heartbeat=STREAM_HEARTBEAT)
    await ws.prepare(request)
    online = presence_payload(op, "online")
    # Decided now, before any await: of several streams opening at once, exactly one is first.
    first_here = not hub.returning(op.id) and not hub.streams_of(op.id)
    sub = hub.subscribe(op.id, online)
    signed_out = False
    try:
        # Subscribe first, then catch up from the table: together they cover every id.
        last = after
        while True:
            backlog = await events.events_after(pool, last, 1000)
            for event in backlog:
                await ws.send_json({"type": "event", "event": event})
                last = event["id"]
            if len(backlog) < 1000:
                break
        await ws.send_json({"type": "live", "last_event_id": last})
        if first_here:
            # Only the operator's first stream here says so; the hub keeps it fresh, once
            # per operator (a refresh per socket was work in proportion to all sockets).
            await announce(pool, online)
        reader = asyncio.create_task(_drain_client(ws))
        try:
            while not ws.closed:
                getter = asyncio.create_task(sub.queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    break
                message = getter.result()
                if message is None:
                    await ws.send_json({"type": "resync", "reason": "fell too far behind"})
                    break
                if message is REPLACED:
                    await ws.send_json({"type": "replaced", "reason": REPLACED_REASON})
                    await ws.close(code=STREAM_REPLACED, message=b"replaced by a newer stream")
                    break
                if message["type"] == "event":
                    event = message["event"]
                    if event["id"] <= last:
                        continue
                    last = event["id"]
                    if event["kind"] in sessions.ENDS_STREAMS and event["operator_id"] == op.id:
                        # The token this stream was opened with no longer works: end it now,
                        # not at the next reconnect (which would be refused anyway).
                        await ws.send_json({"type": "signed_out", "reason": SIGNED_OUT_REASON})
                        await ws.close(code=STREAM_SIGNED_OUT, message=b"signed out")
                        signed_out = True
                        break
                await ws.send_json(message)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        if hub.unsubscribe(sub):  # their last stream on this backend
            if signed_out:  # no reconnect is coming: gone now, not after the grace
                with contextlib.suppress(Exception):
                    await announce(pool, presence_payload(op, "offline"))
            else:
                hub.leave_later(op.id, presence_payload(op, "offline"))
        await ws.close()
    return ws


async def _drain_client(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the console sends until it goes away."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break
