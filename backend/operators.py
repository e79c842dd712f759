"""Operators and their tokens. Only a hash of each token is stored.

Besides an operator's own token there are console-session credentials: minted
by a server that starts a console on an operator's behalf (the browser
console), working only while that session is open, its operator active and
its time not run out.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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


# Console-session credentials look different, so one is never taken for an operator's token.
SESSION_PREFIX = "sdc_"


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


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


# When a console session's credential works: the session open and not run out, its
# operator active, and for a console over SSH the key still theirs.
SESSION_WORKS = """
    s.ended_at IS NULL AND o.revoked_at IS NULL
    AND (s.expires_at IS NULL OR s.expires_at > now())
    AND (s.key_fingerprint IS NULL
         OR EXISTS (SELECT 1 FROM operator_keys k
                    WHERE k.fingerprint = s.key_fingerprint AND k.operator_id = s.operator_id))
"""

# An operator's own token, or the credential of a console session (console_sessions: one
# over SSH, backend/ssh/consoles.py, or in a browser, backend/webconsole). Two index
# lookups in one round trip.
_AUTHENTICATE = f"""
    SELECT id, name, display_name, role, language FROM operators
    WHERE token_hash = $1 AND revoked_at IS NULL
    UNION ALL
    SELECT o.id, o.name, o.display_name, o.role, o.language
    FROM console_sessions s JOIN operators o ON o.id = s.operator_id
    WHERE s.token_hash = $1 AND {SESSION_WORKS}
    LIMIT 1
"""


async def authenticate(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> Operator | None:
    """The active operator an operator token or an open console session\'s credential is for."""
    row = await conn.fetchrow(_AUTHENTICATE, hash_token(token))
    return Operator(**dict(row)) if row else None


async def open_session(
    conn: asyncpg.Connection | asyncpg.Pool, operator_id: int, via: str, lifetime: timedelta
) -> tuple[int, str]:
    """A credential for a console started on this operator's behalf; (session id, credential).
    The credential is shown once, to the server that hands it to the console; only its hash is kept."""
    token = new_session_token()
    session_id = await conn.fetchval(
        """INSERT INTO console_sessions (operator_id, token_hash, via, expires_at)
           VALUES ($1, $2, $3, now() + $4::interval) RETURNING id""",
        operator_id,
        hash_token(token),
        via,
        lifetime,
    )
    return int(session_id), token


async def end_sessions(conn: asyncpg.Connection | asyncpg.Pool, session_ids: Sequence[int]) -> None:
    """Sign these console sessions out: their credentials stop working."""
    await conn.execute(
        "UPDATE console_sessions SET ended_at = now() WHERE id = ANY($1) AND ended_at IS NULL",
        list(session_ids),
    )


async def open_sessions(
    conn: asyncpg.Connection | asyncpg.Pool, session_ids: Sequence[int]
) -> set[int]:
    """Which of these console sessions still work (open, not run out, operator active)."""
    rows = await conn.fetch(
        f"""SELECT s.id FROM console_sessions s JOIN operators o ON o.id = s.operator_id
            WHERE s.id = ANY($1) AND {SESSION_WORKS}""",
        list(session_ids),
    )
    return {r["id"] for r in rows}


async def _end_browser_sessions_of(
    conn: asyncpg.Connection | asyncpg.Pool, operator_id: int, via: Sequence[str]
) -> None:
    # Consoles over SSH are ended by their server, which records why (backend/ssh/consoles.py).
    await conn.execute(
        """UPDATE console_sessions SET ended_at = now()
           WHERE operator_id = $1 AND ended_at IS NULL AND key_fingerprint IS NULL
             AND via = ANY($2)""",
        operator_id,
        list(via),
    )


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
    # A lost token may be in someone else's hands: what was signed in with it ends too.
    await _end_browser_sessions_of(conn, row["id"], via=["token"])
    return Operator(**dict(row)), token


async def revoke(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> int:
    """Stop an operator's token from working; returns their id."""
    found = await conn.fetchval(
        "UPDATE operators SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING id",
        name,
    )
    if found is None:
        raise OperatorError(f"no active operator named {name!r}")
    await _end_browser_sessions_of(conn, int(found), via=["token", "link"])
    return int(found)
