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
     "quote_of": "121",                      text or null, optional: the post it quotes
     "thread_root": "100",                   text or null, optional
     "is_direct": false,                     true/false, optional
     "language": "de",                       text or null, optional
     "mentions": ["acme"],                   list of text, optional
     "hashtags": ["acmefail"]}               list of text, optional

Other keys are kept in `raw` only, after the same checks (no NUL, no lone
surrogate, no NaN/Infinity, no integer of more than 20 digits, at most
RAW_DEPTH levels deep). Limits (LIMITS below): id, author.id, in_reply_to,
quote_of and thread_root 200 characters, handle 100, display_name 200, text 10,000, url
2,000, language 35, at most 100 mentions and 100 hashtags of 100 characters;
followers below 2**31; created_at between 2000-01-01 and 2100-01-01.

Problems with the request as a whole (400 unreadable, 401 signature, 413 too
large, 415 not JSON, 422 not a post or a list of posts) raise a WebhookError
with the HTTP status to answer. A batch is then checked post by post
(`parse_batch`): each bad post is refused with its index and a reason naming
the field, e.g. "posts[3].author.handle: expected text", and the good ones go
on to be stored; `parse` keeps the all-or-nothing answer for callers that
want it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backend.jsonsafe import has_surrogate, loads, unstorable
from backend.model import Author, InboundPost

TIMESTAMP_HEADER = "X-Shiftdesk-Timestamp"
SIGNATURE_HEADER = "X-Shiftdesk-Signature"
MAX_POSTS = 1000
RAW_DEPTH = 16  # levels of nesting a post may have (Mastodon's statuses have 4)
# Characters each text field may hold; what a platform sends is far below these.
LIMITS = {
    "id": 200,
    "author.id": 200,
    "author.handle": 100,
    "author.display_name": 200,
    "text": 10_000,
    "url": 2_000,
    "in_reply_to": 200,
    "quote_of": 200,
    "thread_root": 200,
    "language": 35,
    "created_at": 64,
    "mentions": 100,  # per entry; and at most MAX_LIST entries
    "hashtags": 100,
}
MAX_LIST = 100
MAX_FOLLOWERS = 2**31 - 1  # the followers column is a PostgreSQL integer
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP_DIGITS = 12  # Unix seconds until the year 33658: longer is not a time
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# ASCII only, spelled out: \d and str.isdigit also take superscript, Arabic-Indic and
# full-width digits, which int() then accepts or refuses in ways that were a 500.
_TIMESTAMP = re.compile(rf"[0-9]{{1,{MAX_TIMESTAMP_DIGITS}}}")
_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")


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


def check_headers(
    timestamp_header: str | None,
    signature_header: str | None,
    now: datetime,
    window_s: int = 300,
) -> tuple[str, str]:
    """The timestamp and signature, checked for form and freshness before the body is read;
    WebhookError(401) naming the header otherwise. Returns them stripped, for `check_body`."""
    if not timestamp_header:
        raise WebhookError(401, f"{TIMESTAMP_HEADER} header missing")
    if not signature_header:
        raise WebhookError(401, f"{SIGNATURE_HEADER} header missing")
    stamp, signature = timestamp_header.strip(" \t"), signature_header.strip(" \t")
    if not _TIMESTAMP.fullmatch(stamp):
        raise WebhookError(
            401,
            f"{TIMESTAMP_HEADER}: expected Unix seconds (1-{MAX_TIMESTAMP_DIGITS} ASCII digits)",
        )
    skew = now.timestamp() - int(stamp)
    if abs(skew) > window_s:
        raise WebhookError(
            401,
            f"{TIMESTAMP_HEADER}: {abs(int(skew))} s {'old' if skew > 0 else 'in the future'},"
            f" outside the {window_s} s window",
        )
    if not _SIGNATURE.fullmatch(signature):
        raise WebhookError(401, f"{SIGNATURE_HEADER}: expected sha256=<64 hex digits>")
    return stamp, signature


def check_body(secret: bytes | str, stamp: str, signature: str, body: bytes) -> None:
    """WebhookError(401) unless `signature` (as check_headers returned it) signs `body`."""
    expected = sign(secret, stamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("ascii")):
        raise WebhookError(401, f"{SIGNATURE_HEADER}: does not match the body")


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
    stamp, signature = check_headers(timestamp_header, signature_header, now, window_s)
    check_body(secret, stamp, signature, body)


def check_content_type(content_type: str | None) -> None:
    """WebhookError(415) unless the body is declared JSON (None: not declared, as in tests)."""
    if (
        content_type is not None
        and content_type.split(";")[0].strip().lower() != "application/json"
    ):
        raise WebhookError(
            415, f"Content-Type: expected application/json, got {content_type.split(';')[0]!r:.60}"
        )


def check_source(source: str) -> None:
    if not _SOURCE.fullmatch(source):
        raise WebhookError(400, "source: expected 1-32 lowercase letters, digits, - or _")


@dataclass(frozen=True)
class Refused:
    """One post of a batch that was not accepted: where it is and why."""

    index: int
    reason: str  # names the field, e.g. "posts[3].author.handle: expected text"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "error": self.reason}


@dataclass
class Batch:
    """A webhook body checked post by post: the posts to store and the ones refused."""

    posts: list[InboundPost] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def parse(
    source: str, body: bytes, max_bytes: int, content_type: str | None = None
) -> list[InboundPost]:
    """The posts in a webhook body, all of them valid, or a WebhookError (the first problem)."""
    batch = parse_batch(source, body, max_bytes, content_type)
    if batch.refused:
        raise WebhookError(422, batch.refused[0].reason)
    return batch.posts


def parse_batch(source: str, body: bytes, max_bytes: int, content_type: str | None = None) -> Batch:
    """The posts in a webhook body, checked one by one; a WebhookError when the body
    as a whole is unreadable, too large or not a post or a list of posts."""
    check_source(source)
    check_content_type(content_type)
    if len(body) > max_bytes:
        raise WebhookError(413, f"body: {len(body)} bytes, more than the {max_bytes} allowed")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookError(400, f"body: not UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise WebhookError(400, f"body: contains a NUL byte at character {text.index(chr(0))}")
    try:
        data = loads(text)
    except ValueError as exc:
        raise WebhookError(400, f"body: not JSON ({str(exc)[:200]})") from None
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
    batch = Batch()
    seen: set[str] = set()
    for i, (item, path) in enumerate(zip(items, paths)):
        try:
            post = _post(source, item, path)
            if post.post_id in seen:
                raise WebhookError(
                    422, f"{path}.id: {post.post_id!r:.60} appears twice in this request"
                )
        except WebhookError as exc:
            batch.refused.append(Refused(i, exc.message))
            continue
        seen.add(post.post_id)
        batch.posts.append(post)
    return batch


def _post(source: str, item: Any, path: str) -> InboundPost:
    if not isinstance(item, dict):
        raise WebhookError(422, f"{path}: expected an object")
    # The whole post is kept as `raw` (jsonb): every field, checked or not, must be storable.
    problem = unstorable(item, path, RAW_DEPTH)
    if problem is not None:
        raise WebhookError(422, problem)
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
    if not EARLIEST <= created_at < LATEST:
        raise WebhookError(422, f"{path}.created_at: {created[:40]!r} is not between 2000 and 2100")
    followers = author.get("followers", 0)
    if (
        not isinstance(followers, int)
        or isinstance(followers, bool)
        or not 0 <= followers <= MAX_FOLLOWERS
    ):
        raise WebhookError(
            422, f"{path}.author.followers: expected a whole number from 0 to {MAX_FOLLOWERS}"
        )
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
        quote_of=_optional_text(item, "quote_of", path),
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
    if has_surrogate(value):
        raise WebhookError(422, f"{path}.{key}: contains a lone UTF-16 surrogate")
    if required and not allow_empty and not value.strip():
        raise WebhookError(422, f"{path}.{key}: must not be empty")
    limit = LIMITS[_field(path, key)]
    if len(value) > limit:
        raise WebhookError(422, f"{path}.{key}: {len(value)} characters, more than {limit}")
    return value


def _field(path: str, key: str) -> str:
    """The LIMITS key of a field: 'author.handle' for posts[3].author.handle."""
    return f"author.{key}" if path.endswith(".author") else key


def _optional_text(obj: dict[str, Any], key: str, path: str) -> str | None:
    """An optional text field, None when absent (a reference or a language: "" would mean one)."""
    return _text(obj, key, path, required=False) if obj.get(key) is not None else None


def _texts(obj: dict[str, Any], key: str, path: str) -> list[str]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise WebhookError(422, f"{path}.{key}: expected a list of text")
    if len(value) > MAX_LIST:
        raise WebhookError(422, f"{path}.{key}: {len(value)} entries, more than {MAX_LIST}")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip() or "\x00" in v or has_surrogate(v):
            raise WebhookError(422, f"{path}.{key}[{i}]: expected non-empty text")
        if len(v) > LIMITS[key]:
            raise WebhookError(
                422, f"{path}.{key}[{i}]: {len(v)} characters, more than {LIMITS[key]}"
            )
    return value
