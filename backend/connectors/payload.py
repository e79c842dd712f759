"""What a stored post's platform payload says about its author and attachments.

Mentions keep the platform's own payload (`mentions.raw`); the console's
customer context reads the profile facts and media marks from there, so
nothing extra is fetched or stored while a crisis is ingested. Pure and
tolerant: a payload of another shape gives empty answers, never an error.
"""

from __future__ import annotations

import html
import re
from typing import Any

_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(br|/p)\s*/?>", re.IGNORECASE)

# Mastodon attachment types and Bluesky embed types, in the words a care operator uses.
_MASTODON_MEDIA = {"image": "image", "gifv": "GIF", "video": "video", "audio": "audio"}
_BLUESKY_EMBEDS = {
    "app.bsky.embed.images": "image",
    "app.bsky.embed.video": "video",
    "app.bsky.embed.external": "link",
    "app.bsky.embed.record": "quote",
}


def plain_text(markup: str) -> str:
    """Mastodon's HTML (a bio, a status) as one line of text."""
    text = _TAG.sub("", _BREAK.sub(" ", markup or ""))
    return " ".join(html.unescape(text).split())


def _status(raw: Any) -> dict[str, Any]:
    """The Mastodon status or Bluesky post inside a payload (notifications wrap it)."""
    if not isinstance(raw, dict):
        return {}
    for key in ("status", "post"):
        inner = raw.get(key)
        if isinstance(inner, dict):
            return inner
    return raw


def media_of(raw: Any) -> list[str]:
    """What is attached to the post: "image", "video", "link", ... one entry each."""
    post = _status(raw)
    found: list[str] = []
    attachments = post.get("media_attachments")
    if isinstance(attachments, list):
        for item in attachments:
            if isinstance(item, dict):
                found.append(_MASTODON_MEDIA.get(str(item.get("type")), "attachment"))
        if isinstance(post.get("card"), dict):
            found.append("link")
    for embed in (post.get("embed"), (post.get("record") or {}).get("embed")):
        if not isinstance(embed, dict):
            continue
        kind = str(embed.get("$type", "")).split("#")[0]
        if kind == "app.bsky.embed.images":
            images = embed.get("images")
            found += ["image"] * (len(images) if isinstance(images, list) and images else 1)
        elif kind in _BLUESKY_EMBEDS:
            found.append(_BLUESKY_EMBEDS[kind])
        elif kind == "app.bsky.embed.recordWithMedia":
            found += ["quote", "media"]
        if found:
            break  # the view and the record describe the same embed
    return found


def profile_of(raw: Any) -> dict[str, Any]:
    """The author's public profile facts the payload carries: bio, profile link, counts."""
    post = _status(raw)
    account = post.get("account") or post.get("author") or {}
    if not isinstance(account, dict):
        return {}
    out: dict[str, Any] = {}
    bio = account.get("note") or account.get("description")
    if isinstance(bio, str) and bio.strip():
        out["bio"] = plain_text(bio)[:500]
    url = account.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        out["profile_url"] = url
    for key, name in (("statuses_count", "posts"), ("followers_count", "followers")):
        value = account.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[name] = value
    created = account.get("created_at")
    if isinstance(created, str):
        out["account_since"] = created[:10]
    return out
