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
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit

from backend.clock import Clock
from backend.connectors.base import PermanentError, PollResult, Secret, secret_from_env
from backend.connectors.http import PlatformHttp, Response, malformed, raise_for_status
from backend.connectors.settings import Section
from backend.model import Author, InboundPost, OutboundMessage, Published
from backend.yamlfile import Located

PLATFORM = "mastodon"


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
    )
    s.check(
        cfg.base_url.startswith(("https://", "http://")), "base_url", "expected an http(s):// URL"
    )
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


def status_to_post(status: Mapping[str, Any]) -> InboundPost:
    """A Mastodon status JSON as an InboundPost. Raises KeyError/TypeError/ValueError
    on a status missing what a post needs (the caller reports a malformed page)."""
    account = status["account"]
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
        mentioned_handles=tuple(str(m["acct"]) for m in status.get("mentions") or ()),
        hashtags=tuple(str(t["name"]) for t in status.get("tags") or ()),
        raw=dict(status),
    )


def _timestamp(value: Any) -> datetime:
    at = datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        raise ValueError(f"created_at {value!r} has no timezone")
    return at


def parse_link_header(value: str | None) -> dict[str, str]:
    """Link: <url>; rel="next", <url>; rel="prev"  ->  {"next": url, "prev": url}."""
    links: dict[str, str] = {}
    for part in (value or "").split(","):
        m = re.match(r'\s*<([^>]*)>\s*;\s*rel="?([a-z]+)"?', part)
        if m:
            links[m.group(2)] = m.group(1)
    return links


def rate_limit_reset(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """X-RateLimit-Reset is an ISO time, e.g. 2026-08-01T15:00:00.869078Z."""
    value = headers.get("X-RateLimit-Reset")
    if not value:
        return None
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
        self, config: MastodonConfig, clock: Clock, *, env: Mapping[str, str] | None = None
    ):
        self.config = config
        self._token: Secret = secret_from_env(config.token_env, env)
        self._http = PlatformHttp(
            timeout_s=config.timeout_s, clock=clock, rate_limit_reset=rate_limit_reset
        )
        self._own_account_id: str | None = None

    def __repr__(self) -> str:
        return f"MastodonConnector({self.config.base_url}, @{self.config.account})"

    async def close(self) -> None:
        await self._http.close()

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

    async def poll(self, cursor: dict[str, Any]) -> PollResult:
        """Mentions, hashtags and name searches since `cursor`; see the module doc."""
        posts: dict[str, InboundPost] = {}
        new_cursor: dict[str, Any] = {
            "notifications": cursor.get("notifications"),
            "tags": dict(cursor.get("tags") or {}),
            "search": dict(cursor.get("search") or {}),
        }
        more = False

        statuses, newest, cut = await self._forward(
            "/api/v1/notifications",
            [("types[]", "mention")],
            cursor.get("notifications"),
            notifications=True,
        )
        new_cursor["notifications"] = newest
        more |= cut
        self._collect(posts, statuses)

        for tag in self.config.hashtags:
            statuses, newest, cut = await self._forward(
                f"/api/v1/timelines/tag/{quote(tag, safe='')}", [], new_cursor["tags"].get(tag)
            )
            new_cursor["tags"][tag] = newest
            more |= cut
            self._collect(posts, statuses)

        for term in self.config.search_terms:
            statuses, state, cut = await self._search(term, new_cursor["search"].get(term) or {})
            new_cursor["search"][term] = state
            more |= cut
            self._collect(posts, statuses)

        return PollResult(posts=list(posts.values()), cursor=new_cursor, more=more)

    def _collect(
        self, posts: dict[str, InboundPost], statuses: list[tuple[Response, int, dict]]
    ) -> None:
        for response, index, status in statuses:
            try:
                post = status_to_post(status)
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
        for _ in range(self.config.max_pages):
            response = await self._get(url, query)
            items = response.body
            if not isinstance(items, list):
                raise malformed(response, f"expected a list, got {type(items).__name__}")
            ids = []
            for i, item in enumerate(items):
                if not isinstance(item, dict) or "id" not in item:
                    raise malformed(response, f"item {i}: expected an object with an id")
                ids.append(str(item["id"]))
                if notifications:
                    # Only mentions carry a status; other types are filtered by types[] already.
                    if item.get("type") == "mention" and isinstance(item.get("status"), dict):
                        found.append((response, i, item["status"]))
                else:
                    found.append((response, i, item))
            newest = newest_id(ids, newest)
            prev = parse_link_header(response.headers.get("Link")).get("prev")
            if since is None or len(items) < self.config.page_limit or not prev:
                # "0" once listening has started on an empty stream: every later item is new.
                return found, newest or "0", False
            url, query = prev, None
        return found, newest, True

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
        found: list[tuple[Response, int, dict]] = []
        for _ in range(self.config.max_pages):
            query = (
                base
                + ([("min_id", since)] if since else [])
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
                if since and _id_order(sid) <= _id_order(since):
                    continue  # a server that ignores min_id must not replay old posts
                ids.append(sid)
                found.append((response, i, item))
            newest = newest_id(ids, newest)
            if since is None or len(body["statuses"]) < self.config.page_limit or not ids:
                return found, {"since": newest or "0"}, False
            max_id = min(ids, key=_id_order)
        return found, {"since": since, "backfill": {"max_id": max_id, "newest": newest}}, True

    # -- publishing

    def _status_text(self, msg: OutboundMessage) -> str:
        if not msg.is_direct:
            return msg.text
        if msg.recipient is None:
            raise PermanentError(f"DM {msg.idempotency_key}: no recipient")
        # Mastodon delivers a direct status to the accounts it mentions.
        mention = f"@{msg.recipient.handle.lstrip('@')}"
        return msg.text if msg.text.split(maxsplit=1)[:1] == [mention] else f"{mention} {msg.text}"

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
        if self._own_account_id is None:
            me = await self._get(self.config.base_url + "/api/v1/accounts/verify_credentials")
            if not isinstance(me.body, dict) or "id" not in me.body:
                raise malformed(me, "expected our account with an id")
            self._own_account_id = str(me.body["id"])
        response = await self._get(
            f"{self.config.base_url}/api/v1/accounts/{self._own_account_id}/statuses",
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


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}"
    return str(exc) or type(exc).__name__
