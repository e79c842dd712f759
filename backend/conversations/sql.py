"""SQL pieces every query about conversations shares, spelled once.

State sets come from the lifecycle; the latest customer post has one
definition with its tie-breaker (two posts in the same millisecond are
ordered by id), wherever a query shows or reads it.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.conversations.lifecycle import (
    CLAIMABLE,
    CLOSED,
    NEEDS_US,
    OPEN,
    WAITING_FOR_FIRST_WORD,
    State,
)


def state_in(states: Iterable[State], column: str = "c.state") -> str:
    """`c.state IN ('new', 'claimed')`: literals, so partial indexes on the same set apply."""
    return f"{column} IN ({', '.join(repr(s.value) for s in states)})"


def state_not_in(states: Iterable[State], column: str = "c.state") -> str:
    return f"{column} NOT IN ({', '.join(repr(s.value) for s in states)})"


def latest_customer(column: str, conversation: str = "c.id") -> str:
    """A subquery: `column` of the customer's latest post in the conversation."""
    return (
        f"SELECT m.{column} FROM mentions m WHERE m.conversation_id = {conversation} "
        "AND NOT m.is_ours ORDER BY m.created_at DESC, m.id DESC LIMIT 1"
    )


IS_OPEN = state_in(OPEN)
NEEDS_US_SQL = state_in(NEEDS_US)
IS_CLOSED = state_in(CLOSED)
NOT_CLOSED = state_not_in(CLOSED)
IS_CLAIMABLE = state_in(CLAIMABLE)
WAITING_FOR_FIRST_WORD_SQL = state_in(WAITING_FOR_FIRST_WORD)
LATEST_CUSTOMER_TEXT = latest_customer("text")
