"""A fake Bluesky PDS + AppView + chat service, shaped by the lexicons in
tests/data/bluesky: every response and every record sent is checked against
the schemas' `required` fields, and a record that fails is refused with 400
InvalidRecord as the real PDS does.

Sessions expire on demand (400 ExpiredToken, then refreshSession), paging is
newest first with an opaque cursor, 429s carry RateLimit-* headers, chat
calls must carry the atproto-proxy header.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes import Fault, Faults

LEXICONS = Path(__file__).resolve().parent.parent / "data" / "bluesky" / "lexicons"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
POST = "app.bsky.feed.post"


def lexicon(nsid: str) -> dict[str, Any]:
    return json.loads((LEXICONS / (nsid.replace(".", "/") + ".json")).read_text(encoding="utf-8"))[
        "defs"
    ]


def _resolve(nsid: str, target: str) -> tuple[str, str] | None:
    """A lexicon ref ("#x", "nsid", "nsid#x") as (nsid, def), if that lexicon was copied."""
    ref_nsid, _, name = (nsid, "", target[1:]) if target.startswith("#") else target.partition("#")
    exists = (LEXICONS / (ref_nsid.replace(".", "/") + ".json")).exists()
    return (ref_nsid, name or "main") if exists else None


def missing_required(obj: Any, nsid: str, name: str = "main", path: str = "") -> list[str]:
    """Required fields absent from `obj`, following refs into the copied lexicons."""
    d = lexicon(nsid)[name]
    if d["type"] in ("query", "procedure"):
        d = d["output"]["schema"]
    elif d["type"] == "record":
        d = d["record"]
    if d.get("type") == "ref":
        target = _resolve(nsid, d["ref"])
        return missing_required(obj, *target, path=path) if target else []
    if not isinstance(obj, dict):
        return [path or "(top)"]
    problems = [f"{path}{k}" for k in d.get("required", []) if k not in obj]
    for key, prop in d.get("properties", {}).items():
        if key not in obj:
            continue
        pairs = [(prop, obj[key], f"{path}{key}.")]
        if prop.get("type") == "array" and isinstance(obj[key], list):
            pairs = [(prop["items"], v, f"{path}{key}[{i}].") for i, v in enumerate(obj[key])]
        for spec, value, where in pairs:
            target = _resolve(nsid, spec["ref"]) if spec.get("type") == "ref" else None
            if target:
                problems += missing_required(value, *target, path=where)
    return problems


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeBluesky:
    """State: accounts, posts (our repo is the posts by `us`), notifications, DM convos."""

    def __init__(self, password: str = "app-pass-1234", us: str = "acme.bsky.social"):
        self.password = password
        self.faults = Faults()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path?query, headers
        self.created: list[dict[str, Any]] = []  # createRecord inputs
        self.sent_messages: list[dict[str, Any]] = []
        self.logins = 0
        self.refreshes = 0
        self.accounts: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}  # uri -> postView
        self.notifications: list[dict[str, Any]] = []
        self.convos: dict[str, dict[str, Any]] = {}
        self._tokens = itertools.count(1)
        self._tids = itertools.count(1)
        self._access: set[str] = set()
        self._refresh: set[str] = set()
        self._clock = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        self.us = self.account(us, "Acme Support")
        self.lose_next_answer = False  # the next createRecord writes, then answers 502
        self.stuck_cursor = False  # paging ignores the cursor: the same page, the same cursor

    def account(self, handle: str, display_name: str = "") -> dict[str, Any]:
        if handle not in self.accounts:
            did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
            self.accounts[handle] = {"did": did, "handle": handle, "displayName": display_name}
        return self.accounts[handle]

    def post(
        self,
        handle: str,
        text: str,
        *,
        reply_to: str | None = None,
        quote: str | None = None,
        tags: tuple[str, ...] = (),
        at: datetime | None = None,
        indexed_at: datetime | None = None,
    ) -> dict[str, Any]:
        """A post as the AppView would show it; notifies us of mentions and replies."""
        author = self.account(handle)
        self._clock = at or self._clock + timedelta(seconds=1)
        rkey = f"3l{next(self._tids):011d}"
        uri = f"at://{author['did']}/app.bsky.feed.post/{rkey}"
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": _iso(self._clock),
            "langs": ["en"],
            "facets": _facets(text, self.accounts),
        }
        if tags:
            record["tags"] = list(tags)
        if reply_to:
            parent = self.posts[reply_to]
            root = parent["record"].get("reply", {}).get("root") or {
                "uri": parent["uri"],
                "cid": parent["cid"],
            }
            record["reply"] = {"root": root, "parent": {"uri": parent["uri"], "cid": parent["cid"]}}
        if quote:
            record["embed"] = {
                "$type": "app.bsky.embed.record",
                "record": {"uri": quote, "cid": self.posts[quote]["cid"]},
            }
        return self._store(author, uri, record, indexed_at)

    def _store(
        self,
        author: dict[str, Any],
        uri: str,
        record: dict[str, Any],
        indexed_at: datetime | None = None,
    ) -> dict[str, Any]:
        view = {
            "uri": uri,
            "cid": "bafyrei" + hashlib.sha256(uri.encode()).hexdigest()[:40],
            "author": dict(author),
            "record": record,
            "replyCount": 0,
            "repostCount": 0,
            "likeCount": 0,
            "quoteCount": 0,
            "indexedAt": _iso(indexed_at or self._clock),
            "labels": [],
        }
        assert not missing_required(view, "app.bsky.feed.defs", "postView")
        self.posts[uri] = view
        if author["did"] != self.us["did"]:
            mentioned = any(
                f["features"][0].get("did") == self.us["did"] for f in record.get("facets", [])
            )
            parent = record.get("reply", {}).get("parent", {}).get("uri", "")
            quoted = record.get("embed", {}).get("record", {}).get("uri", "")
            ours = f"at://{self.us['did']}/"
            reason = (
                "reply"
                if parent.startswith(ours)
                else "quote"
                if quoted.startswith(ours)
                else "mention"
                if mentioned
                else None
            )
            if reason:
                self.notifications.append(
                    {
                        "uri": uri,
                        "cid": view["cid"],
                        "author": dict(author),
                        "reason": reason,
                        "record": record,
                        "isRead": False,
                        "indexedAt": view["indexedAt"],
                        "labels": [],
                    }
                )
        return view

    def expire_sessions(self) -> None:
        """Every access token now answers 400 ExpiredToken."""
        self._access.clear()

    def rate_limit(self, nsid: str, reset_epoch: int) -> None:
        self.faults.add(
            Fault(
                f"/xrpc/{nsid}",
                "status",
                status=429,
                body=json.dumps({"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}),
                headers={
                    "RateLimit-Limit": "3000",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(reset_epoch),
                    "RateLimit-Policy": "3000;w=300",
                },
            )
        )

    def fail(
        self, nsid: str, status: int, body: str = '{"error":"InternalServerError","message":"oops"}'
    ) -> None:
        self.faults.add(Fault(f"/xrpc/{nsid}", "status", status=status, body=body))

    def slow(self, nsid: str, delay: float) -> None:
        self.faults.add(Fault(f"/xrpc/{nsid}", "slow", delay=delay))

    def malformed(self, nsid: str, body: str) -> None:
        self.faults.add(Fault(f"/xrpc/{nsid}", "malformed", body=body))

    # -- serving

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/xrpc/com.atproto.server.createSession", self._create_session)
        r.add_post("/xrpc/com.atproto.server.refreshSession", self._refresh_session)
        r.add_get("/xrpc/app.bsky.notification.listNotifications", self._list_notifications)
        r.add_get("/xrpc/app.bsky.feed.searchPosts", self._search)
        r.add_get("/xrpc/app.bsky.feed.getPosts", self._get_posts)
        r.add_get("/xrpc/app.bsky.feed.getPostThread", self._get_post_thread)
        r.add_post("/xrpc/com.atproto.repo.createRecord", self._create_record)
        r.add_get("/xrpc/com.atproto.repo.listRecords", self._list_records)
        r.add_get("/xrpc/com.atproto.repo.getRecord", self._get_record)
        r.add_get("/xrpc/com.atproto.identity.resolveHandle", self._resolve_handle)
        r.add_get("/xrpc/chat.bsky.convo.getConvoForMembers", self._convo_for_members)
        r.add_post("/xrpc/chat.bsky.convo.sendMessage", self._send_message)
        r.add_get("/xrpc/chat.bsky.convo.getMessages", self._get_messages)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        faulty = await self.faults.apply(request.path)
        if faulty is not None:
            return faulty
        nsid = request.path.removeprefix("/xrpc/")
        if nsid != "com.atproto.server.createSession":
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            valid = self._refresh if nsid == "com.atproto.server.refreshSession" else self._access
            if token not in valid:
                return _error(400, "ExpiredToken", "Token has expired")
        if nsid.startswith("chat.") and request.headers.get("atproto-proxy") != CHAT_PROXY:
            return _error(404, "MethodNotImplemented", "chat methods need the atproto-proxy header")
        response = await handler(request)
        if isinstance(response, web.Response) and response.status == 200 and nsid in _CHECKED:
            problems = missing_required(json.loads(response.text), *_CHECKED[nsid])
            assert not problems, f"fake served {nsid} without {problems}"
        return response

    def _session(self) -> web.Response:
        access, refresh = f"access-{next(self._tokens)}", f"refresh-{next(self._tokens)}"
        self._access.add(access)
        self._refresh.add(refresh)
        return web.json_response(
            {
                "accessJwt": access,
                "refreshJwt": refresh,
                "handle": self.us["handle"],
                "did": self.us["did"],
                "active": True,
            }
        )

    async def _create_session(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (
            body.get("identifier") not in (self.us["handle"], self.us["did"])
            or body.get("password") != self.password
        ):
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        self.logins += 1
        return self._session()

    async def _refresh_session(self, request: web.Request) -> web.Response:
        self._refresh.discard(request.headers["Authorization"].removeprefix("Bearer "))
        self.refreshes += 1
        return self._session()

    def _page(
        self, request: web.Request, items: list[dict[str, Any]], name: str, default: int
    ) -> web.Response:
        items = sorted(items, key=lambda x: (x["indexedAt"], x["uri"]), reverse=True)
        if "cursor" in request.query and not self.stuck_cursor:
            at, _, uri = request.query["cursor"].partition("::")
            items = [x for x in items if (x["indexedAt"], x["uri"]) < (at, uri)]
        limit = min(int(request.query.get("limit", default)), 100)
        page = items[:limit]
        body: dict[str, Any] = {name: page}
        if len(items) > limit:
            body["cursor"] = f"{page[-1]['indexedAt']}::{page[-1]['uri']}"
        return web.json_response(body)

    async def _list_notifications(self, request: web.Request) -> web.Response:
        reasons = request.query.getall("reasons", [])
        return self._page(
            request,
            [n for n in self.notifications if not reasons or n["reason"] in reasons],
            "notifications",
            50,
        )

    async def _search(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "").lower()
        tags = [t.lower() for t in request.query.getall("tag", [])]
        since = request.query.get("since")
        hits = []
        for view in self.posts.values():
            record = view["record"]
            post_tags = {t.lower() for t in record.get("tags", [])} | {
                f["features"][0]["tag"].lower()
                for f in record.get("facets", [])
                if "tag" in f["features"][0]
            }
            if (
                q in record["text"].lower()
                and all(t in post_tags for t in tags)
                and (not since or view["indexedAt"] >= since)
            ):
                hits.append(view)
        return self._page(request, hits, "posts", 25)

    async def _get_post_thread(self, request: web.Request) -> web.Response:
        """A post and its direct replies (depth 1), as the AppView's threadViewPost."""
        uri = request.query.get("uri", "")
        if uri not in self.posts:
            return _error(400, "NotFound", f"Post not found: {uri}")
        kind = "app.bsky.feed.defs#threadViewPost"
        replies = [
            {"$type": kind, "post": v, "replies": []}
            for v in self.posts.values()
            if v["record"].get("reply", {}).get("parent", {}).get("uri") == uri
        ]
        return web.json_response(
            {"thread": {"$type": kind, "post": self.posts[uri], "replies": replies}}
        )

    async def _get_posts(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"posts": [self.posts[u] for u in request.query.getall("uris", []) if u in self.posts]}
        )

    async def _create_record(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append(body)
        record = body.get("record", {})
        problems = missing_required(record, "app.bsky.feed.post")
        if body.get("repo") not in (self.us["did"], self.us["handle"]):
            return _error(400, "InvalidRequest", "repo is not the session's account")
        if problems or len(record.get("text", "")) > 300:
            why = (
                f"missing {problems}"
                if problems
                else "Record/text must not be longer than 300 graphemes"
            )
            return _error(400, "InvalidRecord", f"Invalid app.bsky.feed.post record: {why}")
        for ref in ("root", "parent"):
            target = record.get("reply", {}).get(ref)
            if target and self.posts.get(target["uri"], {}).get("cid") != target["cid"]:
                return _error(
                    400, "InvalidRecord", f"reply.{ref} does not point at a post with that cid"
                )
        rkey = body.get("rkey") or f"3l{next(self._tids):011d}"
        tid = r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}"  # the lexicon's key: tid
        if "rkey" in body and not re.fullmatch(tid, rkey):
            return _error(400, "InvalidRequest", f"Invalid record key for {POST}: {rkey}")
        uri = f"at://{self.us['did']}/{POST}/{rkey}"
        if uri in self.posts:
            # What the reference PDS answers today for a key already taken (atproto#3718).
            return _error(500, "InternalServerError", "Internal Server Error")
        self._clock += timedelta(seconds=1)
        view = self._store(self.us, uri, record)
        if self.lose_next_answer:
            self.lose_next_answer = False  # written, but the answer never arrives
            return _error(502, "UpstreamFailure", "Bad Gateway")
        return web.json_response({"uri": uri, "cid": view["cid"], "validationStatus": "valid"})

    async def _get_record(self, request: web.Request) -> web.Response:
        q = request.query
        uri = f"at://{q['repo']}/{q['collection']}/{q['rkey']}"
        view = self.posts.get(uri)
        if view is None:
            return _error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return web.json_response({"uri": uri, "cid": view["cid"], "value": view["record"]})

    async def _resolve_handle(self, request: web.Request) -> web.Response:
        account = self.accounts.get(request.query.get("handle", ""))
        if account is None:
            return _error(400, "InvalidRequest", "Unable to resolve handle")
        return web.json_response({"did": account["did"]})

    async def _list_records(self, request: web.Request) -> web.Response:
        ours = [v for v in self.posts.values() if v["author"]["did"] == request.query["repo"]]
        ours.sort(key=lambda v: v["uri"], reverse=True)  # newest rkey first
        limit = int(request.query.get("limit", 50))
        return web.json_response(
            {
                "records": [
                    {"uri": v["uri"], "cid": v["cid"], "value": v["record"]} for v in ours[:limit]
                ]
            }
        )

    async def _convo_for_members(self, request: web.Request) -> web.Response:
        members = sorted(set(request.query.getall("members")) | {self.us["did"]})
        convo_id = "convo-" + hashlib.sha256("|".join(members).encode()).hexdigest()[:10]
        convo = self.convos.setdefault(convo_id, {"members": members, "messages": []})
        by_did = {a["did"]: a for a in self.accounts.values()}
        return web.json_response(
            {
                "convo": {
                    "id": convo_id,
                    "rev": str(len(convo["messages"])),
                    "muted": False,
                    "unreadCount": 0,
                    "members": [
                        {"did": d, "handle": by_did[d]["handle"] if d in by_did else "unknown.test"}
                        for d in members
                    ],
                }
            }
        )

    async def _send_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.sent_messages.append(body)
        convo = self.convos.get(body.get("convoId"))
        if convo is None:
            return _error(400, "InvalidConvo", "Convo not found")
        self._clock += timedelta(seconds=1)
        message = {
            "id": f"msg-{len(self.sent_messages)}",
            "rev": str(len(convo["messages"]) + 1),
            "text": body["message"]["text"],
            "sender": {"did": self.us["did"]},
            "sentAt": _iso(self._clock),
        }
        convo["messages"].append(message)
        return web.json_response(message)

    async def _get_messages(self, request: web.Request) -> web.Response:
        convo = self.convos[request.query["convoId"]]
        return web.json_response({"messages": list(reversed(convo["messages"]))})


_CHECKED = {
    "app.bsky.notification.listNotifications": ("app.bsky.notification.listNotifications",),
    "app.bsky.feed.searchPosts": ("app.bsky.feed.searchPosts",),
    "com.atproto.repo.createRecord": ("com.atproto.repo.createRecord",),
    "com.atproto.server.createSession": ("com.atproto.server.createSession",),
    "com.atproto.server.refreshSession": ("com.atproto.server.refreshSession",),
    "chat.bsky.convo.getConvoForMembers": ("chat.bsky.convo.getConvoForMembers",),
    "chat.bsky.convo.sendMessage": ("chat.bsky.convo.sendMessage",),
    "chat.bsky.convo.getMessages": ("chat.bsky.convo.getMessages",),
}


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def _facets(text: str, accounts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Mention and tag facets with UTF-8 byte offsets, as the official clients write them."""
    facets = []
    for m in re.finditer(r"(?<!\w)([@#])([\w.\-]+\w)", text):
        start = len(text[: m.start()].encode("utf-8"))
        end = start + len(m.group(0).encode("utf-8"))
        index = {"byteStart": start, "byteEnd": end}
        if m.group(1) == "@" and m.group(2) in accounts:
            feature = {
                "$type": "app.bsky.richtext.facet#mention",
                "did": accounts[m.group(2)]["did"],
            }
        elif m.group(1) == "#":
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": m.group(2)}
        else:
            continue
        facets.append({"index": index, "features": [feature]})
    return facets
