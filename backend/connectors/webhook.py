"""Pushed posts: POST /ingest/{source} for platforms that push rather than poll.

Authentication. The sender signs each request with the source's shared secret:

    X-Shiftdesk-Timestamp: 1764061200                 (Unix seconds, when it was sent)
    X-Shiftdesk-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

A request older or newer than `window_s` (300 s) is refused, so a captured
request cannot be replayed later; the signature is compared in constant time.

Body (Content-Type: application/json, UTF-8, no NUL bytes), either one post
or {"posts": [post, ...]}; a post is:

    {"id": "123",                            text, required: the platform's post id
     "author": {"id": "u1",                  text, required: stable author id
                "handle": "jo_k",            text, required (a leading @ is dropped)
                "display_name": "Jo",        text, optional
                "followers": 12},            whole number >= 0, optional
     "text": "…",                            text, required
     "created_at": "2026-11-25T09:00:00Z",   ISO 8601 with a timezone, required
     "url": "https://…",                     text, optional
     "in_reply_to": "122",                   text or null, optional
     "thread_root": "100",                   text or null, optional
     "is_direct": false,                     true/false, optional
     "language": "de",                       text or null, optional
     "mentions": ["acme"],                   list of text, optional
     "hashtags": ["acmefail"]}               list of text, optional

Other keys are kept in `raw` only. A request is accepted whole or not at all:
the first problem is reported as a WebhookError with the HTTP status to answer
(400 unreadable, 401 signature, 413 too large, 415 not JSON, 422 invalid field)
and a message naming the field, e.g. "posts[3].author.handle: expected text".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any

from backend.model import Author, InboundPost

TIMESTAMP_HEADER = "X-Shiftdesk-Timestamp"
SIGNATURE_HEADER = "X-Shiftdesk-Signature"
MAX_POSTS = 1000
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class WebhookError(Exception):
    """A refused webhook request: the HTTP status to answer and why."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


def sign(secret: bytes | str, timestamp: str | int, body: bytes) -> str:
    """The X-Shiftdesk-Signature value for a body sent at `timestamp`."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: bytes | str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: datetime,
    window_s: int = 300,
) -> None:
    """Raise WebhookError(401) unless the request is signed with `secret` and fresh.
    Messages say which header is missing, malformed, expired or wrong; never the secret."""
    if not timestamp_header:
        raise WebhookError(401, f"{TIMESTAMP_HEADER} header missing")
    if not signature_header:
        raise WebhookError(401, f"{SIGNATURE_HEADER} header missing")
    if not timestamp_header.strip().isdigit():
        raise WebhookError(401, f"{TIMESTAMP_HEADER}: expected Unix seconds")
    sent = int(timestamp_header.strip())
    skew = now.timestamp() - sent
    if abs(skew) > window_s:
        raise WebhookError(
            401,
            f"{TIMESTAMP_HEADER}: {abs(int(skew))} s {'old' if skew > 0 else 'in the future'},"
            f" outside the {window_s} s window",
        )
    if not re.fullmatch(r"sha256=[0-9a-fA-F]{64}", signature_header.strip()):
        raise WebhookError(401, f"{SIGNATURE_HEADER}: expected sha256=<64 hex digits>")
    expected = sign(secret, timestamp_header.strip(), body)
    if not hmac.compare_digest(
        expected.encode("ascii"), signature_header.strip().lower().encode("ascii")
    ):
        raise WebhookError(401, f"{SIGNATURE_HEADER}: does not match the body")


def parse(
    source: str, body: bytes, max_bytes: int, content_type: str | None = None
) -> list[InboundPost]:
    """The posts in a webhook body, all of them valid, or a WebhookError."""
    if not _SOURCE.fullmatch(source):
        raise WebhookError(400, "source: expected 1-32 lowercase letters, digits, - or _")
    if (
        content_type is not None
        and content_type.split(";")[0].strip().lower() != "application/json"
    ):
        raise WebhookError(
            415, f"Content-Type: expected application/json, got {content_type.split(';')[0]!r}"
        )
    if len(body) > max_bytes:
        raise WebhookError(413, f"body: {len(body)} bytes, more than the {max_bytes} allowed")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookError(400, f"body: not UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise WebhookError(400, f"body: contains a NUL byte at character {text.index(chr(0))}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WebhookError(
            400, f"body: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if isinstance(data, dict) and "posts" in data:
        items = data["posts"]
        if not isinstance(items, list):
            raise WebhookError(422, "posts: expected a list")
        if len(items) > MAX_POSTS:
            raise WebhookError(413, f"posts: {len(items)} posts, more than the {MAX_POSTS} allowed")
        paths = [f"posts[{i}]" for i in range(len(items))]
    elif isinstance(data, dict):
        items, paths = [data], ["post"]
    else:
        raise WebhookError(422, 'body: expected one post or {"posts": [...]}')
    posts = [_post(source, item, path) for item, path in zip(items, paths)]
    ids = [p.post_id for p in posts]
    for i, post_id in enumerate(ids):
        if post_id in ids[:i]:
            raise WebhookError(422, f"{paths[i]}.id: {post_id!r} appears twice in this request")
    return posts


def _post(source: str, item: Any, path: str) -> InboundPost:
    if not isinstance(item, dict):
        raise WebhookError(422, f"{path}: expected an object")
    author = item.get("author")
    if not isinstance(author, dict):
        raise WebhookError(422, f"{path}.author: expected an object")
    created = _text(item, "created_at", path)
    try:
        created_at = datetime.fromisoformat(created)
    except ValueError:
        raise WebhookError(422, f"{path}.created_at: expected an ISO 8601 time") from None
    if created_at.tzinfo is None:
        raise WebhookError(422, f"{path}.created_at: needs a timezone (e.g. Z or +01:00)")
    followers = author.get("followers", 0)
    if not isinstance(followers, int) or isinstance(followers, bool) or followers < 0:
        raise WebhookError(422, f"{path}.author.followers: expected a whole number >= 0")
    is_direct = item.get("is_direct", False)
    if not isinstance(is_direct, bool):
        raise WebhookError(422, f"{path}.is_direct: expected true or false")
    return InboundPost(
        platform=source,
        post_id=_text(item, "id", path),
        author=Author(
            platform_id=_text(author, "id", f"{path}.author"),
            handle=_text(author, "handle", f"{path}.author").lstrip("@"),
            display_name=_text(author, "display_name", f"{path}.author", required=False) or "",
            followers=followers,
        ),
        text=_text(item, "text", path, allow_empty=True),
        created_at=created_at,
        url=_text(item, "url", path, required=False) or "",
        in_reply_to=_optional_text(item, "in_reply_to", path),
        thread_root=_optional_text(item, "thread_root", path),
        is_direct=is_direct,
        language=_optional_text(item, "language", path),
        mentioned_handles=tuple(h.lstrip("@") for h in _texts(item, "mentions", path)),
        hashtags=tuple(t.lstrip("#") for t in _texts(item, "hashtags", path)),
        raw=item,
    )


def _text(
    obj: dict[str, Any], key: str, path: str, *, required: bool = True, allow_empty: bool = False
) -> str:
    """A text field ("" when an optional one is absent; see _optional_text for None)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise WebhookError(422, f"{path}.{key}: missing")
        return ""
    if not isinstance(value, str):
        raise WebhookError(422, f"{path}.{key}: expected text")
    if "\x00" in value:
        raise WebhookError(422, f"{path}.{key}: contains a NUL character")
    if required and not allow_empty and not value.strip():
        raise WebhookError(422, f"{path}.{key}: must not be empty")
    return value


def _optional_text(obj: dict[str, Any], key: str, path: str) -> str | None:
    """An optional text field, None when absent (a reference or a language: "" would mean one)."""
    return _text(obj, key, path, required=False) if obj.get(key) is not None else None


def _texts(obj: dict[str, Any], key: str, path: str) -> list[str]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise WebhookError(422, f"{path}.{key}: expected a list of text")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip() or "\x00" in v:
            raise WebhookError(422, f"{path}.{key}[{i}]: expected non-empty text")
    return value
