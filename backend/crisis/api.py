"""Crisis tools: near-identical complaints grouped, and a lead's holding statement.

How a holding statement meets claims, the clock and the checks is decided by
`Actions.holding_statement`, the same path an operator's reply takes; this
module only groups, personalises and asks.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from aiohttp import web

from backend.checks.finding import render_all_stored
from backend.conversations import sql
from backend.conversations.actions import ACTIONS
from backend.i18n import Text, say
from backend.listening.themes import (
    Complaint,
    group_complaints,
    personalise_holding_statement,
    top_themes,
    topic_of,
)
from backend.live.hub import HUB
from backend.web.errors import ApiError
from backend.web.keys import POOL, brand_words, language_of, operator_of
from backend.web.request import flag_field, ids_field, read_json, require_lead

GROUP_LIMIT = 5000  # newest conversations grouped at once
MAX_TARGETS = 2000
LATEST_TEXTS = f"""
    SELECT c.id, ({sql.LATEST_CUSTOMER_TEXT}) AS text
    FROM conversations c WHERE {sql.WAITING_FOR_FIRST_WORD_SQL} ORDER BY c.last_inbound_at DESC LIMIT $1
"""
TEXTS_OF = f"""
    SELECT ({sql.LATEST_CUSTOMER_TEXT}) AS text FROM conversations c WHERE c.id = ANY($1::bigint[])
"""


async def crisis_groups(request: web.Request) -> web.Response:
    """Open conversations that need a reply, grouped by near-identical complaint, biggest group first."""
    rows = await request.app[POOL].fetch(LATEST_TEXTS, GROUP_LIMIT)
    complaints = [Complaint(r["id"], r["text"] or "") for r in reversed(rows)]  # oldest first
    groups = group_complaints(complaints, ignore=brand_words(request.app))
    return web.json_response(
        {
            "crisis": request.app[HUB].crisis_state(),
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


def _unknown_placeholders(*texts: str) -> Text:
    """Why personalise_holding_statement refused: the {placeholders} it does not know."""
    found = {name for text in texts for name in re.findall(r"\{([^{}]*)\}", text)}
    unknown = ", ".join("{" + u + "}" for u in sorted(found - {"name", "topic"}))
    return say(
        "holding.unknown_placeholder",
        "holding statement has unknown placeholder(s): {placeholders} (use {{name}} and {{topic}})",
        placeholders=unknown,
    )


def _rendered(result: dict[str, Any], language: str) -> dict[str, Any]:
    """A per-conversation result in the operator's language: its refusal with the message id and
    params, its findings and advisories as the composer shows them."""
    shown = dict(result)
    for key in ("findings", "advisories"):
        if key in result:
            shown[key] = render_all_stored(result[key], language)
    error = result.get("error")
    if isinstance(error, Text):
        return {**shown, **error.to_json(language)}
    return shown


async def holding_statement(request: web.Request) -> web.Response:
    """POST {template, conversation_ids, preview?, confirm?}: one personalised public reply each."""
    op = operator_of(request)
    require_lead(op, say("doing.send_holding", "send a holding statement"))
    body = await read_json(request)
    template = body.get("template")
    if not isinstance(template, str) or not template.strip() or "\x00" in template:
        raise ApiError(
            400,
            say(
                "holding.no_template",
                "Field 'template' must be the statement's text, with {{name}} and {{topic}} if "
                "you like.",
            ),
        )
    # Per-language texts: a conversation in German gets templates["de"] when the lead wrote
    # one, else `template` (issue 17: replies in the customer's language).
    by_language = body.get("templates") or {}
    if not isinstance(by_language, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() and "\x00" not in v
        for k, v in by_language.items()
    ):
        raise ApiError(
            400,
            say(
                "holding.bad_templates",
                "Field 'templates' must map a language ('de') to the statement's text.",
            ),
        )
    ids = ids_field(body, "conversation_ids", most=MAX_TARGETS)
    preview, confirm = flag_field(body, "preview"), flag_field(body, "confirm")
    try:
        for text in (template, *by_language.values()):
            personalise_holding_statement(text, "", "")
    except ValueError:
        raise ApiError(422, _unknown_placeholders(template, *by_language.values())) from None
    pool, ignore = request.app[POOL], brand_words(request.app)
    texts = await pool.fetch(TEXTS_OF, ids)
    themes = top_themes([r["text"] or "" for r in texts], limit=20, ignore=ignore)

    def personalise(row: asyncpg.Record) -> str:
        name = first_name(row["display_name"], row["handle"])
        text = by_language.get(row["language"] or "", template)
        return personalise_holding_statement(
            text, name, topic_of(row["text"] or "", themes, ignore)
        )

    actions = request.app[ACTIONS]
    async with pool.acquire() as conn:
        results = [
            await actions.holding_statement(conn, op, cid, personalise, preview, confirm)
            for cid in dict.fromkeys(ids)
        ]
    language = language_of(request)
    results = [_rendered(r, language) for r in results]
    sent = sum(1 for r in results if r.get("ok") and not preview)
    return web.json_response(
        {"results": results, "sent": sent, "preview": preview}, status=200 if preview else 201
    )
