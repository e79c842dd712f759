"""Operator actions on conversations: load, ask the lifecycle, write, record the event.

Each action is one transaction: the conversation row is locked, the pure
rule decides, the change and its event row commit together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from . import events, lifecycle
from .clock import Clock
from .lifecycle import Actor, ConversationView, Decision, Holder, NotAllowed, Sla, State
from .operators import Operator


class NotFound(Exception):
    pass


@dataclass
class Actions:
    clock: Clock
    lease: timedelta

    @staticmethod
    def actor(op: Operator) -> Actor:
        return Actor(op.id, op.display_name, op.is_lead)

    async def _load(self, conn: asyncpg.Connection, conversation_id: int) -> tuple[asyncpg.Record, ConversationView]:
        # Lock first, then look up the holder: a join evaluated before waiting
        # for the lock would name the holder from before the wait.
        row = await conn.fetchrow(
            """SELECT id, state, claimed_by, claim_expires_at, platform, thread_root
               FROM conversations WHERE id = $1 FOR UPDATE""",
            conversation_id,
        )
        if row is None:
            raise NotFound(f"conversation {conversation_id} does not exist")
        holder = None
        if row["claimed_by"]:
            name = await conn.fetchval("SELECT display_name FROM operators WHERE id = $1", row["claimed_by"])
            holder = Holder(row["claimed_by"], name)
        return row, ConversationView(State(row["state"]), holder, row["claim_expires_at"])

    async def _apply(self, conn: asyncpg.Connection, row: asyncpg.Record, decision: Decision, kind: str,
                     op: Operator | None, data: dict[str, Any] | None = None) -> dict[str, Any]:
        now = self.clock.now()
        expires = now + self.lease if decision.holder_id is not None else None
        sla_sql = {
            Sla.KEEP: "",
            Sla.PAUSE: ", sla_due_at = NULL, sla_warn_at = NULL",
            Sla.CLEAR: ", sla_due_at = NULL, sla_warn_at = NULL, sla_kind = NULL",
            Sla.START_NEXT: "",
        }[decision.sla]
        resolved = ", resolved_at = $4" if decision.state == State.RESOLVED else ""
        await conn.execute(
            f"""UPDATE conversations SET state = $2, claimed_by = $3::bigint,
                    claim_expires_at = CASE WHEN $3::bigint IS NULL THEN NULL ELSE $5::timestamptz END,
                    updated_at = $4 {sla_sql} {resolved}
                WHERE id = $1""",
            row["id"], decision.state.value, decision.holder_id, now, expires,
        )
        await events.record(conn, events.NewEvent(
            kind, row["id"], op.id if op else None, row["state"], decision.state.value,
            {**(data or {}), "holder_id": decision.holder_id,
             **({"holder_name": op.display_name} if op and decision.holder_id == op.id else {})},
        ))
        return {"id": row["id"], "state": decision.state.value, "holder_id": decision.holder_id,
                "claim_expires_at": expires.isoformat() if expires else None}

    async def claim(self, conn: asyncpg.Connection, op: Operator, conversation_id: int) -> dict[str, Any]:
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            if view.holder and view.holder.operator_id == op.id:
                return await self._renew(conn, row, op)
            decision = lifecycle.claim(view, self.actor(op), self.clock.now())
            return await self._apply(conn, row, decision, "conversation.claimed", op)

    async def _renew(self, conn: asyncpg.Connection, row: asyncpg.Record, op: Operator) -> dict[str, Any]:
        expires = self.clock.now() + self.lease
        await conn.execute("UPDATE conversations SET claim_expires_at = $2 WHERE id = $1", row["id"], expires)
        return {"id": row["id"], "state": row["state"], "holder_id": op.id, "claim_expires_at": expires.isoformat()}

    async def heartbeat(self, conn: asyncpg.Connection, op: Operator, conversation_id: int) -> dict[str, Any]:
        """Renew the lease while the operator works the conversation. No event: it is not news."""
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            if view.holder is None or view.holder.operator_id != op.id:
                who = f"{view.holder.name} holds it now" if view.holder else "nobody holds it now"
                raise NotAllowed(f"Your claim on this conversation has lapsed; {who}.", view.state, view.holder)
            return await self._renew(conn, row, op)

    async def release(self, conn: asyncpg.Connection, op: Operator, conversation_id: int) -> dict[str, Any]:
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            decision = lifecycle.release(view, self.actor(op), self.clock.now())
            return await self._apply(conn, row, decision, "conversation.released", op)

    async def claim_next(self, conn: asyncpg.Connection, op: Operator) -> dict[str, Any] | None:
        """Claim the top unclaimed conversation of the queue; concurrent callers skip each other's rows."""
        async with conn.transaction():
            row = await conn.fetchrow(
                """SELECT c.id, c.state, c.claimed_by, c.claim_expires_at, c.platform, c.thread_root
                   FROM conversations c
                   WHERE c.state IN ('new', 'flagged_conduct')
                     AND (c.claimed_by IS NULL OR c.claim_expires_at <= $1)
                   ORDER BY c.sla_due_at ASC NULLS LAST, c.priority, c.id
                   LIMIT 1 FOR UPDATE SKIP LOCKED""",
                self.clock.now(),
            )
            if row is None:
                return None
            view = ConversationView(State(row["state"]), None, None)
            decision = lifecycle.claim(view, self.actor(op), self.clock.now())
            return await self._apply(conn, row, decision, "conversation.claimed", op, {"next": True})

    async def reply_publicly(self, conn: asyncpg.Connection, op: Operator, conversation_id: int, text: str,
                             advisories: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Queue a public reply to the customer's latest post; the outbox publishes it."""
        text = text.strip()
        if not text:
            raise NotAllowed("A reply needs some text.", State.NEW, status=422)
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            decision = lifecycle.reply_publicly(view, self.actor(op), self.clock.now())
            target = await conn.fetchval(
                """SELECT post_id FROM mentions WHERE conversation_id = $1 AND NOT is_ours AND NOT is_direct
                   ORDER BY created_at DESC, id DESC LIMIT 1""",
                conversation_id,
            )
            message_id = await self._queue_message(conn, row, op, "public", "reply", text, target, advisories)
            await conn.execute(
                "UPDATE conversations SET first_response_at = coalesce(first_response_at, $2) WHERE id = $1",
                conversation_id, self.clock.now(),
            )
            result = await self._apply(conn, row, decision, "message.queued", op,
                                       {"message_id": message_id, "channel": "public"})
            return {**result, "message_id": message_id}

    async def _queue_message(self, conn: asyncpg.Connection, row: asyncpg.Record, op: Operator, channel: str,
                             purpose: str, text: str, in_reply_to: str | None,
                             advisories: list[dict[str, Any]] | None) -> int:
        message_id = await conn.fetchval(
            """INSERT INTO messages (conversation_id, operator_id, channel, purpose, text, in_reply_to, advisories,
                                     created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
            row["id"], op.id, channel, purpose, text, in_reply_to, advisories or [], self.clock.now(),
        )
        await conn.execute(
            """INSERT INTO outbox (message_id, idempotency_key, platform, next_attempt_at)
               VALUES ($1, $2, $3, $4)""",
            message_id, f"shiftdesk-{message_id}-{uuid.uuid4().hex[:12]}", row["platform"], self.clock.now(),
        )
        return message_id


async def expire_leases(conn: asyncpg.Connection, now: datetime) -> list[int]:
    """Put conversations whose claim lapsed back in the queue, with an event each."""
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT c.id, c.state, c.claimed_by FROM conversations c
               WHERE c.claimed_by IS NOT NULL AND c.claim_expires_at <= $1
               FOR UPDATE SKIP LOCKED""",
            now,
        )
        evs = []
        for r in rows:
            view = ConversationView(State(r["state"]), Holder(r["claimed_by"], ""), None)
            d = lifecycle.lease_expired(view)
            await conn.execute(
                "UPDATE conversations SET state = $2, claimed_by = NULL, claim_expires_at = NULL, updated_at = $3 "
                "WHERE id = $1",
                r["id"], d.state.value, now,
            )
            evs.append(events.NewEvent("conversation.lease_expired", r["id"], r["claimed_by"], r["state"],
                                       d.state.value, {"holder_id": None}))
        await events.record_many(conn, evs)
        return [r["id"] for r in rows]
