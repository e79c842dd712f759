"""Crisis tools: near-identical complaints grouped, and a lead's holding statement.

How a holding statement meets claims: it goes to conversations nobody holds
(state `new`) and to those the sending lead holds; a conversation another
operator holds is skipped and reported (they are answering it). It does not
claim anything and does not change the state: a holding statement is not an
answer. It counts as the first response, and the SLA clock restarts from
the moment it is queued with the next-response target, so the conversation
stays in the queue and still has to be answered properly.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from backend import events
from backend.app import SERVICES, ApiError, Services, operator_of, read_json
from backend.conversations.actions import ContentProblem, Draft
from backend.listening.themes import (
    Complaint,
    group_complaints,
    personalise_holding_statement,
    top_themes,
    topic_of,
)
from backend.operators import Operator

GROUPABLE = "c.state IN ('new', 'claimed')"
GROUP_LIMIT = 5000  # newest conversations grouped at once
MAX_TARGETS = 2000

LATEST_TEXTS = f"""
    SELECT c.id, (SELECT m.text FROM mentions m WHERE m.conversation_id = c.id AND NOT m.is_ours
                  ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS text
    FROM conversations c WHERE {GROUPABLE} ORDER BY c.last_inbound_at DESC LIMIT $1
"""

TARGET = """
    SELECT c.id, c.state, c.platform, c.is_direct, c.claimed_by, c.priority, a.display_name, a.handle,
           o.display_name AS holder_name,
           (SELECT m.text FROM mentions m WHERE m.conversation_id = c.id AND NOT m.is_ours
             ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS text
    FROM conversations c JOIN authors a ON a.id = c.author_id LEFT JOIN operators o ON o.id = c.claimed_by
    WHERE c.id = $1 FOR UPDATE OF c
"""


def _svc(request: web.Request) -> Services:
    return request.app[SERVICES]


def _ignore(svc: Services) -> tuple[str, str]:
    return (svc.config.brand.name, svc.config.brand.handle)


async def crisis_groups(request: web.Request) -> web.Response:
    """Open conversations that need a reply, grouped by near-identical complaint, biggest group first."""
    svc = _svc(request)
    rows = await svc.pool.fetch(LATEST_TEXTS, GROUP_LIMIT)  # type: ignore[union-attr]
    complaints = [Complaint(r["id"], r["text"] or "") for r in reversed(rows)]  # oldest first
    groups = group_complaints(complaints, ignore=_ignore(svc))
    return web.json_response(
        {
            "crisis": svc.crisis_state(),
            "groups": [
                {"ids": list(g.ids), "size": g.size, "example": g.example, "topic": g.topic}
                for g in groups
            ],
        }
    )


def first_name(display_name: str, handle: str) -> str:
    """What the statement calls the customer: their first name, else their handle."""
    parts = (display_name or "").split()
    return parts[0] if parts else handle


async def holding_statement(request: web.Request) -> web.Response:
    """POST {template, conversation_ids, preview?, confirm?}: one personalised public reply each."""
    svc = _svc(request)
    op = operator_of(request)
    if not op.is_lead:
        raise ApiError(403, "Only a lead can send a holding statement.")
    body = await read_json(request)
    template = body.get("template")
    if not isinstance(template, str) or not template.strip() or "\x00" in template:
        raise ApiError(
            400,
            "Field 'template' must be the statement's text, with {name} and {topic} if you like.",
        )
    ids = body.get("conversation_ids")
    # Ids outside bigint would fail in the query (a 500): they are not conversation ids.
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids)
    ):
        raise ApiError(
            400, "Field 'conversation_ids' must be a non-empty list of conversation ids."
        )
    if len(ids) > MAX_TARGETS:
        raise ApiError(413, f"At most {MAX_TARGETS} conversations at once.")
    preview = body.get("preview", False)
    confirm = body.get("confirm", False)
    if not isinstance(preview, bool) or not isinstance(confirm, bool):
        raise ApiError(400, "Fields 'preview' and 'confirm' must be true or false.")
    try:
        personalise_holding_statement(template, "", "")
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None

    texts = await svc.pool.fetch(  # type: ignore[union-attr]
        """SELECT (SELECT m.text FROM mentions m WHERE m.conversation_id = c.id AND NOT m.is_ours
                   ORDER BY m.created_at DESC LIMIT 1) AS text FROM conversations c WHERE c.id = ANY($1::bigint[])""",
        ids,
    )
    themes = top_themes([r["text"] or "" for r in texts], limit=20, ignore=_ignore(svc))
    results = []
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        for cid in dict.fromkeys(ids):
            results.append(await _one(svc, conn, op, cid, template, themes, preview, confirm))
    sent = sum(1 for r in results if r.get("ok") and not preview)
    return web.json_response(
        {"results": results, "sent": sent, "preview": preview}, status=200 if preview else 201
    )


async def _one(
    svc: Services,
    conn: asyncpg.Connection,
    op: Operator,
    cid: int,
    template: str,
    themes: list,
    preview: bool,
    confirm: bool,
) -> dict[str, Any]:
    actions = svc.actions
    assert actions is not None
    async with conn.transaction():
        row = await conn.fetchrow(TARGET, cid)
        if row is None:
            return {"id": cid, "ok": False, "error": f"There is no conversation {cid}."}
        if row["claimed_by"] is not None and row["claimed_by"] != op.id:
            return {
                "id": cid,
                "ok": False,
                "error": f"{row['holder_name']} holds it; they answer it.",
            }
        if row["state"] not in ("new", "claimed"):
            return {
                "id": cid,
                "ok": False,
                "error": f"It is {row['state'].replace('_', ' ')}; "
                "a holding statement is for conversations waiting on us.",
            }
        name = first_name(row["display_name"], row["handle"])
        text = personalise_holding_statement(
            template, name, topic_of(row["text"] or "", themes, _ignore(svc))
        )
        try:
            waived = await actions._checked(conn, cid, Draft(text, "public", "holding", confirm))
        except ContentProblem as exc:
            return {
                "id": cid,
                "ok": False,
                "text": text,
                "error": exc.message,
                "findings": [f.to_dict() for f in exc.findings],
                "needs_confirmation": exc.status == 409,
            }
        if preview:
            return {"id": cid, "ok": True, "text": text, "advisories": waived}
        target = await actions._latest_post(conn, cid, bool(row["is_direct"]))
        message_id = await actions._queue_message(
            conn, row, op, Draft(text, "public", "holding", True), target, waived
        )
        now = svc.clock.now()
        warn, due = svc.ingest.deadlines(row["priority"], row["platform"], now, "next")  # type: ignore[union-attr]
        await conn.execute(
            """UPDATE conversations SET first_response_at = coalesce(first_response_at, $2), sla_kind = 'next',
                   sla_started_at = $2, sla_warn_at = $3, sla_due_at = $4, sla_warned = false,
                   sla_breached = false, updated_at = $2 WHERE id = $1""",
            cid,
            now,
            warn,
            due,
        )
        await events.record(
            conn,
            events.NewEvent(
                "conversation.holding_statement",
                cid,
                op.id,
                row["state"],
                row["state"],
                {
                    "message_id": message_id,
                    "holder_id": row["claimed_by"],
                    "holder_name": row["holder_name"],
                },
            ),
            events.NewEvent(
                "message.queued",
                cid,
                op.id,
                data={"message_id": message_id, "channel": "public", "purpose": "holding"},
            ),
        )
        return {"id": cid, "ok": True, "text": text, "message_id": message_id, "advisories": waived}


def setup_crisis_routes(app: web.Application) -> None:
    app.router.add_get("/api/crisis/groups", crisis_groups)
    app.router.add_post("/api/crisis/holding-statement", holding_statement)
