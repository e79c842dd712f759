"""Mastodon: mentions from notifications, hashtags from tag timelines, untagged
names from search; replies and DMs through POST /api/v1/statuses.

Cursor (JSON, stored by the caller in connector_state):
    {"notifications": "<newest notification id seen>",
     "tags":   {"<hashtag>": "<newest status id seen>"},
     "search": {"<term>": {"since": "<newest status id>",
                           "backfill": {"max_id": "...", "newest": "..."}}}}   # backfill only mid-catch-up

Notifications and tag timelines page forward from the cursor with `min_id`
and the `rel="prev"` Link header, oldest page first, so a poll cut short at
`max_pages` has lost nothing. Search answers newest first, so a cut-short
search remembers where it stopped (`backfill`) and carries on next poll.

A round ends when a page cursor does not move (a server that ignores
`max_id` or answers the same Link again), and after `max_requests` requests
in all. A status from another server gets an id from its own `created_at`,
so one posted with a slow clock, or delivered late, lands below ids we have
already read past: each round re-reads `reread_seconds` below its high-water
mark (one request per source; ingest drops what it has already stored).

Our account is known by its id (verify_credentials), so its statuses are
marked `by_us` wherever they come from, and a status that replies to or
quotes one of ours counts as addressed to us whatever its text.

Streaming (`streaming: true`): GET /api/v1/streaming/user brings our
notifications (`event: notification`) and /api/v1/streaming/hashtag?tag=...
each hashtag's statuses (`event: update`), as server-sent events with a
`:thump` heartbeat. Streams carry no cursor: the runner polls from the
committed cursor after every (re)connect, so nothing between two is missed,
and name searches, which no stream carries, are still polled.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit

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
from backend.connectors.settings import Section
from backend.connectors.sse import Event, SseParser
from backend.model import Author, InboundPost, OutboundMessage, Published
from backend.yamlfile import Located

PLATFORM = "mastodon"
# Notifications that bring a status about us: tags, and quotes of our statuses (4.5+).
NOTIFICATION_TYPES = ("mention", "quote")


@dataclass(frozen=True, slots=True)
class MastodonConfig:
    """connectors.mastodon in config/shiftdesk.yaml. The token itself lives in
    the environment variable named by `token_env`, never in a file."""

    base_url: str
    account: str  # our handle, e.g. "acme" (without @)
    token_env: str
    hashtags: tuple[str, ...] = ()  # without '#'
    search_terms: tuple[str, ...] = ()  # untagged names, e.g. "Acme Bank"
    page_limit: int = 40  # items per request (Mastodon allows up to 40)
    max_pages: int = 10  # requests per source per poll
    reply_visibility: str = "public"  # public replies: "public" or "unlisted"
    timeout_s: float = 10.0
    max_requests: int = 50  # requests per poll round, all sources together
    reread_seconds: float = 120.0  # how far below its high-water mark a round re-reads
    streaming: bool = True  # notifications and hashtags by the streaming API; polls catch up
    streaming_url: str = ""  # where the streaming API answers; empty: base_url
    stream_idle_seconds: float = 60.0  # silence (no event, no :thump) before reconnecting
    stream_resync_seconds: float = 300.0  # a full poll this often while streaming


def read_config(doc: Located, key: str = "connectors.mastodon") -> MastodonConfig:
    """Build a MastodonConfig from a loaded YAML file; errors name file, line and key."""
    s = Section(doc, key)
    cfg = MastodonConfig(
        base_url=(s.get("base_url", str) or "").rstrip("/"),
        account=(s.get("account", str) or "").lstrip("@"),
        token_env=s.get("token_env", str) or "",
        hashtags=tuple(t.lstrip("#") for t in s.texts("hashtags")),
        search_terms=s.texts("search_terms"),
        page_limit=s.get("page_limit", int, 40),
        max_pages=s.get("max_pages", int, 10),
        reply_visibility=s.get("reply_visibility", str, "public"),
        timeout_s=s.get("timeout_s", float, 10.0),
        max_requests=s.get("max_requests", int, 50),
        reread_seconds=s.get("reread_seconds", float, 120.0),
        streaming=s.get("streaming", bool, True),
        streaming_url=(s.get("streaming_url", str, "") or "").rstrip("/"),
        stream_idle_seconds=s.get("stream_idle_seconds", float, 60.0),
        stream_resync_seconds=s.get("stream_resync_seconds", float, 300.0),
    )
    s.check(
        cfg.base_url.startswith(("https://", "http://")), "base_url", "expected an http(s):// URL"
    )
    s.check(cfg.max_requests >= 1, "max_requests", "expected at least 1")
    s.check(
        not cfg.streaming_url or cfg.streaming_url.startswith(("https://", "http://")),
        "streaming_url",
        "expected an http(s):// URL (the streaming API speaks server-sent events over HTTP)",
    )
    s.check(cfg.stream_idle_seconds > 0, "stream_idle_seconds", "expected a positive number")
    s.check(cfg.stream_resync_seconds > 0, "stream_resync_seconds", "expected a positive number")
    s.check(cfg.reread_seconds >= 0, "reread_seconds", "expected 0 or more seconds")
    s.check(1 <= cfg.page_limit <= 40, "page_limit", "expected 1 to 40 (Mastodon's maximum)")
    s.check(cfg.max_pages >= 1, "max_pages", "expected at least 1")
    s.check(
        cfg.reply_visibility in ("public", "unlisted"),
        "reply_visibility",
        "expected public or unlisted",
    )
    s.check(cfg.timeout_s > 0, "timeout_s", "expected a positive number of seconds")
    s.check(
        not cfg.token_env or bool(re.fullmatch(r"[A-Z_][A-Z0-9_]*", cfg.token_env)),
        "token_env",
        "expected the NAME of an environment variable (the token itself never goes in a file)",
    )
    s.done()
    return cfg


# ---------------------------------------------------------------- mapping (pure)


class _TextFromHtml(HTMLParser):
    """Mastodon content is HTML; operators read it as plain text with its line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._paragraphs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p":
            if self._paragraphs:
                self.parts.append("\n\n")
            self._paragraphs += 1

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """Strip tags, keep line breaks (<br>, paragraphs), unescape entities."""
    parser = _TextFromHtml()
    parser.feed(content)
    parser.close()
    return html.unescape("".join(parser.parts)).strip()


def _id_order(post_id: str) -> tuple[int, str]:
    # Mastodon ids are decimal strings that can exceed 64 bits; longer is newer.
    return (len(post_id), post_id)


def newest_id(ids: list[str], current: str | None = None) -> str | None:
    """The newest of some Mastodon ids (ids order by length, then digits)."""
    pool = [i for i in ids if i] + ([current] if current else [])
    return max(pool, key=_id_order) if pool else None


def quoted_status(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The status a status quotes (Mastodon 4.5: quote.quoted_status), if shown."""
    quote = status.get("quote")
    quoted = quote.get("quoted_status") if isinstance(quote, dict) else None
    return quoted if isinstance(quoted, dict) and "id" in quoted else None


def status_to_post(status: Mapping[str, Any], us: Identity | None = None) -> InboundPost:
    """A Mastodon status JSON as an InboundPost. Raises KeyError/TypeError/ValueError
    on a status missing what a post needs (the caller reports a malformed page).

    With `us` (our account): our own statuses are marked `by_us`, and one that
    replies to or quotes one of ours counts as tagging us (its reason says which)."""
    account = status["account"]
    mentioned = tuple(str(m["acct"]) for m in status.get("mentions") or ())
    quoted = quoted_status(status)
    reason = None
    if us is not None:
        if str(status.get("in_reply_to_account_id") or "") == us.account_id:
            reason = "reply"
        elif quoted is not None and str(quoted["account"]["id"]) == us.account_id:
            reason = "quote"
        if reason and us.handle not in mentioned:
            # Addressed to us as surely as a tag, though the text may not say @us.
            mentioned += (us.handle,)
    return InboundPost(
        platform=PLATFORM,
        post_id=str(status["id"]),
        author=Author(
            platform_id=str(account["id"]),
            handle=str(account["acct"]),
            display_name=str(account.get("display_name") or ""),
            followers=int(account.get("followers_count") or 0),
        ),
        text=html_to_text(str(status.get("content") or "")),
        created_at=_timestamp(status["created_at"]),
        url=str(status.get("url") or status.get("uri") or ""),
        in_reply_to=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
        is_direct=status.get("visibility") == "direct",
        language=status.get("language") or None,
        mentioned_handles=mentioned,
        hashtags=tuple(str(t["name"]) for t in status.get("tags") or ()),
        raw=dict(status),
        by_us=us is not None and str(account["id"]) == us.account_id,
        reason=reason,
        quote_of=str(quoted["id"]) if quoted is not None else None,
    )


def _timestamp(value: Any) -> datetime:
    at = datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        raise ValueError(f"created_at {value!r} has no timezone")
    return at


# Ids of Mastodon 2.0+ are 48 bits of milliseconds and 16 of sequence, so any
# made since 2004 is above this; smaller ids (row numbers, counters) say nothing
# about time.
_SNOWFLAKE_FLOOR = 1 << 56


def reread_floor(since: str | None, seconds: float) -> str | None:
    """The id `seconds` before `since`, from the time inside a snowflake id;
    None when there is no such window (no cursor, no time in the id, no window)."""
    if not since or not since.isdigit() or seconds <= 0 or int(since) < _SNOWFLAKE_FLOOR:
        return None
    floor = max(0, (int(since) >> 16) - int(seconds * 1000)) << 16
    return str(floor)


def parse_link_header(value: str | None) -> dict[str, str]:
    """Link: <url>; rel="next", <url>; rel="prev"  ->  {"next": url, "prev": url}."""
    links: dict[str, str] = {}
    for part in (value or "").split(","):
        m = re.match(r'\s*<([^>]*)>\s*;\s*rel="?([a-z]+)"?', part)
        if m:
            links[m.group(2)] = m.group(1)
    return links


def rate_limit_reset(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """X-RateLimit-Reset is an ISO time, e.g. 2026-08-01T15:00:00.869078Z
    (some servers and proxies send epoch seconds instead)."""
    value = headers.get("X-RateLimit-Reset")
    if not value:
        return None
    if value.strip().isdigit():
        return datetime.fromtimestamp(int(value.strip()), tz=UTC)
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return at if at.tzinfo else None


# ---------------------------------------------------------------- the connector


class MastodonConnector:
    """Listens and publishes for one Mastodon account."""

    platform = PLATFORM

    def __init__(
        self,
        config: MastodonConfig,
        clock: Clock,
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self.config = config
        self._token: Secret = secret_from_env(config.token_env, env)
        self._http = PlatformHttp(
            timeout_s=config.timeout_s,
            clock=clock,
            rate_limit_reset=rate_limit_reset,
            sleep=sleep,
        )
        self.identity: Identity | None = None
        self._budget = RequestBudget(config.max_requests)

    def __repr__(self) -> str:
        return f"MastodonConnector({self.config.base_url}, @{self.config.account})"

    async def close(self) -> None:
        await self._http.close()

    @property
    def configured_account(self) -> str:
        return self.config.account

    async def identify(self) -> Identity:
        """Our account as Mastodon knows it (verify_credentials): its id and acct."""
        me = await self._get(self.config.base_url + "/api/v1/accounts/verify_credentials")
        body = me.body
        if not isinstance(body, dict) or "id" not in body:
            raise malformed(me, "expected our account with an id")
        self.identity = Identity(PLATFORM, str(body["id"]), str(body.get("acct") or ""))
        return self.identity

    async def _us(self) -> Identity:
        """Who we are, asked once; logging in as another account than config says stops here."""
        if self.identity is None:
            identity = await self.identify()
            said = self.config.account.lower()
            if said and said not in (
                identity.handle.lower(),
                identity.handle.lower().split("@")[0],
            ):
                self.identity = None
                raise PermanentError(
                    f"connectors.mastodon: configured for @{self.config.account} but the token "
                    f"logs in as @{identity.handle} ({identity.account_id})"
                )
        assert self.identity is not None
        return self.identity

    async def _get(self, url: str, params: Any = None) -> Response:
        if urlsplit(url)[:2] != urlsplit(self.config.base_url)[:2]:
            # A Link header pointing elsewhere must not receive our token.
            raise PermanentError(f"GET {url}: refusing to follow a link off {self.config.base_url}")
        return raise_for_status(
            await self._http.request("GET", url, params=params, headers=self._auth())
        )

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.value}"}

    # -- listening

    async def poll(self, cursor: dict[str, Any], *, streamed: bool = False) -> PollResult:
        """Mentions, hashtags and name searches since `cursor`; see the module doc.
        `streamed`: the streams are live, so only what no stream carries (name
        searches) is read; the other cursors stay where they are."""
        us = await self._us()
        self._budget = RequestBudget(self.config.max_requests)
        posts: dict[str, InboundPost] = {}
        new_cursor: dict[str, Any] = {
            "notifications": cursor.get("notifications"),
            "tags": dict(cursor.get("tags") or {}),
            "search": dict(cursor.get("search") or {}),
        }
        more = False

        if not streamed:
            statuses, newest, cut = await self._forward(
                "/api/v1/notifications",
                [("types[]", t) for t in NOTIFICATION_TYPES],
                cursor.get("notifications"),
                notifications=True,
            )
            new_cursor["notifications"] = newest
            more |= cut
            self._collect(posts, statuses, us)

        for tag in () if streamed else self.config.hashtags:
            statuses, newest, cut = await self._forward(
                f"/api/v1/timelines/tag/{quote(tag, safe='')}", [], new_cursor["tags"].get(tag)
            )
            new_cursor["tags"][tag] = newest
            more |= cut
            self._collect(posts, statuses, us)

        for term in self.config.search_terms:
            statuses, state, cut = await self._search(term, new_cursor["search"].get(term) or {})
            new_cursor["search"][term] = state
            more |= cut
            self._collect(posts, statuses, us)

        return PollResult(posts=list(posts.values()), cursor=new_cursor, more=more)

    def _collect(
        self,
        posts: dict[str, InboundPost],
        statuses: list[tuple[Response, int, dict]],
        us: Identity | None = None,
    ) -> None:
        for response, index, status in statuses:
            try:
                post = status_to_post(status, us)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise malformed(response, f"item {index}: {_describe(exc)}") from None
            posts.setdefault(post.post_id, post)

    async def _forward(
        self,
        path: str,
        params: list[tuple[str, str]],
        since: str | None,
        notifications: bool = False,
    ) -> tuple[list[tuple[Response, int, dict]], str | None, bool]:
        """Items newer than `since`, oldest page first, following Link rel="prev".
        With no cursor yet, only the newest page: listening starts now.
        Mastodon ids are positive, so "0" means "from the very first"."""
        limit = str(self.config.page_limit)
        url = self.config.base_url + path
        query: Any = params + [("limit", limit)] + ([("min_id", since)] if since else [])
        found: list[tuple[Response, int, dict]] = []
        newest = since
        floor = reread_floor(since, self.config.reread_seconds)
        if floor is not None and self._budget.take():
            # The window just below the high-water mark, newest first: posts that
            # arrived late with older ids. since_id keeps the page next to max_id.
            window = params + [("limit", limit), ("max_id", since), ("since_id", floor)]
            self._take_items(await self._get(url, window), found, notifications)
        seen_urls = set()
        for _ in range(self.config.max_pages):
            if not self._budget.take():
                return found, newest, True
            seen_urls.add(url if query is None else (url, tuple(query)))
            response = await self._get(url, query)
            items = response.body
            ids = self._take_items(response, found, notifications)
            newest = newest_id(ids, newest)
            prev = parse_link_header(response.headers.get("Link")).get("prev")
            if since is None or len(items) < self.config.page_limit or not prev:
                # "0" once listening has started on an empty stream: every later item is new.
                return found, newest or "0", False
            if prev in seen_urls or not ids:
                return found, newest, False  # the page cursor did not move: end the round
            url, query = prev, None
        return found, newest, True

    @staticmethod
    def _take_items(
        response: Response, found: list[tuple[Response, int, dict]], notifications: bool
    ) -> list[str]:
        """Add a page's statuses to `found`; the page's item ids."""
        items = response.body
        if not isinstance(items, list):
            raise malformed(response, f"expected a list, got {type(items).__name__}")
        ids = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "id" not in item:
                raise malformed(response, f"item {i}: expected an object with an id")
            ids.append(str(item["id"]))
            if notifications:
                # Only mentions and quotes carry a status we listen to (types[] filters the rest).
                if item.get("type") in NOTIFICATION_TYPES and isinstance(item.get("status"), dict):
                    found.append((response, i, item["status"]))
            else:
                found.append((response, i, item))
        return ids

    async def _search(
        self, term: str, state: dict[str, Any]
    ) -> tuple[list[tuple[Response, int, dict]], dict, bool]:
        """Statuses matching an untagged name, newest first, walking down with max_id."""
        since = state.get("since")
        backfill = state.get("backfill")
        base = [
            ("q", term),
            ("type", "statuses"),
            ("resolve", "false"),
            ("limit", str(self.config.page_limit)),
        ]
        max_id = backfill["max_id"] if backfill else None
        newest = backfill["newest"] if backfill else since
        # Read down to the re-read window below the high-water mark, not just to it.
        floor = reread_floor(since, self.config.reread_seconds) or since
        found: list[tuple[Response, int, dict]] = []
        for _ in range(self.config.max_pages):
            if not self._budget.take():
                break
            query = (
                base
                + ([("min_id", floor)] if floor else [])
                + ([("max_id", max_id)] if max_id else [])
            )
            response = await self._get(self.config.base_url + "/api/v2/search", query)
            body = response.body
            if not isinstance(body, dict) or not isinstance(body.get("statuses"), list):
                raise malformed(response, "expected an object with a statuses list")
            ids = []
            for i, item in enumerate(body["statuses"]):
                if not isinstance(item, dict) or "id" not in item:
                    raise malformed(response, f"statuses[{i}]: expected an object with an id")
                sid = str(item["id"])
                if floor and _id_order(sid) <= _id_order(floor):
                    continue  # a server that ignores min_id must not replay old posts
                if max_id and _id_order(sid) >= _id_order(max_id):
                    continue  # nor one that ignores max_id the page we just read
                ids.append(sid)
                found.append((response, i, item))
            newest = newest_id(ids, newest)
            if since is None or len(body["statuses"]) < self.config.page_limit or not ids:
                # Done, or the page cursor did not move (nothing below max_id): end the round.
                return found, {"since": newest or "0"}, False
            max_id = min(ids, key=_id_order)
        return found, {"since": since, "backfill": {"max_id": max_id, "newest": newest}}, True

    # -- streaming

    @property
    def streaming(self) -> bool:
        return self.config.streaming

    @property
    def resync_seconds(self) -> float:
        return self.config.stream_resync_seconds

    @property
    def polls_while_streaming(self) -> bool:
        """Whether anything needs polling while the streams are live (name searches)."""
        return bool(self.config.search_terms)

    def streams(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """(path, query) of every stream: our notifications, then each hashtag."""
        return [("/api/v1/streaming/user", [])] + [
            ("/api/v1/streaming/hashtag", [("tag", tag)]) for tag in self.config.hashtags
        ]

    async def stream(
        self,
        path: str,
        query: list[tuple[str, str]],
        on_open: Callable[[], None],
        on_post: Callable[[InboundPost], Awaitable[None]],
    ) -> None:
        """Read one stream, handing each post about us to `on_post`, until it
        fails: always raises (TransientError when it ends or goes silent)."""
        us = await self._us()
        url = (self.config.streaming_url or self.config.base_url) + path
        notifications = path == "/api/v1/streaming/user"
        async with self._http.open_stream(
            url, params=query, headers=self._auth(), idle_s=self.config.stream_idle_seconds
        ) as resp:
            on_open()
            parser = SseParser()
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                if len(buffer) > _MAX_EVENT_BYTES:
                    raise TransientError(
                        f"GET {url}: an event longer than {_MAX_EVENT_BYTES} bytes"
                    )
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = parser.feed(line.decode("utf-8", "replace"))
                    post = event and self._streamed_post(event, notifications, us, url)
                    if post:
                        await on_post(post)
        raise TransientError(f"GET {url}: the server ended the stream")

    @staticmethod
    def _streamed_post(
        event: Event, notifications: bool, us: Identity, url: str
    ) -> InboundPost | None:
        """The post an event brings, or None for one that brings none of ours
        (home timeline updates, deletes, edits, follows, favourites)."""
        wanted = "notification" if notifications else "update"
        if event.name != wanted:
            return None
        try:
            item = json.loads(event.data)
            if notifications:
                if item.get("type") not in NOTIFICATION_TYPES:
                    return None
                item = item["status"]
            return status_to_post(item, us)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Reconnect: the catch-up poll then reads the same post from the REST API.
            raise TransientError(
                f"GET {url}: malformed {event.name} event: {_describe(exc)}"
            ) from None

    # -- publishing

    def _status_text(self, msg: OutboundMessage) -> str:
        """The text addressed to the customer: Mastodon notifies (and delivers a
        direct status to) only the accounts a status mentions."""
        if msg.recipient is None:
            if msg.is_direct:
                raise PermanentError(f"DM {msg.idempotency_key}: no recipient")
            return msg.text
        return address(PLATFORM, msg.recipient.handle, msg.text).text

    async def publish(self, msg: OutboundMessage) -> Published:
        """POST /api/v1/statuses with our idempotency key as Mastodon's Idempotency-Key,
        so a retry after a lost answer returns the same status instead of a second one."""
        form = {
            "status": self._status_text(msg),
            "visibility": "direct" if msg.is_direct else self.config.reply_visibility,
        }
        if msg.in_reply_to:
            form["in_reply_to_id"] = msg.in_reply_to
        response = raise_for_status(
            await self._http.request(
                "POST",
                self.config.base_url + "/api/v1/statuses",
                form=form,
                headers={**self._auth(), "Idempotency-Key": msg.idempotency_key},
            )
        )
        body = response.body
        if not isinstance(body, dict) or "id" not in body:
            raise malformed(response, "expected the new status with an id")
        return Published(post_id=str(body["id"]), url=str(body.get("url") or ""))

    async def find_published(self, msg: OutboundMessage) -> Published | None:
        """Our newest statuses, matched on reply target and text: a status we sent
        before a crash, outside Mastodon's idempotency window."""
        us = await self._us()
        response = await self._get(
            f"{self.config.base_url}/api/v1/accounts/{us.account_id}/statuses",
            [("limit", str(self.config.page_limit))],
        )
        if not isinstance(response.body, list):
            raise malformed(response, f"expected a list, got {type(response.body).__name__}")
        text = self._status_text(msg)
        for status in response.body:
            if not isinstance(status, dict):
                continue
            if (
                str(status.get("in_reply_to_id") or "") == (msg.in_reply_to or "")
                and html_to_text(str(status.get("content") or "")) == text.strip()
            ):
                return Published(post_id=str(status["id"]), url=str(status.get("url") or ""))
        return None


_MAX_EVENT_BYTES = 8 * 1024 * 1024  # one event's line; far above any real status


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}"
    return str(exc) or type(exc).__name__
