"""Tone checks for outbound replies: defensive, negative, blame, shouting,
missing apology, missing name. Advisories only: the operator may send anyway."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from backend.i18n import Message, Text, Wording, say, with_params
from backend.listening import sentiment as _sentiment
from backend.listening.language import detect_text
from backend.listening.text import lower

from .finding import ADVISORY, Finding, why
from .phrases import PhraseCheck


@dataclass(frozen=True)
class ShoutingRule:
    """When a reply reads as shouting (rules/tone.yaml `shouting`)."""

    message: Message
    suggestion: Message
    upper_share: float
    min_letters: int
    caps_words_in_row: int
    exclamations_in_row: int
    not_shouting: frozenset[str]
    acronym_letters: int = 0


@dataclass(frozen=True)
class UpsetRule:
    """When a customer's post reads as upset (rules/tone.yaml `apology.upset`)."""

    sentiment_at_most: float = -0.25
    # language -> words that name the fault, not a feeling ("error", "lost")
    fault_words: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ToneRules:
    """The compiled contents of rules/tone.yaml (apart from `canned`)."""

    phrase_checks: tuple[PhraseCheck, ...]  # defensive, negative, blame
    shouting: ShoutingRule
    apology: PhraseCheck
    name_message: Message
    name_suggestion: Text | Wording  # with {name}
    upset: UpsetRule = field(default_factory=UpsetRule)


@cache
def _feelings_lexicon(language: str, fault_words: frozenset[str]) -> _sentiment.Lexicon | None:
    """The sentiment lexicon with the fault words weighing nothing."""
    return _sentiment.lexicon(language, dict.fromkeys(fault_words, 0.0))


def feelings(rule: UpsetRule, customer_text: str, languages: tuple[str, ...]) -> float:
    """The sentiment of the customer's post (as listening scores it) without
    the words that only report the fault; the most negative reading when
    several languages are scored. With more than one language possible, the
    post's own language as listening detects it (English "die" is not German
    "die"). 0.0 when no language has a lexicon."""
    lowered = lower(customer_text)
    tokens = _sentiment.words(lowered)
    if len(languages) > 1:
        detected = detect_text(customer_text)
        languages = (detected,) if detected in languages else languages
    scores = [
        _sentiment.polarity(lex, tokens, lowered.count("!"))
        for lang in languages
        if (lex := _feelings_lexicon(lang, rule.fault_words.get(lang, frozenset()))) is not None
    ]
    return min(scores, default=0.0)


def customer_upset(rule: UpsetRule, customer_text: str, languages: tuple[str, ...]) -> bool:
    """Whether the customer's post reads as upset: its `feelings` are at most
    the rule's sentiment."""
    return feelings(rule, customer_text, languages) <= rule.sentiment_at_most


_WORD = re.compile(r"[^\W\d_]+")
# Quoted labels ("tap "CANCEL ORDER""): a button or menu name, not the reply's voice.
_QUOTED = re.compile(
    r'"[^"\n]{1,60}"|“[^”\n]{1,60}”|„[^“”\n]{1,60}[“”]|«[^»\n]{1,60}»|\[[^\]\n]{1,60}\]'
    r"|(?<!\w)'[^'\n]{1,60}'(?!\w)|‘[^’\n]{1,60}’"
)
_LINK = re.compile(r"https?://\S+|www\.\S+|@\w[\w.]*")


def find_shouting(rule: ShoutingRule, text: str) -> Finding | None:
    """A finding when the text shouts: mostly capitals, a run of ALL-CAPS words,
    or a run of exclamation marks. Brand names, abbreviations (listed, or
    short capitals in a reply otherwise written normally), quoted labels,
    links and @handles don't count."""
    blank = _QUOTED.sub(
        lambda m: " " * len(m.group()), _LINK.sub(lambda m: " " * len(m.group()), text)
    )
    found = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(blank)]
    long_words = [w for _, _, w in found if len(w) > rule.acronym_letters]
    # Short capitals are abbreviations (OS, CPU, AM) when the longer words are written normally.
    normal = bool(long_words) and sum(w.isupper() for w in long_words) * 2 < len(long_words)
    words = [
        (start, end, w)
        for start, end, w in found
        if w.upper() not in rule.not_shouting
        and not (normal and w.isupper() and len(w) <= rule.acronym_letters)
    ]
    letters = sum(len(w) for _, _, w in words)
    upper = sum(sum(ch.isupper() for ch in w) for _, _, w in words)
    if letters >= rule.min_letters and upper / letters >= rule.upper_share:
        return Finding(
            "shouting",
            ADVISORY,
            rule.message,
            rule.suggestion,
            None,
            None,
            why(say("tone.why.mostly_capitals", "mostly capitals")),
        )
    run: list[tuple[int, int, str]] = []
    for start, end, word in words:
        if len(word) >= 2 and word.isupper():
            run.append((start, end, word))
            if len(run) >= rule.caps_words_in_row:
                return Finding(
                    "shouting",
                    ADVISORY,
                    rule.message,
                    rule.suggestion,
                    run[0][0],
                    run[-1][1],
                    why(say("tone.why.capitals", "capitals")),
                )
        else:
            run = []
    m = re.search(rf"!{{{rule.exclamations_in_row},}}", text)
    if m:
        return Finding(
            "shouting",
            ADVISORY,
            rule.message,
            rule.suggestion,
            m.start(),
            m.end(),
            {"reason": "exclamation marks"},
        )
    return None


def check_tone(
    rules: ToneRules,
    text: str,
    languages: tuple[str, ...],
    *,
    customer_name: str | None,
    customer_upset: bool,
    earlier_replies: Sequence[str] = (),
    customer_handle: str | None = None,
) -> list[Finding]:
    """Tone advisories for an outbound reply. "no_apology" only when the
    customer is upset and neither this reply nor an earlier one of ours in
    the conversation (`earlier_replies`) apologised."""
    findings: list[Finding] = []
    for check in rules.phrase_checks:
        for m in check.matches(text, languages):
            findings.append(
                Finding(
                    check.name,
                    ADVISORY,
                    check.message,
                    check.suggestion,
                    m.start(),
                    m.end(),
                    {"phrase": m.group()},
                )
            )
    shouting = find_shouting(rules.shouting, text)
    if shouting:
        findings.append(shouting)
    if (
        customer_upset
        and not rules.apology.matches(text, languages)
        and not any(rules.apology.matches(r, languages) for r in earlier_replies)
    ):
        findings.append(
            Finding("no_apology", ADVISORY, rules.apology.message, rules.apology.suggestion)
        )
    if customer_name and not mentions_name(text, customer_name, customer_handle):
        first = first_name(customer_name)
        findings.append(
            Finding(
                "no_name",
                ADVISORY,
                rules.name_message,
                with_params(rules.name_suggestion, name=first),
                None,
                None,
                {"name": first},
            )
        )
    return findings


def first_name(customer_name: str) -> str:
    """The name to greet with: the first word of a display name, without @."""
    parts = customer_name.strip().lstrip("@").split()
    return parts[0] if parts else ""


def handle_name(handle: str) -> str:
    """The name an operator reads in a handle: its leading letters (@ravi93 -> ravi,
    @sam_1_k -> sam); the whole handle when it has fewer than two."""
    local = handle.strip().lstrip("@").split("@")[0]
    letters = re.match(r"[^\W\d_]+", local)
    return letters.group() if letters and len(letters.group()) >= 2 else local


def mentions_name(text: str, customer_name: str, handle: str | None = None) -> bool:
    """True when the reply uses the customer's first name, full name or handle (or the
    name the handle reads as: an operator who sees only @jox greets "Hi Jox")."""
    name = customer_name.strip().lstrip("@")
    candidates = {name, first_name(name)} - {""}
    if handle:
        candidates |= {handle.strip().lstrip("@"), handle_name(handle)} - {""}
    for candidate in candidates:
        if re.search(rf"(?<!\w)@?{re.escape(candidate)}(?!\w)", text, re.IGNORECASE):
            return True
    return not candidates
