"""Errors a client sees: a status and a sentence a person understands, as JSON."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

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

    def __init__(self, status: int, message: str, *, retry_after: int | None = None, **extra: Any):
        self.status = status
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After (429, 503)
        self.extra = extra
        super().__init__(message)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)
