"""The lifecycle rules, directly: no database, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.conversations import lifecycle as lc
from backend.conversations.lifecycle import Actor, ConversationView, Holder, NotAllowed, Sla, State

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ANNA = Actor(1, "Anna")
BEN = Actor(2, "Ben")
LEAD = Actor(3, "Lea", is_lead=True)


def held(
    state: State, by: Actor = ANNA, expires: datetime | None = NOW + timedelta(minutes=5)
) -> ConversationView:
    return ConversationView(state, Holder(by.operator_id, by.name), expires)


def test_claim_turns_new_into_claimed():
    d = lc.claim(ConversationView(State.NEW), ANNA, NOW)
    assert d.state == State.CLAIMED and d.holder_id == 1


def test_claim_of_a_held_conversation_names_the_holder():
    with pytest.raises(NotAllowed) as exc:
        lc.claim(held(State.CLAIMED, BEN), ANNA, NOW)
    assert exc.value.status == 409 and "Ben" in exc.value.message


def test_lapsed_lease_no_longer_protects():
    d = lc.claim(held(State.CLAIMED, BEN, NOW - timedelta(seconds=1)), ANNA, NOW)
    assert d.holder_id == ANNA.operator_id


@pytest.mark.parametrize("state", [State.RESOLVED, State.DISMISSED])
def test_closed_conversations_cannot_be_claimed(state):
    with pytest.raises(NotAllowed) as exc:
        lc.claim(ConversationView(state), ANNA, NOW)
    assert exc.value.status == 409 and str(lc.describe(state)) in exc.value.message


def test_only_the_holder_replies_and_others_get_403():
    with pytest.raises(NotAllowed) as exc:
        lc.reply_publicly(held(State.CLAIMED, BEN), ANNA, NOW)
    assert exc.value.status == 403 and "Ben" in exc.value.message
    with pytest.raises(NotAllowed) as exc:
        lc.reply_publicly(ConversationView(State.NEW), ANNA, NOW)
    assert exc.value.status == 409 and "Claim" in exc.value.message


def test_public_reply_pauses_the_clock_and_the_operator_keeps_the_conversation():
    d = lc.reply_publicly(held(State.CLAIMED), ANNA, NOW)
    assert (d.state, d.holder_id, d.sla) == (State.AWAITING_CUSTOMER, ANNA.operator_id, Sla.PAUSE)
    assert lc.waiting_on_customer(d.state)  # held on the long lease, not the working one


def test_move_to_dm_keeps_the_holder():
    d = lc.move_to_dm(held(State.CLAIMED), ANNA, NOW)
    assert (d.state, d.holder_id) == (State.IN_DM, ANNA.operator_id)


def test_dm_reply_only_in_dm():
    with pytest.raises(NotAllowed):
        lc.reply_in_dm(held(State.CLAIMED), ANNA, NOW)
    assert lc.reply_in_dm(held(State.IN_DM), ANNA, NOW).state == State.IN_DM


def test_resolve_needs_a_public_closing_text():
    with pytest.raises(NotAllowed) as exc:
        lc.resolve(held(State.IN_DM), ANNA, NOW, "   ")
    assert exc.value.status == 422 and "closing" in exc.value.message
    d = lc.resolve(held(State.IN_DM), ANNA, NOW, "Glad we could sort it, Jo!")
    assert (d.state, d.sla) == (State.RESOLVED, Sla.CLEAR)


def test_dismiss_needs_a_known_reason():
    with pytest.raises(NotAllowed) as exc:
        lc.dismiss(ConversationView(State.NEW), ANNA, NOW, "boring")
    assert exc.value.status == 422 and "spam" in exc.value.message
    assert lc.dismiss(ConversationView(State.NEW), ANNA, NOW, "spam").state == State.DISMISSED


def test_lead_only_actions():
    for action in (
        lambda a: lc.force_release(held(State.CLAIMED, BEN), a, NOW),
        lambda a: lc.reassign(held(State.CLAIMED, BEN), a, ANNA.operator_id, NOW),
    ):
        with pytest.raises(NotAllowed) as exc:
            action(ANNA)
        assert exc.value.status == 403
        assert action(LEAD).state in (State.NEW, State.CLAIMED)
    assert (
        lc.reassign(held(State.CLAIMED, BEN), LEAD, ANNA.operator_id, NOW).holder_id
        == ANNA.operator_id
    )


def test_house_rules_answer_only_for_flagged_conduct():
    with pytest.raises(NotAllowed):
        lc.answer_conduct(held(State.CLAIMED), ANNA, NOW)
    assert (
        lc.answer_conduct(held(State.FLAGGED_CONDUCT), ANNA, NOW).state == State.AWAITING_CUSTOMER
    )


def test_customer_writing_again_restarts_the_clock_or_reopens():
    assert lc.customer_writes(ConversationView(State.AWAITING_CUSTOMER)).sla == Sla.START_NEXT
    assert lc.customer_writes(ConversationView(State.RESOLVED)).state == State.NEW
    # The answer goes back to the operator who waited for it, claimed; with nobody, to the queue.
    d = lc.customer_writes(held(State.AWAITING_CUSTOMER))
    assert (d.state, d.holder_id, d.sla) == (State.CLAIMED, ANNA.operator_id, Sla.START_NEXT)
    assert [s.kind for s in d.steps] == ["conversation.customer_replied"]
    d = lc.customer_writes(ConversationView(State.AWAITING_CUSTOMER))
    assert (d.state, d.holder_id) == (State.NEW, None)
    # Abuse after our answer: flagged, still the same operator's to answer with the house rules.
    d = lc.customer_writes(held(State.AWAITING_CUSTOMER), wrote_cleanly=False, abusive=True)
    assert (d.state, d.holder_id) == (State.FLAGGED_CONDUCT, ANNA.operator_id)
    d = lc.customer_writes(held(State.IN_DM))
    assert (d.state, d.holder_id) == (State.IN_DM, ANNA.operator_id)


def test_lease_expiry_returns_claimed_to_new_but_keeps_other_states():
    assert lc.lease_expired(held(State.CLAIMED)).state == State.NEW
    assert lc.lease_expired(held(State.IN_DM)).state == State.IN_DM
    assert lc.lease_expired(held(State.IN_DM)).holder_id is None
