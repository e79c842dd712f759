"""HTTP handlers for the queue and the actions on one conversation.

Handlers parse, call `Actions` (which asks the lifecycle and writes), and
answer JSON; none of them decides anything about a conversation itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from backend.conversations import queue
from backend.conversations.actions import ACTIONS, Actions, no_conversation
from backend.i18n import Text, say
from backend.operators import Operator
from backend.rulebook import RULES
from backend.web.errors import ApiError
from backend.web.keys import CLOCK, POOL, language_of, operator_of
from backend.web.request import (
    conversation_id,
    flag_field,
    ids_field,
    int_param,
    is_id,
    operator_id_field,
    read_json,
    require_lead,
    text_field,
)

Call = Callable[[Actions, asyncpg.Connection, Operator, int, dict[str, Any]], Awaitable[Any]]


async def templates(request: web.Request) -> web.Response:
    saved = request.app[RULES].current.saved
    return web.json_response(
        {"templates": [{"name": t.name, "language": t.language, "text": t.text} for t in saved]}
    )


def _key_param(request: web.Request, name: str, end_ok: bool = False) -> queue.Key | str | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if end_ok and raw == queue.END:
        return queue.END
    try:
        return queue.parse_key(raw)
    except queue.BadKey as exc:
        raise ApiError(
            400, say("queue.bad_key_param", "'{name}': {problem}.", name=name, problem=exc.text)
        ) from None


async def queue_page(request: web.Request) -> web.Response:
    after = _key_param(request, "after")
    before = _key_param(request, "before", end_ok=True)
    if after is not None and before is not None:
        raise ApiError(400, say("queue.after_and_before", "Give 'after' or 'before', not both."))
    result = await queue.page(
        request.app[POOL],
        operator_of(request).id,
        now=request.app[CLOCK].now(),
        filter=request.query.get("filter", "needs_us"),
        search=request.query.get("q", ""),
        offset=int_param(request, "offset", 0, 0, 10_000_000),
        limit=int_param(request, "limit", 50, 1, 500),
        checks=request.app[RULES].current.checks,
        after=after,  # type: ignore[arg-type]
        before=before,
        language=language_of(request),
    )
    return web.json_response(result)


async def conversation(request: web.Request) -> web.Response:
    cid = conversation_id(request)
    found = await queue.conversation(
        request.app[POOL], cid, request.app[RULES].current.checks, language_of(request)
    )
    if found is None:
        raise ApiError(404, no_conversation(cid))
    return web.json_response(found)


def _action(
    call: Call, status: int = 200, body: bool = False
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A POST handler for one conversation action: parse, run in a pooled connection, answer JSON."""

    async def handler(request: web.Request) -> web.Response:
        data = await read_json(request) if body else {}
        cid = conversation_id(request)
        async with request.app[POOL].acquire() as conn:
            result = await call(request.app[ACTIONS], conn, operator_of(request), cid, data)
        return web.json_response(result, status=status)

    return handler


claim = _action(lambda a, c, op, cid, b: a.claim(c, op, cid))
release = _action(lambda a, c, op, cid, b: a.release(c, op, cid))
heartbeat = _action(lambda a, c, op, cid, b: a.heartbeat(c, op, cid))
force_release = _action(lambda a, c, op, cid, b: a.force_release(c, op, cid))
reply = _action(
    lambda a, c, op, cid, b: a.reply_publicly(
        c, op, cid, text_field(b, "text"), flag_field(b, "confirm")
    ),
    201,
    body=True,
)
move_to_dm = _action(
    lambda a, c, op, cid, b: a.move_to_dm(
        c,
        op,
        cid,
        text_field(b, "public_text"),
        text_field(b, "dm_text"),
        flag_field(b, "confirm"),
    ),
    201,
    body=True,
)
dm = _action(
    lambda a, c, op, cid, b: a.reply_in_dm(
        c, op, cid, text_field(b, "text"), flag_field(b, "confirm")
    ),
    201,
    body=True,
)
resolve = _action(
    lambda a, c, op, cid, b: a.resolve(
        c, op, cid, text_field(b, "text", required=False), flag_field(b, "confirm")
    ),
    201,
    body=True,
)
house_rules = _action(
    lambda a, c, op, cid, b: a.answer_conduct(c, op, cid, text_field(b, "text", required=False)),
    201,
    body=True,
)
dismiss = _action(
    lambda a, c, op, cid, b: a.dismiss(c, op, cid, text_field(b, "reason")), body=True
)
escalate = _action(
    lambda a, c, op, cid, b: a.escalate(c, op, cid, text_field(b, "reason")), body=True
)
add_note = _action(
    lambda a, c, op, cid, b: a.add_note(c, op, cid, text_field(b, "text"), flag_field(b, "pinned")),
    201,
    body=True,
)
add_tag = _action(
    lambda a, c, op, cid, b: a.add_tag(c, op, cid, text_field(b, "tag", limit=200)),
    201,
    body=True,
)
reassign = _action(lambda a, c, op, cid, b: a.reassign(c, op, cid, operator_id_field(b)), body=True)


async def house_rules_text(request: web.Request) -> web.Response:
    """GET: the statement `house-rules` would post, so the operator sees it before it goes."""
    found = await request.app[ACTIONS].house_rules_for(request.app[POOL], conversation_id(request))
    return web.json_response(found)


async def remove_tag(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        result = await request.app[ACTIONS].remove_tag(
            conn, operator_of(request), conversation_id(request), request.match_info["tag"]
        )
    return web.json_response(result)


async def claim_next(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        result = await request.app[ACTIONS].claim_next(conn, operator_of(request))
    if result is None:
        raise ApiError(404, say("queue.empty", "The queue is empty: nothing left to claim."))
    return web.json_response(result)


async def advise(request: web.Request) -> web.Response:
    body = await read_json(request)
    channel = body.get("channel", "public")
    if channel not in ("public", "dm"):
        raise ApiError(400, say("advise.bad_channel", "Field 'channel' must be 'public' or 'dm'."))
    cid = body.get("conversation_id")
    if cid is not None and not is_id(cid):
        raise ApiError(
            400,
            say("advise.bad_conversation", "Field 'conversation_id' must be a conversation id."),
        )
    findings = await request.app[ACTIONS].advise(
        request.app[POOL], text_field(body, "text"), channel, cid
    )
    language = language_of(request)
    return web.json_response({"findings": [f.to_dict(language) for f in findings]})


BULK_ACTIONS = ("tag", "release", "assign")


async def bulk(request: web.Request) -> web.Response:
    """One action on many conversations; each succeeds or fails on its own."""
    actions = request.app[ACTIONS]
    op = operator_of(request)
    body = await read_json(request)
    action = body.get("action")
    if action not in BULK_ACTIONS:
        raise ApiError(
            400,
            say(
                "bulk.bad_action",
                "Field 'action' must be one of: {actions}.",
                actions=", ".join(BULK_ACTIONS),
            ),
        )
    ids = ids_field(body, "ids", most=500)
    tag = text_field(body, "tag", limit=200) if action == "tag" else ""
    target = operator_id_field(body) if action == "assign" else 0
    if action == "assign":
        require_lead(op)
    results: list[dict[str, Any]] = []
    language = language_of(request)
    async with request.app[POOL].acquire() as conn:
        for cid in ids:
            try:
                if action == "tag":
                    await actions.add_tag(conn, op, cid, tag)
                elif action == "release":
                    await actions.release(conn, op, cid)
                else:
                    await actions.reassign(conn, op, cid, target)
                results.append({"id": cid, "ok": True})
            except Exception as exc:  # noqa: BLE001 - reported per conversation
                text = getattr(exc, "text", None)
                if isinstance(text, Text):
                    results.append({"id": cid, "ok": False, **text.to_json(language)})
                else:
                    message = getattr(exc, "message", None) or str(exc)
                    results.append({"id": cid, "ok": False, "error": message})
    return web.json_response({"results": results})
