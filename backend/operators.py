"""Operators and their tokens. Only a hash of each token is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from backend.i18n import available_languages

ROLES = ("operator", "lead")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class Operator:
    id: int
    name: str
    display_name: str
    role: str
    language: str | None = None  # None: the console's --lang or LANG, the request's Accept-Language

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"


class OperatorError(Exception):
    pass


def check_language(language: str | None) -> None:
    """A profile language must have a backend catalog (or be English); None follows the console."""
    if language is not None and language not in available_languages():
        raise OperatorError(
            f"language {language!r}: no such catalog; available: {', '.join(available_languages())}"
        )


async def set_language(
    conn: asyncpg.Connection | asyncpg.Pool, name: str, language: str | None
) -> Operator:
    """Keep `language` as the active operator `name`'s profile language (None: follow the console)."""
    check_language(language)
    row = await conn.fetchrow(
        """UPDATE operators SET language = $2 WHERE name = $1 AND revoked_at IS NULL
           RETURNING id, name, display_name, role, language""",
        name,
        language,
    )
    if row is None:
        raise OperatorError(f"no active operator named {name!r}")
    return Operator(**dict(row))


def hash_token(token: str) -> bytes:
    # Tokens are 256 random bits, so a plain fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return "sd_" + secrets.token_urlsafe(32)


async def add(
    conn: asyncpg.Connection | asyncpg.Pool,
    name: str,
    display_name: str = "",
    role: str = "operator",
    token: str | None = None,
    language: str | None = None,
) -> tuple[Operator, str]:
    """Create an operator; returns it with its token (shown once, never stored)."""
    if not _NAME.match(name):
        raise OperatorError(
            f"operator name {name!r}: use 1-32 lower-case letters, digits, '.', '_' or '-'"
        )
    if role not in ROLES:
        raise OperatorError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    check_language(language)
    token = token or new_token()
    try:
        row = await conn.fetchrow(
            """INSERT INTO operators (name, display_name, role, token_hash, language)
               VALUES ($1, $2, $3, $4, $5)
               RETURNING id, name, display_name, role, language""",
            name,
            display_name or name.capitalize(),
            role,
            hash_token(token),
            language,
        )
    except asyncpg.UniqueViolationError:
        raise OperatorError(f"an operator named {name!r} already exists") from None
    return Operator(**dict(row)), token


# An operator's own token, or the token of a console session open over SSH (console_sessions,
# backend/ssh/consoles.py): valid only while that session lasts, its key is still theirs and
# they are active.
# Two index lookups in one round trip.
_AUTHENTICATE = """
    SELECT id, name, display_name, role, language FROM operators
    WHERE token_hash = $1 AND revoked_at IS NULL
    UNION ALL
    SELECT o.id, o.name, o.display_name, o.role, o.language
    FROM console_sessions s JOIN operators o ON o.id = s.operator_id
    WHERE s.token_hash = $1 AND s.ended_at IS NULL AND o.revoked_at IS NULL
      AND EXISTS (SELECT 1 FROM operator_keys k
                  WHERE k.fingerprint = s.key_fingerprint AND k.operator_id = s.operator_id)
    LIMIT 1
"""


async def authenticate(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> Operator | None:
    row = await conn.fetchrow(_AUTHENTICATE, hash_token(token))
    return Operator(**dict(row)) if row else None


@dataclass(frozen=True)
class OperatorListing:
    operator: Operator
    created_at: datetime
    revoked_at: datetime | None


async def list_all(conn: asyncpg.Connection | asyncpg.Pool) -> list[OperatorListing]:
    rows = await conn.fetch(
        """SELECT id, name, display_name, role, language, created_at, revoked_at
           FROM operators ORDER BY name"""
    )
    return [
        OperatorListing(
            Operator(r["id"], r["name"], r["display_name"], r["role"], r["language"]),
            r["created_at"],
            r["revoked_at"],
        )
        for r in rows
    ]


async def reissue(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> tuple[Operator, str]:
    """A new token for an active operator who lost theirs; the old one stops working."""
    token = new_token()
    row = await conn.fetchrow(
        """UPDATE operators SET token_hash = $2 WHERE name = $1 AND revoked_at IS NULL
           RETURNING id, name, display_name, role, language""",
        name,
        hash_token(token),
    )
    if row is None:
        raise OperatorError(f"no active operator named {name!r}")
    return Operator(**dict(row)), token


async def revoke(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> int:
    """Stop an operator's token from working; returns their id."""
    found = await conn.fetchval(
        "UPDATE operators SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING id",
        name,
    )
    if found is None:
        raise OperatorError(f"no active operator named {name!r}")
    return int(found)
