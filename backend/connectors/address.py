"""Every public message addresses the customer, the platform's own way.

Mastodon notifies only the accounts a status mentions: a reply (or a DM) to
@jo that does not say `@jo` reaches nobody. So every status starts with the
customer's `acct` as Mastodon gives it (`jo` on our server, `jo@elsewhere.social`
on another) unless the operator already wrote it. Bluesky notifies the
author of the post a reply answers; anywhere else (a closing message with no
post to answer, an answer to someone else's post) the text starts with
`@handle`, which the connector turns into a mention facet (the customer's DID).

Pure functions: the outbox's connectors apply them when they publish, and the
backend and the console use them to show and count what will go out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MASTODON = "mastodon"
BLUESKY = "bluesky"

# What each platform accepts in one post, as it counts (see platform_length).
LIMITS = {MASTODON: 500, BLUESKY: 300}
MASTODON_URL_LENGTH = 23  # Mastodon counts every link as this long, whatever its length

_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'}]")
# @user@domain: Mastodon counts only "@user" (the domain is free).
_REMOTE_MENTION = re.compile(r"(?<![\w@/])(@[\w.-]*\w)@[\w.-]+\w", re.ASCII)


@dataclass(frozen=True, slots=True)
class Addressed:
    """A message as it goes out, and how the customer is addressed in it."""

    text: str  # the text the platform gets
    prefix: str  # what we put before the operator's words ("" when nothing)
    by_reply: bool  # Bluesky: the reply's refs notify the customer, no text needed
    length: int  # the text's length as the platform counts it
    limit: int | None  # the platform's limit (None: no known limit)

    @property
    def too_long(self) -> bool:
        return self.limit is not None and self.length > self.limit


def address_of(platform: str, handle: str) -> str:
    """The customer's address on the platform: "@jo", "@jo@elsewhere.social",
    "@jo.bsky.social"; "" on platforms where we know no way to address."""
    handle = handle.strip().lstrip("@")
    if platform in (MASTODON, BLUESKY) and handle:
        return "@" + handle
    return ""


# re's IGNORECASE takes the dotted and dotless i as an "i"; casefold keeps them apart.
_TURKISH_I = str.maketrans({"\u0130": "i", "\u0131": "i"})


def _fold(text: str) -> str:
    """Case folded, so that two texts IGNORECASE would match fold to the same."""
    return text.translate(_TURKISH_I).casefold()


def already_addressed(platform: str, handle: str, text: str) -> bool:
    """Whether `text` already mentions the customer (then we add nothing)."""
    address = address_of(platform, handle)
    if not address:
        return True
    # Most texts do not name the customer at all: say so without building their
    # pattern. Each customer's pattern is new to re's cache, and compiling it cost
    # about 0.5 ms a message in the outbox's event loop (bench/outbox.py). Exact:
    # _fold maps every pair of characters IGNORECASE matches to the same text
    # (checked over all of Unicode in tests/test_connector_address.py), so no
    # match is possible unless the folded address is in the folded text.
    if _fold(address) not in _fold(text):
        return False
    # Not inside a longer handle or a URL: "@jo" is not in "@jo@other.social",
    # "@joanna" or "https://x/@jo"; "thanks @jo." is.
    pattern = rf"(?<![\w@/]){re.escape(address)}(?![\w@]|[.-]\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def address(
    platform: str, handle: str, text: str, *, replies_to_customer: bool = False
) -> Addressed:
    """`text` as published to the customer `handle` on `platform`.

    `replies_to_customer`: the message is a reply to one of the customer's own
    posts (on Bluesky that alone notifies them)."""
    text = text.strip()
    by_reply = platform == BLUESKY and replies_to_customer
    prefix = ""
    if not by_reply and not already_addressed(platform, handle, text):
        prefix = address_of(platform, handle) + " "
    out = prefix + text
    return Addressed(out, prefix, by_reply, platform_length(platform, out), LIMITS.get(platform))


def platform_length(platform: str, text: str) -> int:
    """Length as the platform counts it against its limit: Mastodon counts a
    link as 23 and `@user@domain` as `@user`; Bluesky counts graphemes (here:
    characters that are not combining marks, joiners or variation selectors)."""
    if platform == MASTODON:
        text = _URL.sub("x" * MASTODON_URL_LENGTH, text)
        text = _REMOTE_MENTION.sub(r"\1", text)
    if text.isascii():
        return len(text)  # no combining marks, joiners or modifiers: one grapheme a character
    count, joined = 0, False
    for ch in text:
        if not joined and not _joins_previous(ch):
            count += 1
        joined = ch == "\u200d"  # zero-width joiner: the next character is part of this one
    return count


def _joins_previous(ch: str) -> bool:
    return (
        unicodedata.combining(ch) != 0
        or ch in "\u200d\ufe0e\ufe0f"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin tones modify the emoji before them
    )
