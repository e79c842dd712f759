"""The live side of the API: the event stream, catch-up, presence and the header summary."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web

from backend import events, operators
from backend.conversations import lifecycle, queue
from backend.i18n import Text, available_languages, say
from backend.live import sessions
from backend.live.hub import HUB, MAX_STREAMS_PER_OPERATOR, REPLACED, announce
from backend.operators import Operator
from backend.web.errors import DATABASE_DOWN, ApiError
from backend.web.keys import CLOCK, CONFIG, OPERATOR, POOL, language_of, operator_of
from backend.web.request import flag_field, int_param, is_id, read_json

STREAM_HEARTBEAT = 30.0  # seconds between pings: a dead peer is noticed, idle ones cost little
STREAM_SIGNED_OUT = 4401  # WebSocket close code (application range): sign in again
SIGNED_OUT_REASON = say(
    "stream.signed_out", "Your access was revoked or your token was reissued; sign in again."
)
STREAM_REPLACED = 4409  # WebSocket close code: this operator opened too many newer streams
REPLACED_REASON = say(
    "stream.replaced",
    "You opened more than {most} live streams; this, the oldest, was closed.",
    most=MAX_STREAMS_PER_OPERATOR,
)
BEHIND_REASON = say("stream.behind", "fell too far behind")
# What a close frame says (at most 123 bytes), for tools that show only the frame.
SIGNED_OUT_CLOSE = say("stream.signed_out_close", "signed out")
REPLACED_CLOSE = say("stream.replaced_close", "replaced by a newer stream")


def _notice(kind: str, reason: Text, language: str) -> dict[str, Any]:
    """A message telling the console why its stream ends, in the operator's language."""
    return {"type": kind, "reason": reason.render(language), "reason_id": reason.id}


def _close_message(reason: Text, language: str) -> bytes:
    data = reason.render(language).encode()
    return data if len(data) <= 123 else str(reason).encode()[:123]


def _profile(op: Operator) -> dict[str, Any]:
    return {
        "id": op.id,
        "name": op.name,
        "display_name": op.display_name,
        "role": op.role,
        "language": op.language,  # None: the console's --lang or LANG decides
        "languages": list(available_languages()),
    }


async def me(request: web.Request) -> web.Response:
    return web.json_response(_profile(operator_of(request)))


async def me_update(request: web.Request) -> web.Response:
    """PATCH {"language": "de" | null}: the operator's own profile language (null: follow the
    console). Only a language we have a catalog for; anything else is a 422 naming them."""
    body = await read_json(request)
    unknown = sorted(set(body) - {"language"})
    if unknown:
        raise ApiError(
            400,
            say(
                "profile.unknown_fields",
                "Only 'language' can be changed here, not {fields}.",
                fields=", ".join(repr(k) for k in unknown),
            ),
        )
    if "language" not in body:
        raise ApiError(400, say("profile.nothing", "Send the field 'language' to change."))
    language = body["language"]
    languages = available_languages()
    if language is not None and language not in languages:
        raise ApiError(
            422,
            say(
                "profile.bad_language",
                "Field 'language' must be one of {languages} (or null to follow the console), "
                "got {language!r}.",
                languages=", ".join(languages),
                language=(language if isinstance(language, str) else str(language))[:40],
            ),
        )
    try:
        op = await operators.set_language(request.app[POOL], operator_of(request).name, language)
    except operators.OperatorError:  # revoked between signing this request in and now
        raise ApiError(
            401, say("auth.bad_token", "That operator token is not valid (unknown or revoked).")
        ) from None
    request[OPERATOR] = op  # this answer (and any error after it) already speaks the new language
    return web.json_response(_profile(op))


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
        raise ApiError(
            400,
            say(
                "presence.bad_conversation",
                "Field 'conversation_id' must be a conversation id or null.",
            ),
        )
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


def _credential(request: web.Request) -> str:
    # What the auth middleware signed this request in with ("Bearer <token>").
    return request.headers.get("Authorization", "").partition(" ")[2].strip()


async def _still_signed_in(pool: asyncpg.Pool, credential: str, operator_id: int) -> bool | None:
    """Whether the credential a stream was opened with still works for its operator; None if
    the database cannot say now."""
    try:
        op = await operators.authenticate(pool, credential)
    except DATABASE_DOWN:
        return None
    return op is not None and op.id == operator_id


async def stream(request: web.Request) -> web.WebSocketResponse:
    """Live events over a WebSocket, starting after the client's last seen id, plus presence."""
    pool, hub = request.app[POOL], request.app[HUB]
    op = operator_of(request)
    credential = _credential(request)
    language = language_of(request)
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
                    await ws.send_json(_notice("resync", BEHIND_REASON, language))
                    break
                if message is REPLACED:
                    await _end(
                        ws,
                        reader,
                        _notice("replaced", REPLACED_REASON, language),
                        STREAM_REPLACED,
                        _close_message(REPLACED_CLOSE, language),
                    )
                    break
                if message["type"] == "event":
                    event = message["event"]
                    if event["id"] <= last:
                        continue
                    last = event["id"]
                    if event["kind"] in sessions.ENDS_STREAMS and event["operator_id"] == op.id:
                        # Some of this operator's credentials stopped working (after the
                        # change committed, so the database knows which). Only a stream whose
                        # own one did ends: a reissue ends the old token's streams, not those
                        # of consoles that run on a credential of their own (SSH, browser).
                        works = await _still_signed_in(pool, credential, op.id)
                        if works is None:  # cannot tell: the reconnect will be checked
                            await ws.send_json({"type": "resync", "reason": "database away"})
                            break
                        if not works:
                            # End it now, not at the next reconnect (refused anyway).
                            await _end(
                                ws,
                                reader,
                                _notice("signed_out", SIGNED_OUT_REASON, language),
                                STREAM_SIGNED_OUT,
                                _close_message(SIGNED_OUT_CLOSE, language),
                            )
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


async def _end(
    ws: web.WebSocketResponse,
    reader: asyncio.Task[None],
    notice: dict[str, Any],
    code: int,
    message: bytes,
) -> None:
    """Say why, then close with `code`. The reader stops first: a close handshake racing
    a receive in another task could end as an abnormal closure (1006) instead of `code`,
    and the console reads the code to know it must not reconnect."""
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await ws.send_json(notice)
    await ws.close(code=code, message=message)


async def _drain_client(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the console sends until it goes away."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break
