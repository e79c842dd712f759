"""The events table: audit log and live feed in one.

Every state change writes its event in the same transaction. Writers take
a transaction-scoped advisory lock just before inserting events, so event
ids commit in id order; a client that saw event N and asks for "after N"
can never miss one committed later with a smaller id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

EVENTS_LOCK = 0x5D1F7002
CHANNEL = "shiftdesk_events"


@dataclass(frozen=True)
class NewEvent:
    kind: str
    conversation_id: int | None = None
    operator_id: int | None = None
    state_before: str | None = None
    state_after: str | None = None
    data: dict[str, Any] | None = None
    at: datetime | None = None  # when it happened, if not "now" (an SLA breach at its due time)


async def record(
    conn: asyncpg.Connection, *events: NewEvent, at: datetime | None = None
) -> list[int]:
    """Insert events; call as the last step of the transaction that made the change.
    `at`: when they happened by the caller's clock (else the database's now())."""
    return await record_many(conn, events, at=at)


async def record_many(
    conn: asyncpg.Connection, events: Iterable[NewEvent], at: datetime | None = None
) -> list[int]:
    # The whole batch travels as one JSON document: one encoder call instead of
    # seven typed arrays checked element by element (the cost that dominated
    # ingest, which writes a thousand events a batch).
    default = at.isoformat() if at is not None else None
    rows = [
        {
            "k": e.kind,
            "c": e.conversation_id,
            "o": e.operator_id,
            "b": e.state_before,
            "a": e.state_after,
            "d": e.data or {},
            "t": e.at.isoformat() if e.at is not None else default,
        }
        for e in events
    ]
    if not rows:
        return []
    await conn.execute("SELECT pg_advisory_xact_lock($1)", EVENTS_LOCK)
    ids = await conn.fetch(
        """INSERT INTO events (kind, conversation_id, operator_id, state_before, state_after, data, at)
           SELECT k, c, o, b, a, d, coalesce(t, now())
           FROM ROWS FROM (json_to_recordset($1::json)
                           AS (k text, c bigint, o bigint, b text, a text, d jsonb, t timestamptz))
                WITH ORDINALITY AS u(k, c, o, b, a, d, t, i)
           ORDER BY i
           RETURNING id""",
        rows,
    )
    # INSERT ... SELECT ... ORDER BY takes serial ids in input order.
    return sorted(r["id"] for r in ids)


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    at: datetime = row["at"]
    return {
        "id": row["id"],
        "at": at.isoformat(),
        "kind": row["kind"],
        "conversation_id": row["conversation_id"],
        "operator_id": row["operator_id"],
        "state_before": row["state_before"],
        "state_after": row["state_after"],
        "data": row["data"],
    }


SELECT_AFTER = """
    SELECT id, at, kind, conversation_id, operator_id, state_before, state_after, data
    FROM events WHERE id > $1 ORDER BY id LIMIT $2
"""


async def events_after(
    conn: asyncpg.Connection | asyncpg.Pool, after: int, limit: int = 1000
) -> list[dict[str, Any]]:
    return [event_json(r) for r in await conn.fetch(SELECT_AFTER, after, limit)]


async def last_event_id(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")
