"""Shifts: an operator's shift starts when they sign in and ends with a handover note.

Ending a shift writes a `handovers` row holding the note and the summary of
the shift's period (as `handover.render_json` gives it), so the next operator
sees exactly what was handed over, even after the facts move on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from backend import events
from backend.handover import queries as handover_query
from backend.handover import report as handover
from backend.i18n import Refused, say
from backend.operators import Operator

DEFAULT_PERIOD = timedelta(hours=8)  # a handover with no earlier one to start from covers this much
NOTE_MAX = 10_000


class NoShift(Refused):
    """The operator has no shift running."""


def _shift_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "operator_id": row["operator_id"],
        "started_at": row["started_at"].isoformat(),
        "ended_at": row["ended_at"].isoformat() if row["ended_at"] else None,
        "handover_id": row["handover_id"],
    }


async def start_shift(conn: asyncpg.Connection, op: Operator, now: datetime) -> dict[str, Any]:
    """Start the operator's shift, or return the one already running (a second console, a reconnect)."""
    async with conn.transaction():
        # Serialise per operator, so two consoles signing in at once open one shift.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('shift'), $1::int)", op.id % 2**31
        )
        row = await conn.fetchrow(
            "SELECT * FROM shifts WHERE operator_id = $1 AND ended_at IS NULL", op.id
        )
        if row is not None:
            return {**_shift_json(row), "resumed": True}
        row = await conn.fetchrow(
            "INSERT INTO shifts (operator_id, started_at) VALUES ($1, $2) RETURNING *", op.id, now
        )
        await events.record(
            conn,
            events.NewEvent(
                "shift.started",
                operator_id=op.id,
                data={"shift_id": row["id"], "operator_name": op.display_name},
                at=now,
            ),
        )
        return {**_shift_json(row), "resumed": False}


async def end_shift(
    conn: asyncpg.Connection,
    op: Operator,
    now: datetime,
    note: str,
    *,
    negative_below: float = handover_query.NEGATIVE_BELOW,
    ignore: Iterable[str] = (),
) -> dict[str, Any]:
    """End the running shift with a handover note; returns the handover as `latest_handover` shows it."""
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise Refused(
            say(
                "handover.note_too_long",
                "The handover note is longer than {most} characters.",
                most=NOTE_MAX,
            )
        )
    async with conn.transaction():
        shift = await conn.fetchrow(
            "SELECT * FROM shifts WHERE operator_id = $1 AND ended_at IS NULL FOR UPDATE", op.id
        )
        if shift is None:
            raise NoShift(
                say("shift.none", "You have no shift running; it starts when you sign in.")
            )
        start = min(shift["started_at"], now)
        data = await handover_query.collect(
            conn, start, now, negative_below=negative_below, ignore=ignore
        )
        summary = handover.render_json(handover.summarise(data))
        handover_id = await conn.fetchval(
            """INSERT INTO handovers (operator_id, period_start, period_end, note, summary, created_at)
               VALUES ($1, $2, $3, $4, $5, $3) RETURNING id""",
            op.id,
            start,
            now,
            note,
            summary,
        )
        await conn.execute(
            "UPDATE shifts SET ended_at = $2, handover_id = $3 WHERE id = $1",
            shift["id"],
            now,
            handover_id,
        )
        await events.record(
            conn,
            events.NewEvent(
                "shift.ended",
                operator_id=op.id,
                data={
                    "shift_id": shift["id"],
                    "handover_id": handover_id,
                    "operator_name": op.display_name,
                },
                at=now,
            ),
        )
    found = await latest_handover(conn)
    assert found is not None
    return found


LATEST = """
    SELECT h.id, h.period_start, h.period_end, h.note, h.summary, h.created_at,
           o.display_name AS operator
    FROM handovers h JOIN operators o ON o.id = h.operator_id
    ORDER BY h.created_at DESC, h.id DESC LIMIT 1
"""


async def latest_handover(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, Any] | None:
    """The most recent handover: who wrote it, the period, the note and the stored summary."""
    row = await conn.fetchrow(LATEST)
    if row is None:
        return None
    return {
        "id": row["id"],
        "operator": row["operator"],
        "note": row["note"],
        "period": {"start": row["period_start"].isoformat(), "end": row["period_end"].isoformat()},
        "created_at": row["created_at"].isoformat(),
        "summary": row["summary"],
    }


async def default_since(conn: asyncpg.Connection | asyncpg.Pool, now: datetime) -> datetime:
    """Where a handover starts when nobody says: the end of the last one, else DEFAULT_PERIOD ago."""
    last = await conn.fetchval("SELECT max(period_end) FROM handovers WHERE period_end <= $1", now)
    return last if last is not None else now - DEFAULT_PERIOD
