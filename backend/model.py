"""Plain data that crosses module boundaries: what a connector hands to ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a post, as the platform identifies them."""

    platform_id: str  # stable id on the platform (Mastodon account id, Bluesky DID)
    handle: str  # @name as shown to people, without the leading @
    display_name: str = ""
    followers: int = 0


@dataclass(frozen=True, slots=True)
class InboundPost:
    """One post from a platform, normalised. Connectors produce these; ingest
    matches, enriches, threads and stores them."""

    platform: str  # "mastodon", "bluesky", "simulator", or a webhook source name
    post_id: str  # the platform's id; unique together with platform
    author: Author
    text: str
    created_at: datetime  # timezone-aware
    url: str = ""
    in_reply_to: str | None = None  # platform post id this replies to
    thread_root: str | None = None  # platform post id of the thread's first post
    is_direct: bool = False  # a private/direct message rather than a public post
    language: str | None = None  # as the platform declares it, if it does
    mentioned_handles: tuple[str, ...] = ()  # @handles the platform says were tagged
    hashtags: tuple[str, ...] = ()  # tags the platform extracted, without '#'
    raw: dict[str, Any] = field(default_factory=dict)  # the platform's payload, kept as jsonb
    # Written by the account we publish with (the connector knows its platform id):
    # ingest never takes such a post for a customer's, whatever the rules' handles say.
    by_us: bool = False
    # Why the platform delivered it, where it says ("mention", "reply", "quote").
    reason: str | None = None
    quote_of: str | None = None  # platform post id this post quotes


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply or DM the team queued; the outbox publisher hands it to a connector."""

    idempotency_key: str  # ours, unique per message; sent as the platform's key where it has one
    platform: str
    text: str
    is_direct: bool = False  # DM rather than a public reply
    in_reply_to: str | None = None  # platform post id we answer (public replies)
    thread_root: str | None = None  # platform post id of the thread's root (Bluesky needs both)
    recipient: Author | None = None  # the customer: who a DM goes to, who a public post addresses
    # Platform id of the author of `in_reply_to`: when that is the customer, a
    # Bluesky reply notifies them by its reply refs alone.
    reply_to_author_id: str | None = None
    # When the team queued it: fixes what a retry must send identically (Bluesky's record key).
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Published:
    """What the platform gave back for a published message."""

    post_id: str
    url: str = ""
