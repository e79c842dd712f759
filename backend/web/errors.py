"""Errors a client sees: a status and a sentence a person understands, as JSON.

The sentence is a `backend.i18n.Text`: the JSON carries its stable `error_id`, its `params`
and `error`, the text rendered in the request's language (`backend.web.keys.language_of`).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from backend.i18n import Text, as_text, say

# What losing the database looks like from a handler: the socket gone (OSError), the
# server refusing or restarting (PostgresConnectionError, CannotConnectNowError,
# AdminShutdown and friends are OperatorInterventionError), a pooled connection
# closed under us (InterfaceError), or no connection free in time (TimeoutError).
DATABASE_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.InterfaceError,
)
DATABASE_RETRY_AFTER = 5  # seconds: a restart or fail-over is usually back within that


class ApiError(Exception):
    """An error for the client: HTTP status and a sentence a person understands."""

    def __init__(self, status: int, message: Text, *, retry_after: int | None = None, **extra: Any):
        self.status = status
        self.text = message  # rendered per request in the operator's language
        self.message = str(message)  # the English, for logs and tests
        self.retry_after = retry_after  # seconds, sent as Retry-After (429, 503)
        self.extra = extra
        super().__init__(str(message))


def json_error(status: int, message: Text | str, language: str, **extra: Any) -> web.Response:
    """`{"error": text in `language`, "error_id", "params", **extra}` with `status`."""
    return web.json_response({**as_text(message).to_json(language), **extra}, status=status)


def http_reason(status: int, reason: str) -> Text:
    """aiohttp's own refusals (no route, wrong method, body too large) in the operator's words."""
    if status == 404:
        return say("http.not_found", "Not Found")
    if status == 405:
        return say("http.method_not_allowed", "Method Not Allowed")
    if status == 413:
        return say("http.too_large", "Request Entity Too Large")
    return say("http.status", "{reason}", reason=reason)
