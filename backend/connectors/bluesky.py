"""Bluesky: mentions, replies and quotes from listNotifications, names and
hashtags from searchPosts; replies with root+parent strong refs through
createRecord; DMs through the chat service (atproto-proxy header).

Cursor (JSON, stored by the caller in connector_state), per stream:
    {"notifications": {"seen_at": "<newest indexedAt>", "uris": [<uris at that instant>],
                       "backfill": {...}},      # only while catching up past max_pages
     "search": {"<query>": {...same shape...}},
     "watch": {"<post uri>": {"at": "<found>", "seen_at": "<newest reply's indexedAt>"}}}

Both endpoints answer newest first with an opaque paging cursor, so a poll
pages down until it meets what it has seen. One cut short at `max_pages`
remembers the paging cursor (`backfill`) and continues there next poll, then
moves `seen_at` up, so nothing between is skipped.

A round ends when a paging cursor does not move, and after `max_requests`
requests in all. Each round reads on `reread_seconds` below its high-water
mark: a post indexed late, or with a skewed clock, still shows up (ingest
drops what it has already stored).

Notifications keep their reason: a reply to or a quote of one of our posts
is addressed to us whatever its text (the post records our handle as tagged),
and a quote carries the quoted post, so it joins that post's conversation.

Watched posts: the AppView notifies us only of replies below our own posts,
so a customer adding to their own complaint, or someone answering in their
thread, reaches no notification and no search. The connector therefore
keeps the most recent `watch_posts` posts it found (not ours) for
`watch_hours` in the cursor ("watch": {uri: {"at", "seen_at"}}) and reads
their direct replies (getPostThread, depth 1) with what is left of a round's
request budget; ingest keeps such a reply only when the post it answers is
in one of our conversations (listening's `thread` match).

Exactly once: Bluesky has no idempotency key, but a record key is ours to
choose. Each outbox message gets one record key (a TID made from the time it
was queued and its idempotency key), reused on every retry: a write that
landed although its answer was lost makes the retry fail (the PDS refuses a
second record under the same key), and `find_published` reads that record
back by its key. DMs (chat) have no such key: `find_published` looks through
the conversation for the same text.

Published posts address the customer (a reply to their post, else an
@mention) and carry facets for links, hashtags and mentions.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.clock import Clock
from backend.connectors.address import address
from backend.connectors.base import (
    PermanentError,
    PollResult,
    RequestBudget,
    Secret,
    TransientError,
    secret_from_env,
)
from backend.connectors.http import PlatformHttp, Response, malformed, raise_for_status
from backend.connectors.own import Identity
from backend.connectors.richtext import facets, mentioned_handles
from backend.connectors.settings import Section
from backend.model import Author, InboundPost, OutboundMessage, Published
from backend.yamlfile import Located

PLATFORM = "bluesky"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
POST_COLLECTION = "app.bsky.feed.post"
LISTENED_REASONS = ("mention", "reply", "quote")


@dataclass(frozen=True, slots=True)
class BlueskyConfig:
    """connectors.bluesky in config/shiftdesk.yaml. The app password lives in
    the environment variable named by `password_env`, never in a file."""

    service_url: str  # the account's PDS, e.g. https://bsky.social
    identifier: str  # our handle or DID
    password_env: str
    search_terms: tuple[str, ...] = ()  # untagged names
    hashtags: tuple[str, ...] = ()  # without '#'
    page_limit: int = 50
    max_pages: int = 10
    timeout_s: float = 10.0
    app_url: str = "https://bsky.app"  # for links operators can open
    max_requests: int = 50  # requests per poll round, all streams together
    reread_seconds: float = 120.0  # how far below its high-water mark a round reads on
    watch_posts: int = 20  # recent posts whose replies each round reads (0: none)
    watch_hours: float = 24.0  # how long a post found stays watched


def read_config(doc: Located, key: str = "connectors.bluesky") -> BlueskyConfig:
    """Build a BlueskyConfig from a loaded YAML file; errors name file, line and key."""
    s = Section(doc, key)
    cfg = BlueskyConfig(
        service_url=(s.get("service_url", str) or "").rstrip("/"),
        identifier=(s.get("identifier", str) or "").lstrip("@"),
        password_env=s.get("password_env", str) or "",
        search_terms=s.texts("search_terms"),
        hashtags=tuple(t.lstrip("#") for t in s.texts("hashtags")),
        page_limit=s.get("page_limit", int, 50),
        max_pages=s.get("max_pages", int, 10),
        timeout_s=s.get("timeout_s", float, 10.0),
        app_url=(s.get("app_url", str, "https://bsky.app") or "").rstrip("/"),
        max_requests=s.get("max_requests", int, 50),
        reread_seconds=s.get("reread_seconds", float, 120.0),
        watch_posts=s.get("watch_posts", int, 20),
        watch_hours=s.get("watch_hours", float, 24.0),
    )
    s.check(cfg.watch_posts >= 0, "watch_posts", "expected 0 or more posts")
    s.check(cfg.watch_hours > 0, "watch_hours", "expected a positive number of hours")
    s.check(cfg.max_requests >= 1, "max_requests", "expected at least 1")
    s.check(cfg.reread_seconds >= 0, "reread_seconds", "expected 0 or more seconds")
    s.check(
        cfg.service_url.startswith(("https://", "http://")),
        "service_url",
        "expected an http(s):// URL",
    )
    s.check(1 <= cfg.page_limit <= 100, "page_limit", "expected 1 to 100 (the API's maximum)")
    s.check(cfg.max_pages >= 1, "max_pages", "expected at least 1")
    s.check(cfg.timeout_s > 0, "timeout_s", "expected a positive number of seconds")
    s.check(
        not cfg.password_env or bool(re.fullmatch(r"[A-Z_][A-Z0-9_]*", cfg.password_env)),
        "password_env",
        "expected the NAME of an environment variable (the app password never goes in a file)",
    )
    s.done()
    return cfg


# ---------------------------------------------------------------- mapping (pure)


def _when(value: Any) -> datetime:
    at = datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def post_url(app_url: str, handle: str, uri: str) -> str:
    """at://did/app.bsky.feed.post/rkey -> https://bsky.app/profile/handle/post/rkey."""
    return f"{app_url}/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}"


def quoted_uri(record: Mapping[str, Any]) -> str | None:
    """The post a record quotes: app.bsky.embed.record, or recordWithMedia."""
    embed = record.get("embed")
    if not isinstance(embed, dict):
        return None
    inner = embed.get("record")
    if isinstance(inner, dict) and isinstance(inner.get("record"), dict):
        inner = inner["record"]  # recordWithMedia: {record: {record: strongRef}, media}
    uri = inner.get("uri") if isinstance(inner, dict) else None
    return uri if isinstance(uri, str) and "/app.bsky.feed.post/" in uri else None


def post_to_inbound(
    view: Mapping[str, Any], app_url: str = "https://bsky.app", us: Identity | None = None
) -> InboundPost:
    """A postView or a notification (both carry uri, cid, author, record) as an
    InboundPost; the whole view, cid included, is kept in raw.

    With `us` (our account): our own posts are marked `by_us`; a reply to or a
    quote of one of ours counts as tagging us, and its reason says which (a
    notification's own reason is kept as the platform gave it)."""
    record, author = view["record"], view["author"]
    text = str(record.get("text") or "")
    encoded = text.encode("utf-8")
    mentions, tags = [], list(record.get("tags") or ())
    for facet in record.get("facets") or ():
        for feature in facet.get("features") or ():
            kind = feature.get("$type", "")
            if kind.endswith("#mention"):
                index = facet["index"]
                # Facets give a DID; the handle is the text the facet covers (UTF-8 byte offsets).
                shown = encoded[index["byteStart"] : index["byteEnd"]].decode("utf-8", "replace")
                mentions.append(shown.lstrip("@"))
            elif kind.endswith("#tag"):
                tags.append(str(feature["tag"]))
    reply = record.get("reply") or {}
    handle = str(author["handle"])
    quote_of = quoted_uri(record)
    reason = view.get("reason") if isinstance(view.get("reason"), str) else None
    if us is not None:
        ours = f"at://{us.account_id}/"
        if reason is None and reply and str(reply["parent"]["uri"]).startswith(ours):
            reason = "reply"
        elif reason is None and quote_of and quote_of.startswith(ours):
            reason = "quote"
        if reason in ("reply", "quote") and us.handle not in mentions:
            # Addressed to us as surely as a mention facet, though its text may not say so.
            mentions.append(us.handle)
    return InboundPost(
        platform=PLATFORM,
        post_id=str(view["uri"]),
        author=Author(
            platform_id=str(author["did"]),
            handle=handle,
            display_name=str(author.get("displayName") or ""),
            followers=int(author.get("followersCount") or 0),
        ),
        text=text,
        created_at=_when(record.get("createdAt") or view["indexedAt"]),
        url=post_url(app_url, handle, str(view["uri"])),
        in_reply_to=reply["parent"]["uri"] if reply else None,
        thread_root=reply["root"]["uri"] if reply else None,
        language=(record.get("langs") or [None])[0],
        mentioned_handles=tuple(dict.fromkeys(mentions)),
        hashtags=tuple(dict.fromkeys(tags)),
        raw=dict(view),
        by_us=us is not None and str(author["did"]) == us.account_id,
        reason=reason,
        quote_of=quote_of,
    )


def rate_limit_reset(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """RateLimit-Reset is epoch seconds."""
    value = (headers.get("RateLimit-Reset") or "").strip()
    return datetime.fromtimestamp(int(value), tz=UTC) if value.isdigit() else None


_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tid(micros: int, clock_id: int) -> str:
    """A TID (the record key type of app.bsky.feed.post): 53 bits of
    microseconds since 1970 and a 10-bit clock id, as 13 base32-sortable chars."""
    n = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(_TID_ALPHABET[(n >> shift) & 31] for shift in range(60, -1, -5))


def record_key(msg: OutboundMessage) -> str:
    """The record key of `msg`'s post: the same on every retry of the message,
    different for every message (time queued, clock id from its idempotency key)."""
    clock_id = zlib.crc32(msg.idempotency_key.encode())
    if msg.created_at is not None:
        micros = (msg.created_at - _EPOCH) // timedelta(microseconds=1)
    else:  # no time given: still one key per message, from the idempotency key alone
        micros = int.from_bytes(hashlib.sha256(msg.idempotency_key.encode()).digest()[:6])
    return tid(micros, clock_id)


def _iso_z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- the connector

Page = tuple[Response, list[dict[str, Any]], str | None]


class BlueskyConnector:
    """Listens and publishes for one Bluesky account."""

    platform = PLATFORM

    def __init__(
        self,
        config: BlueskyConfig,
        clock: Clock,
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self.config = config
        self._clock = clock
        self._password: Secret = secret_from_env(config.password_env, env)
        self._http = PlatformHttp(
            timeout_s=config.timeout_s,
            clock=clock,
            rate_limit_reset=rate_limit_reset,
            sleep=sleep,
        )
        self._budget = RequestBudget(config.max_requests)
        self._access: Secret | None = None
        self._refresh: Secret | None = None
        self.did: str | None = None
        self.handle: str | None = None

    def __repr__(self) -> str:
        return f"BlueskyConnector({self.config.service_url}, @{self.config.identifier})"

    async def close(self) -> None:
        await self._http.close()

    @property
    def configured_account(self) -> str:
        return self.config.identifier

    async def identify(self) -> Identity:
        """Our account as the session says: its DID and handle."""
        if self.did is None:
            await self._login()
        assert self.did is not None and self.handle is not None
        return Identity(PLATFORM, self.did, self.handle)

    # -- session and calls

    def _url(self, nsid: str) -> str:
        return f"{self.config.service_url}/xrpc/{nsid}"

    def _take_session(self, response: Response) -> None:
        body = response.body
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("accessJwt", "refreshJwt", "did", "handle")
        ):
            raise malformed(response, "expected accessJwt, refreshJwt, did and handle")
        self._access, self._refresh = Secret(body["accessJwt"]), Secret(body["refreshJwt"])
        self.did, self.handle = body["did"], body["handle"]

    async def _login(self) -> None:
        response = await self._http.request(
            "POST",
            self._url("com.atproto.server.createSession"),
            json_body={"identifier": self.config.identifier, "password": self._password.value},
        )
        self._take_session(raise_for_status(response))

    async def _renew(self) -> None:
        """Swap the refresh token for new tokens; log in again if it has expired too."""
        assert self._refresh is not None
        response = await self._http.request(
            "POST",
            self._url("com.atproto.server.refreshSession"),
            headers={"Authorization": f"Bearer {self._refresh.value}"},
        )
        if response.status in (400, 401):
            await self._login()
        else:
            self._take_session(raise_for_status(response))

    async def _call(
        self, method: str, nsid: str, *, params: Any = None, body: Any = None, chat: bool = False
    ) -> Response:
        if self._access is None:
            await self._login()
        for attempt in range(2):
            assert self._access is not None
            headers = {"Authorization": f"Bearer {self._access.value}"}
            if chat:
                headers["atproto-proxy"] = CHAT_PROXY
            response = await self._http.request(
                method, self._url(nsid), params=params, json_body=body, headers=headers
            )
            expired = (
                response.status in (400, 401)
                and isinstance(response.body, dict)
                and response.body.get("error") in ("ExpiredToken", "InvalidToken")
            )
            if expired and attempt == 0:
                await self._renew()
                continue
            return raise_for_status(response)
        raise AssertionError("unreachable")

    # -- listening

    async def poll(self, cursor: dict[str, Any]) -> PollResult:
        """Notifications (mention, reply, quote) and searches since `cursor`."""
        us = await self.identify()
        self._budget = RequestBudget(self.config.max_requests)
        posts: dict[str, InboundPost] = {}
        new_cursor: dict[str, Any] = {"search": dict(cursor.get("search") or {})}
        more = False

        async def notifications(page_cursor: str | None) -> Page:
            params = [("limit", str(self.config.page_limit))] + [
                ("reasons", r) for r in LISTENED_REASONS
            ]
            if page_cursor:
                params.append(("cursor", page_cursor))
            r = await self._call("GET", "app.bsky.notification.listNotifications", params=params)
            items = _list_field(r, "notifications")
            return r, [n for n in items if n.get("reason") in LISTENED_REASONS], _cursor_field(r)

        found, new_cursor["notifications"], cut = await self._walk(
            notifications, cursor.get("notifications") or {}
        )
        more |= cut
        self._collect(posts, found, us)

        queries = list(self.config.search_terms) + [f"#{t}" for t in self.config.hashtags]
        for query in queries:
            state = new_cursor["search"].get(query) or {}

            async def search(
                page_cursor: str | None,
                query: str = query,
                since: str | None = self._reread_from(state.get("seen_at")),
            ) -> Page:
                params = [("q", query), ("sort", "latest"), ("limit", str(self.config.page_limit))]
                if query.startswith("#"):
                    params.append(("tag", query[1:]))
                if since:
                    params.append(("since", since))
                if page_cursor:
                    params.append(("cursor", page_cursor))
                r = await self._call("GET", "app.bsky.feed.searchPosts", params=params)
                return r, _list_field(r, "posts"), _cursor_field(r)

            found, new_cursor["search"][query], cut = await self._walk(search, state)
            more |= cut
            self._collect(posts, found, us)
        new_cursor["watch"] = await self._watch(cursor.get("watch") or {}, posts, us)
        return PollResult(posts=list(posts.values()), cursor=new_cursor, more=more)

    async def _watch(
        self, watched: Mapping[str, Any], posts: dict[str, InboundPost], us: Identity
    ) -> dict[str, Any]:
        """Read the new direct replies to the watched posts into `posts`; the watch
        list for the next round (see the module doc)."""
        if not self.config.watch_posts:
            return {}
        now = self._clock.now()
        oldest = now - timedelta(hours=self.config.watch_hours)
        watch = {
            uri: dict(entry)
            for uri, entry in watched.items()
            if isinstance(entry, dict) and _when(entry.get("at") or now.isoformat()) >= oldest
        }

        def add_found() -> dict[str, Any]:
            for post in list(posts.values()):
                if not post.by_us and not post.is_direct and post.post_id not in watch:
                    watch[post.post_id] = {"at": now.isoformat(), "seen_at": None}
            newest = sorted(watch, key=lambda u: watch[u]["at"], reverse=True)
            return {u: watch[u] for u in newest[: self.config.watch_posts]}

        watch = add_found()
        keep = list(watch)
        window = timedelta(seconds=self.config.reread_seconds)
        for uri in keep:
            if not self._budget.take():
                break
            try:
                response = await self._call(
                    "GET",
                    "app.bsky.feed.getPostThread",
                    params=[("uri", uri), ("depth", "1"), ("parentHeight", "0")],
                )
            except PermanentError:
                del watch[uri]  # deleted, or blocked: nothing more will come
                continue
            thread = response.body.get("thread") if isinstance(response.body, dict) else None
            if not isinstance(thread, dict):
                raise malformed(response, "expected a thread")
            seen = _when(watch[uri]["seen_at"]) if watch[uri].get("seen_at") else None
            floor = seen - window if seen is not None else None
            found: list[tuple[Response, int, dict]] = []
            for i, reply in enumerate(thread.get("replies") or ()):
                view = reply.get("post") if isinstance(reply, dict) else None
                if not isinstance(view, dict) or "indexedAt" not in view:
                    continue  # notFoundPost, blockedPost
                at = _when(view["indexedAt"])
                if floor is not None and (at < floor or (not window and at <= floor)):
                    continue
                found.append((response, i, view))
                if seen is None or at > seen:
                    seen = at
            watch[uri]["seen_at"] = seen.isoformat() if seen is not None else None
            self._collect(posts, found, us)
        return add_found()  # the replies just read are watched in turn

    def _reread_from(self, seen_at: str | None) -> str | None:
        """The time `reread_seconds` before `seen_at`: where a round reads down to."""
        if not seen_at:
            return None
        return _iso_z(_when(seen_at) - timedelta(seconds=self.config.reread_seconds))

    def _collect(
        self,
        posts: dict[str, InboundPost],
        found: list[tuple[Response, int, dict]],
        us: Identity | None = None,
    ) -> None:
        for response, index, item in found:
            try:
                post = post_to_inbound(item, self.config.app_url, us)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                what = f"missing {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
                raise malformed(response, f"item {index}: {what}") from None
            posts.setdefault(post.post_id, post)

    async def _walk(
        self, fetch: Callable[[str | None], Awaitable[Page]], state: Mapping[str, Any]
    ) -> tuple[list[tuple[Response, int, dict]], dict[str, Any], bool]:
        """Page a newest-first stream down to what `state` has seen; see the module doc."""
        # No state at all: the first poll ever. {"seen_at": None}: listening had
        # started but nothing was seen yet, so everything since is new.
        first_ever = "seen_at" not in state
        seen_at = _when(state["seen_at"]) if state.get("seen_at") else None
        seen_uris = set(state.get("uris") or ())
        # Read on below the high-water mark by the re-read window (see the module doc).
        window = timedelta(seconds=self.config.reread_seconds)
        floor = seen_at - window if seen_at is not None and window else seen_at
        backfill = state.get("backfill") or {}
        page_cursor = backfill.get("cursor")
        top_at = _when(backfill["top_at"]) if backfill.get("top_at") else seen_at
        top_uris = set(backfill.get("top_uris") or seen_uris)
        found: list[tuple[Response, int, dict]] = []
        for _ in range(self.config.max_pages):
            if not self._budget.take():
                break
            response, items, next_cursor = await fetch(page_cursor)
            reached = False
            for i, item in enumerate(items):
                try:
                    at, uri = _when(item["indexedAt"]), str(item["uri"])
                except (KeyError, TypeError, ValueError):
                    raise malformed(response, f"item {i}: expected uri and indexedAt") from None
                if floor and (at < floor or (not window and at == floor and uri in seen_uris)):
                    reached = True
                    continue
                found.append((response, i, item))
                if top_at is None or at > top_at:
                    top_at, top_uris = at, {uri}
                elif at == top_at:
                    top_uris.add(uri)
            if first_ever or reached or not next_cursor or not items or next_cursor == page_cursor:
                # The first poll ever takes the newest page only: listening starts now.
                # A paging cursor that does not move ends the round too.
                return (
                    found,
                    {"seen_at": top_at.isoformat() if top_at else None, "uris": sorted(top_uris)},
                    False,
                )
            page_cursor = next_cursor
        return (
            found,
            {
                "seen_at": state["seen_at"],
                "uris": sorted(seen_uris),
                "backfill": {
                    "cursor": page_cursor,
                    "top_at": top_at.isoformat() if top_at else None,
                    "top_uris": sorted(top_uris),
                },
            },
            True,
        )

    # -- publishing

    async def publish(self, msg: OutboundMessage) -> Published:
        """A public post (a reply with root and parent refs when it answers one), or a DM."""
        if msg.is_direct:
            return await self._send_dm(msg)
        text = self._post_text(msg)
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": text,
            # The time queued, not sent: a retry writes the very same record.
            "createdAt": _iso_z(msg.created_at or self._clock.now()),
        }
        rich = facets(text, await self._dids(text, msg))
        if rich:
            record["facets"] = rich
        if msg.in_reply_to:
            record["reply"] = await self._reply_refs(msg.in_reply_to, msg.thread_root)
        us = await self.identify()
        rkey = record_key(msg)
        try:
            response = await self._call(
                "POST",
                "com.atproto.repo.createRecord",
                body={
                    "repo": us.account_id,
                    "collection": POST_COLLECTION,
                    "rkey": rkey,
                    "record": record,
                },
            )
        except (PermanentError, TransientError):
            # Refused (or failed) because an earlier try already wrote this key?
            # Then that record is the message, published once.
            if await self._own_record(rkey) is not None:
                return self._published(f"at://{us.account_id}/{POST_COLLECTION}/{rkey}")
            raise
        body = response.body
        if not isinstance(body, dict) or not isinstance(body.get("uri"), str):
            raise malformed(response, "expected the new record's uri and cid")
        return self._published(body["uri"])

    def _published(self, uri: str) -> Published:
        return Published(post_id=uri, url=post_url(self.config.app_url, self.handle or "", uri))

    def _post_text(self, msg: OutboundMessage) -> str:
        """The text addressed to the customer: a reply to their own post notifies
        them; anything else starts with their @handle (a mention facet)."""
        if msg.recipient is None:
            return msg.text
        to_customer = bool(msg.in_reply_to) and msg.reply_to_author_id == msg.recipient.platform_id
        return address(
            PLATFORM, msg.recipient.handle, msg.text, replies_to_customer=to_customer
        ).text

    async def _dids(self, text: str, msg: OutboundMessage) -> dict[str, str]:
        """DIDs of the handles `text` mentions: the customer's we know; others are
        resolved (one that does not resolve stays plain text, no facet)."""
        dids: dict[str, str] = {}
        if msg.recipient is not None:
            dids[msg.recipient.handle.lower().lstrip("@")] = msg.recipient.platform_id
        for handle in mentioned_handles(text):
            if handle in dids:
                continue
            try:
                response = await self._call(
                    "GET", "com.atproto.identity.resolveHandle", params=[("handle", handle)]
                )
            except PermanentError:
                continue  # no such handle: not a mention
            did = response.body.get("did") if isinstance(response.body, dict) else None
            if isinstance(did, str) and did.startswith("did:"):
                dids[handle] = did
        return dids

    async def _own_record(self, rkey: str) -> dict[str, Any] | None:
        """Our post under `rkey`, or None when there is none."""
        us = await self.identify()
        try:
            response = await self._call(
                "GET",
                "com.atproto.repo.getRecord",
                params=[("repo", us.account_id), ("collection", POST_COLLECTION), ("rkey", rkey)],
            )
        except PermanentError as exc:
            if exc.status in (400, 404):  # RecordNotFound
                return None
            raise
        return response.body if isinstance(response.body, dict) else None

    async def _reply_refs(self, parent_uri: str, root_uri: str | None) -> dict[str, Any]:
        """Strong refs (uri + cid) for the parent and the thread root, fetched fresh."""
        uris = list(dict.fromkeys([parent_uri] + ([root_uri] if root_uri else [])))
        response = await self._call(
            "GET", "app.bsky.feed.getPosts", params=[("uris", u) for u in uris]
        )
        views = {v.get("uri"): v for v in _list_field(response, "posts")}
        if parent_uri not in views:
            raise PermanentError(f"reply to {parent_uri}: that post is gone (deleted or blocked)")
        parent = views[parent_uri]
        if root_uri and root_uri in views:
            root = {"uri": root_uri, "cid": views[root_uri]["cid"]}
        elif root_uri and root_uri != parent_uri:
            raise PermanentError(f"reply to {parent_uri}: thread root {root_uri} is gone")
        else:
            # The parent's own root, or the parent itself when it starts the thread.
            root = (parent.get("record") or {}).get("reply", {}).get("root") or {
                "uri": parent_uri,
                "cid": parent["cid"],
            }
        return {
            "root": {"uri": root["uri"], "cid": root["cid"]},
            "parent": {"uri": parent_uri, "cid": parent["cid"]},
        }

    async def _convo_id(self, msg: OutboundMessage) -> str:
        if msg.recipient is None:
            raise PermanentError(f"DM {msg.idempotency_key}: no recipient")
        response = await self._call(
            "GET",
            "chat.bsky.convo.getConvoForMembers",
            params=[("members", msg.recipient.platform_id)],
            chat=True,
        )
        convo = response.body.get("convo") if isinstance(response.body, dict) else None
        if not isinstance(convo, dict) or not isinstance(convo.get("id"), str):
            raise malformed(response, "expected convo.id")
        return convo["id"]

    async def _send_dm(self, msg: OutboundMessage) -> Published:
        convo_id = await self._convo_id(msg)
        response = await self._call(
            "POST",
            "chat.bsky.convo.sendMessage",
            body={"convoId": convo_id, "message": {"text": msg.text}},
            chat=True,
        )
        if not isinstance(response.body, dict) or not isinstance(response.body.get("id"), str):
            raise malformed(response, "expected the sent message's id")
        return Published(post_id=response.body["id"])

    async def find_published(self, msg: OutboundMessage) -> Published | None:
        """Our recent posts (or DMs to the recipient) with the same text and reply target."""
        if msg.is_direct:
            convo_id = await self._convo_id(msg)
            response = await self._call(
                "GET",
                "chat.bsky.convo.getMessages",
                chat=True,
                params=[("convoId", convo_id), ("limit", "50")],
            )
            for m in _list_field(response, "messages"):
                if (m.get("sender") or {}).get("did") == self.did and m.get("text") == msg.text:
                    return Published(post_id=str(m["id"]))
            return None
        # The message's own record key says where an earlier try would have written it.
        found = await self._own_record(record_key(msg))
        if found is None:
            return None
        return self._published(str(found.get("uri") or ""))


def _list_field(response: Response, name: str) -> list[dict[str, Any]]:
    body = response.body
    if not isinstance(body, dict) or not isinstance(body.get(name), list):
        raise malformed(response, f"expected an object with a {name} list")
    for i, item in enumerate(body[name]):
        if not isinstance(item, dict):
            raise malformed(response, f"{name}[{i}]: expected an object")
    return body[name]


def _cursor_field(response: Response) -> str | None:
    value = response.body.get("cursor")
    return value if isinstance(value, str) and value else None
