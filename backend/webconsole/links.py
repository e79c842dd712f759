"""One-time sign-in links: `shiftdesk operators link NAME` prints one, the browser uses it once.

Only a hash of the link's secret is stored. A link works once (the first use
marks it used in the same statement that checks it, so two browsers racing
with one link cannot both get in), only until it expires, and only while its
operator is active.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import asyncpg

from backend.operators import Operator, OperatorError, hash_token

LINK_PREFIX = "sdl_"


async def create(
    conn: asyncpg.Connection | asyncpg.Pool, name: str, lifetime: timedelta
) -> tuple[Operator, str, datetime]:
    """A new link secret for the active operator `name`: (operator, secret, expires at)."""
    secret = LINK_PREFIX + secrets.token_urlsafe(32)
    row = await conn.fetchrow(
        """INSERT INTO web_links (operator_id, token_hash, expires_at)
           SELECT id, $2, now() + $3::interval FROM operators WHERE name = $1 AND revoked_at IS NULL
           RETURNING operator_id, expires_at""",
        name,
        hash_token(secret),
        lifetime,
    )
    if row is None:
        raise OperatorError(f"no active operator named {name!r}")
    op = await conn.fetchrow(
        "SELECT id, name, display_name, role FROM operators WHERE id = $1", row["operator_id"]
    )
    return Operator(**dict(op)), secret, row["expires_at"]


async def use(conn: asyncpg.Connection | asyncpg.Pool, secret: str) -> Operator | None:
    """The operator a link signs in, marking it used; None if unknown, used, expired or revoked."""
    if not secret.startswith(LINK_PREFIX):
        return None
    row = await conn.fetchrow(
        """UPDATE web_links l SET used_at = now()
           FROM operators o
           WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now()
             AND o.id = l.operator_id AND o.revoked_at IS NULL
           RETURNING o.id, o.name, o.display_name, o.role""",
        hash_token(secret),
    )
    return Operator(**dict(row)) if row else None
