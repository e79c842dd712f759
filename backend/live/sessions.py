"""An operator leaving: signing out of the console, or having their access revoked.

Either way nobody should wait for their claims to lapse: what they hold goes
back to the queue at once (unless they sign out keeping it, for a short
break), and an event says so. A revocation also ends every live stream of
theirs within a second, on whichever backend it is open (each stream
watches the event feed for it).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from backend import events
from backend.conversations.actions import release_claims_of

REVOKED = "operator.revoked"
REISSUED = "operator.token_reissued"
SIGNED_OUT = "operator.signed_out"
# Events after which an operator's open streams check the credential they were opened with
# and end if it no longer works (all of them after a revoke; the old token's after a reissue).
ENDS_STREAMS = (REVOKED, REISSUED)


async def sign_out(
    conn: asyncpg.Connection, operator_id: int, now: datetime, keep_claims: bool
) -> list[int]:
    """The operator closes their console; returns the conversations given back."""
    released = [] if keep_claims else await release_claims_of(conn, operator_id, now, "signed out")
    async with conn.transaction():
        await events.record(
            conn,
            events.NewEvent(
                SIGNED_OUT,
                operator_id=operator_id,
                data={"released": released, "kept_claims": keep_claims},
            ),
        )
    return released


async def token_reissued(conn: asyncpg.Connection, operator_id: int) -> None:
    """After `operators.reissue`: streams opened with the old token end (consoles' own
    credentials work on); claims stay theirs."""
    async with conn.transaction():
        await events.record(conn, events.NewEvent(REISSUED, operator_id=operator_id))


async def revoked(conn: asyncpg.Connection, operator_id: int, now: datetime) -> list[int]:
    """After `operators.revoke`: give back their claims and end their live streams."""
    released = await release_claims_of(conn, operator_id, now, "access revoked")
    async with conn.transaction():
        await events.record(
            conn, events.NewEvent(REVOKED, operator_id=operator_id, data={"released": released})
        )
    return released
