"""What the ingest runner and the outbox publisher call on every connector.

A connector owns no state that must survive a restart: `poll(cursor)` gets the
last cursor the caller committed and returns the posts plus the cursor that
covers them, and the caller stores both in one transaction. A crash before
that commit simply polls the same range again; a crash after it starts past
it. Nothing is lost, nothing is stored twice.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from backend.model import InboundPost, OutboundMessage, Published


@dataclass(slots=True)
class PollResult:
    """Posts from one poll and the cursor that covers them (JSON-serialisable)."""

    posts: list[InboundPost]
    cursor: dict[str, Any]
    # True when the poll stopped at its page bound with more waiting: the
    # runner polls again straight away instead of waiting for the interval.
    more: bool = False


@runtime_checkable
class Connector(Protocol):
    """A platform, as the ingest runner and outbox publisher see it."""

    platform: str

    async def poll(self, cursor: dict[str, Any]) -> PollResult:
        """Fetch everything after `cursor`; never advances state of its own."""
        ...

    async def publish(self, msg: OutboundMessage) -> Published:
        """Send a reply or DM; raises RateLimited, TransientError or PermanentError."""
        ...

    async def find_published(self, msg: OutboundMessage) -> Published | None:
        """Look for `msg` already on the platform (a crash between send and record)."""
        ...

    async def close(self) -> None:
        """Release the HTTP session."""
        ...


@runtime_checkable
class StreamingConnector(Connector, Protocol):
    """A platform that also pushes (Mastodon's streaming API)."""

    @property
    def streaming(self) -> bool:
        """Whether config turned streaming on."""
        ...

    @property
    def resync_seconds(self) -> float:
        """How often a full poll runs while streaming."""
        ...

    @property
    def polls_while_streaming(self) -> bool:
        """Whether some source is only ever polled (it has no stream)."""
        ...

    def streams(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """(path, query) of every stream to hold open."""
        ...

    async def stream(
        self,
        path: str,
        query: list[tuple[str, str]],
        on_open: Callable[[], None],
        on_post: Callable[[InboundPost], Awaitable[None]],
    ) -> None:
        """Read one stream until it fails; always raises a ConnectorError."""
        ...

    async def poll(self, cursor: dict[str, Any], *, streamed: bool = False) -> PollResult:
        """`Connector.poll`; `streamed`: read only the sources no stream carries."""
        ...


class ConnectorError(Exception):
    """Something went wrong talking to a platform. Messages never hold tokens."""


class RateLimited(ConnectorError):
    """The platform said "not now"; try again at `retry_at` (timezone-aware)."""

    def __init__(self, retry_at: datetime, message: str = ""):
        self.retry_at = retry_at
        super().__init__(message or f"rate limited until {retry_at.isoformat()}")


class TransientError(ConnectorError):
    """Worth retrying later: 5xx, timeout, connection error, malformed page."""


class PermanentError(ConnectorError):
    """Retrying will not help: bad token, rejected text, unknown post (4xx other than 429)."""

    permanent = True  # what the outbox publisher looks for to stop retrying

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Secret:
    """A token or password that never shows up in a repr, a log line or an error."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


def secret_from_env(env_name: str, env: Mapping[str, str] | None = None) -> Secret:
    """Read a token from the environment variable named in config; say which one is missing."""
    value = (os.environ if env is None else env).get(env_name, "")
    if not value.strip():
        raise PermanentError(
            f"environment variable {env_name} is not set (it should hold the token)"
        )
    return Secret(value.strip())


class RequestBudget:
    """Requests one poll round may still make (bounds a round whatever the cursor does)."""

    def __init__(self, left: int):
        self.left = left

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True
