"""Bluesky: mentions, replies and quotes from listNotifications, names and
hashtags from searchPosts; replies with root+parent strong refs through
createRecord; DMs through the chat service (atproto-proxy header).

Cursor (JSON, stored by the caller in connector_state), per stream:
    {"notifications": {"seen_at": "<newest indexedAt>", "uris": [<uris at that instant>],
                       "backfill": {...}},      # only while catching up past max_pages
     "search": {"<query>": {...same shape...}}}

Both endpoints answer newest first with an opaque paging cursor, so a poll
pages down until it meets what it has seen. One cut short at `max_pages`
remembers the paging cursor (`backfill`) and continues there next poll, then
moves `seen_at` up, so nothing between is skipped.

Bluesky has no idempotency key: `find_published` looks through our own
recent records (or the DM conversation) for the same text and reply target.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backend.clock import Clock
from backend.connectors.base import PermanentError, PollResult, Secret, secret_from_env
from backend.connectors.http import PlatformHttp, Response, malformed, raise_for_status
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
    )
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


def post_to_inbound(view: Mapping[str, Any], app_url: str = "https://bsky.app") -> InboundPost:
    """A postView or a notification (both carry uri, cid, author, record) as an
    InboundPost; the whole view, cid included, is kept in raw."""
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
    )


def rate_limit_reset(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """RateLimit-Reset is epoch seconds."""
    value = (headers.get("RateLimit-Reset") or "").strip()
    return datetime.fromtimestamp(int(value), tz=UTC) if value.isdigit() else None


# ---------------------------------------------------------------- the connector

Page = tuple[Response, list[dict[str, Any]], str | None]


class BlueskyConnector:
    """Listens and publishes for one Bluesky account."""

    platform = PLATFORM

    def __init__(
        self, config: BlueskyConfig, clock: Clock, *, env: Mapping[str, str] | None = None
    ):
        self.config = config
        self._clock = clock
        self._password: Secret = secret_from_env(config.password_env, env)
        self._http = PlatformHttp(
            timeout_s=config.timeout_s, clock=clock, rate_limit_reset=rate_limit_reset
        )
        self._access: Secret | None = None
        self._refresh: Secret | None = None
        self.did: str | None = None
        self.handle: str | None = None

    def __repr__(self) -> str:
        return f"BlueskyConnector({self.config.service_url}, @{self.config.identifier})"

    async def close(self) -> None:
        await self._http.close()

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
        self._collect(posts, found)

        queries = list(self.config.search_terms) + [f"#{t}" for t in self.config.hashtags]
        for query in queries:
            state = new_cursor["search"].get(query) or {}

            async def search(
                page_cursor: str | None,
                query: str = query,
                since: str | None = state.get("seen_at"),
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
            self._collect(posts, found)
        return PollResult(posts=list(posts.values()), cursor=new_cursor, more=more)

    def _collect(
        self, posts: dict[str, InboundPost], found: list[tuple[Response, int, dict]]
    ) -> None:
        for response, index, item in found:
            try:
                post = post_to_inbound(item, self.config.app_url)
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
        backfill = state.get("backfill") or {}
        page_cursor = backfill.get("cursor")
        top_at = _when(backfill["top_at"]) if backfill.get("top_at") else seen_at
        top_uris = set(backfill.get("top_uris") or seen_uris)
        found: list[tuple[Response, int, dict]] = []
        for _ in range(self.config.max_pages):
            response, items, next_cursor = await fetch(page_cursor)
            reached = False
            for i, item in enumerate(items):
                try:
                    at, uri = _when(item["indexedAt"]), str(item["uri"])
                except (KeyError, TypeError, ValueError):
                    raise malformed(response, f"item {i}: expected uri and indexedAt") from None
                if seen_at and (at < seen_at or (at == seen_at and uri in seen_uris)):
                    reached = True
                    continue
                found.append((response, i, item))
                if top_at is None or at > top_at:
                    top_at, top_uris = at, {uri}
                elif at == top_at:
                    top_uris.add(uri)
            if first_ever or reached or not next_cursor or not items:
                # The first poll ever takes the newest page only: listening starts now.
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
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": msg.text,
            "createdAt": self._clock.now()
            .astimezone(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        if msg.in_reply_to:
            record["reply"] = await self._reply_refs(msg.in_reply_to, msg.thread_root)
        response = await self._call(
            "POST",
            "com.atproto.repo.createRecord",
            body={
                "repo": self.did or self.config.identifier,
                "collection": POST_COLLECTION,
                "record": record,
            },
        )
        body = response.body
        if not isinstance(body, dict) or not isinstance(body.get("uri"), str):
            raise malformed(response, "expected the new record's uri and cid")
        return Published(
            post_id=body["uri"], url=post_url(self.config.app_url, self.handle or "", body["uri"])
        )

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
        if self.did is None:
            await self._login()
        response = await self._call(
            "GET",
            "com.atproto.repo.listRecords",
            params=[("repo", self.did), ("collection", POST_COLLECTION), ("limit", "50")],
        )
        for rec in _list_field(response, "records"):
            value = rec.get("value") or {}
            parent = ((value.get("reply") or {}).get("parent") or {}).get("uri")
            if value.get("text") == msg.text and parent == msg.in_reply_to:
                return Published(
                    post_id=str(rec["uri"]),
                    url=post_url(self.config.app_url, self.handle or "", str(rec["uri"])),
                )
        return None


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
