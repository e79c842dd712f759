"""Consoles served over SSH: signing in, signing out, and what ends them.

Each console gets a token of its own (console_sessions), the credential its
console process uses with the API. It works while the SSH session lasts and
stops when it ends, so no operator's long-lived token is ever handed to a
process; signing in and out are events carrying the key's fingerprint.

Each row names the server that holds it (its host name and port, and a run
id): a server killed before it could sign its consoles out signs them out when
it starts again, and never another server's (end_left_open).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from backend import events
from backend.operators import hash_token, new_session_token
from backend.ssh.keys import KeyOwner

SIGNED_IN = "operator.ssh_signed_in"
SIGNED_OUT = "operator.ssh_signed_out"

# Why a console ended, as the sign-out event and the log say it.
QUIT = "quit"
DISCONNECTED = "disconnected"
IDLE = "idle"
KEY_REMOVED = "key removed"
REVOKED = "operator revoked"
SERVER_STOPPED = "server stopped"
SERVER_RESTARTED = "server restarted"


@dataclass(frozen=True)
class Console:
    id: int
    token: str  # given to the console process once; only its hash is stored


async def sign_in(
    pool: asyncpg.Pool,
    owner: KeyOwner,
    address: str,
    server: str | None = None,
    run: str | None = None,
) -> Console | None:
    """Open a console for the key's operator; None if, since the key was checked, it was
    removed or its operator revoked (checked again in the same statement). `server` and
    `run`: the server that holds it (see end_left_open)."""
    token = new_session_token()
    async with pool.acquire() as conn, conn.transaction():
        session_id = await conn.fetchval(
            """INSERT INTO console_sessions
                   (operator_id, token_hash, key_fingerprint, address, server, server_run)
               SELECT o.id, $3, k.fingerprint, $4, $5, $6
               FROM operator_keys k JOIN operators o ON o.id = k.operator_id
               WHERE k.fingerprint = $2 AND o.id = $1 AND o.revoked_at IS NULL
               RETURNING id""",
            owner.operator.id,
            owner.fingerprint,
            hash_token(token),
            address,
            server,
            run,
        )
        if session_id is None:
            return None
        await events.record(
            conn,
            events.NewEvent(
                SIGNED_IN,
                operator_id=owner.operator.id,
                data={"fingerprint": owner.fingerprint, "address": address, "console": session_id},
            ),
        )
    return Console(session_id, token)


_ENDED = """RETURNING id, operator_id, key_fingerprint,
                     extract(epoch FROM ended_at - started_at)::float8 AS seconds"""


async def _signed_out(conn: asyncpg.Connection, rows: list[asyncpg.Record], reason: str) -> None:
    await events.record_many(
        conn,
        [
            events.NewEvent(
                SIGNED_OUT,
                operator_id=row["operator_id"],
                data={
                    "fingerprint": row["key_fingerprint"],
                    "reason": reason,
                    "console": row["id"],
                    "seconds": round(row["seconds"], 1),
                },
            )
            for row in rows
        ],
    )


async def sign_out(pool: asyncpg.Pool, console_id: int, reason: str) -> None:
    """The console has ended: its token stops working, and an event says why."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            f"""UPDATE console_sessions SET ended_at = now(), end_reason = $2
                WHERE id = $1 AND ended_at IS NULL
                {_ENDED}""",
            console_id,
            reason,
        )
        await _signed_out(conn, rows, reason)  # none if already signed out


async def end_left_open(pool: asyncpg.Pool, server: str, run: str) -> list[int]:
    """At the server's start: sign out the consoles an earlier run of the same server (same
    `server` name, another `run`) left open when it was killed. Their processes died with it
    (they ran on its ptys), so nothing holds their tokens; the rows only needed to say so."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            f"""UPDATE console_sessions SET ended_at = now(), end_reason = $3
                WHERE server = $1 AND server_run <> $2 AND ended_at IS NULL
                  AND key_fingerprint IS NOT NULL
                {_ENDED}""",
            server,
            run,
            SERVER_RESTARTED,
        )
        await _signed_out(conn, rows, SERVER_RESTARTED)
    return [r["id"] for r in rows]


async def ended(pool: asyncpg.Pool, console_ids: Iterable[int]) -> dict[int, str]:
    """Of these open consoles, the ones that must end now and why: their key was removed,
    their operator revoked, or they were signed out elsewhere."""
    ids = list(console_ids)
    if not ids:
        return {}
    rows = await pool.fetch(
        """SELECT s.id,
                  CASE WHEN o.revoked_at IS NOT NULL THEN $2
                       WHEN k.id IS NULL THEN $3
                       ELSE coalesce(s.end_reason, $4) END AS reason
           FROM console_sessions s
           JOIN operators o ON o.id = s.operator_id
           LEFT JOIN operator_keys k ON k.fingerprint = s.key_fingerprint
                                    AND k.operator_id = s.operator_id
           WHERE s.id = ANY($1::bigint[])
             AND (o.revoked_at IS NOT NULL OR k.id IS NULL OR s.ended_at IS NOT NULL)""",
        ids,
        REVOKED,
        KEY_REMOVED,
        SERVER_STOPPED,
    )
    return {r["id"]: r["reason"] for r in rows}
