"""Errors a client sees: a status and a sentence a person understands, as JSON."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    """An error for the client: HTTP status and a sentence a person understands."""

    def __init__(self, status: int, message: str, **extra: Any):
        self.status = status
        self.message = message
        self.extra = extra
        super().__init__(message)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)
