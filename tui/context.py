"""What screens and widgets may know about the running console, typed, without importing the App.

The App module imports the screens; if the screens imported the App back, the two would form an
import circle. They reach the shared state through this protocol instead (as aiohttp-demos keeps
its AppKeys in one small module so views never import the app factory).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from .client import BackendClient
    from .drafts import DraftStore


class Console(Protocol):
    """The running console's shared state: the backend, who is signed in, the clock, the drafts."""

    client: BackendClient
    me: dict[str, Any]
    summary: dict[str, Any]
    now: Callable[[], datetime]
    drafts: DraftStore
    keymap: dict[str, str]


def console_of(node: DOMNode) -> Console:
    """The console a screen or widget runs in."""
    return cast("Console", node.app)
