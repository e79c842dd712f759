"""Messages the console's workers post back to its widgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class QueueLoaded(Message):
    page: dict[str, Any]
    counts: dict[str, Any]


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
    action: str
    message: str


@dataclass
class OpenConversation(Message):
    """The operator chose a conversation in the queue."""

    conversation_id: int
