"""HTTP handlers for shifts and handovers: sign-in starts a shift, ending one writes the handover."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from backend.handover import queries as handover_query
from backend.handover import shifts
from backend.i18n import say, text_of
from backend.web.errors import ApiError
from backend.web.keys import CLOCK, CONFIG, POOL, brand_words, language_of, operator_of
from backend.web.request import read_json


def parse_since(raw: str | None) -> datetime | None:
    """An ISO 8601 time with its zone ('2026-11-25T08:00:00Z'); None when not given."""
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400,
            say(
                "since.not_iso",
                "'since' must be an ISO 8601 time like 2026-11-25T08:00:00Z, got {since!r}.",
                since=raw,
            ),
        ) from None
    if value.tzinfo is None:
        raise ApiError(
            400,
            say("since.no_zone", "'since' needs a time zone, e.g. 2026-11-25T08:00:00Z or +01:00."),
        )
    if not 1970 <= value.year <= 9000:
        # Year 1 or 9999 overflows the report's arithmetic (a 500); no shift is that old or new.
        raise ApiError(
            400,
            say(
                "since.out_of_range",
                "'since' must be between 1970 and 9000, got {since!r}.",
                since=raw,
            ),
        )
    return value


async def shift_start(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        shift = await shifts.start_shift(conn, operator_of(request), request.app[CLOCK].now())
        latest = await shifts.latest_handover(conn)
    return web.json_response(
        {"shift": shift, "latest_handover": latest}, status=200 if shift["resumed"] else 201
    )


async def shift_end(request: web.Request) -> web.Response:
    app = request.app
    body = await read_json(request)
    note = body.get("note", "")
    if not isinstance(note, str) or "\x00" in note:
        raise ApiError(400, say("field.not_text", "Field '{field}' must be text.", field="note"))
    async with app[POOL].acquire() as conn:
        try:
            found = await shifts.end_shift(
                conn,
                operator_of(request),
                app[CLOCK].now(),
                note,
                negative_below=app[CONFIG].crisis.negative_below,
                ignore=brand_words(app),
            )
        except shifts.NoShift as exc:
            raise ApiError(409, exc.text) from None
        except ValueError as exc:
            raise ApiError(413, text_of(exc)) from None
    return web.json_response(found, status=201)


async def handover_latest(request: web.Request) -> web.Response:
    found = await shifts.latest_handover(request.app[POOL])
    if found is None:
        raise ApiError(404, say("handover.none_yet", "Nobody has handed over yet."))
    return web.json_response(found)


async def handover_get(request: web.Request) -> web.Response:
    app = request.app
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "md"):
        raise ApiError(400, say("handover.format_param", "'format' must be json or md."))
    language = language_of(request)
    try:
        report = await handover_query.report(
            app[POOL],
            app[CLOCK].now(),
            parse_since(request.query.get("since")),
            fmt,
            negative_below=app[CONFIG].crisis.negative_below,
            ignore=brand_words(app),
            language=language,
        )
    except ValueError as exc:
        raise ApiError(400, text_of(exc)) from None
    if isinstance(report, str):  # format=md
        return web.Response(
            text=report, content_type="text/markdown", headers={"Content-Language": language}
        )
    return web.json_response(report)
