"""Decide whether a post mentions the brand, and how.

A post mentions us when it is a DM to us, tags one of our accounts, uses one
of our hashtags, or writes one of our names. A post that does none of these
but answers or quotes another post may still be ours: when that post is in a
conversation we hold, it joins that conversation whatever its text (the
customer adding to their own complaint, someone answering in their thread).
Listening cannot know that (it sees no database): it marks such a post
`thread` only, and ingest keeps it only if it lands in a stored thread. Posts by our own accounts are
recognised as ours (stored, never queued). Excluded accounts are dropped;
excluded phrases drop a post only when our name is all that matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.model import InboundPost

from .frozen import builder
from .rules import ANY_PLATFORM, ListeningRules
from .text import fold

# "@name", "@name@server" or "@name.domain" not glued to a word before it. The lookbehind
# sits after the literal '@' so the regex engine can skip quickly to each '@'.
TAG = re.compile(r"@(?<![\w@]@)([\w][\w.@-]*)")
HASHTAG = re.compile(r"#(?<![\w#&]#)(\w+)")
# The host of a link: "https://www.primevideo.com/…", "www.acme-shop.de".
LINK_HOST = re.compile(r"(?:https?://|(?<![\w.])www\.)([\w.-]+)")

# Strongest first: someone writing to us privately, then tagging us, then using our tag, then our name.
STRENGTH = ("direct", "tagged", "hashtag", "name")
# Matched by nothing but where it sits: a reply to (or quote of) a post, kept if that post is ours.
THREAD = "thread"


@dataclass(frozen=True, slots=True)
class Match:
    """How a post mentioned the brand."""

    how: tuple[str, ...]  # every kind that applies, strongest first: direct, tagged, hashtag, name
    terms: tuple[
        str, ...
    ]  # what matched, as written in the rules: "@acme@social.example", "#acmefail", "Acme"
    ours: bool = False  # written by one of the brand's own accounts: never queued

    @property
    def strongest(self) -> str | None:
        """The strongest way the brand was mentioned, or None for our own post that mentions nothing."""
        return self.how[0] if self.how else None


_new_match = builder(Match)  # one per matched post; see frozen.builder


def _handle(handle: str) -> str:
    return fold(handle.lstrip("@"))


def is_ours(rules: ListeningRules, post: InboundPost, author: str | None = None) -> bool:
    """Whether one of the brand's own accounts wrote the post."""
    own = rules.own_handles.get(post.platform)
    return own is not None and bool(own) and (author or _handle(post.author.handle)) in own


def is_excluded_account(
    rules: ListeningRules, post: InboundPost, author: str | None = None
) -> bool:
    """Whether the author is on the exclusion list, for this platform or any."""
    excluded = rules.excluded_handles
    if not excluded:
        return False
    handle = author or _handle(post.author.handle)
    return handle in excluded.get(post.platform, ()) or handle in excluded.get(ANY_PLATFORM, ())


def _names_a_tag(rules: ListeningRules, tag: str, mode: str) -> bool:
    """Whether a tag (folded, without '@'/'#') is one of our names under `mode`."""
    key = tag.replace("_", "")
    if mode == "exact":
        return key in rules.name_tag_keys
    if mode == "prefix":
        return key.startswith(rules.name_tag_keys)
    return False


def match_folded(rules: ListeningRules, post: InboundPost, folded: str) -> Match | None:
    """`match` for a caller that already folded the post's text (see text.fold)."""
    author = _handle(post.author.handle)
    own = rules.own_handles.get(post.platform)
    ours = (
        own is not None and bool(own) and author in own
    )  # is_ours, with the lookup shared with the tags below
    if not ours and is_excluded_account(rules, post, author):
        return None
    how: list[str] = []
    terms: list[str] = []
    if post.is_direct:
        how.append("direct")

    tagged: list[str] = []
    if own:
        # Tags the platform reported, then tags written in the text.
        for handle in post.mentioned_handles:
            label = own.get(_handle(handle))
            if label is not None and label not in tagged:
                tagged.append(label)
        if "@" in folded:
            for m in TAG.finditer(folded):
                # A sentence may end right after a handle: "thanks @acme."
                label = own.get(m.group(1).rstrip(".-@"))
                if label is not None and label not in tagged:
                    tagged.append(label)
    if tagged:
        how.append("tagged")
        terms.extend(tagged)

    # Our name as a bare handle we don't own ("@Acme" where we are
    # acme.bsky.social): someone naming us, if the brand counts it. A handle
    # with a server or domain ("@acme@elsewhere.example") is someone else's.
    named_tags: list[str] = []
    if rules.name_handles != "off" and "@" in folded:
        for m in TAG.finditer(folded):
            handle = m.group(1).rstrip(".-@")
            if "@" in handle or "." in handle or (own and handle in own):
                continue
            label = "@" + handle
            if label not in named_tags and _names_a_tag(rules, handle, rules.name_handles):
                named_tags.append(label)

    # Our name as the start of a link's host ("primevideo.com" for Prime,
    # "acme-shop.de"): a post sharing one of our pages is about us. The
    # plain name before a dot ("acme.com") is already a name match.
    if rules.name_links != "off" and ("://" in folded or "www." in folded):
        for m in LINK_HOST.finditer(folded):
            host = m.group(1).strip(".-")
            labels = host.split(".")
            if labels and labels[0] == "www":
                labels = labels[1:]
            for label in labels[:-1]:  # not the top-level domain
                if host not in named_tags and _names_a_tag(
                    rules, label.replace("-", ""), rules.name_links
                ):
                    named_tags.append(host)

    hashtags: list[str] = []
    for tag in post.hashtags:
        label = rules.hashtag_labels.get(fold(tag.lstrip("#")))
        if label is not None and label not in hashtags:
            hashtags.append(label)
    if "#" in folded:
        for m in HASHTAG.finditer(folded):
            label = rules.hashtag_labels.get(m.group(1))
            if label is None and _names_a_tag(rules, m.group(1), rules.name_hashtags):
                label = "#" + m.group(1)  # "#acmefail" not listed, but our name
            if label is not None and label not in hashtags:
                hashtags.append(label)
    if hashtags:
        how.append("hashtag")
        terms.extend(hashtags)

    names = (rules.name_terms.found(folded) if rules.name_terms else []) + named_tags
    if names:
        how.append("name")
        terms.extend(names)

    if ours:
        return _new_match(tuple(how), tuple(terms), True)
    if not how:
        return None
    if (
        how == ["name"]
        and rules.exclude_phrase_terms is not None
        and rules.exclude_phrase_terms.search(folded)
    ):
        return None
    return _new_match(tuple(how), tuple(terms), False)


def match(rules: ListeningRules, post: InboundPost) -> Match | None:
    """How `post` mentions the brand, or None if it doesn't (or is excluded).

    Our own posts always come back, with `ours=True`, so ingest can store them
    in their thread without queueing them.
    """
    return match_folded(rules, post, fold(post.text))


def answers_thread(rules: ListeningRules, post: InboundPost) -> Match | None:
    """For a post `match` found not about us: a `thread`-only match when it
    answers or quotes another post (ingest keeps it only if that post is in a
    conversation we hold), else None. Excluded accounts stay out either way."""
    if not (post.in_reply_to or post.quote_of) or is_excluded_account(rules, post):
        return None
    return _new_match((THREAD,), (), False)


def only_by_thread(how: tuple[str, ...] | list[str]) -> bool:
    """Whether a post was kept only for where it sits (see `answers_thread`)."""
    return len(how) == 1 and how[0] == THREAD
