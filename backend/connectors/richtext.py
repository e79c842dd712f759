"""Bluesky rich text: links, hashtags and mentions as app.bsky.richtext.facet.

A Bluesky post is plain text; what makes a link clickable, a hashtag
searchable and a mention notify someone is a facet: a UTF-8 byte range of
the text plus a feature (#link with the URI, #tag without the '#', #mention
with the DID). Without facets a customer's handle in our text is inert.
Detection follows what the official client does (packages/api RichText):
http(s) links, `#tag` after whitespace or at the start, `@handle` with a dot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FACET = "app.bsky.richtext.facet"
TAG_MAX = 64  # graphemes the lexicon allows in a tag

_LINK = re.compile(r"(?<![\w/])https?://[^\s<>\"]+")
_TAG = re.compile(r"(?:(?<=\s)|^)[#\uff03]([^\s#\uff03]+)")
_MENTION = re.compile(r"(?:(?<=[\s(])|^)@([a-zA-Z0-9.-]+\.[a-zA-Z0-9-]*[a-zA-Z0-9])")
_TRAILING = ".,;:!?)]}'\""


def _span(text: str, start: int, end: int) -> dict[str, int]:
    """Character offsets as the UTF-8 byte offsets facets use."""
    byte_start = len(text[:start].encode("utf-8"))
    return {"byteStart": byte_start, "byteEnd": byte_start + len(text[start:end].encode("utf-8"))}


def mentioned_handles(text: str) -> list[str]:
    """The @handles written in `text`, lower-cased, in order, each once."""
    return list(dict.fromkeys(m.group(1).lower() for m in _MENTION.finditer(text)))


def facets(text: str, dids: Mapping[str, str]) -> list[dict[str, Any]]:
    """Facets for `text`, in text order. `dids` maps lower-cased handles to DIDs;
    a mention whose handle is not there (unresolved) gets no facet."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    for m in _LINK.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        if url.count("(") > url.count(")") and m.group(0)[len(url) : len(url) + 1] == ")":
            url += ")"  # a link that ends in its own parenthesis: https://x/a_(b)
        found.append((m.start(), m.start() + len(url), {"$type": f"{FACET}#link", "uri": url}))
    for m in _TAG.finditer(text):
        tag = m.group(1).rstrip(_TRAILING)
        if not tag or tag.isdigit() or len(tag) > TAG_MAX:
            continue
        start = m.start(1) - 1
        found.append((start, m.start(1) + len(tag), {"$type": f"{FACET}#tag", "tag": tag}))
    for m in _MENTION.finditer(text):
        did = dids.get(m.group(1).lower())
        if did:
            found.append((m.start(1) - 1, m.end(1), {"$type": f"{FACET}#mention", "did": did}))
    found.sort(key=lambda f: f[0])
    out: list[dict[str, Any]] = []
    end = -1
    for start, stop, feature in found:
        if start < end:
            continue  # a '#' or '@' inside a link belongs to the link
        out.append({"index": _span(text, start, stop), "features": [feature]})
        end = stop
    return out
