"""Reading what a client sent: JSON bodies, fields, query parameters and ids.

Every check answers 4xx with the field's name, so nothing a client sends can
reach a query as a value PostgreSQL refuses (that would be a 500).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from backend.i18n import Text, say
from backend.jsonsafe import has_surrogate, loads, unstorable
from backend.operators import Operator
from backend.web.errors import ApiError


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object of storable values, or a 400 that says what is wrong with it."""
    try:
        body = loads(await request.text())
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ApiError(
            400,
            say("body.not_json", "The request body is not valid JSON: {problem}", problem=str(exc)),
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, say("body.not_object", "The request body must be a JSON object."))
    problem = unstorable(body)
    if problem is not None:
        raise ApiError(
            400,
            say(
                "body.unstorable", "The request body cannot be stored: {problem}.", problem=problem
            ),
        )
    return body


def query_problem(request: web.Request) -> Text | None:
    """Why a query parameter cannot reach a query (NUL, a lone surrogate, absurd length), or None."""
    for name, value in request.query.items():
        if "\x00" in value or "\x00" in name:
            return say(
                "query.nul", "Query parameter {name!r:.40} contains a NUL character.", name=name
            )
        if has_surrogate(value) or has_surrogate(name):
            return say(
                "query.not_utf8", "Query parameter {name!r:.40} is not valid UTF-8 text.", name=name
            )
        if len(value) > 2_000:
            return say(
                "query.too_long",
                "Query parameter {name!r:.40} is longer than {limit} characters.",
                name=name,
                limit=2000,
            )
    return None


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """A whole-number query parameter within [lo, hi]."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400,
            say(
                "query.not_whole_number",
                "Query parameter '{name}' must be a whole number, got {value!r}.",
                name=name,
                value=raw,
            ),
        ) from None
    if not lo <= value <= hi:
        raise ApiError(
            400,
            say(
                "query.out_of_range",
                "Query parameter '{name}' must be between {lo} and {hi}, got {value}.",
                name=name,
                lo=lo,
                hi=hi,
                value=value,
            ),
        )
    return value


def conversation_id(request: web.Request) -> int:
    """The conversation id in the path; anything that cannot be one is a 404."""
    raw = request.match_info["id"]
    missing = say("conversation.no_such_id", "There is no conversation {id!r}.", id=raw)
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(404, missing) from None
    if not 0 < value < 2**63:
        raise ApiError(404, missing)
    return value


def text_field(
    body: dict[str, Any], key: str, *, required: bool = True, limit: int = 10_000
) -> str:
    """A text field of the body, without NUL (PostgreSQL text cannot hold it) and within `limit`."""
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, say("field.not_text", "Field '{field}' must be text.", field=key))
    if "\x00" in value:
        raise ApiError(
            400, say("field.nul", "Field '{field}' contains a NUL character.", field=key)
        )
    if has_surrogate(value):
        raise ApiError(
            400,
            say(
                "field.surrogate",
                "Field '{field}' contains a lone UTF-16 surrogate (not valid Unicode).",
                field=key,
            ),
        )
    if len(value) > limit:
        raise ApiError(
            413,
            say(
                "field.too_long",
                "Field '{field}' is longer than {limit} characters.",
                field=key,
                limit=limit,
            ),
        )
    return value


def flag_field(body: dict[str, Any], key: str) -> bool:
    """A true/false field of the body, false when absent."""
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(
            400, say("field.not_flag", "Field '{field}' must be true or false.", field=key)
        )
    return value


def is_id(value: Any) -> bool:
    """A row id as PostgreSQL's bigint holds it (a larger number would fail in the query, as a 500)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def ids_field(body: dict[str, Any], key: str, most: int) -> list[int]:
    """A non-empty list of row ids, at most `most` of them."""
    ids = body.get(key)
    if not isinstance(ids, list) or not ids or not all(is_id(i) for i in ids):
        raise ApiError(
            400,
            say(
                "field.not_ids",
                "Field '{field}' must be a non-empty list of conversation ids.",
                field=key,
            ),
        )
    if len(ids) > most:
        raise ApiError(
            413, say("field.too_many_ids", "At most {most} conversations at once.", most=most)
        )
    return ids


def operator_id_field(body: dict[str, Any]) -> int:
    value = body.get("operator_id")
    if not isinstance(value, int) or not is_id(value):
        raise ApiError(
            400, say("field.not_operator", "Field 'operator_id' must be an operator's id.")
        )
    return value


def require_lead(op: Operator, doing: Text | None = None) -> None:
    """A 403 unless `op` is a lead; `doing` says what (an infinitive with "to" left out)."""
    if not op.is_lead:
        doing = doing or say("doing.that", "do that")
        raise ApiError(403, say("lead.only", "Only a lead can {doing}.", doing=doing))
