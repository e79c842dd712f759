"""HTTP handlers and the one place routes are declared."""

from __future__ import annotations

import asyncio
import contextlib
from aiohttp import WSMsgType, web

from . import events, queue
from .app import SERVICES, ApiError, Services, operator_of, read_json
from .webhook_api import ingest_webhook


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Query parameter '{name}' must be a whole number, got {raw!r}.") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"Query parameter '{name}' must be between {lo} and {hi}, got {value}.")
    return value


def _conversation_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        return int(raw)
    except ValueError:
        raise ApiError(404, f"There is no conversation {raw!r}.") from None


async def healthz(request: web.Request) -> web.Response:
    svc = services(request)
    try:
        await svc.pool.fetchval("SELECT 1")  # type: ignore[union-attr]
        db = True
    except Exception:  # noqa: BLE001 - health reports, never raises
        db = False
    listening = svc.hub is not None and svc.hub.connected.is_set()
    ok = db and (listening or not svc.tasks)
    return web.json_response({"ok": ok, "database": db, "listening": listening}, status=200 if ok else 503)


async def me(request: web.Request) -> web.Response:
    op = operator_of(request)
    return web.json_response({"id": op.id, "name": op.name, "display_name": op.display_name, "role": op.role})


async def summary(request: web.Request) -> web.Response:
    svc = services(request)
    counts = await queue.counts(svc.pool)  # type: ignore[arg-type]
    return web.json_response({
        "brand": {"name": svc.config.brand.name, "handle": svc.config.brand.handle},
        **counts,
        "last_event_id": svc.hub.last_id if svc.hub else 0,
    })


async def queue_page(request: web.Request) -> web.Response:
    svc = services(request)
    result = await queue.page(
        svc.pool, operator_of(request).id,  # type: ignore[arg-type]
        filter=request.query.get("filter", "needs_us"),
        offset=_int_param(request, "offset", 0, 0, 10_000_000),
        limit=_int_param(request, "limit", 50, 1, 500),
    )
    return web.json_response(result)


async def conversation(request: web.Request) -> web.Response:
    cid = _conversation_id(request)
    found = await queue.conversation(services(request).pool, cid)  # type: ignore[arg-type]
    if found is None:
        raise ApiError(404, f"There is no conversation {cid}.")
    return web.json_response(found)


async def claim(request: web.Request) -> web.Response:
    svc = services(request)
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        return web.json_response(await svc.actions.claim(conn, operator_of(request), _conversation_id(request)))


async def release(request: web.Request) -> web.Response:
    svc = services(request)
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        return web.json_response(await svc.actions.release(conn, operator_of(request), _conversation_id(request)))


async def heartbeat(request: web.Request) -> web.Response:
    svc = services(request)
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        return web.json_response(await svc.actions.heartbeat(conn, operator_of(request), _conversation_id(request)))


async def claim_next(request: web.Request) -> web.Response:
    svc = services(request)
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        result = await svc.actions.claim_next(conn, operator_of(request))
    if result is None:
        raise ApiError(404, "The queue is empty: nothing left to claim.")
    return web.json_response(result)


async def reply(request: web.Request) -> web.Response:
    svc = services(request)
    body = await read_json(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise ApiError(400, "Field 'text' must be the reply text.")
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        result = await svc.actions.reply_publicly(conn, operator_of(request), _conversation_id(request), text)
    return web.json_response(result, status=201)


async def events_page(request: web.Request) -> web.Response:
    after = _int_param(request, "after", 0, 0, 2 ** 62)
    limit = _int_param(request, "limit", 500, 1, 5000)
    rows = await events.events_after(services(request).pool, after, limit)  # type: ignore[arg-type]
    return web.json_response({"events": rows})


async def stream(request: web.Request) -> web.WebSocketResponse:
    """Live events over a WebSocket, starting after the client's last seen id."""
    svc = services(request)
    after = _int_param(request, "after", 0, 0, 2 ** 62)
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    sub = svc.hub.subscribe()  # type: ignore[union-attr]
    try:
        # Subscribe first, then catch up from the table: together they cover every id.
        last = after
        while True:
            backlog = await events.events_after(svc.pool, last, 1000)  # type: ignore[arg-type]
            for event in backlog:
                await ws.send_json({"type": "event", "event": event})
                last = event["id"]
            if len(backlog) < 1000:
                break
        await ws.send_json({"type": "live", "last_event_id": last})
        reader = asyncio.create_task(_drain_client(ws))
        try:
            while not ws.closed:
                getter = asyncio.create_task(sub.queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    break
                event = getter.result()
                if event is None:
                    await ws.send_json({"type": "resync", "reason": "fell too far behind"})
                    break
                if "id" in event and event["id"] <= last:
                    continue
                await ws.send_json({"type": "event", "event": event})
                last = event.get("id", last)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        svc.hub.unsubscribe(sub)  # type: ignore[union-attr]
        await ws.close()
    return ws


async def _drain_client(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the console sends until it goes away."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/api/me", me)
    r.add_get("/api/summary", summary)
    r.add_get("/api/queue", queue_page)
    r.add_post("/api/claim-next", claim_next)
    r.add_get("/api/conversations/{id}", conversation)
    r.add_post("/api/conversations/{id}/claim", claim)
    r.add_post("/api/conversations/{id}/release", release)
    r.add_post("/api/conversations/{id}/heartbeat", heartbeat)
    r.add_post("/api/conversations/{id}/reply", reply)
    r.add_get("/api/events", events_page)
    r.add_get("/api/stream", stream)
    r.add_post("/ingest/{source}", ingest_webhook)   # signed by the source, not an operator token


def route_table(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route, for the OpenAPI consistency test."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            out.append((route.method, path))
    return out

