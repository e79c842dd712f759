"""HTTP handlers and the one place routes are declared."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from backend import events
from backend.app import SERVICES, ApiError, Services, operator_of, read_json
from backend.conversations import queue
from backend.ingest.webhook import ingest_webhook
from backend.live.hub import announce
from backend.operators import Operator

PRESENCE_REFRESH = 30.0  # seconds between "still online" signals from an open stream


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, f"Query parameter '{name}' must be a whole number, got {raw!r}."
        ) from None
    if not lo <= value <= hi:
        raise ApiError(400, f"Query parameter '{name}' must be between {lo} and {hi}, got {value}.")
    return value


def _conversation_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(404, f"There is no conversation {raw!r}.") from None
    if not 0 < value < 2**63:
        raise ApiError(404, f"There is no conversation {raw!r}.")
    return value


def _text(body: dict[str, Any], key: str, *, required: bool = True, limit: int = 10_000) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"Field '{key}' must be text.")
    if "\x00" in value:
        raise ApiError(400, f"Field '{key}' contains a NUL character.")
    if len(value) > limit:
        raise ApiError(413, f"Field '{key}' is longer than {limit} characters.")
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"Field '{key}' must be true or false.")
    return value


def _is_id(value: Any) -> bool:
    """A row id as PostgreSQL's bigint holds it (a larger number would fail in the query, as a 500)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _require_lead(op: Operator) -> None:
    if not op.is_lead:
        raise ApiError(403, "Only a lead can do that.")


async def healthz(request: web.Request) -> web.Response:
    svc = services(request)
    try:
        await svc.pool.fetchval("SELECT 1")  # type: ignore[union-attr]
        db = True
    except Exception:  # noqa: BLE001 - health reports, never raises
        db = False
    listening = svc.hub is not None and svc.hub.connected.is_set()
    ok = db and (listening or not svc.tasks)
    return web.json_response(
        {"ok": ok, "database": db, "listening": listening}, status=200 if ok else 503
    )


async def me(request: web.Request) -> web.Response:
    op = operator_of(request)
    return web.json_response(
        {"id": op.id, "name": op.name, "display_name": op.display_name, "role": op.role}
    )


async def summary(request: web.Request) -> web.Response:
    svc = services(request)
    counts = await queue.counts(svc.pool)  # type: ignore[arg-type]
    return web.json_response(
        {
            "brand": {"name": svc.config.brand.name, "handle": svc.config.brand.handle},
            **counts,
            "last_event_id": svc.hub.last_id if svc.hub else 0,
            "crisis": svc.crisis_state(),
            "online": svc.hub.online() if svc.hub else [],
        }
    )


async def operators_list(request: web.Request) -> web.Response:
    svc = services(request)
    online = {o["id"] for o in (svc.hub.online() if svc.hub else [])}
    rows = await svc.pool.fetch(  # type: ignore[union-attr]
        "SELECT id, name, display_name, role FROM operators WHERE revoked_at IS NULL ORDER BY display_name"
    )
    return web.json_response(
        {"operators": [{**dict(r), "online": r["id"] in online} for r in rows]}
    )


async def templates(request: web.Request) -> web.Response:
    svc = services(request)
    saved = svc.rulebook.saved if svc.rulebook else ()
    return web.json_response(
        {"templates": [{"name": t.name, "language": t.language, "text": t.text} for t in saved]}
    )


async def queue_page(request: web.Request) -> web.Response:
    svc = services(request)
    result = await queue.page(
        svc.pool,
        operator_of(request).id,  # type: ignore[arg-type]
        filter=request.query.get("filter", "needs_us"),
        search=request.query.get("q", ""),
        offset=_int_param(request, "offset", 0, 0, 10_000_000),
        limit=_int_param(request, "limit", 50, 1, 500),
    )
    return web.json_response(result)


async def conversation(request: web.Request) -> web.Response:
    svc = services(request)
    cid = _conversation_id(request)
    checks = svc.rulebook.checks if svc.rulebook else None
    found = await queue.conversation(svc.pool, cid, checks)  # type: ignore[arg-type]
    if found is None:
        raise ApiError(404, f"There is no conversation {cid}.")
    return web.json_response(found)


def _action(
    call: Callable[
        [Services, Any, Operator, int, dict[str, Any]], Awaitable[dict[str, Any] | None]
    ],
    status: int = 200,
    body: bool = False,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A POST handler for one conversation action: parse, run in a pooled connection, answer JSON."""

    async def handler(request: web.Request) -> web.Response:
        svc = services(request)
        data = await read_json(request) if body else {}
        cid = _conversation_id(request)
        async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
            result = await call(svc, conn, operator_of(request), cid, data)
        return web.json_response(result, status=status)

    return handler


claim = _action(lambda s, c, op, cid, b: s.actions.claim(c, op, cid))
release = _action(lambda s, c, op, cid, b: s.actions.release(c, op, cid))
heartbeat = _action(lambda s, c, op, cid, b: s.actions.heartbeat(c, op, cid))
force_release = _action(lambda s, c, op, cid, b: s.actions.force_release(c, op, cid))
reply = _action(
    lambda s, c, op, cid, b: s.actions.reply_publicly(
        c, op, cid, _text(b, "text"), _flag(b, "confirm")
    ),
    201,
    body=True,
)
move_to_dm = _action(
    lambda s, c, op, cid, b: s.actions.move_to_dm(
        c, op, cid, _text(b, "public_text"), _text(b, "dm_text"), _flag(b, "confirm")
    ),
    201,
    body=True,
)
dm = _action(
    lambda s, c, op, cid, b: s.actions.reply_in_dm(
        c, op, cid, _text(b, "text"), _flag(b, "confirm")
    ),
    201,
    body=True,
)
resolve = _action(
    lambda s, c, op, cid, b: s.actions.resolve(
        c, op, cid, _text(b, "text", required=False), _flag(b, "confirm")
    ),
    201,
    body=True,
)
house_rules = _action(
    lambda s, c, op, cid, b: s.actions.answer_conduct(c, op, cid, _text(b, "text", required=False)),
    201,
    body=True,
)
dismiss = _action(
    lambda s, c, op, cid, b: s.actions.dismiss(c, op, cid, _text(b, "reason")), body=True
)
escalate = _action(
    lambda s, c, op, cid, b: s.actions.escalate(c, op, cid, _text(b, "reason")), body=True
)
add_note = _action(
    lambda s, c, op, cid, b: s.actions.add_note(c, op, cid, _text(b, "text"), _flag(b, "pinned")),
    201,
    body=True,
)
add_tag = _action(
    lambda s, c, op, cid, b: s.actions.add_tag(c, op, cid, _text(b, "tag", limit=200)),
    201,
    body=True,
)


def _operator_id(body: dict[str, Any]) -> int:
    value = body.get("operator_id")
    if not _is_id(value):
        raise ApiError(400, "Field 'operator_id' must be an operator's id.")
    return value


reassign = _action(
    lambda s, c, op, cid, b: s.actions.reassign(c, op, cid, _operator_id(b)), body=True
)


async def remove_tag(request: web.Request) -> web.Response:
    svc = services(request)
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        result = await svc.actions.remove_tag(
            conn, operator_of(request), _conversation_id(request), request.match_info["tag"]
        )
    return web.json_response(result)


async def claim_next(request: web.Request) -> web.Response:
    svc = services(request)
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        result = await svc.actions.claim_next(conn, operator_of(request))
    if result is None:
        raise ApiError(404, "The queue is empty: nothing left to claim.")
    return web.json_response(result)


async def advise(request: web.Request) -> web.Response:
    svc = services(request)
    body = await read_json(request)
    channel = body.get("channel", "public")
    if channel not in ("public", "dm"):
        raise ApiError(400, "Field 'channel' must be 'public' or 'dm'.")
    cid = body.get("conversation_id")
    if cid is not None and not _is_id(cid):
        raise ApiError(400, "Field 'conversation_id' must be a conversation id.")
    findings = await svc.actions.advise(svc.pool, _text(body, "text"), channel, cid)  # type: ignore[union-attr,arg-type]
    return web.json_response({"findings": [f.to_dict() for f in findings]})


BULK_ACTIONS = ("tag", "release", "assign")


async def bulk(request: web.Request) -> web.Response:
    """One action on many conversations; each succeeds or fails on its own."""
    svc = services(request)
    op = operator_of(request)
    body = await read_json(request)
    action = body.get("action")
    if action not in BULK_ACTIONS:
        raise ApiError(400, f"Field 'action' must be one of: {', '.join(BULK_ACTIONS)}.")
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(_is_id(i) for i in ids):
        raise ApiError(400, "Field 'ids' must be a non-empty list of conversation ids.")
    if len(ids) > 500:
        raise ApiError(413, "At most 500 conversations at once.")
    tag = _text(body, "tag", limit=200) if action == "tag" else ""
    target = _operator_id(body) if action == "assign" else 0
    if action == "assign":
        _require_lead(op)
    results = []
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        for cid in ids:
            try:
                if action == "tag":
                    await svc.actions.add_tag(conn, op, cid, tag)
                elif action == "release":
                    await svc.actions.release(conn, op, cid)
                else:
                    await svc.actions.reassign(conn, op, cid, target)
                results.append({"id": cid, "ok": True})
            except Exception as exc:  # noqa: BLE001 - reported per conversation
                message = getattr(exc, "message", None) or str(exc)
                results.append({"id": cid, "ok": False, "error": message})
    return web.json_response({"results": results})


async def presence(request: web.Request) -> web.Response:
    svc = services(request)
    op = operator_of(request)
    body = await read_json(request)
    cid = body.get("conversation_id")
    if cid is not None and not _is_id(cid):
        raise ApiError(400, "Field 'conversation_id' must be a conversation id or null.")
    await announce(svc.pool, _presence_payload(op, "active", cid, _flag(body, "typing")))  # type: ignore[arg-type]
    return web.Response(status=204)


def _presence_payload(
    op: Operator, status: str, conversation_id: int | None = None, typing: bool = False
) -> dict[str, Any]:
    return {
        "operator": {"id": op.id, "display_name": op.display_name, "role": op.role},
        "status": status,
        "conversation_id": conversation_id,
        "typing": typing,
        "at": datetime.now(UTC).isoformat(),
    }


async def events_page(request: web.Request) -> web.Response:
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", 500, 1, 5000)
    rows = await events.events_after(services(request).pool, after, limit)  # type: ignore[arg-type]
    return web.json_response({"events": rows})


async def stream(request: web.Request) -> web.WebSocketResponse:
    """Live events over a WebSocket, starting after the client's last seen id, plus presence."""
    svc = services(request)
    op = operator_of(request)
    after = _int_param(request, "after", 0, 0, 2**62)
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
        await announce(svc.pool, _presence_payload(op, "online"))  # type: ignore[arg-type]
        reader = asyncio.create_task(_drain_client(ws))
        try:
            while not ws.closed:
                getter = asyncio.create_task(sub.queue.get())
                done, _ = await asyncio.wait(
                    {getter, reader}, timeout=PRESENCE_REFRESH, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    getter.cancel()
                    await announce(svc.pool, _presence_payload(op, "online"))  # type: ignore[arg-type]
                    continue
                if reader in done:
                    getter.cancel()
                    break
                message = getter.result()
                if message is None:
                    await ws.send_json({"type": "resync", "reason": "fell too far behind"})
                    break
                if message["type"] == "event":
                    if message["event"]["id"] <= last:
                        continue
                    last = message["event"]["id"]
                await ws.send_json(message)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        svc.hub.unsubscribe(sub)  # type: ignore[union-attr]
        with contextlib.suppress(Exception):
            await announce(svc.pool, _presence_payload(op, "offline"))  # type: ignore[arg-type]
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
    r.add_get("/api/operators", operators_list)
    r.add_get("/api/templates", templates)
    r.add_get("/api/queue", queue_page)
    r.add_post("/api/claim-next", claim_next)
    r.add_post("/api/advise", advise)
    r.add_post("/api/bulk", bulk)
    r.add_post("/api/presence", presence)
    r.add_get("/api/conversations/{id}", conversation)
    r.add_post("/api/conversations/{id}/claim", claim)
    r.add_post("/api/conversations/{id}/release", release)
    r.add_post("/api/conversations/{id}/heartbeat", heartbeat)
    r.add_post("/api/conversations/{id}/reply", reply)
    r.add_post("/api/conversations/{id}/move-to-dm", move_to_dm)
    r.add_post("/api/conversations/{id}/dm", dm)
    r.add_post("/api/conversations/{id}/resolve", resolve)
    r.add_post("/api/conversations/{id}/house-rules", house_rules)
    r.add_post("/api/conversations/{id}/dismiss", dismiss)
    r.add_post("/api/conversations/{id}/escalate", escalate)
    r.add_post("/api/conversations/{id}/notes", add_note)
    r.add_post("/api/conversations/{id}/tags", add_tag)
    r.add_delete("/api/conversations/{id}/tags/{tag}", remove_tag)
    r.add_post("/api/conversations/{id}/reassign", reassign)
    r.add_post("/api/conversations/{id}/force-release", force_release)
    r.add_get("/api/events", events_page)
    r.add_get("/api/stream", stream)
    r.add_post("/ingest/{source}", ingest_webhook)  # signed by the source, not an operator token
    from backend.crisis.api import setup_crisis_routes
    from backend.handover.api import setup_shift_routes
    from backend.metrics.api import setup_metrics_routes

    setup_shift_routes(app)
    setup_crisis_routes(app)
    setup_metrics_routes(app)


def route_table(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route, for the OpenAPI consistency test."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            out.append((route.method, path))
    return out
