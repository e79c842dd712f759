"""Typed keys for the state every domain shares (aiohttp's AppKey).

Each domain declares the keys for what it owns next to the thing itself
(`backend.live.hub.HUB`, `backend.conversations.actions.ACTIONS`, ...);
here are only the ones that belong to no domain.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from aiohttp import web

from backend.clock import Clock
from backend.config import Config
from backend.i18n import available_languages, negotiate
from backend.operators import Operator

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
POOL = web.AppKey("pool", asyncpg.Pool)
# Where secrets are read by the variable names config gives (os.environ unless a test says).
ENV: web.AppKey[Mapping[str, str]] = web.AppKey("env")
OPERATOR = web.RequestKey("operator", Operator)  # the signed-in operator of this request


def operator_of(request: web.Request) -> Operator:
    """The operator the auth middleware signed in for this request."""
    return request[OPERATOR]


# A console started with --lang sends it here: the operator's choice for this console wins
# over their profile (Accept-Language does not: a browser or library sends one unasked).
LANGUAGE_OVERRIDE = "X-Shiftdesk-Language"


def language_of(request: web.Request) -> str:
    """The language to answer this request in: the console's --lang, else the signed-in
    operator's profile language, else the best match for Accept-Language, else English
    (the operator may not be known yet)."""
    op = request.get(OPERATOR)
    chosen = request.headers.get(LANGUAGE_OVERRIDE, "").strip()
    preferred = chosen if chosen in available_languages() else (op.language if op else None)
    return negotiate(preferred, request.headers.get("Accept-Language"))


def brand_words(app: web.Application) -> tuple[str, str]:
    """The brand's name and handle: words that say nothing about a complaint's topic."""
    brand = app[CONFIG].brand
    return (brand.name, brand.handle)
