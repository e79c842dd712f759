"""Tell English from German, fast and without downloads.

Counts very common function words of each language (words that say little
on their own but are in almost every sentence) plus German's umlauts and ß.
Words both languages share ("in", "was", "so", "an") are left out. The
platform's own language tag, when a post has one, wins.
"""

from __future__ import annotations

import re

ENGLISH = frozenset(
    """
the a is are am be been being to of and or for on with at by from this that these those it its
you your yours i me my mine we our us they them their he she him her his not no don't doesn't
didn't can't won't isn't aren't wasn't cannot what why where when how which who just please
have has had do does did will would should could there here than then very thanks thank
again still after before about into out up anyone any yet
""".split()
)

GERMAN = frozenset(
    """
der die das den dem des ein eine einen einem einer eines und oder ist sind bin bist war waren
nicht kein keine keinen ich du er sie wir ihr mich mir dich dir uns euch mein meine meinen
dein deine sein seine ihre unser zu mit auf für von bei aus nach vor über unter wie warum
wieso weshalb wo wann wer welche auch noch schon nur doch mal bitte danke seit wieder immer
hat habe haben hatte wird werden wurde kann können muss müssen soll sollte jetzt heute gibt
es sich ja nein aber dass weil wenn denn
""".split()
)

_GERMAN_LETTERS = re.compile("[äöüß]")


def declared_language(declared: str | None) -> str | None:
    """The base language of a platform's tag ("de-AT" -> "de"), or None if it has none."""
    if not declared:
        return None
    base = declared.replace("_", "-").split("-", 1)[0].strip().lower()
    return base or None


def detect(
    words: list[str],
    lowered: str,
    languages: tuple[str, ...] = ("en", "de"),
    declared: str | None = None,
) -> str | None:
    """The language of a post: "en", "de", the platform's declared code, or None if unsure.

    `words` are the post's words and `lowered` its text, both as
    `text.lower` makes them (accents kept). Detection only picks among
    `languages`; a declared language is returned as declared.
    """
    tagged = declared_language(declared)
    if tagged:
        return tagged
    en = len(ENGLISH.intersection(words)) if "en" in languages else 0
    de = len(GERMAN.intersection(words)) if "de" in languages else 0
    if de and _GERMAN_LETTERS.search(lowered):
        de += 1
    if en == de:
        # Nothing to tell them apart (a bare "@acme #acmefail", or a tie).
        if de == 0 and "de" in languages and _GERMAN_LETTERS.search(lowered):
            return "de"
        return None
    return "en" if en > de else "de"


def detect_text(
    text: str, languages: tuple[str, ...] = ("en", "de"), declared: str | None = None
) -> str | None:
    """`detect` on a raw text, with the same lowering and words ingest uses
    (enrich._enrich), so `rules explain` and the composer see what ingest saw."""
    from .sentiment import words  # sentiment imports nothing from here; kept local to stay light
    from .text import lower

    lowered = lower(text)
    return detect(words(lowered), lowered, languages, declared)
