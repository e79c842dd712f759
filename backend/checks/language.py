"""Which language's phrase lists apply to a text."""

from __future__ import annotations

LANGUAGES = ("en", "de")
_SINGLE = {lang: (lang,) for lang in LANGUAGES}


def languages_for(language: str | None) -> tuple[str, ...]:
    """The phrase lists to apply: the given language, or all when unknown.

    Accepts codes like "de", "de-DE" or "DE". Anything we have no phrases for
    (or None) gets every list, because the real detection happens elsewhere
    and a missed defensive phrase costs more than an extra look.
    """
    if not language:
        return LANGUAGES
    if language in _SINGLE:  # the common case, "en" or "de" from detection: no parsing
        return _SINGLE[language]
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return (code,) if code in LANGUAGES else LANGUAGES
