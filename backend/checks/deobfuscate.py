"""Undo the tricks people use to get insults past a filter.

"f*ck", "@sshole", "1d10t", "sh!t", "i d i o t", "f.u.c.k": a word with
symbols or digits among its letters, or letters spaced out, is replaced by
the word it stands for — but only when that word is in a known list
(`Deobfuscator.words`), so "B2B", "4G", "MP3" and "24/7" stay as they are.

The result keeps a map back to the original text, so a finding found in
the cleaned text points at the right characters of what the customer wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Characters that stand in for letters ("leet"), as a person would read them.
LEET = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "l",
    "€": "e",
    "+": "t",
}
REMEMBERED_TOKENS = 50_000  # resolved tokens kept (a few MB at most)
_MASKS = "*#%?_.-"  # stand for any letter: "f*ck", "sh#t", "a**hole"

# A candidate: letters mixed with stand-ins or masks, at least one letter.
_MIXED = re.compile(r"(?<![\w@#])[\w@$!|€+*#%?.\-]*[a-zA-ZäöüÄÖÜß][\w@$!|€+*#%?.\-]*")
# Letters spaced out: "i d i o t", "f.u.c.k", "F U C K" (three or more single letters).
_SPACED = re.compile(r"(?<!\w)(?:[^\W\d_][ .\-_*]){2,}[^\W\d_](?!\w)")
_HINT = re.compile(
    r"[^\W\d_][0-9@$!|€+*#%?.\-]|[0-9@$!|€+*#%?.\-][^\W\d_]|(?<!\w)\w[ .\-_*]\w[ .\-_*]\w(?!\w)"
)


@dataclass(frozen=True)
class Cleaned:
    """A text with obfuscated words spelled out, and where each character came from."""

    text: str
    origin: tuple[int, ...] | None = None  # None: same as the original, position for position

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original text's span for a span of the cleaned text."""
        if self.origin is None:
            return start, end
        if end <= start:
            return self.origin[start] if start < len(self.origin) else start, start
        return self.origin[start], self.origin[end - 1] + 1


@dataclass(frozen=True)
class Deobfuscator:
    """The known words that obfuscated spellings are resolved to."""

    words: frozenset[str]
    _by_length: dict[int, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    # token -> resolve(token), bounded: handles and tags ("@acme", "#acmefail") come with
    # nearly every post, and resolving one tries every known word of its length at each
    # cut (about 140 us a post on bench/ingest.py, half of listening, before this).
    _resolved: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_length: dict[int, list[str]] = {}
        for w in self.words:
            by_length.setdefault(len(w), []).append(w)
        object.__setattr__(self, "_by_length", {n: tuple(ws) for n, ws in by_length.items()})

    def resolve(self, token: str) -> str | None:
        """The known word an obfuscated token stands for, or None; a plain
        ending is kept ("f*cking" -> "fucking" when "fuck" is known)."""
        low = token.lower()
        try:
            return self._resolved[low]
        except KeyError:
            pass
        found = self._resolve_uncached(low)
        if len(self._resolved) >= REMEMBERED_TOKENS:
            self._resolved.pop(next(iter(self._resolved)))  # the oldest first
        self._resolved[low] = found
        return found

    def _resolve_uncached(self, low: str) -> str | None:
        found = self._resolve(low)
        if found is not None:
            return found
        for cut in range(len(low) - 1, 2, -1):
            if not low[cut:].isalpha():
                break
            found = self._resolve(low[:cut])
            if found is not None:
                return found + low[cut:]
        return None

    def _resolve(self, low: str) -> str | None:
        leet = "".join(LEET.get(ch, ch) for ch in low)
        if leet in self.words:
            return leet
        # Masks (and stand-ins that did not spell a word) as wildcards of one letter.
        if not any(ch in _MASKS or ch in LEET for ch in low):
            return None
        candidates = [
            w
            for w in self._by_length.get(len(low), ())
            if all(a == b or a in _MASKS or a in LEET for a, b in zip(low, w))
        ]
        letters = sum(ch.isalpha() for ch in low)
        # Enough real letters that the word is not a guess: "f*ck" yes, "**" no.
        if len(candidates) == 1 and letters >= 2 and letters * 2 >= len(low):
            return candidates[0]
        return None

    def clean(self, text: str) -> Cleaned:
        """`text` with obfuscated known words spelled out."""
        if not self.words or not _HINT.search(text):
            return Cleaned(text)
        edits: list[tuple[int, int, str]] = []
        for m in _SPACED.finditer(text):
            letters = "".join(ch for ch in m.group() if ch.isalpha())
            if letters.lower() in self.words:
                edits.append((m.start(), m.end(), letters))
        for m in _MIXED.finditer(text):
            token = m.group().lstrip(".-_?").rstrip(".-_?!")
            if not token or token.isalpha() or token.startswith(("http", "www")):
                continue
            if any(s < m.end() and m.start() < e for s, e, _ in edits):
                continue
            start = m.start() + m.group().index(token)
            word = self.resolve(token)
            if word is not None:
                edits.append((start, start + len(token), _keep_case(token, word)))
        if not edits:
            return Cleaned(text)
        edits.sort()
        out: list[str] = []
        origin: list[int] = []
        last = 0
        for s, e, word in edits:
            out.append(text[last:s])
            origin.extend(range(last, s))
            out.append(word)
            # Each new letter maps into the replaced stretch, in order.
            n = e - s
            origin.extend(s + (i * (n - 1)) // max(len(word) - 1, 1) for i in range(len(word)))
            last = e
        out.append(text[last:])
        origin.extend(range(last, len(text)))
        cleaned = "".join(out)
        return Cleaned(
            cleaned,
            None
            if len(cleaned) == len(text) and all(i == o for i, o in enumerate(origin))
            else tuple(origin),
        )


def _keep_case(token: str, word: str) -> str:
    return word.upper() if token.isupper() and len(token) > 1 else word
