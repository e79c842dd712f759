"""The conversation lifecycle: which action is allowed in which state, by whom,
and what it leads to. Pure: no I/O, so every rule is tested directly.

    new ──claim──▶ claimed ──reply publicly──▶ awaiting_customer ──customer writes──▶ new
     │               │ └──move to DM──▶ in_dm ──resolve publicly──▶ resolved
     │               └──release / lease expires──▶ new
     └─(abusive)─▶ flagged_conduct ──answer with house rules──▶ awaiting_customer
    resolved ──customer writes again──▶ new (reopened)
    dismiss (spam, not about us, duplicate) ──▶ dismissed

Who holds a conversation (the claim) is kept apart from its state: a claim
turns `new` into `claimed`, and an operator may also hold a conversation that
is in DM or flagged for conduct.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from backend.i18n import Text, say


class State(str, Enum):
    NEW = "new"
    CLAIMED = "claimed"
    AWAITING_CUSTOMER = "awaiting_customer"
    IN_DM = "in_dm"
    FLAGGED_CONDUCT = "flagged_conduct"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


# The states by what they ask of the team. Queries spell these through
# backend.conversations.sql.state_in, so a new state is added here only.
NEEDS_US = (State.NEW, State.CLAIMED, State.FLAGGED_CONDUCT, State.IN_DM)  # the queue
OPEN = (*NEEDS_US, State.AWAITING_CUSTOMER)
CLOSED = (State.RESOLVED, State.DISMISSED)
CLAIMABLE = (State.NEW, State.FLAGGED_CONDUCT)  # claim-next takes these when nobody holds them
WAITING_FOR_FIRST_WORD = (State.NEW, State.CLAIMED)  # holding statements, crisis groups
# Waiting for the customer: the operator who answered keeps the conversation (a long
# lease, see `waiting_on_customer`), so the customer's answer comes back to them first.
WAITING_ON_CUSTOMER = (State.AWAITING_CUSTOMER, State.IN_DM)
# An abusive post moves these into flagged_conduct (DM and dismissed ones stay as they are).
CONDUCT_FROM = (State.NEW, State.CLAIMED, State.AWAITING_CUSTOMER, State.RESOLVED)

OPEN_STATES = frozenset(OPEN)
CLOSED_STATES = frozenset(CLOSED)
DISMISS_REASONS = ("spam", "not_about_us", "duplicate")


class Sla(str, Enum):
    """What an action does to the SLA clock."""

    KEEP = "keep"
    PAUSE = "pause"  # we answered; now we wait for the customer
    START_NEXT = "start_next"  # the customer wrote again: next-response target from now
    CLEAR = "clear"  # closed: no clock at all


@dataclass(frozen=True)
class Holder:
    operator_id: int
    name: str


@dataclass(frozen=True)
class ConversationView:
    """What the rules need to know about a conversation."""

    state: State
    holder: Holder | None = None
    claim_expires_at: datetime | None = None


@dataclass(frozen=True)
class Actor:
    operator_id: int
    name: str
    is_lead: bool = False


@dataclass(frozen=True)
class Step:
    """One state change an event records: its kind, and the states on either side."""

    kind: str
    before: State
    after: State
    reason: str | None = None  # what the event says why (an escalation's reason)


@dataclass(frozen=True)
class Decision:
    state: State
    holder_id: int | None  # operator holding it afterwards (None: nobody)
    sla: Sla = Sla.KEEP
    steps: tuple[Step, ...] = ()  # for what the customer did, each change an event records
    escalate: bool = False  # a lead should look at it now (a threat)


class NotAllowed(Exception):
    """An action that the lifecycle forbids; the message is for a person.

    `status` is the HTTP status the API answers with: 409 for a conflict
    with the conversation's state or holder, 403 for a missing role.
    """

    def __init__(
        self, message: Text, state: State, holder: Holder | None = None, status: int = 409
    ):
        self.text = message  # rendered per request in the operator's language
        self.message = str(message)  # the English, for logs and tests
        self.state = state
        self.holder = holder
        self.status = status
        super().__init__(str(message))


# How a sentence names a state ("the conversation is {state}").
_STATE_WORDS = {
    State.NEW: say("state.new", "new"),
    State.CLAIMED: say("state.claimed", "claimed"),
    State.AWAITING_CUSTOMER: say("state.awaiting_customer", "waiting for the customer"),
    State.IN_DM: say("state.in_dm", "in direct messages"),
    State.FLAGGED_CONDUCT: say("state.flagged_conduct", "flagged for the house rules"),
    State.RESOLVED: say("state.resolved", "resolved"),
    State.DISMISSED: say("state.dismissed", "dismissed"),
}


def describe(state: State) -> Text:
    return _STATE_WORDS[state]


# What an operator tried, as the refusals below name it ("Cannot {doing}: ..."). Translations
# are infinitive phrases that fit after "um" or "berechtigt," in German ("sie abzuschließen").
CLAIM = say("doing.claim", "claim it")
RELEASE = say("doing.release", "release it")
REASSIGN = say("doing.reassign", "reassign it")
REPLY = say("doing.reply", "reply")
REPLY_PUBLICLY = say("doing.reply_publicly", "reply publicly")
MOVE_TO_DM = say("doing.move_to_dm", "move it to DM")
REPLY_IN_DM = say("doing.reply_in_dm", "reply in DM")
RESOLVE = say("doing.resolve", "resolve it")
DISMISS = say("doing.dismiss", "dismiss it")
ANSWER = say("doing.answer", "answer it")
ANSWER_CONDUCT = say("doing.answer_conduct", "answer with the house rules")
ESCALATE = say("doing.escalate", "escalate it")


def _held_by_other(conv: ConversationView, actor: Actor, now: datetime) -> bool:
    h = conv.holder
    if h is None or h.operator_id == actor.operator_id:
        return False
    # A lapsed lease no longer protects the conversation, even before the reaper runs.
    return conv.claim_expires_at is None or conv.claim_expires_at > now


def _require_holder(conv: ConversationView, actor: Actor, now: datetime, doing: Text) -> None:
    if conv.holder is None or (
        conv.claim_expires_at is not None
        and conv.claim_expires_at <= now
        and conv.holder.operator_id != actor.operator_id
    ):
        raise NotAllowed(
            say("claim.needed", "Claim this conversation before you {doing}.", doing=doing),
            conv.state,
        )
    if conv.holder.operator_id != actor.operator_id:
        raise NotAllowed(
            say(
                "claim.held_by_other",
                "{holder} holds this conversation; only they can {doing}.",
                holder=conv.holder.name,
                doing=doing,
            ),
            conv.state,
            conv.holder,
            status=403,
        )


def _not_in_state(conv: ConversationView, doing: Text) -> NotAllowed:
    return NotAllowed(
        say(
            "state.forbids",
            "Cannot {doing}: the conversation is {state}.",
            doing=doing,
            state=describe(conv.state),
        ),
        conv.state,
        conv.holder,
    )


def _require_state(conv: ConversationView, allowed: set[State], doing: Text) -> None:
    if conv.state not in allowed:
        raise _not_in_state(conv, doing)


def claim(conv: ConversationView, actor: Actor, now: datetime) -> Decision:
    _require_state(conv, set(OPEN_STATES), CLAIM)
    if _held_by_other(conv, actor, now):
        assert conv.holder is not None
        raise NotAllowed(
            say(
                "claim.already_held",
                "{holder} already holds this conversation.",
                holder=conv.holder.name,
            ),
            conv.state,
            conv.holder,
        )
    state = State.CLAIMED if conv.state in (State.NEW, State.CLAIMED) else conv.state
    return Decision(state, actor.operator_id)


def release(conv: ConversationView, actor: Actor, now: datetime) -> Decision:
    _require_holder(conv, actor, now, RELEASE)
    return Decision(State.NEW if conv.state == State.CLAIMED else conv.state, None)


def force_release(conv: ConversationView, actor: Actor, now: datetime) -> Decision:
    if not actor.is_lead:
        raise NotAllowed(
            say("lead.force_release", "Only a lead can force-release a conversation."),
            conv.state,
            conv.holder,
            status=403,
        )
    if conv.holder is None:
        raise NotAllowed(say("claim.nobody", "Nobody holds this conversation."), conv.state)
    return Decision(State.NEW if conv.state == State.CLAIMED else conv.state, None)


def reassign(conv: ConversationView, actor: Actor, to_operator_id: int, now: datetime) -> Decision:
    if not actor.is_lead:
        raise NotAllowed(
            say("lead.reassign", "Only a lead can reassign a conversation."),
            conv.state,
            conv.holder,
            status=403,
        )
    _require_state(conv, set(OPEN_STATES), REASSIGN)
    state = State.CLAIMED if conv.state in (State.NEW, State.CLAIMED) else conv.state
    return Decision(state, to_operator_id)


def lease_expired(conv: ConversationView) -> Decision:
    return Decision(State.NEW if conv.state == State.CLAIMED else conv.state, None)


def waiting_on_customer(state: State) -> bool:
    """The turn is the customer's: whoever holds it keeps it on the long lease."""
    return state in WAITING_ON_CUSTOMER


def reply_publicly(conv: ConversationView, actor: Actor, now: datetime) -> Decision:
    """A public answer hands the turn to the customer; the operator keeps the conversation,
    so the customer's answer comes back to them first."""
    _require_holder(conv, actor, now, REPLY)
    _require_state(
        conv, {State.CLAIMED, State.AWAITING_CUSTOMER, State.FLAGGED_CONDUCT}, REPLY_PUBLICLY
    )
    return Decision(State.AWAITING_CUSTOMER, actor.operator_id, Sla.PAUSE)


def move_to_dm(conv: ConversationView, actor: Actor, now: datetime) -> Decision:
    """Public acknowledgement plus opening DM; the operator keeps the conversation."""
    _require_holder(conv, actor, now, MOVE_TO_DM)
    _require_state(
        conv, {State.CLAIMED, State.AWAITING_CUSTOMER, State.FLAGGED_CONDUCT}, MOVE_TO_DM
    )
    return Decision(State.IN_DM, actor.operator_id, Sla.PAUSE)


def reply_in_dm(conv: ConversationView, actor: Actor, now: datetime) -> Decision:
    _require_holder(conv, actor, now, REPLY_IN_DM)
    _require_state(conv, {State.IN_DM}, REPLY_IN_DM)
    return Decision(State.IN_DM, actor.operator_id, Sla.PAUSE)


def resolve(conv: ConversationView, actor: Actor, now: datetime, closing_text: str) -> Decision:
    """Closing the loop publicly is habit 4: no closing text, no resolve."""
    _require_holder(conv, actor, now, RESOLVE)
    _require_state(conv, {State.CLAIMED, State.AWAITING_CUSTOMER, State.IN_DM}, RESOLVE)
    if not closing_text.strip():
        raise NotAllowed(
            say("resolve.needs_closing", "Resolving needs a public closing message."),
            conv.state,
            conv.holder,
            status=422,
        )
    return Decision(State.RESOLVED, None, Sla.CLEAR)


def dismiss(conv: ConversationView, actor: Actor, now: datetime, reason: str) -> Decision:
    if reason not in DISMISS_REASONS:
        raise NotAllowed(
            say(
                "dismiss.needs_reason",
                "Dismiss needs a reason: one of {reasons}.",
                reasons=", ".join(DISMISS_REASONS),
            ),
            conv.state,
            conv.holder,
            status=422,
        )
    _require_state(
        conv,
        {State.NEW, State.CLAIMED, State.FLAGGED_CONDUCT, State.AWAITING_CUSTOMER},
        DISMISS,
    )
    if _held_by_other(conv, actor, now) and not actor.is_lead:
        assert conv.holder is not None
        raise NotAllowed(
            say("claim.held", "{holder} holds this conversation.", holder=conv.holder.name),
            conv.state,
            conv.holder,
            status=403,
        )
    return Decision(State.DISMISSED, None, Sla.CLEAR)


def answer_conduct(conv: ConversationView, actor: Actor, now: datetime) -> Decision:
    """Answer an abusive post with the house rules, once, without arguing."""
    _require_holder(conv, actor, now, ANSWER)
    _require_state(conv, {State.FLAGGED_CONDUCT}, ANSWER_CONDUCT)
    return Decision(State.AWAITING_CUSTOMER, actor.operator_id, Sla.PAUSE)


THREAT_REASON = "threat of violence or damage"
# The step an escalation records; its states are filled in where it happens.
ESCALATED_ON_THREAT = Step("conversation.escalated", State.NEW, State.NEW)


def customer_writes(
    conv: ConversationView,
    *,
    wrote_cleanly: bool = True,
    abusive: bool = False,
    threat: bool = False,
) -> Decision:
    """New posts from the customer in the conversation (a batch of them, as ingest stores them).

    A post that is not abusive, where the customer had the turn, gives the turn
    back to us: `reopened` after a resolve, `customer_replied` while we waited,
    with the next-response clock from that post. While we waited, the operator
    who answered kept the conversation: it comes back to them, claimed (for a
    short while; it goes to the queue if they do not take it up), else to the queue. An abusive post moves an open
    conversation (not a DM, whose operator is already in private) to
    flagged_conduct, to be answered with the house rules. A threat of violence
    or damage escalates it to a lead, whatever the state. Who holds it stays.
    """
    state, sla, steps = conv.state, Sla.KEEP, []
    if wrote_cleanly and state in (State.AWAITING_CUSTOMER, State.RESOLVED):
        kind = (
            "conversation.reopened" if state == State.RESOLVED else "conversation.customer_replied"
        )
        owner = conv.holder is not None and state == State.AWAITING_CUSTOMER
        after = State.CLAIMED if owner else State.NEW
        steps.append(Step(kind, state, after))
        state, sla = after, Sla.START_NEXT
    if abusive and state in CONDUCT_FROM:
        steps.append(Step("conversation.flagged_conduct", state, State.FLAGGED_CONDUCT))
        state = State.FLAGGED_CONDUCT
    if threat:
        steps.append(Step(ESCALATED_ON_THREAT.kind, state, state, THREAT_REASON))
    holder = conv.holder.operator_id if conv.holder else None
    return Decision(state, holder, sla, tuple(steps), escalate=threat)


def require_open(conv: ConversationView, doing: Text) -> None:
    if conv.state in CLOSED_STATES:
        raise _not_in_state(conv, doing)
