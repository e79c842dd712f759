"""Text folding and term patterns shared by matching and triage.

Everything the care team writes in rules/ and everything a customer writes is
folded the same way (NFKC, case-folded, accents removed), so "Ａｃｍｅ",
"ACME" and "Acmé" are all "acme", and "Kündigung" also matches "KÜNDIGUNG" and
"Kundigung".
"""

from __future__ import annotations

import re
import unicodedata

# Combining marks left after NFD; dropping them removes accents and umlaut dots.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# Typographic apostrophes, so "don’t" and "Acme’s" behave like "don't" and "Acme's".
_APOSTROPHES = ("\u2019", "\u2018", "\u02bc", "\uff07")


def lower(text: str) -> str:
    """NFKC + casefold, accents kept (language and sentiment need them)."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text)
    # One replace per apostrophe actually there: str.translate looks up every
    # character of non-ASCII text, which costs several µs a post.
    for apostrophe in _APOSTROPHES:
        if apostrophe in text:
            text = text.replace(apostrophe, "'")
    return text.casefold()


def strip_accents(lowered: str) -> str:
    """Remove accents from text that `lower` already normalised."""
    if lowered.isascii():
        return lowered
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", lowered)))


def fold(text: str) -> str:
    """The matching form of a text: NFKC, case-folded, accents removed."""
    return strip_accents(lower(text))


_WORD_START = re.compile(r"\w")


def term_pattern(term: str) -> str:
    """The regex body for one rule term on folded text (no leading boundary; see TermSet)."""
    folded = fold(term).strip()
    open_end = folded.endswith("*")
    if open_end:
        folded = folded[:-1].rstrip()
    body = r"\s+".join(re.escape(word) for word in folded.split())
    return body if open_end else body + r"(?!\w)"


def term_key(matched: str) -> str:
    """The lookup key of a matched stretch of text: whitespace runs made single spaces."""
    return " ".join(matched.split())


# Up to this many different first letters, the scan jumps from letter to letter.
FEW_FIRST_LETTERS = 4


def by_first_letter(bodies: list[str]) -> str:
    """An alternation of term bodies ("refund", "cancel", "chargeback") that
    only matches at the start of a word, the bodies that share a first letter
    grouped: `\\b(?:c(?:ancel|hargeback)|r(?:efund))`. At a word start the
    engine then tries one group instead of every term.

    When the terms start with only a few letters (our names all start with
    "a"), the boundary moves behind the first letter instead:
    `a(?<!\\w.)(?:cme\\s+corp...)`. A pattern that starts with a plain letter
    lets the engine skip from one such letter to the next, which a leading
    \\b prevents; with many first letters that skipping gains nothing and the
    lookbehind at every letter costs more.

    Matches are the same as `\\b(?:refund|cancel|...)` either way: "no word
    character before the first letter" is what \\b means before a letter;
    only bodies starting with the letter at hand could match there, and
    within a group they keep their order (longest first), so the same one
    wins. Each body must start with a plain letter or digit (TermSet checks
    this; re.escape leaves those alone).
    """
    groups: dict[str, list[str]] = {}
    for body in bodies:
        groups.setdefault(body[0], []).append(body[1:])
    if len(groups) <= FEW_FIRST_LETTERS:
        return "|".join(
            first + r"(?<!\w.)(?:" + "|".join(rests) + ")" for first, rests in groups.items()
        )
    return (
        r"\b(?:"
        + "|".join(first + "(?:" + "|".join(rests) + ")" for first, rests in groups.items())
        + ")"
    )


class TermSet:
    """Rule terms ("Acme", "ACME Corp", "cancel*", "geht nicht") found in folded text.

    Word-bounded: "acme" is found in "Acme's" and "ACME!" but not in
    "acmecorp". A trailing `*` lets the last word go on ("cancel*" finds
    "cancelled", "Kündigung*" finds "Kündigungsfrist"). Longer terms win at
    the same place, so "ACME Corp" is reported rather than "Acme". Terms are
    reported as the care team wrote them.

    Built as one `\b(?:a|b|c)`-like regex without groups (see by_first_letter): Python's regex engine
    scans that quickly, while per-term groups or lookbehinds cost ~100 µs a
    post. Which term matched is looked up from the matched text instead.
    `not_after` lists characters that may not come right before a term
    (names refuse '#' and '@': those are tags).
    """

    __slots__ = ("terms", "regex", "_labels", "_not_after")

    def __init__(self, terms: list[str] | tuple[str, ...], not_after: str = ""):
        self.terms = tuple(terms)
        self._labels: dict[str, str] = {}
        bodies = []
        for term in sorted(self.terms, key=lambda t: -len(fold(t))):
            folded = fold(term).strip()
            if not folded.rstrip("*").strip() or not _WORD_START.match(folded):
                raise ValueError(f"{term!r} must start with a letter or digit")
            self._labels.setdefault(term_key(folded.rstrip("*")), term)
            bodies.append(term_pattern(term))
        self.regex = re.compile(by_first_letter(bodies)) if bodies else None
        self._not_after = not_after

    def found(self, folded: str) -> list[str]:
        """The distinct terms in a folded text (see `fold`), in order of first appearance."""
        if self.regex is None:
            return []
        seen: list[str] = []
        not_after = self._not_after
        for m in self.regex.finditer(folded):
            start = m.start()
            if not_after and start and folded[start - 1] in not_after:
                continue
            matched = m.group()
            # Most matches are one word or already single-spaced: no need to re-space them.
            label = self._labels.get(matched) or self._labels[term_key(matched)]
            if label not in seen:
                seen.append(label)
        return seen

    def search(self, folded: str) -> bool:
        """Whether any term occurs in the folded text."""
        return bool(self.found(folded))
