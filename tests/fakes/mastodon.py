"""A fake Mastodon server built from recorded exchanges (tests/data/mastodon).

Statuses, accounts and notifications are copies of the recorded JSON with
their ids, text and authors replaced; paging follows the real server: newest
first, `max_id`/`since_id`/`min_id`/`limit`, Link rel="next"/"prev" that keep
the other query parameters, no Link on an empty page; Idempotency-Key
returns the status first created with it; errors are {"error": "..."}.

Streaming as the recorded server streams (test_stream_user_direct.yaml):
/api/v1/streaming/user sends our notifications (`event: notification`) and
our own statuses (`event: update`, the home timeline),
/api/v1/streaming/hashtag?tag=x each new public status with the tag; the
stream opens with the recorded ":)" comment and beats ":thump" while idle.
"""

from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from aiohttp import web
from multidict import MultiDict

from tests.fakes import Fault, Faults

DATA = Path(__file__).resolve().parent.parent / "data" / "mastodon"


def recorded(cassette: str, index: int) -> tuple[Any, dict[str, list[str]]]:
    """The JSON body and headers of one recorded response."""
    doc = yaml.safe_load((DATA / f"{cassette}.yaml").read_text(encoding="utf-8"))
    response = doc["interactions"][index]["response"]
    return json.loads(response["body"]["string"]), response["headers"]


_TAG_PAGE, _TAG_HEADERS = recorded("test_hashtag_tl", 2)
STATUS_TEMPLATE = _TAG_PAGE[0]
ACCOUNT_TEMPLATE = STATUS_TEMPLATE["account"]
NOTIFICATION_TEMPLATE = recorded("test_notifications_mentions_only", 1)[0][0]
SEARCH_TEMPLATE = recorded("test_search", 2)[0]  # {"accounts": [], "statuses": [], ...}
RATE_LIMIT_LIMIT = _TAG_HEADERS["x-ratelimit-limit"][0]
_STREAM_BODY = yaml.safe_load((DATA / "test_stream_user_direct.yaml").read_text(encoding="utf-8"))[
    "interactions"
][12]["response"]["body"]["string"]
STREAM_OPENING = _STREAM_BODY.split("\n", 1)[0] + "\n"  # ":)\n", as recorded


def _order(i: str) -> tuple[int, str]:
    return (len(i), i)


class FakeMastodon:
    """State of one fake instance: accounts, statuses, notifications for `us`."""

    def __init__(self, token: str = "fake-mastodon-token", us: str = "acme"):
        self.token = token
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []  # (method, path?query) as received
        self.published: list[dict[str, Any]] = []  # form + Idempotency-Key of each POST
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self._idempotency: dict[tuple[str, str], str] = {}
        self._status_ids = itertools.count(117020577157693549, 1000)
        self._notification_ids = itertools.count(21)
        self._clock = datetime(2026, 8, 1, 13, 51, 42, tzinfo=UTC)
        self.base_url = ""
        self.us = self.account(us, display_name="Acme Support", followers=1200)
        self.search_ignores_paging = False  # like servers that answer search with one page
        self.rate_limit_remaining = "299"  # X-RateLimit-Remaining on every page
        self.rate_limit_reset: datetime | None = None  # X-RateLimit-Reset, when set
        self.other_tokens: set[str] = set()  # more tokens of `us` (one per backend, say)
        self.callers: list[str] = []  # the token of each request in `requests`
        self.open_streams: list[_Stream] = []
        self.stream_opens = 0
        self.heartbeat_seconds = 15.0  # Mastodon's :thump interval
        self.streaming_enabled = True  # False: the streaming endpoints answer 404

    # -- building state

    def account(self, acct: str, display_name: str = "", followers: int = 0) -> dict[str, Any]:
        """The recorded account JSON under a new name."""
        if acct in self.accounts:
            return self.accounts[acct]
        a = copy.deepcopy(ACCOUNT_TEMPLATE)
        a.update(
            id=str(117020565693913441 + 1000 * len(self.accounts)),
            username=acct,
            acct=acct,
            display_name=display_name,
            followers_count=followers,
            url=f"http://localhost:3000/@{acct}",
        )
        self.accounts[acct] = a
        return a

    def post(
        self,
        acct: str,
        text: str,
        *,
        visibility: str = "public",
        in_reply_to_id: str | None = None,
        language: str = "en",
        status_id: str | None = None,
    ) -> dict[str, Any]:
        """A status by `acct` as the server would store it; mentions of us notify us.
        `status_id`: an id of the caller's choosing (a remote status arriving late
        gets an id from its own, older, created_at)."""
        author = self.account(acct)
        sid = status_id or str(next(self._status_ids))
        self._clock += timedelta(seconds=1)
        mentions = [self.account(m) for m in dict.fromkeys(re.findall(r"(?<!\w)@(\w+)", text))]
        tags = list(dict.fromkeys(t.lower() for t in re.findall(r"(?<!\w)#(\w+)", text)))
        s = copy.deepcopy(STATUS_TEMPLATE)
        s.update(
            id=sid,
            created_at=self._clock.isoformat().replace("+00:00", "Z"),
            in_reply_to_id=in_reply_to_id,
            in_reply_to_account_id=self.statuses[in_reply_to_id]["account"]["id"]
            if in_reply_to_id
            else None,
            visibility=visibility,
            language=language,
            content=_to_html(text),
            url=f"http://localhost:3000/@{acct}/{sid}",
            uri=f"http://localhost:3000/ap/users/{author['id']}/statuses/{sid}",
            account=copy.deepcopy(author),
            mentions=[
                {"id": m["id"], "username": m["username"], "url": m["url"], "acct": m["acct"]}
                for m in mentions
            ],
            tags=[{"name": t, "url": f"http://localhost:3000/tags/{t}"} for t in tags],
        )
        self.statuses[sid] = s
        if any(m["acct"] == self.us["acct"] for m in mentions) and acct != self.us["acct"]:
            n = copy.deepcopy(NOTIFICATION_TEMPLATE)
            nid = str(next(self._notification_ids))
            n.update(
                id=nid,
                type="mention",
                created_at=s["created_at"],
                group_key=f"ungrouped-{nid}",
                account=copy.deepcopy(author),
                status=s,
            )
            self.notifications.append(n)
            self._push("user", None, "notification", n)
        if acct == self.us["acct"]:
            self._push("user", None, "update", s)  # our home timeline: not a mention
        if visibility == "public":
            for tag in tags:
                self._push("hashtag", tag, "update", s)
        return s

    def _push(self, kind: str, tag: str | None, event: str, data: dict[str, Any]) -> None:
        for stream in self.open_streams:
            if stream.kind == kind and stream.tag == tag:
                stream.queue.put_nowait((event, data))

    def drop_streams(self) -> None:
        """End every open stream, as a restarting streaming server does."""
        for stream in self.open_streams:
            stream.queue.put_nowait(None)

    def streams_of(self, token: str | None = None) -> list[_Stream]:
        return [s for s in self.open_streams if token is None or s.token == token]

    def fail(
        self, path: str, status: int, *, headers: dict[str, str] | None = None, body: str = ""
    ) -> None:
        """The next request to `path` gets this status."""
        self.faults.add(
            Fault(
                path,
                "status",
                status=status,
                headers=headers or {},
                body=body or json.dumps({"error": "Internal Server Error"}),
            )
        )

    def rate_limit(self, path: str, reset: datetime) -> None:
        """The next request to `path` gets 429 with the recorded X-RateLimit-* headers."""
        self.fail(
            path,
            429,
            body=json.dumps({"error": "Too many requests"}),
            headers={
                "X-RateLimit-Limit": RATE_LIMIT_LIMIT,
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.isoformat(timespec="microseconds").replace(
                    "+00:00", "Z"
                ),
            },
        )

    def slow(self, path: str, delay: float) -> None:
        self.faults.add(Fault(path, "slow", delay=delay))

    def malformed(self, path: str, body: str) -> None:
        self.faults.add(Fault(path, "malformed", body=body))

    # -- serving

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v1/notifications", self._notifications)
        app.router.add_get("/api/v1/timelines/tag/{tag}", self._tag)
        app.router.add_get("/api/v2/search", self._search)
        app.router.add_post("/api/v1/statuses", self._create)
        app.router.add_get("/api/v1/accounts/verify_credentials", self._me)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self._account_statuses)
        app.router.add_get("/api/v1/streaming/user", self._stream)
        app.router.add_get("/api/v1/streaming/hashtag", self._stream)

        async def end_streams(app: web.Application) -> None:
            self.drop_streams()  # or shutting down waits for their clients

        app.on_shutdown.append(end_streams)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        self.base_url = f"{request.scheme}://{request.host}"
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        self.callers.append(token)
        if scheme != "Bearer" or token not in {self.token, *self.other_tokens}:
            return web.json_response({"error": "The access token is invalid"}, status=401)
        faulty = await self.faults.apply(request.path)
        if faulty is not None:
            return faulty
        return await handler(request)

    def _page(
        self, request: web.Request, items: list[dict[str, Any]], paging: bool = True
    ) -> web.Response:
        """Newest-first paging exactly as Mastodon answers it (`paging`: honour the
        max_id/since_id/min_id parameters)."""
        q = request.query
        if not paging:
            q = MultiDict((k, v) for k, v in q.items() if k not in ("max_id", "since_id", "min_id"))
        limit = min(int(q.get("limit", "20")), 40)
        items = sorted(items, key=lambda x: _order(x["id"]), reverse=True)
        if "max_id" in q:
            items = [i for i in items if _order(i["id"]) < _order(q["max_id"])]
        for low in ("since_id", "min_id"):
            if low in q:
                items = [i for i in items if _order(i["id"]) > _order(q[low])]
        # min_id: the page right above it (oldest of the newer ones); otherwise the newest.
        page = items[-limit:] if "min_id" in q else items[:limit]
        headers = {
            "X-RateLimit-Limit": RATE_LIMIT_LIMIT,
            "X-RateLimit-Remaining": self.rate_limit_remaining,
        }
        if self.rate_limit_reset is not None:
            headers["X-RateLimit-Reset"] = self.rate_limit_reset.isoformat().replace("+00:00", "Z")
        if page:
            keep = [(k, v) for k, v in q.items() if k not in ("max_id", "since_id", "min_id")]
            url = f"{self.base_url}{request.path}?"
            headers["Link"] = (
                f'<{url}{urlencode(keep + [("max_id", page[-1]["id"])])}>; rel="next", '
                f'<{url}{urlencode(keep + [("min_id", page[0]["id"])])}>; rel="prev"'
            )
        return web.json_response(page, headers=headers)

    async def _notifications(self, request: web.Request) -> web.Response:
        types = request.query.getall("types[]", [])
        return self._page(
            request, [n for n in self.notifications if not types or n["type"] in types]
        )

    async def _tag(self, request: web.Request) -> web.Response:
        tag = request.match_info["tag"].lower()
        return self._page(
            request,
            [
                s
                for s in self.statuses.values()
                if s["visibility"] == "public" and any(t["name"] == tag for t in s["tags"])
            ],
        )

    async def _search(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("type") != "statuses":
            return web.json_response({"error": "this fake only searches statuses"}, status=422)
        term = q.get("q", "").lower()
        hits = [
            s
            for s in self.statuses.values()
            if s["visibility"] == "public" and term in _text(s["content"]).lower()
        ]
        page = json.loads(self._page(request, hits, paging=not self.search_ignores_paging).text)
        body = copy.deepcopy(SEARCH_TEMPLATE)
        body["statuses"] = page
        return web.json_response(body)  # search answers carry no Link header

    async def _create(self, request: web.Request) -> web.Response:
        form = (
            dict(await request.post())
            if request.content_type != "application/json"
            else await request.json()
        )
        key = request.headers.get("Idempotency-Key")
        self.published.append({**form, "Idempotency-Key": key})
        if key and (self.us["acct"], key) in self._idempotency:
            return web.json_response(self.statuses[self._idempotency[(self.us["acct"], key)]])
        text = str(form.get("status", ""))
        if not text.strip():
            return web.json_response(
                {"error": "Validation failed: Text can't be blank"}, status=422
            )
        reply_to = form.get("in_reply_to_id") or None
        if reply_to and reply_to not in self.statuses:
            return web.json_response({"error": "Record not found"}, status=404)
        s = self.post(
            self.us["acct"],
            text,
            visibility=str(form.get("visibility", "public")),
            in_reply_to_id=reply_to,
        )
        if key:
            self._idempotency[(self.us["acct"], key)] = s["id"]
        return web.json_response(s)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if not self.streaming_enabled:
            return web.json_response({"error": "Not Found"}, status=404)
        kind = "user" if request.path.endswith("/user") else "hashtag"
        tag = request.query.get("tag", "").lower() if kind == "hashtag" else None
        if kind == "hashtag" and not tag:
            return web.json_response({"error": "Missing tag name parameter"}, status=400)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "private, no-store"}
        )
        await response.prepare(request)
        await response.write(STREAM_OPENING.encode())
        stream = _Stream(kind, tag, request.headers["Authorization"].partition(" ")[2])
        self.open_streams.append(stream)
        self.stream_opens += 1
        try:
            while True:
                try:
                    item = await asyncio.wait_for(stream.queue.get(), self.heartbeat_seconds)
                except TimeoutError:
                    await response.write(b":thump\n")
                    stream.beats += 1
                    continue
                if item is None:
                    break
                event, data = item
                await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
        finally:
            self.open_streams.remove(stream)
        return response

    async def _me(self, request: web.Request) -> web.Response:
        return web.json_response(self.us)

    async def _account_statuses(self, request: web.Request) -> web.Response:
        aid = request.match_info["id"]
        return self._page(request, [s for s in self.statuses.values() if s["account"]["id"] == aid])


class _Stream:
    """One open streaming connection."""

    def __init__(self, kind: str, tag: str | None, token: str):
        self.kind, self.tag, self.token = kind, tag, token
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self.beats = 0  # :thump heartbeats sent


def _to_html(text: str) -> str:
    """Plain text as Mastodon renders it: paragraphs, <br>, mention and hashtag links."""

    def inline(line: str) -> str:
        line = html.escape(line, quote=False)
        line = re.sub(
            r"(?<!\w)@(\w+)",
            lambda m: (
                f'<span class="h-card" translate="no"><a href="http://localhost:3000/@{m[1]}" '
                f'class="u-url mention">@<span>{m[1]}</span></a></span>'
            ),
            line,
        )
        return re.sub(
            r"(?<!\w)#(\w+)",
            lambda m: (
                f'<a href="http://localhost:3000/tags/{m[1].lower()}" class="mention hashtag" '
                f'rel="tag">#<span>{m[1]}</span></a>'
            ),
            line,
        )

    paragraphs = text.split("\n\n")
    return "".join(
        "<p>" + "<br />".join(inline(l) for l in p.split("\n")) + "</p>" for p in paragraphs
    )


def _text(content: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", content))
