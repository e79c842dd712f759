"""HTTP handlers for shifts and handovers: sign-in starts a shift, ending one writes the handover."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from backend.app import SERVICES, ApiError, Services, operator_of, read_json
from backend.handover import queries as handover_query
from backend.handover import shifts


def _svc(request: web.Request) -> Services:
    return request.app[SERVICES]


def _brand(svc: Services) -> tuple[str, str]:
    return (svc.config.brand.name, svc.config.brand.handle)


def parse_since(raw: str | None) -> datetime | None:
    """An ISO 8601 time with its zone ('2026-11-25T08:00:00Z'); None when not given."""
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, f"'since' must be an ISO 8601 time like 2026-11-25T08:00:00Z, got {raw!r}."
        ) from None
    if value.tzinfo is None:
        raise ApiError(400, "'since' needs a time zone, e.g. 2026-11-25T08:00:00Z or +01:00.")
    return value


async def shift_start(request: web.Request) -> web.Response:
    svc = _svc(request)
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        shift = await shifts.start_shift(conn, operator_of(request), svc.clock.now())
        latest = await shifts.latest_handover(conn)
    return web.json_response(
        {"shift": shift, "latest_handover": latest}, status=200 if shift["resumed"] else 201
    )


async def shift_end(request: web.Request) -> web.Response:
    svc = _svc(request)
    body = await read_json(request)
    note = body.get("note", "")
    if not isinstance(note, str) or "\x00" in note:
        raise ApiError(400, "Field 'note' must be text.")
    async with svc.pool.acquire() as conn:  # type: ignore[union-attr]
        try:
            found = await shifts.end_shift(
                conn,
                operator_of(request),
                svc.clock.now(),
                note,
                negative_below=svc.config.crisis.negative_below,
                ignore=_brand(svc),
            )
        except shifts.NoShift as exc:
            raise ApiError(409, str(exc)) from None
        except ValueError as exc:
            raise ApiError(413, str(exc)) from None
    return web.json_response(found, status=201)


async def handover_latest(request: web.Request) -> web.Response:
    found = await shifts.latest_handover(_svc(request).pool)  # type: ignore[arg-type]
    if found is None:
        raise ApiError(404, "Nobody has handed over yet.")
    return web.json_response(found)


async def handover_get(request: web.Request) -> web.Response:
    svc = _svc(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "md"):
        raise ApiError(400, "'format' must be json or md.")
    try:
        report = await handover_query.report(
            svc.pool,
            svc.clock.now(),  # type: ignore[arg-type]
            parse_since(request.query.get("since")),
            fmt,
            negative_below=svc.config.crisis.negative_below,
            ignore=_brand(svc),
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    if fmt == "md":
        return web.Response(text=report, content_type="text/markdown")
    return web.json_response(report)


def setup_shift_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/shift/start", shift_start)
    r.add_post("/api/shift/end", shift_end)
    r.add_get("/api/handover", handover_get)
    r.add_get("/api/handover/latest", handover_latest)
