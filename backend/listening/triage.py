"""Give a mention its priority, P1 (drop everything) to P4 (when there is time).

Points come from rules/triage.yaml: how negative it is, how many people the
author reaches, how the brand was mentioned, urgent words (refund,
Kündigung, lawyer…) and flags from the privacy and conduct checks. Every
point comes with a reason the operator can read next to the priority.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from backend.i18n import Message, as_text, say

from .frozen import builder
from .rules import PRIORITIES, TriageRules


@dataclass(frozen=True, slots=True)
class Triage:
    """A priority and why it was given."""

    priority: str  # "P1".."P4"
    score: int
    # "negative (-0.72)", "reach 48k followers", "urgent word: Kündigung", in any language
    reasons: tuple[Message, ...]


_new_triage = builder(Triage)  # one per mention; see frozen.builder
# The reason shown for each way the brand was mentioned.
MENTION_REASONS = {
    "direct": say("reason.direct", "direct message"),
    "tagged": say("reason.tagged", "tagged us"),
    "hashtag": say("reason.hashtag", "used our hashtag"),
    "name": say("reason.name", "named us"),
}


def followers_text(count: int) -> str:
    """A follower count the way people say it: 950, 48k, 1.3M."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    if count >= 10_000:
        return f"{count // 1000}k"
    if count >= 1000:
        return f"{count / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return str(count)


def urgent_words(rules: TriageRules, folded: str) -> list[str]:
    """Urgent words found in a folded text (see text.fold), as the rules write them."""
    if rules.urgent_terms is None:
        return []
    return [w.rstrip("*").rstrip() for w in rules.urgent_terms.found(folded)]


# The kinds of personal data the privacy check finds (backend/checks/privacy.py), by code.
PERSONAL_DATA_TEXTS = {
    "iban": say("privacy.type.iban", "IBAN"),
    "card": say("privacy.type.card", "payment card number"),
    "email": say("privacy.type.email", "e-mail address"),
    "phone": say("privacy.type.phone", "phone number"),
    "service_number": say("privacy.type.service_number", "service or toll-free number"),
}

# The codes a flag's detail carries, in the reader's language ("Drohung … (hoch)"); a code
# not listed here (a number name a brand configured) is shown as written.
DETAIL_TEXTS = {
    "high": say("flag.severity.high", "high"),
    "medium": say("flag.severity.medium", "medium"),
    "low": say("flag.severity.low", "low"),
    "possible": say("flag.severity.possible", "possible"),
    **PERSONAL_DATA_TEXTS,
}


def _flag_reason(label: Message, flag: Mapping[str, Any]) -> Message:
    detail = flag.get("detail")
    if isinstance(detail, dict):
        for key in ("severity", "kind", "type"):
            code = detail.get(key)
            if code:
                shown = DETAIL_TEXTS.get(code, code) if isinstance(code, str) else code
                return say("reason.flag_detail", "{label} ({detail})", label=label, detail=shown)
    return label


def priority_for(rules: TriageRules, score: int) -> str:
    """The priority a score earns under the rules' thresholds."""
    for p in PRIORITIES[:3]:
        if p in rules.thresholds and score >= rules.thresholds[p]:
            return p
    return "P4"


def triage(
    rules: TriageRules,
    *,
    sentiment: float | None,
    followers: int,
    how: Iterable[str],
    urgent: Iterable[str] = (),
    flags: Iterable[Mapping[str, Any]] = (),
) -> Triage:
    """Score one mention and give its priority with the reasons for it.

    `how` is Match.how, `urgent` the urgent words found (see `urgent_words`),
    `flags` the privacy/conduct flags as {"check": ..., "detail": {...}}.
    """
    score = 0
    reasons: list[Message] = []

    if sentiment is not None:
        for band in rules.sentiment:
            if sentiment < band.below:
                score += band.points
                # Rounded as shown: the same reason for the same score (cached, see encode).
                reasons.append(
                    say(
                        "reason.sentiment",
                        "{label} ({score:+.2f})",
                        label=band.label,
                        score=round(sentiment, 2),
                    )
                )
                break

    for reach in rules.reach:
        if followers >= reach.at_least:
            score += reach.points
            reasons.append(
                say(
                    "reason.reach",
                    "reach {followers} followers",
                    followers=followers_text(followers),
                )
            )
            break

    for kind in how:
        points = rules.mentioned.get(kind, 0)
        if points:
            score += points
            reasons.append(MENTION_REASONS.get(kind) or as_text(kind))

    found = list(dict.fromkeys(urgent))
    if found:
        score += rules.urgent_points
        words = ", ".join(found)
        reasons.append(
            say("reason.urgent_word", "urgent word: {words}", words=words)
            if len(found) == 1
            else say("reason.urgent_words", "urgent words: {words}", words=words)
        )

    seen_checks: set[str] = set()
    for flag in flags:
        check = str(flag.get("check", ""))
        rule = rules.flags.get(check)
        if check in seen_checks:
            continue
        seen_checks.add(check)
        if rule is None:
            unknown = say("reason.flag", "flag: {check}", check=check.replace("_", " "))
            reasons.append(_flag_reason(unknown, flag))
            continue
        score += rule.points
        reasons.append(_flag_reason(rule.label, flag))

    return _new_triage(priority_for(rules, score), score, tuple(reasons))
