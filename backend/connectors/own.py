"""Our own posts are ours, wherever they come back.

What we publish comes back to us through every channel we listen on: a
notification (it mentions the customer's thread), a hashtag timeline, a name
search, a webhook. It must never turn into an inbound mention (a queued
"customer" post that is our own reply). Two facts decide, both platform
identities rather than handles typed into the rules:

- the platform post id the outbox recorded for the message (messages.platform_post_id);
- the account that wrote it: the id the connector logged in as (Mastodon
  account id from verify_credentials, Bluesky DID from the session).

A connector also checks at start-up that the account it logs in as is the
one config and the rules name, so a typo cannot silently turn our own posts
into customers' and the customers' tags of us into nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg

from backend.connectors.base import ConnectorError
from backend.model import InboundPost
from backend.yamlfile import FileError, FileErrors

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Identity:
    """The account a connector is logged in as, as the platform identifies it."""

    platform: str
    account_id: str  # Mastodon account id, Bluesky DID
    handle: str  # Mastodon acct (our server's accounts have no domain), Bluesky handle


def _folded(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


def identity_problem(
    identity: Identity, configured: str, rules_handles: Sequence[str]
) -> str | None:
    """Why `identity` is not the account config (`configured`: a handle, or a
    Bluesky DID) and the rules' `accounts` for its platform name, or None."""
    me = _folded(identity.handle)
    # A Mastodon handle name@server also stands for "name" on its own server.
    mine = {me, me.split("@", 1)[0]} if identity.platform == "mastodon" else {me}
    said = _folded(configured)
    if said and said not in mine and said != identity.account_id.lower():
        return (
            f"connectors.{identity.platform}: configured for @{configured.lstrip('@')} "
            f"but the token logs in as @{identity.handle} ({identity.account_id})"
        )
    listed = {_folded(h) for h in rules_handles}
    listed |= {h.split("@", 1)[0] for h in listed if identity.platform == "mastodon"}
    if not listed & mine:
        shown = ", ".join("@" + h.lstrip("@") for h in rules_handles) or "none"
        return (
            f"rules/listening.yaml: accounts.{identity.platform} lists {shown}, but the "
            f"{identity.platform} connector logs in as @{identity.handle}: add it, or our own "
            "posts would be taken for customers' and tags of us would be missed"
        )
    return None


class Identifies(Protocol):
    platform: str

    @property
    def configured_account(self) -> str: ...

    async def identify(self) -> Identity: ...


async def check_identities(
    connectors: Iterable[Any], rules_accounts: Mapping[str, Sequence[str]]
) -> list[str]:
    """Log each connector in and compare; the problems found (empty: all is well).

    A platform that cannot be reached now (or refuses the token) is no start-up
    error: its poller identifies itself before its first poll, and a connector
    logged in as another account than config says stops there."""
    problems = []
    for connector in connectors:
        identify = getattr(connector, "identify", None)
        if identify is None:
            continue
        try:
            identity = await identify()
        except ConnectorError as exc:
            # Down, or refusing the token: its poller says so and retries with backoff.
            log.warning("%s: cannot check our account now (%s)", connector.platform, exc)
            continue
        problem = identity_problem(
            identity, connector.configured_account, rules_accounts.get(identity.platform, ())
        )
        if problem:
            problems.append(problem)
    return problems


async def confirm_accounts(
    connectors: Mapping[str, tuple[Any, Any]], rules_accounts: Mapping[str, Sequence[str]]
) -> None:
    """At start-up: raise FileErrors naming each connector that logs in as
    another account than config and rules/listening.yaml say."""
    problems = await check_identities((c for _, c in connectors.values()), rules_accounts)
    if problems:
        raise FileErrors([FileError("config", "", p) for p in problems])


# ---------------------------------------------------------------- at ingest

P = TypeVar("P")

PUBLISHED = """
    SELECT c.platform, g.platform_post_id AS post_id FROM messages g
    JOIN conversations c ON c.id = g.conversation_id
    JOIN unnest($1::text[], $2::text[]) AS k(platform, post_id)
      ON g.platform_post_id = k.post_id AND c.platform = k.platform
"""


async def recognise(conn: asyncpg.Connection, batch: list[P]) -> list[P]:
    """`batch` (ingest's Processed: `.post`, `.ours`) without the posts we
    published (already in their thread as our messages), and with every post
    our own account wrote marked as ours (stored in its thread, never queued)."""
    if not batch:
        return batch
    posts: list[InboundPost] = [p.post for p in batch]  # type: ignore[attr-defined]
    rows = await conn.fetch(PUBLISHED, [p.platform for p in posts], [p.post_id for p in posts])
    published = {(r["platform"], r["post_id"]) for r in rows}
    out = []
    for p, post in zip(batch, posts):
        if (post.platform, post.post_id) in published:
            continue
        if post.by_us and not p.ours:  # type: ignore[attr-defined]
            p = dataclasses.replace(p, ours=True)  # type: ignore[type-var]
        out.append(p)
    return out


def thread_refs(post: InboundPost, answered_only: bool = False) -> tuple[str | None, ...]:
    """The posts that place `post` in a conversation, nearest first: the one it
    answers, the one it quotes, its thread's root. `answered_only` leaves the
    root out: a post kept only for where it sits must answer or quote a post
    of the conversation itself, not merely hang somewhere below it (a busy
    thread under a complaint is not all the customer's)."""
    if answered_only:
        return (post.in_reply_to, post.quote_of)
    return (post.in_reply_to, post.quote_of, post.thread_root)
