"""Operator actions on conversations: load, ask the lifecycle, write, record the event.

Each action is one transaction: the conversation row is locked, the pure
rule decides, the change and its event row commit together. Anything that
posts to a platform is queued in the outbox in that same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from backend import events, outbox
from backend.checks import CheckRules, Finding, check_outbound, suggested_conduct_reply
from backend.clock import Clock
from backend.conversations import lifecycle, sql
from backend.conversations.lifecycle import (
    Actor,
    ConversationView,
    Decision,
    Holder,
    NotAllowed,
    Sla,
    State,
)
from backend.i18n import Joined, Text, say
from backend.operators import Operator
from backend.sla.policy import Deadlines, fixed_deadlines

RECENT_REPLIES = 200  # the team's replies a draft is compared with for canned wording
RECENT_WINDOW = timedelta(days=7)
TAG_MAX = 40

# A holding statement is for conversations waiting on us.
HOLDING_STATES = {s.value for s in lifecycle.WAITING_FOR_FIRST_WORD}
HOLDING_TARGET = f"""
    SELECT c.id, c.state, c.platform, c.is_direct, c.claimed_by, c.priority, c.language,
           a.display_name, a.handle,
           o.display_name AS holder_name, ({sql.LATEST_CUSTOMER_TEXT}) AS text
    FROM conversations c JOIN authors a ON a.id = c.author_id LEFT JOIN operators o ON o.id = c.claimed_by
    WHERE c.id = $1 FOR UPDATE OF c
"""
RESTART_CLOCK_AFTER_HOLDING = """
    UPDATE conversations SET first_response_at = coalesce(first_response_at, $2), sla_kind = 'next',
           sla_started_at = $2, sla_warn_at = $3, sla_due_at = $4, sla_warned = false,
           sla_breached = false, updated_at = $2
    WHERE id = $1
"""


# The top unclaimed conversation, read from conversations_claimable (migrations 0002,
# 0013): an index holding claimed rows too would be walked past each of them.
CLAIM_NEXT = f"""
    SELECT c.id, c.state, c.claimed_by, c.claim_expires_at, c.platform, c.thread_root
    FROM conversations c
    WHERE {sql.IS_CLAIMABLE} AND c.claimed_by IS NULL
    ORDER BY c.sla_due_at ASC NULLS LAST, c.priority, c.id
    LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED
"""


class NotFound(Exception):
    """No such conversation (or tag on it): a 404."""

    def __init__(self, message: Text):
        self.text = message  # rendered per request in the operator's language
        self.message = str(message)  # the English, for logs and tests
        super().__init__(self.message)


def no_conversation(conversation_id: int) -> Text:
    return say("conversation.none", "There is no conversation {id}.", id=conversation_id)


class ContentProblem(Exception):
    """The text cannot go out as it is: refused (422) or needs the operator's confirmation (409)."""

    def __init__(self, status: int, message: Text, findings: list[Finding]):
        self.status = status
        self.text = message
        self.message = str(message)
        self.findings = findings
        super().__init__(self.message)


class BadInput(Exception):
    """A request the operator should fix (HTTP 400/422)."""

    def __init__(self, message: Text, status: int = 422):
        self.text = message
        self.message = str(message)
        self.status = status
        super().__init__(self.message)


@dataclass
class Draft:
    """Text an operator wants to post, and whether they confirmed it past the advisories."""

    text: str
    channel: str  # public | dm
    purpose: str  # reply, dm_ack, dm, closing, house_rules
    confirm: bool = False


@dataclass
class Actions:
    clock: Clock
    lease: timedelta
    # How long an operator keeps a conversation that waits for the customer (their shift).
    waiting_lease: timedelta = timedelta(hours=8)
    checks: Callable[[], CheckRules | None] = lambda: None
    templates: Callable[[], list[str]] = lambda: []
    # The SLA targets in force (they follow rules/sla.yaml): for clocks an action restarts.
    deadlines: Callable[[], Deadlines] = lambda: fixed_deadlines(timedelta(hours=1))

    def _lease_for(self, state: State) -> timedelta:
        return self.waiting_lease if lifecycle.waiting_on_customer(state) else self.lease

    @staticmethod
    def actor(op: Operator) -> Actor:
        return Actor(op.id, op.display_name, op.is_lead)

    # -- loading and applying ------------------------------------------------------

    async def _load(
        self, conn: asyncpg.Connection, conversation_id: int, op: Operator | None = None
    ) -> tuple[asyncpg.Record, ConversationView]:
        # Lock first, then look up the holder: a join evaluated before waiting
        # for the lock would name the holder from before the wait.
        # NO KEY UPDATE: serialises actions on the conversation, yet lets rows that
        # reference it (messages, notes, tags: their foreign-key check takes KEY
        # SHARE) be written meanwhile.
        row = await conn.fetchrow(
            """SELECT id, state, claimed_by, claim_expires_at, platform, thread_root, is_direct, author_id,
                      language, sentiment
               FROM conversations WHERE id = $1 FOR NO KEY UPDATE""",
            conversation_id,
        )
        if row is None:
            raise NotFound(no_conversation(conversation_id))
        holder = None
        if op is not None and row["claimed_by"] == op.id:
            holder = Holder(
                op.id, op.display_name
            )  # the caller holds it: no need to look the name up
        elif row["claimed_by"]:
            name = await conn.fetchval(
                "SELECT display_name FROM operators WHERE id = $1", row["claimed_by"]
            )
            holder = Holder(row["claimed_by"], name)
        return row, ConversationView(State(row["state"]), holder, row["claim_expires_at"])

    async def _apply(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        decision: Decision,
        kind: str,
        op: Operator | None,
        data: dict[str, Any] | None = None,
        extra_sql: str = "",
        more_events: Sequence[events.NewEvent] = (),
    ) -> dict[str, Any]:
        """Write the decision and its event (plus `more_events`) as the transaction's last step.
        `extra_sql` may use $4, the time of the change."""
        now = self.clock.now()
        expires = None if decision.holder_id is None else now + self._lease_for(decision.state)
        sla_sql = {
            Sla.KEEP: "",
            Sla.PAUSE: ", sla_due_at = NULL, sla_warn_at = NULL",
            Sla.CLEAR: ", sla_due_at = NULL, sla_warn_at = NULL, sla_kind = NULL",
            Sla.START_NEXT: "",
        }[decision.sla]
        await conn.execute(
            f"""UPDATE conversations SET state = $2, claimed_by = $3::bigint,
                    claim_expires_at = CASE WHEN $3::bigint IS NULL THEN NULL ELSE $5::timestamptz END,
                    updated_at = $4 {sla_sql} {extra_sql}
                WHERE id = $1""",
            row["id"],
            decision.state.value,
            decision.holder_id,
            now,
            expires,
        )
        holder_name = None
        if op is not None and decision.holder_id == op.id:
            holder_name = op.display_name
        elif decision.holder_id is not None:
            holder_name = await conn.fetchval(
                "SELECT display_name FROM operators WHERE id = $1", decision.holder_id
            )
        # One call, last: the events lock is held from here to the commit, so keep that short.
        await events.record(
            conn,
            events.NewEvent(
                kind,
                row["id"],
                op.id if op else None,
                row["state"],
                decision.state.value,
                {**(data or {}), "holder_id": decision.holder_id, "holder_name": holder_name},
            ),
            *more_events,
            at=now,  # the action's time by the injected clock, as its row says
        )
        return {
            "id": row["id"],
            "state": decision.state.value,
            "holder_id": decision.holder_id,
            "claim_expires_at": expires.isoformat() if expires else None,
        }

    async def _renew(
        self, conn: asyncpg.Connection, row: asyncpg.Record, op: Operator
    ) -> dict[str, Any]:
        expires = self.clock.now() + self._lease_for(State(row["state"]))
        await conn.execute(
            "UPDATE conversations SET claim_expires_at = $2 WHERE id = $1", row["id"], expires
        )
        return {
            "id": row["id"],
            "state": row["state"],
            "holder_id": op.id,
            "claim_expires_at": expires.isoformat(),
        }

    # -- claims ----------------------------------------------------------------------

    async def claim(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int
    ) -> dict[str, Any]:
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id, op)
            if view.holder and view.holder.operator_id == op.id:
                return await self._renew(conn, row, op)
            decision = lifecycle.claim(view, self.actor(op), self.clock.now())
            return await self._apply(conn, row, decision, "conversation.claimed", op)

    async def heartbeat(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int
    ) -> dict[str, Any]:
        """Renew the lease while the operator works the conversation. No event: it is not news."""
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id, op)
            if view.holder is None or view.holder.operator_id != op.id:
                lapsed = (
                    say(
                        "claim.lapsed_held",
                        "Your claim on this conversation has lapsed; {holder} holds it now.",
                        holder=view.holder.name,
                    )
                    if view.holder
                    else say(
                        "claim.lapsed",
                        "Your claim on this conversation has lapsed; nobody holds it now.",
                    )
                )
                raise NotAllowed(lapsed, view.state, view.holder)
            return await self._renew(conn, row, op)

    async def release(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int
    ) -> dict[str, Any]:
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            decision = lifecycle.release(view, self.actor(op), self.clock.now())
            return await self._apply(conn, row, decision, "conversation.released", op)

    async def force_release(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int
    ) -> dict[str, Any]:
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            decision = lifecycle.force_release(view, self.actor(op), self.clock.now())
            previous = view.holder.operator_id if view.holder else None
            return await self._apply(
                conn,
                row,
                decision,
                "conversation.force_released",
                op,
                {"previous_holder_id": previous},
            )

    async def reassign(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int, to_operator_id: int
    ) -> dict[str, Any]:
        async with conn.transaction():
            target = await conn.fetchrow(
                "SELECT id, display_name FROM operators WHERE id = $1 AND revoked_at IS NULL",
                to_operator_id,
            )
            if target is None:
                raise BadInput(
                    say(
                        "operator.none",
                        "There is no active operator {id}.",
                        id=to_operator_id,
                    )
                )
            row, view = await self._load(conn, conversation_id)
            decision = lifecycle.reassign(view, self.actor(op), to_operator_id, self.clock.now())
            previous = view.holder.operator_id if view.holder else None
            return await self._apply(
                conn,
                row,
                decision,
                "conversation.reassigned",
                op,
                {"previous_holder_id": previous, "to": target["display_name"]},
            )

    async def claim_next(self, conn: asyncpg.Connection, op: Operator) -> dict[str, Any] | None:
        """Claim the top unclaimed conversation of the queue; concurrent callers skip each other's rows."""
        async with conn.transaction():
            row = await conn.fetchrow(CLAIM_NEXT)  # lapsed leases come back through the reaper
            if row is None:
                return None
            view = ConversationView(State(row["state"]), None, None)
            decision = lifecycle.claim(view, self.actor(op), self.clock.now())
            return await self._apply(
                conn, row, decision, "conversation.claimed", op, {"next": True}
            )

    # -- what we post ---------------------------------------------------------------------

    async def advise(
        self,
        conn: asyncpg.Connection | asyncpg.Pool,
        text: str,
        channel: str,
        conversation_id: int | None = None,
        *,
        one_to_many: bool = False,
    ) -> list[Finding]:
        """The checks a draft would meet, for the composer as the operator types.

        `one_to_many`: a lead's holding statement, one text to many customers by
        design; "canned" would only say so (and fired on every text after the first,
        each seeing the ones before it as recent replies, so a preview without
        advisories came back "canned" when sent)."""
        rules = self.checks()
        if rules is None:
            return []
        context = await self._customer_context(conn, conversation_id)
        return check_outbound(
            rules,
            text,
            channel=channel,
            recent_replies=() if one_to_many else await self._recent_replies(conn),
            templates=() if one_to_many else self.templates(),
            **context,
        )

    async def _customer_context(
        self, conn: asyncpg.Connection | asyncpg.Pool, conversation_id: int | None
    ) -> dict[str, Any]:
        if conversation_id is None:
            return {}
        r = await conn.fetchrow(
            f"""SELECT c.language, a.display_name, a.handle,
                      ({sql.latest_customer("text")}) AS latest_text,
                      ARRAY(SELECT m.text FROM messages m WHERE m.conversation_id = c.id
                            ORDER BY m.created_at, m.id) AS earlier_replies
               FROM conversations c JOIN authors a ON a.id = c.author_id WHERE c.id = $1""",
            conversation_id,
        )
        if r is None:
            return {}
        name = (
            (r["display_name"] or "").split()[0]
            if (r["display_name"] or "").strip()
            else r["handle"]
        )
        return {
            "language": r["language"],
            "customer_name": name,
            "customer_handle": r["handle"],
            # Their latest post decides whether they are upset (tone.yaml apology.upset: a
            # post that only reports a fault, "I get an error", is not); no post, not upset.
            "customer_text": r["latest_text"],
            # An apology we already made in this conversation counts (no "does not apologise").
            "earlier_replies": list(r["earlier_replies"]),
        }

    async def _recent_replies(self, conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
        """The team's latest replies, newest first, each text once (a copy compares the same)."""
        rows = await conn.fetch(
            """SELECT text FROM (SELECT text, created_at, id FROM messages WHERE created_at > $1
                                 ORDER BY created_at DESC, id DESC LIMIT $2) r
               GROUP BY text ORDER BY max(created_at) DESC, max(id) DESC""",
            self.clock.now() - RECENT_WINDOW,
            RECENT_REPLIES,
        )
        return [r["text"] for r in rows]

    async def _checked(
        self, conn: asyncpg.Connection, conversation_id: int, draft: Draft
    ) -> list[dict[str, Any]]:
        """Refuse what must not go out; ask for confirmation past advisories; return what was waived."""
        text = draft.text.strip()
        if not text:
            raise BadInput(say("send.no_text", "There is no text to send."))
        findings = await self.advise(
            conn, text, draft.channel, conversation_id, one_to_many=draft.purpose == "holding"
        )
        refusals = [f for f in findings if f.kind == "refusal"]
        if refusals:
            raise ContentProblem(
                422,
                say(
                    "send.refused",
                    "This cannot be posted publicly: {findings}",
                    findings=Joined(tuple(f.message for f in refusals)),
                ),
                refusals,
            )
        advisories = [f for f in findings if f.kind == "advisory"]
        if advisories and not draft.confirm:
            raise ContentProblem(
                409,
                say(
                    "send.confirm",
                    "Check the advisories, then send again to send anyway: {findings}",
                    findings=Joined(tuple(f.message for f in advisories)),
                ),
                advisories,
            )
        # Kept with the message whole, so "sent despite" shows in each reader's language.
        return [f.stored() for f in advisories]

    async def _latest_post(
        self, conn: asyncpg.Connection, conversation_id: int, direct: bool
    ) -> str | None:
        return await conn.fetchval(
            """SELECT post_id FROM mentions WHERE conversation_id = $1 AND NOT is_ours AND is_direct = $2
               ORDER BY created_at DESC, id DESC LIMIT 1""",
            conversation_id,
            direct,
        )

    async def _queue_message(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        op: Operator,
        draft: Draft,
        in_reply_to: str | None,
        advisories: list[dict[str, Any]],
    ) -> int:
        now = self.clock.now()
        # The message and its outbox row, in order after the conversation's pending ones.
        return await conn.fetchval(
            outbox.QUEUE_MESSAGE,
            row["id"],
            op.id,
            draft.channel,
            draft.purpose,
            draft.text.strip(),
            in_reply_to,
            advisories,
            now,
            uuid.uuid4().hex[:12],
            row["platform"],
        )

    async def _post(
        self,
        conn: asyncpg.Connection,
        op: Operator,
        conversation_id: int,
        rule: Callable[[ConversationView, Actor, datetime], Decision],
        kind: str,
        drafts: list[Draft],
        extra_sql: str = "",
    ) -> dict[str, Any]:
        """Check the drafts, apply the rule, queue the messages: one transaction."""
        # The checks read, and take most of the time: run them before locking the
        # conversation (which ingest waits for), but report them only after the
        # lifecycle has had its say, as before.
        checked: list[list[dict[str, Any]] | BadInput | ContentProblem] = []
        targets: dict[bool, str | None] = {}
        for draft in drafts:
            try:
                checked.append(await self._checked(conn, conversation_id, draft))
            except (BadInput, ContentProblem) as exc:
                checked.append(exc)
            direct = draft.channel == "dm"
            if direct not in targets:
                targets[direct] = await self._latest_post(conn, conversation_id, direct)
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id, op)
            decision = rule(view, self.actor(op), self.clock.now())
            message_ids = []
            for draft, waived in zip(drafts, checked):
                if isinstance(waived, Exception):
                    raise waived
                direct = draft.channel == "dm"
                target = targets[direct] if not direct or row["is_direct"] else None
                message_ids.append(await self._queue_message(conn, row, op, draft, target, waived))
            queued = [
                events.NewEvent(
                    "message.queued",
                    conversation_id,
                    op.id,
                    data={"message_id": mid, "channel": d.channel, "purpose": d.purpose},
                )
                for mid, d in zip(message_ids, drafts)
            ]
            result = await self._apply(
                conn,
                row,
                decision,
                kind,
                op,
                {"message_ids": message_ids, "channels": [d.channel for d in drafts]},
                extra_sql + ", first_response_at = coalesce(first_response_at, $4)",
                more_events=queued,
            )
            return {**result, "message_ids": message_ids, "message_id": message_ids[0]}

    async def holding_statement(
        self,
        conn: asyncpg.Connection,
        op: Operator,
        conversation_id: int,
        personalise: Callable[[asyncpg.Record], str],
        preview: bool,
        confirm: bool,
    ) -> dict[str, Any]:
        """A lead's holding statement to one conversation: checked and queued like a reply.

        It goes to conversations nobody holds and to the lead's own; one another
        operator holds is skipped (they answer it). It claims nothing and keeps the
        state: it counts as the first response and restarts the clock with the
        next-response target, so the conversation still has to be answered.
        A refusal's "error" is a `Text`, rendered by the caller in the operator's language.
        """
        async with conn.transaction():
            row = await conn.fetchrow(HOLDING_TARGET, conversation_id)
            if row is None:
                return {
                    "id": conversation_id,
                    "ok": False,
                    "error": no_conversation(conversation_id),
                }
            if row["claimed_by"] is not None and row["claimed_by"] != op.id:
                return {
                    "id": conversation_id,
                    "ok": False,
                    "error": say(
                        "holding.held",
                        "{holder} holds it; they answer it.",
                        holder=row["holder_name"],
                    ),
                }
            if row["state"] not in HOLDING_STATES:
                return {
                    "id": conversation_id,
                    "ok": False,
                    "error": say(
                        "holding.not_waiting",
                        "It is {state}; a holding statement is for conversations waiting on us.",
                        state=lifecycle.describe(State(row["state"])),
                    ),
                }
            text = personalise(row)
            draft = Draft(text, "public", "holding", confirm)
            try:
                waived = await self._checked(conn, conversation_id, draft)
            except ContentProblem as exc:
                return {
                    "id": conversation_id,
                    "ok": False,
                    "text": text,
                    "error": exc.text,
                    "findings": [f.stored() for f in exc.findings],
                    "needs_confirmation": exc.status == 409,
                }
            if preview:
                return {"id": conversation_id, "ok": True, "text": text, "advisories": waived}
            target = await self._latest_post(conn, conversation_id, bool(row["is_direct"]))
            message_id = await self._queue_message(conn, row, op, draft, target, waived)
            now = self.clock.now()
            warn, due = self.deadlines()(row["priority"], row["platform"], now, "next")
            await conn.execute(RESTART_CLOCK_AFTER_HOLDING, conversation_id, now, warn, due)
            await events.record(
                conn,
                events.NewEvent(
                    "conversation.holding_statement",
                    conversation_id,
                    op.id,
                    row["state"],
                    row["state"],
                    {
                        "message_id": message_id,
                        "holder_id": row["claimed_by"],
                        "holder_name": row["holder_name"],
                    },
                ),
                events.NewEvent(
                    "message.queued",
                    conversation_id,
                    op.id,
                    data={"message_id": message_id, "channel": "public", "purpose": "holding"},
                ),
            )
            return {
                "id": conversation_id,
                "ok": True,
                "text": text,
                "message_id": message_id,
                "advisories": waived,
            }

    async def reply_publicly(
        self,
        conn: asyncpg.Connection,
        op: Operator,
        conversation_id: int,
        text: str,
        confirm: bool = False,
    ) -> dict[str, Any]:
        return await self._post(
            conn,
            op,
            conversation_id,
            lifecycle.reply_publicly,
            "conversation.replied",
            [Draft(text, "public", "reply", confirm)],
        )

    async def move_to_dm(
        self,
        conn: asyncpg.Connection,
        op: Operator,
        conversation_id: int,
        public_text: str,
        dm_text: str,
        confirm: bool = False,
    ) -> dict[str, Any]:
        """Habit 4: a public acknowledgement and the opening DM, queued together."""
        if not public_text.strip():
            raise BadInput(
                say(
                    "dm.needs_ack",
                    "Moving to DM needs a public acknowledgement, so the thread does not go silent.",
                )
            )
        return await self._post(
            conn,
            op,
            conversation_id,
            lifecycle.move_to_dm,
            "conversation.moved_to_dm",
            [Draft(public_text, "public", "dm_ack", confirm), Draft(dm_text, "dm", "dm", confirm)],
            ", owes_public_close = true",
        )

    async def reply_in_dm(
        self,
        conn: asyncpg.Connection,
        op: Operator,
        conversation_id: int,
        text: str,
        confirm: bool = False,
    ) -> dict[str, Any]:
        return await self._post(
            conn,
            op,
            conversation_id,
            lifecycle.reply_in_dm,
            "conversation.dm_replied",
            [Draft(text, "dm", "dm", confirm)],
        )

    async def resolve(
        self,
        conn: asyncpg.Connection,
        op: Operator,
        conversation_id: int,
        text: str,
        confirm: bool = False,
    ) -> dict[str, Any]:
        """Close the loop in public: no closing text, no resolve."""
        rule = lambda view, actor, now: lifecycle.resolve(view, actor, now, text)  # noqa: E731
        return await self._post(
            conn,
            op,
            conversation_id,
            rule,
            "conversation.resolved",
            [Draft(text, "public", "closing", confirm)],
            ", owes_public_close = false, resolved_at = now()",
        )

    async def house_rules_for(
        self, conn: asyncpg.Connection | asyncpg.Pool, conversation_id: int
    ) -> dict[str, Any]:
        """The house-rules statement this conversation would get, in its language."""
        rules = self.checks()
        if rules is None:
            raise BadInput(
                say("house_rules.none", "No house rules are loaded; write the reply yourself.")
            )
        found = await conn.fetchrow(
            "SELECT language FROM conversations WHERE id = $1", conversation_id
        )
        if found is None:
            raise NotFound(no_conversation(conversation_id))
        text = suggested_conduct_reply(rules, found["language"])
        return {"text": text, "language": found["language"]}

    async def answer_conduct(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int, text: str | None = None
    ) -> dict[str, Any]:
        """Answer an abusive post once with the house rules (the suggested statement by default)."""
        if not text:
            text = (await self.house_rules_for(conn, conversation_id))["text"]
        # The house-rules statement is the team's own text: it goes out as written.
        return await self._post(
            conn,
            op,
            conversation_id,
            lifecycle.answer_conduct,
            "conversation.house_rules",
            [Draft(text, "public", "house_rules", True)],
        )

    # -- housekeeping ---------------------------------------------------------------------

    async def dismiss(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int, reason: str
    ) -> dict[str, Any]:
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            decision = lifecycle.dismiss(view, self.actor(op), self.clock.now(), reason)
            await conn.execute(
                "UPDATE conversations SET dismissed_reason = $2 WHERE id = $1",
                conversation_id,
                reason,
            )
            return await self._apply(
                conn, row, decision, "conversation.dismissed", op, {"reason": reason}
            )

    async def escalate(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int, reason: str
    ) -> dict[str, Any]:
        if not reason.strip():
            raise BadInput(
                say(
                    "escalate.needs_reason",
                    "Say why you escalate, so the lead knows what to look at.",
                )
            )
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            lifecycle.require_open(view, lifecycle.ESCALATE)
            await conn.execute(
                "UPDATE conversations SET escalated = true, updated_at = $2 WHERE id = $1",
                conversation_id,
                self.clock.now(),
            )
            await events.record(
                conn,
                events.NewEvent(
                    "conversation.escalated",
                    conversation_id,
                    op.id,
                    row["state"],
                    row["state"],
                    {"reason": reason.strip()},
                ),
            )
            return {"id": conversation_id, "state": row["state"], "escalated": True}

    async def add_note(
        self,
        conn: asyncpg.Connection,
        op: Operator,
        conversation_id: int,
        text: str,
        pinned: bool = False,
    ) -> dict[str, Any]:
        if not text.strip():
            raise BadInput(say("note.no_text", "A note needs some text."))
        async with conn.transaction():
            row, view = await self._load(conn, conversation_id)
            note_id = await conn.fetchval(
                "INSERT INTO notes (conversation_id, operator_id, text, pinned, created_at) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                conversation_id,
                op.id,
                text.strip(),
                pinned,
                self.clock.now(),
            )
            await events.record(
                conn,
                events.NewEvent(
                    "note.added",
                    conversation_id,
                    op.id,
                    row["state"],
                    row["state"],
                    {"note_id": note_id, "pinned": pinned},
                ),
            )
            return {"id": note_id, "conversation_id": conversation_id, "pinned": pinned}

    async def add_tag(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int, tag: str
    ) -> dict[str, Any]:
        tag = normalise_tag(tag)
        async with conn.transaction():
            row, _ = await self._load(conn, conversation_id)
            tag_id = await conn.fetchval(
                "INSERT INTO tags (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                tag,
            )
            added = await conn.execute(
                "INSERT INTO conversation_tags (conversation_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                conversation_id,
                tag_id,
            )
            if added != "INSERT 0 0":
                await events.record(
                    conn,
                    events.NewEvent(
                        "tag.added",
                        conversation_id,
                        op.id,
                        row["state"],
                        row["state"],
                        {"tag": tag},
                    ),
                )
            return {"id": conversation_id, "tag": tag}

    async def remove_tag(
        self, conn: asyncpg.Connection, op: Operator, conversation_id: int, tag: str
    ) -> dict[str, Any]:
        tag = normalise_tag(tag)
        async with conn.transaction():
            row, _ = await self._load(conn, conversation_id)
            removed = await conn.execute(
                """DELETE FROM conversation_tags ct USING tags t
                   WHERE ct.tag_id = t.id AND t.name = $2 AND ct.conversation_id = $1""",
                conversation_id,
                tag,
            )
            if removed == "DELETE 0":
                raise NotFound(
                    say(
                        "tag.none",
                        "Conversation {id} has no tag {tag!r}.",
                        id=conversation_id,
                        tag=tag,
                    )
                )
            await events.record(
                conn,
                events.NewEvent(
                    "tag.removed", conversation_id, op.id, row["state"], row["state"], {"tag": tag}
                ),
            )
            return {"id": conversation_id, "tag": tag}


def normalise_tag(tag: str) -> str:
    tag = " ".join(tag.split()).lower()
    if not tag or len(tag) > TAG_MAX or any(ch in tag for ch in "\x00\n\r\t"):
        raise BadInput(
            say("tag.bad", "A tag is 1 to {most} characters of text on one line.", most=TAG_MAX)
        )
    return tag


async def expire_leases(conn: asyncpg.Connection, now: datetime) -> list[int]:
    """Put conversations whose claim lapsed back in the queue, with an event each."""
    return await _return_claims(
        conn, now, "c.claim_expires_at <= $1", (now,), "conversation.lease_expired"
    )


async def release_claims_of(
    conn: asyncpg.Connection, operator_id: int, now: datetime, why: str
) -> list[int]:
    """Give back everything an operator holds (they signed out, or were revoked), as the
    reaper would when their leases lapse, so no customer waits the lease out."""
    return await _return_claims(
        conn, now, "c.claimed_by = $1", (operator_id,), "conversation.released", {"why": why}
    )


async def _return_claims(
    conn: asyncpg.Connection,
    now: datetime,
    which: str,
    args: tuple[Any, ...],
    kind: str,
    data: dict[str, Any] | None = None,
) -> list[int]:
    async with conn.transaction():
        rows = await conn.fetch(
            f"""SELECT c.id, c.state, c.claimed_by FROM conversations c
               WHERE c.claimed_by IS NOT NULL AND {which}
               FOR UPDATE SKIP LOCKED""",
            *args,
        )
        evs = []
        for r in rows:
            view = ConversationView(State(r["state"]), Holder(r["claimed_by"], ""), None)
            d = lifecycle.lease_expired(view)
            await conn.execute(
                "UPDATE conversations SET state = $2, claimed_by = NULL, claim_expires_at = NULL, updated_at = $3 "
                "WHERE id = $1",
                r["id"],
                d.state.value,
                now,
            )
            evs.append(
                events.NewEvent(
                    kind,
                    r["id"],
                    r["claimed_by"],
                    r["state"],
                    d.state.value,
                    {"holder_id": None, "previous_holder_id": r["claimed_by"], **(data or {})},
                )
            )
        await events.record_many(conn, evs)
    return [r["id"] for r in rows]


ACTIONS = web.AppKey("actions", Actions)
