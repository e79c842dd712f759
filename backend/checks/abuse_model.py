"""A small linear abusive-language model, read from a plain JSON file.

The German check in rules/conduct.yaml catches what its phrase list misses
with a logistic model over words, word pairs and 4-5 letter pieces of
words. The weights are data (rules/conduct_de_model.json, written by
bench/train_conduct_de.py), so a team can read which words push a post
towards "abusive" and by how much. Scoring is pure Python: no numpy or
scikit-learn at run time.

The feature extraction here is the one the training script uses, so the
weights mean the same thing at training and at run time.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from pathlib import Path

FORMAT = "shiftdesk-abuse-model/1"

# Words: letters with inner hyphens ("links-grün"); digits and punctuation split.
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_LETTER_RUNS = re.compile(r"[^\W\d_]+")  # _WORD for text without '-'
_LINK = re.compile(r"https?://\S+")
_HANDLE = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
# Umlauts folded so "Idioten" and tweets typed without umlauts ("Idiotn",
# "bloed") share features.
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
PIECE_LENGTHS = (4, 5)  # as _pieces cuts them
_UMLAUTS = tuple((chr(code), folded) for code, folded in _FOLD.items())


def fold_umlauts(text: str) -> str:
    """text.translate(_FOLD), several times faster on non-ASCII text: four
    replacements, each only when its letter is there (what one puts in, no
    later one takes out)."""
    for umlaut, folded in _UMLAUTS:
        if umlaut in text:
            text = text.replace(umlaut, folded)
    return text


# How far below the threshold's logit a ceiling must stay to skip scoring:
# far more than float rounding in either sum, far less than any weight.
CEILING_MARGIN = 1e-6


def word_spans(text: str, ignored: frozenset[str] = frozenset()) -> list[tuple[str, int, int]]:
    """(word, start, end) for each word of a post, in text order: lower case,
    umlauts folded, "soooo" shortened to "soo"; links, @handles and
    `ignored` words left out (an entry ending in "*" ignores every word that
    starts with it); '#' is not a letter, so a hashtag counts as its word.
    Start and end index the original text."""
    prefixes = _prefixes(ignored)
    # Blank links and handles with spaces of the same length so spans stay true.
    text = _HANDLE.sub(
        lambda m: " " * len(m.group()), _LINK.sub(lambda m: " " * len(m.group()), text)
    )
    out = []
    for m in _WORD.finditer(text):
        w = _REPEAT.sub(r"\1\1", m.group().lower().translate(_FOLD))
        if w not in ignored and not (prefixes and w.startswith(prefixes)):
            out.append((w, m.start(), m.end()))
    return out


@lru_cache(maxsize=16)
def _prefixes(ignored: frozenset[str]) -> tuple[str, ...]:
    return tuple(w[:-1] for w in ignored if w.endswith("*"))


# Every ASCII character but the letters becomes a space (see words).
_ASCII_NOT_LETTER = {code: " " for code in range(128) if not chr(code).isalpha()}
_TRIPLE = re.compile(r"(.)\1\1")  # what _REPEAT shortens; searching is cheaper than substituting


def words(text: str, ignored: frozenset[str] = frozenset()) -> list[str]:
    """The normalised words of a post, as word_spans gives them, without
    the spans. Ignored words are removed before word pairs are formed, so
    they never join a pair."""
    if "@" in text or "http" in text:
        text = _HANDLE.sub(" ", _LINK.sub(" ", text))
    if text.isascii() and "-" not in text:
        # In ASCII text without hyphens the words are the runs of letters:
        # str methods find them several times faster than _WORD, and there
        # are no umlauts to fold.
        joined = " ".join(text.lower().translate(_ASCII_NOT_LETTER).split())
    else:
        # Normalising the joined words at once is the same as word by word
        # (a space stops a repeat) and several times faster. Without a hyphen
        # the words are plain letter runs, which the engine finds quicker.
        found = _WORD.findall(text) if "-" in text else _LETTER_RUNS.findall(text)
        joined = fold_umlauts(" ".join(found).lower())
    if _TRIPLE.search(joined):
        joined = _REPEAT.sub(r"\1\1", joined)
    ws = joined.split()
    if ignored and _may_ignore(ignored, ws, joined):
        prefixes = _prefixes(ignored)
        ws = [w for w in ws if w not in ignored and not (prefixes and w.startswith(prefixes))]
    return ws


def _may_ignore(ignored: frozenset[str], ws: list[str], joined: str) -> bool:
    # One set test and one scan instead of two tests per word: most posts
    # have no ignored word, and then there is nothing to filter.
    if not ignored.isdisjoint(ws):
        return True
    starts = _prefix_starts(ignored)
    return starts is not None and starts.search(joined) is not None


@lru_cache(maxsize=16)
def _prefix_starts(ignored: frozenset[str]) -> re.Pattern[str] | None:
    """Finds an ignored prefix at the start of a word of space-joined words."""
    prefixes = _prefixes(ignored)
    if not prefixes:
        return None
    if any(not p or p != "".join(p.split()) for p in prefixes):
        return re.compile("")  # a prefix with a space (or an empty one): always filter word by word
    return re.compile(r"(?<![^ ])(?:" + "|".join(map(re.escape, prefixes)) + ")")


def _pieces(ws: set[str] | list[str]) -> set[str]:
    out = set()
    for w in ws:
        padded = "<" + w + ">"
        out.update(padded[i : i + 4] for i in range(len(padded) - 3))
        out.update(padded[i : i + 5] for i in range(len(padded) - 4))
    return out


def features(text: str, ignored: frozenset[str] = frozenset()) -> set[str]:
    """The model's binary features of a post: "w:word", "b:word word" and
    "c:<piece>" (4 and 5 letters of a word padded with < and >)."""
    ws = words(text, ignored)
    out = {"w:" + w for w in ws}
    out.update("c:" + p for p in _pieces(set(ws)))
    out.update("b:" + a + " " + b for a, b in zip(ws, ws[1:]))
    return out


@dataclass(frozen=True)
class AbuseModel:
    """Weights of a logistic model; `threshold` is the probability from
    which a post is flagged (chosen on the tuning data, see the file)."""

    language: str
    bias: float
    weights: dict[str, float]
    threshold: float
    ignored: frozenset[str]
    source: str = ""
    # The weights split by kind, without their "w:"/"b:"/"c:" prefixes, so
    # scoring looks features up without building prefixed strings.
    _by_kind: dict[str, dict[str, float]] = field(init=False, repr=False, compare=False)
    _piece_memo: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    # word -> the most it can add on its own (see ceiling); pair start -> strongest positive pair
    _word_ceiling: dict[str, float] = field(init=False, repr=False, compare=False)
    _pair_ceiling: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_kind: dict[str, dict[str, float]] = {"w": {}, "b": {}, "c": {}}
        for name, weight in self.weights.items():
            kind, _, key = name.partition(":")
            if kind in by_kind:
                by_kind[kind][key] = weight
        object.__setattr__(self, "_by_kind", by_kind)
        object.__setattr__(self, "_piece_memo", {})
        object.__setattr__(self, "_word_ceiling", {})
        pairs: dict[str, float] = {}
        for pair, weight in by_kind["b"].items():
            first = pair.split(" ", 1)[0]
            if weight > pairs.get(first, 0.0):
                pairs[first] = weight
        object.__setattr__(self, "_pair_ceiling", pairs)

    def score(self, text: str) -> float:
        """Probability-like score in [0, 1] that the post is abusive."""
        return self._score(words(text, self.ignored))

    def score_reaching(self, text: str, threshold: float) -> float | None:
        """The score of `text` if it may reach `threshold`, else None.

        Scoring is the costly part of the German check, and most posts could
        not reach the threshold even if every word counted at its strongest
        (see ceiling): those are told apart with two lookups a word. The
        answer is the same as comparing `score` with the threshold."""
        ws = words(text, self.ignored)
        if (
            0.0 < threshold < 1.0
            and self.ceiling(ws) < math.log(threshold / (1.0 - threshold)) - CEILING_MARGIN
        ):
            return None
        return self._score(ws)

    def ceiling(self, ws: list[str]) -> float:
        """An upper bound of the logit `_score` computes for the words `ws`:
        the bias, each distinct word's positive weight and positive piece
        weights (pieces shared by two words counted twice), and for each
        word but the last the strongest positive pair it can start."""
        memo, pair = self._word_ceiling, self._pair_ceiling
        z = self.bias
        for w in set(ws):
            most = memo.get(w)
            if most is None:
                most = self._most_from(w)
            z += most
        z += sum(map(pair.get, ws[:-1], repeat(0.0)))
        return z

    def _most_from(self, word: str) -> float:
        if len(self._word_ceiling) >= 50_000:  # bounded like _piece_memo
            self._word_ceiling.clear()
        pieces = self._by_kind["c"]
        most = max(self._by_kind["w"].get(word, 0.0), 0.0)
        most += sum(w for w in map(pieces.__getitem__, self._known_pieces(word)) if w > 0)
        self._word_ceiling[word] = most
        return most

    def _score(self, ws: list[str]) -> float:
        unique = set(ws)
        get_w, get_b = self._by_kind["w"].get, self._by_kind["b"].get
        # The same sums in the same order as written out longhand; map() just
        # keeps the loops in C.
        z = self.bias
        z += sum(map(get_w, unique, repeat(0.0)))
        pieces: set[str] = set()
        memo = self._piece_memo
        for w in unique:
            known = memo.get(w)
            pieces.update(known if known is not None else self._known_pieces(w))
        z += sum(map(self._by_kind["c"].__getitem__, pieces))
        z += sum(map(get_b, {a + " " + b for a, b in zip(ws, ws[1:])}, repeat(0.0)))
        # Clamp so a freak post cannot overflow exp().
        z = max(-60.0, min(60.0, z))
        return 1.0 / (1.0 + math.exp(-z))

    def _known_pieces(self, word: str) -> tuple[str, ...]:
        """The word's pieces that have a weight, remembered per word: the
        same words recur from post to post. The memory is emptied when
        full, so a flood of new words cannot grow it without bound."""
        known = self._piece_memo.get(word)
        if known is None:
            if len(self._piece_memo) >= 50_000:
                self._piece_memo.clear()
            weights = self._by_kind["c"]
            known = tuple(p for p in _pieces((word,)) if p in weights)
            self._piece_memo[word] = known
        return known

    def strongest_words(self, text: str, limit: int = 3) -> list[tuple[str, int, int, float]]:
        """The words that pushed the score up most (a word's own weight plus
        its letter pieces) as (word, start, end, weight), strongest first:
        what the operator is shown as the reason for a flag."""
        best: dict[str, tuple[str, int, int, float]] = {}
        for w, start, end in word_spans(text, self.ignored):
            if w in best:
                continue
            padded = "<" + w + ">"
            total = self.weights.get("w:" + w, 0.0)
            total += sum(
                self.weights.get("c:" + padded[i : i + n], 0.0)
                for n in PIECE_LENGTHS
                for i in range(len(padded) - n + 1)
            )
            if total > 0:
                best[w] = (w, start, end, total)
        return sorted(best.values(), key=lambda item: (-item[3], item[1]))[:limit]


def load_abuse_model(path: Path | str) -> AbuseModel:
    """Read a model file; raises ValueError with a reason a person can act on."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"model file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"model file {path} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"model file {path} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(
            f'model file {path} is not a {FORMAT} file (its "format" must be {FORMAT!r})'
        )
    problems = []
    language = data.get("language")
    if not isinstance(language, str) or not language:
        problems.append('"language" must be a language code such as "de"')
    bias = data.get("bias")
    if isinstance(bias, bool) or not isinstance(bias, (int, float)):
        problems.append('"bias" must be a number')
    threshold = data.get("threshold")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0 < threshold < 1
    ):
        problems.append('"threshold" must be a number between 0 and 1')
    weights = data.get("weights")
    if not isinstance(weights, dict) or not weights:
        problems.append('"weights" must be a non-empty mapping of feature to number')
        weights = {}
    bad = [k for k, v in weights.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        problems.append(f"weight of {bad[0]!r} is not a number")
    ignored = data.get("ignored_words", [])
    if not isinstance(ignored, list) or not all(isinstance(w, str) for w in ignored):
        problems.append('"ignored_words" must be a list of words')
        ignored = []
    if problems:
        raise ValueError(f"model file {path}: " + "; ".join(problems))
    return AbuseModel(
        language,
        float(bias),
        {k: float(v) for k, v in weights.items()},
        float(threshold),
        frozenset(ignored),
        str(path),
    )
