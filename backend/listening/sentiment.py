"""Polarity from -1 (furious) to +1 (delighted) for English and German posts.

English uses VADER's lexicon (shipped inside the vaderSentiment wheel, MIT);
German uses the German polarity lexicon shipped inside the textblob-de wheel
(Klenner et al. 2010, Apache-2.0). Neither package's own scorer is called:
VADER's costs about 40 µs a post and textblob-de pulls in NLTK, while ingest
has a few µs to spare. Instead both lexicons are read once and scored the
way VADER scores: sum the word valences, with a negation ("not", "kein")
in the three words before flipping and damping a word, boosters ("very",
"sehr") strengthening it, words after "but"/"aber" counting more than
words before, and exclamation marks adding emphasis; the sum is squashed
into -1..1 as VADER does (x / sqrt(x² + 15)).
"""

from __future__ import annotations

import importlib.util
import math
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import compress, count
from pathlib import Path

from .text import lower

# VADER's constants (vaderSentiment.vaderSentiment: B_INCR, N_SCALAR, normalize's alpha).
BOOST = 0.293
NEGATION_FACTOR = -0.74
SQUASH_ALPHA = 15.0
EXCLAMATION = 0.292
BEFORE_CONTRAST, AFTER_CONTRAST = 0.5, 1.5
# The German lexicon scores -1..1; VADER's words sit around ±2 ("bad" -2.5, "good" 1.9).
GERMAN_SCALE = 2.0

GERMAN_NEGATIONS = frozenset(
    "nicht nichts kein keine keinen keinem keiner keines nie niemals nimmer weder noch ohne "
    "niemand nirgends".split()
) - {"noch"}
GERMAN_BOOSTERS = {
    w: BOOST
    for w in (
        "sehr total extrem echt voll richtig absolut mega wirklich besonders äußerst unglaublich "
        "komplett völlig wahnsinnig enorm höchst so zu"
    ).split()
}
GERMAN_BOOSTERS.update({w: -BOOST for w in "etwas ziemlich kaum bisschen eher wenig".split()})
GERMAN_CONTRAST = frozenset({"aber", "doch", "jedoch", "allerdings", "trotzdem"})

# Words, keeping inner apostrophes ("don't"), emoticons VADER knows (":(", ":-)", "<3"), and emoji.
TOKEN = re.compile(
    r"\w+(?:'\w+)*|[:;=][-'^o]?[()\[\]dp/\\|*@$]+|<3|[\u2600-\u27bf\U0001f300-\U0001faff]"
)


@dataclass(frozen=True)
class Lexicon:
    """One language's sentiment vocabulary, folded to lower case."""

    language: str
    valence: Mapping[str, float]  # word or emoji -> roughly -4..4
    negations: frozenset[str]
    boosters: Mapping[str, float]
    contrast: frozenset[str]


def _package_dir(name: str) -> Path:
    # find_spec locates the package without importing it (textblob-de's import pulls in NLTK).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {name} package is not installed; it ships the sentiment lexicon")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def english_lexicon() -> Lexicon:
    """VADER's word and emoji lexicon, read from the vaderSentiment package."""
    from vaderSentiment import vaderSentiment as vader  # light import: constants only

    folder = _package_dir("vaderSentiment")
    valence: dict[str, float] = {}
    for line in (folder / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            valence.setdefault(lower(parts[0]), float(parts[1]))
    # An emoji scores as the words of its description ("pouting face" -> "pouting").
    for line in (folder / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8").splitlines():
        emoji, _, description = line.partition("\t")
        score = sum(valence.get(w, 0.0) for w in description.lower().split())
        if score and len(emoji) == 1:
            valence[emoji] = score
    return Lexicon(
        language="en",
        valence=valence,
        negations=frozenset(lower(w) for w in vader.NEGATE),
        boosters={lower(w): (BOOST if v > 0 else -BOOST) for w, v in vader.BOOSTER_DICT.items()},
        contrast=frozenset({"but", "however", "although"}),
    )


@cache
def german_lexicon() -> Lexicon:
    """textblob-de's German polarity lexicon (data/de-sentiment.xml)."""
    path = _package_dir("textblob_de") / "data" / "de-sentiment.xml"
    valence: dict[str, float] = {}
    for word in ElementTree.parse(path).getroot().iter("word"):
        polarity = float(word.get("polarity", "0") or 0)
        if polarity:
            valence.setdefault(lower(word.get("form", "")), polarity * GERMAN_SCALE)
    # Emoji carry the same feeling in any language.
    valence.update(
        {k: v for k, v in english_lexicon().valence.items() if not k.isascii() and len(k) == 1}
    )
    # A booster only strengthens its neighbour ("echt schlecht"), it is not a feeling itself.
    for booster in GERMAN_BOOSTERS:
        valence.pop(booster, None)
    return Lexicon("de", valence, GERMAN_NEGATIONS, GERMAN_BOOSTERS, GERMAN_CONTRAST)


def lexicon(language: str, extra: Mapping[str, float] | None = None) -> Lexicon | None:
    """The lexicon for "en" or "de" (None for other languages), with the team's extra words on top."""
    base = english_lexicon() if language == "en" else german_lexicon() if language == "de" else None
    if base is None or not extra:
        return base
    valence = dict(base.valence)
    valence.update({lower(w): v for w, v in extra.items()})
    return Lexicon(base.language, valence, base.negations, base.boosters, base.contrast)


# TOKEN's first branch alone: in ASCII text without ':', ';', '=' or '<' no
# emoticon or emoji can start, so only words are found, a little quicker.
_WORDS_ONLY = re.compile(r"\w+(?:'\w+)*")


def words(lowered: str) -> list[str]:
    """The tokens sentiment and language detection look at, from `text.lower` output."""
    if (
        lowered.isascii()
        and ":" not in lowered
        and ";" not in lowered
        and "=" not in lowered
        and "<" not in lowered
    ):
        return _WORDS_ONLY.findall(lowered)
    return TOKEN.findall(lowered)


def polarity(lex: Lexicon, tokens: list[str], exclamations: int = 0) -> float:
    """Polarity in [-1, 1] of a post's tokens; 0.0 when no word carries feeling."""
    valence, negations, boosters = lex.valence, lex.negations, lex.boosters
    # Most posts have no "but": then only the words with a valence need a look,
    # and C (compress over membership tests) finds them.
    contrast = lex.contrast if not lex.contrast.isdisjoint(tokens) else ()
    before = after = 0.0
    if not contrast and negations.isdisjoint(tokens) and boosters.keys().isdisjoint(tokens):
        # Nothing to flip, strengthen or weigh differently: the valences add up as they come.
        for v in map(valence.__getitem__, compress(tokens, map(valence.__contains__, tokens))):
            before += v
        return _squash(before, exclamations)
    candidates = (
        range(len(tokens)) if contrast else compress(count(), map(valence.__contains__, tokens))
    )
    contrast_seen = False
    for i in candidates:
        token = tokens[i]
        if contrast and token in contrast:
            contrast_seen = True
            continue
        found = valence.get(token)
        if found is None:
            continue
        v = found
        # Look back up to three words, as VADER does; nearer words weigh more.
        for distance, j in enumerate(range(i - 1, max(i - 4, -1), -1)):
            prior = tokens[j]
            boost = boosters.get(prior)
            if boost is not None:
                b = boost * (1.0 - 0.05 * distance)
                v += b if v > 0 else -b
            elif prior in negations:
                v *= NEGATION_FACTOR
        if contrast_seen:
            after += v
        else:
            before += v
    total = before * BEFORE_CONTRAST + after * AFTER_CONTRAST if contrast_seen else before
    return _squash(total, exclamations)


def _squash(total: float, exclamations: int) -> float:
    """The summed valence with emphasis, squashed into [-1, 1] as VADER does."""
    if total and exclamations:
        emphasis = min(exclamations, 4) * EXCLAMATION
        total += emphasis if total > 0 else -emphasis
    if not total:
        return 0.0
    score = total / math.sqrt(total * total + SQUASH_ALPHA)
    return max(-1.0, min(1.0, score))


def sentiment(
    text: str, language: str | None, extra: Mapping[str, float] | None = None
) -> float | None:
    """Polarity of a text in [-1, 1] for "en" or "de"; None for any other language.

    Convenience for one-off use; the listener keeps lexicons with the team's
    extra words compiled once and calls `polarity` directly.
    """
    lex = lexicon(language or "", extra)
    if lex is None:
        return None
    lowered = lower(text)
    return polarity(lex, words(lowered), lowered.count("!"))
