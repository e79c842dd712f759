"""House rules and abusive language (rules/conduct.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .abuse_model import AbuseModel
from .finding import FLAG, Finding
from .language import LANGUAGES
from .phrase_screen import PhraseScreen

SEVERITIES = ("high", "medium")  # most severe first


@dataclass(frozen=True)
class ConductRules:
    """The compiled contents of rules/conduct.yaml."""

    house_rules: dict[str, str]
    bio_lengths: dict[str, int]
    bio_texts: tuple[str, ...]
    replies: dict[str, str]
    message: str
    suggestion: str
    # language -> severity -> one pattern for all its phrases
    abusive: dict[str, dict[str, re.Pattern[str]]] = field(default_factory=dict)
    not_abusive: dict[str, re.Pattern[str]] = field(default_factory=dict)
    # language -> (model, severity, threshold): catches what the phrases miss
    models: dict[str, tuple[AbuseModel, str, float]] = field(default_factory=dict)
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
                for severity in SEVERITIES
                for lang in languages
                if severity in self.abusive.get(lang, {})
            ]
            found = self._screens[languages] = PhraseScreen(excuses, abusive)
        return found


def find_abuse(rules: ConductRules, text: str, languages: tuple[str, ...]) -> list[Finding]:
    """Abusive or hateful wording: one finding, for the most severe match.

    The phrase lists decide first (high, then medium). When no phrase
    matches, a language's model (if configured) flags the post when its
    score reaches the threshold; the finding then points at the word that
    weighed most. Text inside a `not_abusive` phrase (self-deprecation,
    talking about abuse) is ignored by both.
    """
    excused: list[tuple[int, int]] = []
    screen = rules.screen(languages)
    if screen.may_match(text):
        for _lang, excuse in screen.excuses:
            if excuse.may_match(text):
                excused += [(m.start(), m.end()) for m in excuse.pattern.finditer(text)]
        for severity, lang, phrases in screen.abusive:
            if not phrases.may_match(text):
                continue
            for m in phrases.pattern.finditer(text):
                if any(s <= m.start() and m.end() <= e for s, e in excused):
                    continue
                return [
                    Finding(
                        "abusive",
                        FLAG,
                        rules.message,
                        rules.suggestion,
                        m.start(),
                        m.end(),
                        {"severity": severity, "language": lang, "phrase": m.group()},
                    )
                ]
    if not any(lang in rules.models for lang in languages):
        return []
    # Blank excused text (same length, so spans stay true) before scoring.
    scored = text
    for s, e in excused:
        scored = scored[:s] + " " * (e - s) + scored[e:]
    for lang in languages:
        if lang not in rules.models:
            continue
        model, severity, threshold = rules.models[lang]
        score = model.score_reaching(scored, threshold)
        if score is None or score < threshold:
            continue
        strongest = model.strongest_words(scored)
        start, end = (strongest[0][1], strongest[0][2]) if strongest else (None, None)
        return [
            Finding(
                "abusive",
                FLAG,
                rules.message,
                rules.suggestion,
                start,
                end,
                {
                    "severity": severity,
                    "language": lang,
                    "phrase": text[start:end] if start is not None else "",
                    "model_score": round(score, 3),
                    "model_words": [text[s:e] for _, s, e, _ in strongest],
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
