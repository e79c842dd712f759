"""POST /ingest/{source}: posts pushed by platforms (and `shiftdesk simulate`).

Not under /api, so operator tokens do not apply: each source signs its
requests with a shared secret (see backend.connectors.webhook).

Everything that can be checked before the body is read is checked first, so
a caller without the secret costs us as little as possible: the source
(404/503), the Content-Type (415), the declared length (413), the form of
the timestamp and signature headers and the replay window (401). Only then
is the body read: with a deadline (408), a size cap (413, checked as it
streams in), and at most `ReadGate.limit` such unverified reads at once per
backend (503 with Retry-After beyond that), so connections that send headers
and a little body and then stall hold neither memory nor every slot. The
HMAC is verified once the body is in (401).

A signed batch is then checked post by post: the good posts are stored once
(one ingest transaction) and the answer is 202 with {"stored", "duplicates",
"dropped"}; when any post was refused the answer is 422 with the same counts
and "refused": [{"index", "error"}], so a platform does not retry the batch
forever and a retry stores nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiohttp import web

from backend.connectors.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookError,
    check_body,
    check_content_type,
    check_headers,
    check_source,
    parse_batch,
)
from backend.i18n import Text, say
from backend.ingest.store import INGEST
from backend.web.errors import ApiError
from backend.web.keys import CLOCK, CONFIG, ENV, POOL

log = logging.getLogger(__name__)

CHUNK = 64 * 1024


@dataclass
class ReadGate:
    """How many webhook bodies still arriving may be read at once before their signature
    is known, and how long one may take. A body that arrived whole with its headers needs
    no slot. Over the limit a request is answered 503 (Retry-After) before its body is
    read: stalled senders can neither queue up memory nor crowd out prompt ones."""

    limit: int = 64
    read_timeout_s: float = 10.0
    grace_s: float = 0.25  # when every slot is taken: how long a body may take to finish arriving
    retry_after_s: int = 2
    reading: int = 0

    def enter(self) -> None:
        if self.reading >= self.limit:
            raise ApiError(
                503,
                say(
                    "webhook.busy",
                    "Too many webhook requests are being received at once (at most {most});"
                    " try again shortly.",
                    most=self.limit,
                ),
                retry_after=self.retry_after_s,
            )
        self.reading += 1

    def leave(self) -> None:
        self.reading -= 1


READ_GATE = web.AppKey("webhook_read_gate", ReadGate)


async def read_capped(request: web.Request, max_bytes: int) -> bytes:
    """The request body, refusing with 413 as soon as it passes `max_bytes`."""
    too_big = say(
        "webhook.body_too_big", "body: more than the {most} bytes allowed", most=max_bytes
    )
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, _declared_too_big(request.content_length, max_bytes))
    body = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, too_big)
    return bytes(body)


def _declared_too_big(length: int, most: int) -> Text:
    return say(
        "webhook.declared_too_big",
        "body: {length} bytes, more than the {most} allowed",
        length=length,
        most=most,
    )


async def read_unverified(request: web.Request, gate: ReadGate, max_bytes: int) -> bytes:
    """The body of a request whose signature is not yet checked: one of `gate.limit`
    at most, within `gate.read_timeout_s`."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, _declared_too_big(request.content_length, max_bytes))
    if not request.content.is_eof() and gate.reading >= gate.limit:
        # A sender that wrote its body with its headers (every platform, nearly always) has it
        # here within moments; waiting for that costs no slot and no buffer of ours.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(gate.grace_s):
                await request.content.wait_eof()
    if request.content.is_eof():
        # Already received whole (aiohttp's buffer holds it): nothing left to stall on.
        return await read_capped(request, max_bytes)
    gate.enter()
    try:
        async with asyncio.timeout(gate.read_timeout_s):
            return await read_capped(request, max_bytes)
    except TimeoutError:
        raise ApiError(
            408,
            say(
                "webhook.body_slow",
                "body: not received within {seconds:g} s; send it whole and promptly",
                seconds=gate.read_timeout_s,
            ),
        ) from None
    finally:
        gate.leave()


def _refused(source: str, exc: WebhookError) -> ApiError:
    if exc.status == 401:
        log.info("webhook %s: refused a request: %s", source, exc.message)
    # The sender is a platform, not an operator: its reasons stay as connectors word them.
    return ApiError(exc.status, say("webhook.refused", "{reason}", reason=exc.message))


async def ingest_webhook(request: web.Request) -> web.Response:
    """Check, read, verify, parse and store one signed batch of pushed posts."""
    app = request.app
    cfg = app[CONFIG].webhook
    source = request.match_info["source"]
    var = cfg.sources.get(source)
    if var is None:
        raise ApiError(
            404,
            say(
                "webhook.no_source",
                "There is no webhook source {source!r} on this server.",
                source=source[:40],
            ),
        )
    secret = app[ENV].get(var, "").strip()
    if not secret:
        # The caller learns only that the source is not ready; the log names the variable.
        log.warning(
            "webhook %s: environment variable %s is not set; refusing its posts", source, var
        )
        raise ApiError(
            503,
            say(
                "webhook.not_ready",
                "Webhook source {source!r} is not ready on this server (no secret configured).",
                source=source,
            ),
        )
    content_type = request.headers.get("Content-Type", "")
    try:
        check_source(source)
        check_content_type(content_type)
        stamp, signature = check_headers(
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            app[CLOCK].now(),
            cfg.window_seconds,
        )
    except WebhookError as exc:
        raise _refused(source, exc) from None
    body = await read_unverified(request, app[READ_GATE], cfg.max_body_bytes)
    try:
        check_body(secret, stamp, signature, body)
        batch = parse_batch(source, body, cfg.max_body_bytes, content_type)
    except WebhookError as exc:
        raise _refused(source, exc) from None
    result = await app[INGEST].store_from(app[POOL], batch.posts)
    answer = {"stored": result.stored, "duplicates": result.duplicates, "dropped": result.dropped}
    if batch.refused:
        # Not retried by a well-behaved sender (4xx); the good posts are already stored.
        log.info(
            "webhook %s: refused %d of %d posts (first: %s)",
            source,
            len(batch.refused),
            len(batch.refused) + len(batch.posts),
            batch.refused[0].reason,
        )
        return web.json_response(
            {
                "error": f"{len(batch.refused)} of {len(batch.refused) + len(batch.posts)} posts"
                f" refused (the others were stored): {batch.refused[0].reason}",
                **answer,
                "refused": [r.to_dict() for r in batch.refused[:100]],
            },
            status=422,
        )
    return web.json_response(answer, status=202)
