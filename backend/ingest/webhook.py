"""POST /ingest/{source}: posts pushed by platforms (and `shiftdesk simulate`).

Not under /api, so operator tokens do not apply: each source signs its
requests with a shared secret (see backend.connectors.webhook). A request is
stored whole or not at all: size cap (413), signature (401), body (400, 415,
422 naming the field), then one ingest transaction. The answer is 202 with
{"stored", "duplicates", "dropped"}.
"""

from __future__ import annotations

import logging

from aiohttp import web

from backend.connectors.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookError,
    parse,
    verify,
)
from backend.ingest.store import INGEST
from backend.web.errors import ApiError
from backend.web.keys import CLOCK, CONFIG, ENV, POOL

log = logging.getLogger(__name__)

CHUNK = 64 * 1024


async def read_capped(request: web.Request, max_bytes: int) -> bytes:
    """The request body, refusing with 413 as soon as it passes `max_bytes`."""
    too_big = f"body: more than the {max_bytes} bytes allowed"
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(
            413, f"body: {request.content_length} bytes, more than the {max_bytes} allowed"
        )
    body = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, too_big)
    return bytes(body)


async def ingest_webhook(request: web.Request) -> web.Response:
    """Verify, parse and store one signed batch of pushed posts."""
    app = request.app
    cfg = app[CONFIG].webhook
    source = request.match_info["source"]
    var = cfg.sources.get(source)
    if var is None:
        raise ApiError(404, f"There is no webhook source {source!r} on this server.")
    secret = app[ENV].get(var, "").strip()
    if not secret:
        # The caller learns only that the source is not ready; the log names the variable.
        log.warning(
            "webhook %s: environment variable %s is not set; refusing its posts", source, var
        )
        raise ApiError(
            503, f"Webhook source {source!r} is not ready on this server (no secret configured)."
        )
    body = await read_capped(request, cfg.max_body_bytes)
    try:
        verify(
            secret,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            app[CLOCK].now(),
            cfg.window_seconds,
        )
        posts = parse(source, body, cfg.max_body_bytes, request.headers.get("Content-Type", ""))
    except WebhookError as exc:
        if exc.status == 401:
            log.info("webhook %s: refused a request: %s", source, exc.message)
        raise ApiError(exc.status, exc.message) from None
    result = await app[INGEST].store_from(app[POOL], posts)
    return web.json_response(
        {"stored": result.stored, "duplicates": result.duplicates, "dropped": result.dropped},
        status=202,
    )
