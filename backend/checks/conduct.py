"""House rules, abusive language and threats (rules/conduct.yaml).

Three findings can come out of an inbound post:

- "abusive" (a flag; the conversation goes to house rules): a routing
  phrase (`high`/`medium`) or the language's model at its precise
  operating point;
- "possibly_abusive" (an advisory only, nothing is routed): an advisory
  phrase (`possible`) or the model at its high-recall operating point;
- "threat" (a flag; priority P1 and a lead is told): a threat of violence
  or damage, from its own phrase list.

Every finding says why (the phrase, or the model's score and strongest
words). Obfuscated words ("f*ck", "1d10t", "i d i o t") are spelled out
first (see deobfuscate); spans always point into the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.i18n import Message, Text, say

from .abuse_model import AbuseModel
from .deobfuscate import Cleaned, Deobfuscator
from .finding import ADVISORY, FLAG, Finding, why
from .language import LANGUAGES
from .phrase_screen import PhraseScreen

SEVERITIES = ("high", "medium")  # route to house rules, most severe first
ADVISORY_SEVERITY = "possible"  # advises only


@dataclass(frozen=True)
class ModelSetting:
    """A language's model and its two operating points (from the file or overridden)."""

    model: AbuseModel
    abusive: float
    possible: float


@dataclass(frozen=True)
class ConductRules:
    """The compiled contents of rules/conduct.yaml."""

    house_rules: dict[str, str]
    bio_lengths: dict[str, int]
    bio_texts: tuple[str, ...]
    replies: dict[str, str]
    message: Message
    suggestion: Message
    # language -> severity ("high", "medium", "possible") -> one pattern for all its phrases
    abusive: dict[str, dict[str, re.Pattern[str]]] = field(default_factory=dict)
    not_abusive: dict[str, re.Pattern[str]] = field(default_factory=dict)
    models: dict[str, ModelSetting] = field(default_factory=dict)
    possible_message: Message = say(
        "conduct.possible_message",
        "Possibly abusive — read it before answering; nothing was routed.",
    )
    possible_suggestion: Message = say(
        "conduct.possible_suggestion", "If it insults someone, answer once with the house rules."
    )
    threats: dict[str, re.Pattern[str]] = field(default_factory=dict)
    threat_message: Message = say(
        "conduct.threat_message", "Threat of violence or damage — priority P1, a lead is told."
    )
    threat_suggestion: Message = say(
        "conduct.threat_suggestion", "Don't argue; a lead decides whether to report it."
    )
    deobfuscator: Deobfuscator = field(default_factory=lambda: Deobfuscator(frozenset()))
    # languages -> the phrase patterns find_abuse runs for them, gates resolved (see phrase_screen)
    _screens: dict[tuple[str, ...], PhraseScreen] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every language set languages_for gives, built now rather than on the first post.
        object.__setattr__(self, "_screens", {})
        for languages in [(lang,) for lang in LANGUAGES] + [LANGUAGES]:
            self.screen(languages)

    def screen(self, languages: tuple[str, ...]) -> PhraseScreen:
        """The phrase patterns for `languages` in the order find_abuse tries them."""
        found = self._screens.get(languages)
        if found is None:
            excuses = [
                (lang, self.not_abusive[lang]) for lang in languages if lang in self.not_abusive
            ]
            abusive = [
                (severity, lang, self.abusive[lang][severity])
                for severity in (*SEVERITIES, ADVISORY_SEVERITY)
                for lang in languages
                if severity in self.abusive.get(lang, {})
            ]
            found = self._screens[languages] = PhraseScreen(excuses, abusive)
        return found


def _excused_spans(
    rules: ConductRules, text: str, languages: tuple[str, ...]
) -> list[tuple[int, int]]:
    excused: list[tuple[int, int]] = []
    for _lang, excuse in rules.screen(languages).excuses:
        if excuse.may_match(text):
            excused += [(m.start(), m.end()) for m in excuse.pattern.finditer(text)]
    return excused


def _phrase(
    rules: ConductRules, text: str, languages: tuple[str, ...], excused: list[tuple[int, int]]
) -> tuple[str, str, re.Match[str]] | None:
    """The first phrase that matches outside excused text: (severity, language, match)."""
    screen = rules.screen(languages)
    if not screen.may_match(text):
        return None
    for severity, lang, phrases in screen.abusive:
        if not phrases.may_match(text):
            continue
        for m in phrases.pattern.finditer(text):
            if not any(s <= m.start() and m.end() <= e for s, e in excused):
                return severity, lang, m
    return None


def phrase_hits(rules: ConductRules, text: str, languages: tuple[str, ...]) -> str | None:
    """What the phrase lists alone say: "abusive", "possible" or None (for training)."""
    cleaned = rules.deobfuscator.clean(text).text
    hit = _phrase(rules, cleaned, languages, _excused_spans(rules, cleaned, languages))
    if hit is None:
        return None
    return "possible" if hit[0] == ADVISORY_SEVERITY else "abusive"


def find_threat(rules: ConductRules, text: str, languages: tuple[str, ...]) -> list[Finding]:
    """A threat of violence or damage against people, staff or a shop."""
    cleaned = rules.deobfuscator.clean(text)
    return _threat(rules, cleaned, languages)


def _threat(rules: ConductRules, cleaned: Cleaned, languages: tuple[str, ...]) -> list[Finding]:
    for lang in languages:
        pattern = rules.threats.get(lang)
        if pattern is None:
            continue
        m = pattern.search(cleaned.text)
        if m:
            start, end = cleaned.span(m.start(), m.end())
            return [
                Finding(
                    "threat",
                    FLAG,
                    rules.threat_message,
                    rules.threat_suggestion,
                    start,
                    end,
                    {
                        "severity": "high",
                        "language": lang,
                        "phrase": m.group(),
                        "priority": "P1",
                        "escalate": "lead",
                        **why(say("flag.why.threat", "threat: “{phrase}”", phrase=m.group())),
                    },
                )
            ]
    return []


def find_conduct(rules: ConductRules, text: str, languages: tuple[str, ...]) -> list[Finding]:
    """Threat, abusive and possibly-abusive findings for one inbound post."""
    cleaned = rules.deobfuscator.clean(text)
    return _threat(rules, cleaned, languages) + _abuse(rules, text, cleaned, languages)


def find_abuse(rules: ConductRules, text: str, languages: tuple[str, ...]) -> list[Finding]:
    """Abusive or possibly abusive wording: at most one finding, the surer one.

    The routing phrase lists decide first (high, then medium); then the
    model at its "abusive" point; then the advisory phrases and the model
    at its "possible" point. Text inside a `not_abusive` phrase
    (self-deprecation, quoting a word, talking about abuse) is ignored by
    phrases and model alike.
    """
    return _abuse(rules, text, rules.deobfuscator.clean(text), languages)


def _abuse(
    rules: ConductRules, original: str, cleaned: Cleaned, languages: tuple[str, ...]
) -> list[Finding]:
    text = cleaned.text
    excused = _excused_spans(rules, text, languages)
    hit = _phrase(rules, text, languages, excused)
    if hit is not None and hit[0] in SEVERITIES:
        severity, lang, m = hit
        p_start, p_end = cleaned.span(m.start(), m.end())
        return [
            Finding(
                "abusive",
                FLAG,
                rules.message,
                rules.suggestion,
                p_start,
                p_end,
                {
                    "severity": severity,
                    "language": lang,
                    "phrase": original[p_start:p_end],
                    **why(say("flag.why.phrase", "phrase: “{phrase}”", phrase=m.group())),
                },
            )
        ]
    scored = text
    for s, e in excused:  # blank excused text (same length, so spans stay true)
        scored = scored[:s] + " " * (e - s) + scored[e:]
    best: tuple[str, float, ModelSetting] | None = None
    for lang in languages:
        setting = rules.models.get(lang)
        if setting is None:
            continue
        score = setting.model.score(scored)
        if best is None or score - setting.abusive > best[1] - best[2].abusive:
            best = (lang, score, setting)
    if best is not None:
        lang, score, setting = best
        # With the language unknown, two models look at a post written for
        # one: only their sure (abusive) point counts.
        sure_only = len(languages) > 1
        if score >= setting.abusive or (
            hit is None and not sure_only and score >= setting.possible
        ):
            routed = score >= setting.abusive
            strongest = setting.model.strongest_words(scored)
            where: tuple[int | None, int | None] = (None, None)
            if strongest:
                where = cleaned.span(strongest[0][1], strongest[0][2])
            start, end = where
            point = "abusive" if routed else "possible"
            threshold = setting.abusive if routed else setting.possible
            words = [w for w, _, _, _ in strongest]
            return [
                Finding(
                    "abusive" if routed else "possibly_abusive",
                    FLAG if routed else ADVISORY,
                    rules.message if routed else rules.possible_message,
                    rules.suggestion if routed else rules.possible_suggestion,
                    start,
                    end,
                    {
                        "severity": "medium" if routed else ADVISORY_SEVERITY,
                        "language": lang,
                        "phrase": original[start:end] if start is not None else "",
                        "model_score": round(score, 3),
                        "threshold": threshold,
                        "operating_point": point,
                        "model_words": words,
                        **why(_model_reason(score, threshold, point, words)),
                    },
                )
            ]
    if hit is not None:
        severity, lang, m = hit
        p_start, p_end = cleaned.span(m.start(), m.end())
        return [
            Finding(
                "possibly_abusive",
                ADVISORY,
                rules.possible_message,
                rules.possible_suggestion,
                p_start,
                p_end,
                {
                    "severity": severity,
                    "language": lang,
                    "phrase": original[p_start:p_end],
                    "operating_point": "possible",
                    **why(say("flag.why.phrase", "phrase: “{phrase}”", phrase=m.group())),
                },
            )
        ]
    return []


def bio_for(rules: ConductRules, platform: str) -> str:
    """The longest house-rules bio text that fits the platform's bio length."""
    try:
        limit = rules.bio_lengths[platform]
    except KeyError:
        known = ", ".join(sorted(rules.bio_lengths))
        raise ValueError(f"no bio length for platform {platform!r} (known: {known})") from None
    for text in rules.bio_texts:
        if len(text) <= limit:
            return text
    # Validation refuses this at load; keep a sane answer anyway.
    return rules.bio_texts[-1][: limit - 1].rstrip() + "…"


def suggested_reply(rules: ConductRules, language: str | None) -> str:
    """The reply to an abusive post, in the post's language (English when unknown)."""
    code = (language or "en").lower().replace("_", "-").split("-")[0]
    return rules.replies.get(code) or rules.replies["en"]


def _model_reason(score: float, threshold: float, point: str, words: list[str]) -> Text:
    scored = say(
        "flag.why.model",
        "model {score:.2f} ≥ {threshold:.2f} ({point})",
        score=float(score),
        threshold=float(threshold),
        point=point,
    )
    if not words:
        return scored
    return say(
        "flag.why.model_words", "{model}, words: {words}", model=scored, words=", ".join(words)
    )
