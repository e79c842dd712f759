"""Canned replies: a template sent unedited, or a near-copy of a recent reply.

Similarity is difflib's ratio on normalised word sequences (lower case; no
@handles, links, numbers, template placeholders or the customer's name), so
swapping the name or the order number does not make a copy look new.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

from backend.i18n import Message, say

from .finding import ADVISORY, Finding


@dataclass(frozen=True)
class CannedRule:
    """Thresholds and wording from rules/tone.yaml `canned`."""

    template_similarity: float
    recent_similarity: float
    min_words: int
    template_message: Message
    template_suggestion: Message
    recent_message: Message
    recent_suggestion: Message
    stock_message: Message = say(
        "canned.stock_message", "Stock apology — customers read it as copy-paste."
    )
    stock_suggestion: Message = say(
        "canned.stock_suggestion", "Say sorry for what actually happened to this customer."
    )
    # language -> one pattern for the stock phrases (canned wherever they appear)
    stock: dict[str, re.Pattern[str]] = field(default_factory=dict)


_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w[\w.]*|\{[^}]*\}|\d+")
_TOKEN = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=8192)
def words(text: str) -> tuple[str, ...]:
    """The normalised words of a reply (cached: recent replies are compared again and again)."""
    return tuple(_TOKEN.findall(_NOISE.sub(" ", text.lower())))


@lru_cache(maxsize=8192)
def word_set(text: str) -> frozenset[str]:
    """The distinct normalised words of a reply."""
    return frozenset(words(text))


def similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """1.0 for the same words in the same order, 0.0 for nothing in common."""
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _best(
    draft: tuple[str, ...], others: Sequence[str], threshold: float, drop: frozenset[str]
) -> tuple[float, str] | None:
    best: tuple[float, str] | None = None
    size = len(draft)
    for other in others:
        other_words = words(other)
        other_size = (
            len(other_words) - sum(other_words.count(w) for w in drop) if drop else len(other_words)
        )
        if not other_size:
            continue
        # Cheap upper bounds first: only draft words that occur in the other
        # reply can match. Most replies are nowhere near, and this keeps 200
        # recent replies well under 2 ms.
        shared = sum(map(word_set(other).__contains__, draft))
        if 2 * min(shared, other_size) / (size + other_size) < threshold:
            continue
        if drop:
            other_words = tuple(w for w in other_words if w not in drop)
        matcher = SequenceMatcher(None, draft, other_words, autojunk=False)
        score = matcher.ratio()
        if score >= threshold and (best is None or score > best[0]):
            best = (score, other)
    return best


def find_canned(
    rule: CannedRule,
    text: str,
    *,
    templates: Sequence[str] = (),
    recent_replies: Sequence[str] = (),
    customer_name: str | None = None,
    languages: tuple[str, ...] = ("en", "de"),
) -> Finding | None:
    """A finding when `text` is a template sent unedited, nearly repeats a
    recent reply, or uses a stock phrase ("We apologise for any
    inconvenience"); the template takes precedence (it says what to fix)."""
    drop = frozenset(words(customer_name)) if customer_name else frozenset()
    draft = tuple(w for w in words(text) if w not in drop)
    stock = _stock(rule, text, languages)
    if len(draft) < rule.min_words:
        return stock
    hit = _best(draft, templates, rule.template_similarity, drop)
    if hit:
        return Finding(
            "canned",
            ADVISORY,
            rule.template_message,
            rule.template_suggestion,
            None,
            None,
            {"source": "template", "resembles": _short(hit[1]), "similarity": round(hit[0], 2)},
        )
    hit = _best(draft, recent_replies, rule.recent_similarity, drop)
    if hit:
        return Finding(
            "canned",
            ADVISORY,
            rule.recent_message,
            rule.recent_suggestion,
            None,
            None,
            {"source": "recent", "resembles": _short(hit[1]), "similarity": round(hit[0], 2)},
        )
    return stock


def _stock(rule: CannedRule, text: str, languages: tuple[str, ...]) -> Finding | None:
    for lang in languages:
        pattern = rule.stock.get(lang)
        m = pattern.search(text) if pattern is not None else None
        if m:
            return Finding(
                "canned",
                ADVISORY,
                rule.stock_message,
                rule.stock_suggestion,
                m.start(),
                m.end(),
                {"source": "stock", "phrase": m.group(), "language": lang},
            )
    return None


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
