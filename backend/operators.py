"""Operators and their tokens. Only a hash of each token is stored.

Besides an operator's own token there are console-session credentials: minted
by a server that starts a console on an operator's behalf (the browser
console), working only while that session is open, its operator active and
its time not run out. A browser session's start and end are events
(operator.web_signed_in, operator.web_signed_out with the reason), recorded in
the transaction that opens or ends it, once each, whoever ends it: the web
server, or a revoke or reissue run from the command line.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from backend import events
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


WEB_SIGNED_IN = "operator.web_signed_in"
WEB_SIGNED_OUT = "operator.web_signed_out"
# Why a browser session ended, as its sign-out event says.
SIGNED_OUT = "signed out"
REVOKED = "operator revoked"
REISSUED = "token reissued"
EXPIRED = "expired"
SERVER_STOPPED = "server stopped"
SERVER_RESTARTED = "server restarted"


@asynccontextmanager
async def _transaction(
    conn: asyncpg.Connection | asyncpg.Pool,
) -> AsyncIterator[asyncpg.Connection]:
    # A change and its events commit together (events.record needs a transaction).
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as held, held.transaction():
            yield held
    else:
        async with conn.transaction():
            yield conn


async def open_session(
    conn: asyncpg.Connection | asyncpg.Pool,
    operator_id: int,
    via: str,
    lifetime: timedelta,
    address: str = "",
    server: str | None = None,
    run: str | None = None,
) -> tuple[int, str]:
    """A credential for a console started on this operator's behalf; (session id, credential).
    The credential is shown once, to the server that hands it to the console; only its hash is kept.
    `via`: how the operator signed in ("token" or "link"); `server` and `run`: the server that
    holds the session (see end_left_open)."""
    token = new_session_token()
    async with _transaction(conn) as tx:
        session_id = await tx.fetchval(
            """INSERT INTO console_sessions
                   (operator_id, token_hash, via, expires_at, address, server, server_run)
               VALUES ($1, $2, $3, now() + $4::interval, $5, $6, $7) RETURNING id""",
            operator_id,
            hash_token(token),
            via,
            lifetime,
            address,
            server,
            run,
        )
        await events.record(
            tx,
            events.NewEvent(
                WEB_SIGNED_IN,
                operator_id=operator_id,
                data={"how": via, "address": address, "session": session_id},
            ),
        )
    return int(session_id), token


# What an ended browser session returns for its sign-out event.
# (Every such UPDATE calls the table `s`.)
_ENDED = """RETURNING s.id, s.operator_id, s.via, s.end_reason,
                     extract(epoch FROM s.ended_at - s.started_at)::float8 AS seconds"""


async def _signed_out(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[int]:
    await events.record_many(
        conn,
        [
            events.NewEvent(
                WEB_SIGNED_OUT,
                operator_id=r["operator_id"],
                data={
                    "how": r["via"],
                    "reason": r["end_reason"],
                    "session": r["id"],
                    "seconds": round(r["seconds"], 1),
                },
            )
            for r in rows
        ],
    )
    return [r["id"] for r in rows]


async def end_sessions(
    conn: asyncpg.Connection | asyncpg.Pool, session_ids: Sequence[int], reason: str
) -> list[int]:
    """Sign these browser sessions out: their credentials stop working, and an event says why
    for each one that was still open (returned)."""
    async with _transaction(conn) as tx:
        rows = await tx.fetch(
            f"""UPDATE console_sessions s SET ended_at = now(), end_reason = $2
                WHERE id = ANY($1) AND ended_at IS NULL AND key_fingerprint IS NULL
                {_ENDED}""",
            list(session_ids),
            reason,
        )
        return await _signed_out(tx, rows)


async def end_left_open(
    conn: asyncpg.Connection | asyncpg.Pool, server: str, run: str
) -> list[int]:
    """At a browser console server's start: end the sessions an earlier run of the same server
    (same `server` name, another `run`) left open when it was killed. Their credentials were
    held only by that run's consoles, which are gone. The ones whose time ran out meanwhile
    say so; the others say the server restarted."""
    async with _transaction(conn) as tx:
        rows = await tx.fetch(
            f"""UPDATE console_sessions s
                SET ended_at = now(),
                    end_reason = CASE WHEN expires_at <= now() THEN $3 ELSE $4 END
                WHERE server = $1 AND server_run <> $2 AND ended_at IS NULL
                  AND key_fingerprint IS NULL
                {_ENDED}""",
            server,
            run,
            EXPIRED,
            SERVER_RESTARTED,
        )
        return await _signed_out(tx, rows)


async def end_lapsed(
    conn: asyncpg.Connection | asyncpg.Pool, session_ids: Sequence[int]
) -> list[int]:
    """Sign out these browser sessions if their credentials stopped working while still open:
    their time ran out, or their operator was revoked by other means than `revoke` (which
    ends them itself, as `reissue` does). Returns the ones signed out here."""
    async with _transaction(conn) as tx:
        rows = await tx.fetch(
            f"""UPDATE console_sessions s SET ended_at = now(),
                       end_reason = CASE WHEN o.revoked_at IS NOT NULL THEN $2 ELSE $3 END
                FROM operators o
                WHERE o.id = s.operator_id AND s.id = ANY($1) AND s.ended_at IS NULL
                  AND s.key_fingerprint IS NULL
                  AND (o.revoked_at IS NOT NULL OR s.expires_at <= now())
                {_ENDED}""",
            list(session_ids),
            REVOKED,
            EXPIRED,
        )
        return await _signed_out(tx, rows)


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
    conn: asyncpg.Connection, operator_id: int, via: Sequence[str], reason: str
) -> None:
    # Consoles over SSH are ended by their server, which records why (backend/ssh/consoles.py).
    rows = await conn.fetch(
        f"""UPDATE console_sessions s SET ended_at = now(), end_reason = $3
            WHERE operator_id = $1 AND ended_at IS NULL AND key_fingerprint IS NULL
              AND via = ANY($2)
            {_ENDED}""",
        operator_id,
        list(via),
        reason,
    )
    await _signed_out(conn, rows)


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
    async with _transaction(conn) as tx:
        row = await tx.fetchrow(
            """UPDATE operators SET token_hash = $2 WHERE name = $1 AND revoked_at IS NULL
               RETURNING id, name, display_name, role, language""",
            name,
            hash_token(token),
        )
        if row is None:
            raise OperatorError(f"no active operator named {name!r}")
        # A lost token may be in someone else's hands: what was signed in with it ends too.
        await _end_browser_sessions_of(tx, row["id"], ["token"], REISSUED)
    return Operator(**dict(row)), token


async def revoke(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> int:
    """Stop an operator's token from working; returns their id."""
    async with _transaction(conn) as tx:
        found = await tx.fetchval(
            """UPDATE operators SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
               RETURNING id""",
            name,
        )
        if found is None:
            raise OperatorError(f"no active operator named {name!r}")
        await _end_browser_sessions_of(tx, int(found), ["token", "link"], REVOKED)
    return int(found)
