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
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"})


def lower(text: str) -> str:
    """NFKC + casefold, accents kept (language and sentiment need them)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()


def strip_accents(lowered: str) -> str:
    """Remove accents from text that `lower` already normalised."""
    if lowered.isascii():
        return lowered
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", lowered)))


def fold(text: str) -> str:
    """The matching form of a text: NFKC, case-folded, accents removed."""
    return strip_accents(lower(text))


def term_pattern(term: str, before: str = r"\w", after: str = r"(?!\w)") -> str:
    """A regex for one rule term, word-bounded on the folded text.

    Words inside a term may be separated by any whitespace; a trailing `*`
    lets the last word go on ("cancel*" matches "cancelled", "Kündigung*"
    matches "Kündigungsfrist"). `before` lists characters that may not precede
    the term (names also refuse `#` and `@`, which belong to tags); `after` is
    the lookahead that ends it.
    """
    folded = fold(term).strip()
    open_end = folded.endswith("*")
    if open_end:
        folded = folded[:-1].rstrip()
    body = r"\s+".join(re.escape(word) for word in folded.split())
    if open_end:
        body += r"\w*"
    # Lookarounds rather than \b: a term may itself start or end with a non-word character.
    return rf"(?<![{before}]){body}{after}"


class TermSet:
    """Rule terms compiled into one regex that says which terms were found.

    Longest terms are tried first, so "ACME Corp" wins over "Acme" at the same
    place. Found terms are reported as the care team wrote them, or by the
    parallel `labels` when given (a short "@acme" reports "@acme@social.example").
    """

    __slots__ = ("terms", "regex")

    def __init__(self, terms: list[str] | tuple[str, ...], before: str = r"\w",
                 after: str = r"(?!\w)", labels: list[str] | tuple[str, ...] | None = None):
        patterns = [term_pattern(t, before, after) for t in terms]
        self.terms = tuple(labels if labels is not None else terms)
        order = sorted(range(len(patterns)), key=lambda i: -len(fold(terms[i])))
        alternatives = [f"(?P<t{i}>{patterns[i]})" for i in order]
        self.regex = re.compile("|".join(alternatives)) if alternatives else None

    def search(self, folded: str) -> bool:
        """Whether any term occurs in the folded text."""
        return self.regex is not None and self.regex.search(folded) is not None

    def found(self, folded: str) -> list[str]:
        """The distinct terms found in the folded text, in order of first appearance."""
        if self.regex is None:
            return []
        seen: list[str] = []
        for m in self.regex.finditer(folded):
            term = self.terms[int(m.lastgroup[1:])]
            if term not in seen:
                seen.append(term)
        return seen
