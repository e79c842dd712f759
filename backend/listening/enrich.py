"""Everything ingest records about a mention besides the post itself.

Language, sentiment, reach, privacy/conduct flags and the priority with its
reasons. The privacy and conduct checks live elsewhere (backend/checks);
they come in as a `flagger` callable so this stays pure and quick to test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.i18n import Message
from backend.model import InboundPost

from . import language as lang
from . import sentiment as senti
from .frozen import builder
from .matching import Match, answers_thread, match_folded
from .rules import Rules, load_rules
from .text import lower, strip_accents
from .triage import triage, urgent_words

# (post, language) -> flags like {"check": "personal_data", "detail": {...}}; the post
# tells whether it was public or direct, which decides what counts as a leak.
Flagger = Callable[[InboundPost, "str | None"], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Enrichment:
    """What we worked out about one mention."""

    language: str | None  # "en", "de", a platform-declared code, or None when unsure
    sentiment: float | None  # -1..1; None when the language has no lexicon
    reach: int  # the author's followers
    flags: tuple[dict[str, Any], ...]
    priority: str  # "P1".."P4"
    score: int
    reasons: tuple[Message, ...]  # why it got its priority, for the operator


@dataclass(frozen=True, slots=True)
class ProcessedMention:
    """A post that mentions the brand, with how it matched and what we worked out."""

    post: InboundPost
    match: Match
    enrichment: Enrichment | None  # None for our own posts, which are never queued

    @property
    def queued(self) -> bool:
        """Whether the mention goes in the operators' queue (our own posts don't)."""
        return not self.match.ours


# Built once per post each; see frozen.builder for why not through __init__.
_new_enrichment = builder(Enrichment)
_new_mention = builder(ProcessedMention)


def _enrich(
    rules: Rules,
    post: InboundPost,
    match: Match,
    lowered: str,
    folded: str,
    flagger: Flagger | None,
) -> Enrichment:
    tokens = senti.words(lowered)
    language = lang.detect(tokens, lowered, rules.listening.languages, post.language)
    lex = rules.triage.lexicons.get(language) if language else None
    polarity = senti.polarity(lex, tokens, lowered.count("!")) if lex is not None else None
    flags = tuple(flagger(post, language)) if flagger is not None else ()
    followers = post.author.followers
    result = triage(
        rules.triage,
        sentiment=polarity,
        followers=followers,
        how=match.how,
        urgent=urgent_words(rules.triage, folded),
        flags=flags,
    )
    return _new_enrichment(
        language, polarity, followers, flags, result.priority, result.score, result.reasons
    )


def enrich(
    rules: Rules, post: InboundPost, match: Match, flagger: Flagger | None = None
) -> Enrichment:
    """Language, sentiment, reach, flags and priority (with reasons) for a matched post."""
    lowered = lower(post.text)
    return _enrich(rules, post, match, lowered, strip_accents(lowered), flagger)


class Listener:
    """The whole listening step for ingest: match, then enrich, with rules compiled once."""

    def __init__(self, rules: Rules, flagger: Flagger | None = None):
        self.rules = rules
        self.flagger = flagger

    @classmethod
    def from_dir(cls, rules_dir: str | Path, flagger: Flagger | None = None) -> Listener:
        """Load rules/listening.yaml and rules/triage.yaml; raises FileErrors when they are wrong."""
        return cls(load_rules(rules_dir), flagger)

    def process(self, post: InboundPost) -> ProcessedMention | None:
        """Match and enrich one post; None when it isn't about us (or is excluded)."""
        lowered = lower(post.text)
        folded = strip_accents(lowered)
        found = match_folded(self.rules.listening, post, folded)
        if found is None:
            # Not about us by its words; perhaps by where it sits (ingest decides).
            found = answers_thread(self.rules.listening, post)
        if found is None:
            return None
        if found.ours:
            return _new_mention(post, found, None)
        return _new_mention(
            post, found, _enrich(self.rules, post, found, lowered, folded, self.flagger)
        )
