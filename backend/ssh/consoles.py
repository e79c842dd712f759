"""Consoles served over SSH: signing in, signing out, and what ends them.

Each console gets a token of its own (console_sessions), the credential its
console process uses with the API. It works while the SSH session lasts and
stops when it ends, so no operator's long-lived token is ever handed to a
process; signing in and out are events carrying the key's fingerprint.
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


@dataclass(frozen=True)
class Console:
    id: int
    token: str  # given to the console process once; only its hash is stored


async def sign_in(pool: asyncpg.Pool, owner: KeyOwner, address: str) -> Console | None:
    """Open a console for the key's operator; None if, since the key was checked, it was
    removed or its operator revoked (checked again in the same statement)."""
    token = new_session_token()
    async with pool.acquire() as conn, conn.transaction():
        session_id = await conn.fetchval(
            """INSERT INTO console_sessions (operator_id, token_hash, key_fingerprint, address)
               SELECT o.id, $3, k.fingerprint, $4
               FROM operator_keys k JOIN operators o ON o.id = k.operator_id
               WHERE k.fingerprint = $2 AND o.id = $1 AND o.revoked_at IS NULL
               RETURNING id""",
            owner.operator.id,
            owner.fingerprint,
            hash_token(token),
            address,
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


async def sign_out(pool: asyncpg.Pool, console_id: int, reason: str) -> None:
    """The console has ended: its token stops working, and an event says why."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """UPDATE console_sessions SET ended_at = now(), end_reason = $2
               WHERE id = $1 AND ended_at IS NULL
               RETURNING operator_id, key_fingerprint,
                         extract(epoch FROM ended_at - started_at)::float8 AS seconds""",
            console_id,
            reason,
        )
        if row is None:
            return  # already signed out
        await events.record(
            conn,
            events.NewEvent(
                SIGNED_OUT,
                operator_id=row["operator_id"],
                data={
                    "fingerprint": row["key_fingerprint"],
                    "reason": reason,
                    "console": console_id,
                    "seconds": round(row["seconds"], 1),
                },
            ),
        )


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
