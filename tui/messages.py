"""Messages the console's workers post back to its widgets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class ConversationLoaded(Message):
    conversation: dict[str, Any]


@dataclass
class BackendEvent(Message):
    event: dict[str, Any]


@dataclass
class ConnectionChanged(Message):
    connected: bool
    detail: str = ""


@dataclass
class ActionFailed(Message):
    """The backend refused or could not be reached; status and body say why (409 needs a confirmation)."""

    action: str
    message: str
    status: int | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpenConversation(Message):
    """The operator chose a conversation in the queue."""

    conversation_id: int


@dataclass
class SummaryLoaded(Message):
    """Header figures: brand, who is on shift, queue depth, breaches, crisis."""

    summary: dict[str, Any]


@dataclass
class PresenceChanged(Message):
    """Another operator is (or stopped) typing in a conversation."""

    operator_id: int
    operator_name: str
    conversation_id: int | None
    typing: bool


@dataclass
class ActionDone(Message):
    """An action the operator asked for went through."""

    action: str
    conversation_id: int | None
    result: dict[str, Any]
    quiet: bool = False  # a step on the way (claiming for the composer), not news to announce
