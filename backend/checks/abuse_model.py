"""A compact abusive-language model: hashed n-grams, a linear model, numpy.

The conduct check (rules/conduct.yaml) scores each inbound post with one
model per language. Features are hashed, so the model file is a fixed-size
array of weights (rules/conduct_<lang>_model.npz, written by
training/train_conduct.py) and nothing else needs storing:

- the post is normalised (`normalise`): lower case, umlauts folded, links,
  @handles and the model's ignored words removed, digits made "0", letter
  runs of three or more shortened to two, everything else a single space;
- features are the distinct character 3-, 4- and 5-grams of " text " and its
  words and word pairs, each hashed into 2**bits buckets;
- score = sigmoid(bias + sum of the buckets' weights / sqrt(max(number of
  distinct buckets, norm_floor))). The floor keeps a short post ("Ich
  hasse diese App") from being scored as if each word were a whole tweet.

Hashing is vectorised over a whole batch (polynomial hashes of spans from
one prefix sum), so scoring is numpy only and the training script builds
its matrix with the very same `hashed` function: run-time scores are the
training-time scores.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "shiftdesk-abuse-model/2"
CHAR_NS = (3, 4, 5)

_LINK = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"@\w+")
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NOT_WORD = re.compile(r"[^a-z0-9\u00c0-\u024f]+")
_DIGITS = re.compile(r"[0-9]+")
_REPEAT = re.compile(r"(.)\1{2,}")

REMEMBERED_SCORES = 20_000  # texts whose score is kept (about 2 MB)
_P = np.uint64(0x100000001B3)  # odd, so it has an inverse modulo 2**64
_P_INV = np.uint64(pow(0x100000001B3, -1, 2**64))
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads the top bits
_SALT_WORD = np.uint64(0xA5A5A5A5A5A5A5A5)
_SALT_PAIR = np.uint64(0x5A5A5A5A5A5A5A5A)
_SEP = "\x01"  # between posts of a batch; never inside a normalised post


def normalise(text: str, ignored: frozenset[str] = frozenset()) -> str:
    """The text the features are read from: " word word … " (see module doc).

    An ignored entry ending in "*" drops every word starting with it."""
    text = _HANDLE.sub(" ", _LINK.sub(" ", text)).lower().translate(_FOLD)
    text = _DIGITS.sub("0", _NOT_WORD.sub(" ", text))
    text = _REPEAT.sub(r"\1\1", text)
    ws = text.split()
    if ignored:
        prefixes = _prefixes(ignored)
        ws = [w for w in ws if w not in ignored and not (prefixes and w.startswith(prefixes))]
    return " " + " ".join(ws) + " "


@functools.lru_cache(maxsize=16)
def _prefixes(ignored: frozenset[str]) -> tuple[str, ...]:
    # Once per model, not once per text: a model ignores a hundred-odd words, and
    # strongest_words normalises each word of a flagged post on its own (a sixth of
    # listening's time on GermEval's tweets went to building this tuple again).
    return tuple(w[:-1] for w in ignored if w.endswith("*"))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)  # wraps modulo 2**64, as intended


def hashed(normalised: Sequence[str], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct feature buckets of each normalised post.

    Returns (ptr, idx): post i's buckets are idx[ptr[i]:ptr[i + 1]], sorted.
    One pass of numpy over the whole batch."""
    if not normalised:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    joined = _SEP.join(normalised)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1
    n = len(codes)
    with np.errstate(over="ignore"):
        pw, inv = _powers(_P, n + 1), _powers(_P_INV, n + 1)
        # S[i] = sum_{j<i} c_j * P^-j; the hash of span [a, b) is (S[b] - S[a]) * P^(b-1),
        # the same number wherever the span sits.
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(codes * inv[:n], out=prefix[1:])
        is_sep = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32) == 1
        post_of = np.concatenate(([0], np.cumsum(is_sep)))  # post index at each position
        starts_all, hashes_all, posts_all = [], [], []

        def spans(a: np.ndarray, b: np.ndarray, salt: np.uint64) -> None:
            h = (prefix[b] - prefix[a]) * pw[b - 1]
            starts_all.append(a)
            hashes_all.append((h ^ salt) * _MIX)
            posts_all.append(post_of[a])

        for k in CHAR_NS:
            if n < k:
                continue
            a = np.arange(n - k + 1)
            ok = post_of[a] == post_of[a + k]  # no separator inside
            a = a[ok]
            spans(a, a + k, np.uint64(k))
        space = np.flatnonzero(np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32) == 32)
        if len(space) > 1:
            same = post_of[space[:-1]] == post_of[space[1:]]
            a, b = space[:-1][same], space[1:][same] + 1  # " word "
            spans(a, b, _SALT_WORD)
            if len(space) > 2:
                same2 = post_of[space[:-2]] == post_of[space[2:]]
                a, b = space[:-2][same2], space[2:][same2] + 1  # " word word "
                spans(a, b, _SALT_PAIR)
        hashes = np.concatenate(hashes_all)
        posts = np.concatenate(posts_all).astype(np.int64)
    idx = (hashes >> np.uint64(64 - bits)).astype(np.int64)
    key = np.unique(posts * (1 << bits) + idx)
    post_ids, buckets = key >> bits, key & ((1 << bits) - 1)
    ptr = np.searchsorted(post_ids, np.arange(len(normalised) + 1))
    return ptr.astype(np.int64), buckets


@dataclass(frozen=True)
class AbuseModel:
    """A language's model: weights per bucket and the two operating points.

    `possible` is the score from which a post is "possibly abusive" (an
    advisory, chosen for recall); `abusive` the score from which it is
    abusive and the conversation goes to house rules (chosen for
    precision). Both were chosen by cross-validation on training data."""

    language: str
    bits: int
    bias: float
    weights: np.ndarray = field(repr=False)
    abusive: float
    possible: float
    ignored: frozenset[str]
    meta: dict = field(default_factory=dict, repr=False, compare=False)
    source: str = ""
    norm_floor: int = 1
    _remembered: dict[str, float] = field(
        default_factory=dict, repr=False, compare=False, init=False
    )

    @property
    def threshold(self) -> float:
        """The routing threshold (the "abusive" operating point)."""
        return self.abusive

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """bias + weights of each text's buckets / sqrt(their number)."""
        ptr, idx = hashed([normalise(t, self.ignored) for t in texts], self.bits)
        w = self.weights[idx].astype(np.float64)
        sums = np.add.reduceat(w, ptr[:-1]) if len(w) else np.zeros(len(texts))
        counts = np.diff(ptr)
        sums = np.where(counts > 0, sums, 0.0)  # reduceat repeats a value for empty rows
        return self.bias + sums / np.sqrt(np.maximum(counts, max(self.norm_floor, 1)))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in [0, 1] for a batch of posts (the fast way for many)."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(texts), -60, 60)))

    def score(self, text: str) -> float:
        """Score in [0, 1] that one post is abusive.

        Remembered per text (bounded): a pile-on repeats the same few texts thousands of
        times, and one post costs about 0.5 ms of numpy calls (bench/ingest.py fell from
        5,495 to 1,328 posts/s on the pileon scenario when every copy was scored again)."""
        found = self._remembered.get(text)
        if found is None:
            found = float(self.scores([text])[0])
            if len(self._remembered) >= REMEMBERED_SCORES:
                self._remembered.pop(next(iter(self._remembered)))  # the oldest first
            self._remembered[text] = found
        return found

    def strongest_words(self, text: str, limit: int = 3) -> list[tuple[str, int, int, float]]:
        """The words that push the score up most, scored one by one, as
        (word, start, end, weight), strongest first: the reason the
        operator is shown. Spans index `text`."""
        found = [
            (m.group(), m.start(), m.end())
            for m in re.finditer(r"(?<![@#\w/.])[^\W_]+(?:[-'][^\W_]+)*", text)
            if not m.group().startswith(("http", "www"))
        ]
        found = [f for f in found if normalise(f[0], self.ignored).strip()]
        if not found:
            return []
        ws = self.logits([w for w, _, _ in found]) - self.logits([""])[0]
        best: dict[str, tuple[str, int, int, float]] = {}
        for (w, s, e), z in zip(found, ws):
            key = w.lower()
            if z > 0 and key not in best:
                best[key] = (w, s, e, float(z))
        return sorted(best.values(), key=lambda item: (-item[3], item[1]))[:limit]


def load_abuse_model(path: Path | str) -> AbuseModel:
    """Read a model file; raises ValueError with a reason a person can act on."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            weights = np.asarray(data["weights"], dtype=np.float32)
    except FileNotFoundError:
        raise ValueError(f"model file {path} not found") from None
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"model file {path} cannot be read as a model: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"model file {path} is not a {FORMAT} file")
    problems = []
    bits = meta.get("bits")
    if not isinstance(bits, int) or not 8 <= bits <= 24 or weights.shape != (1 << bits,):
        problems.append('"bits" must match the number of weights (2**bits)')
    language = meta.get("language")
    if not isinstance(language, str) or not language:
        problems.append('"language" must be a language code such as "de"')
    points = meta.get("thresholds", {})
    for key in ("abusive", "possible"):
        v = points.get(key) if isinstance(points, dict) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
            problems.append(f'"thresholds.{key}" must be a number between 0 and 1')
    bias = meta.get("bias")
    if isinstance(bias, bool) or not isinstance(bias, (int, float)):
        problems.append('"bias" must be a number')
    ignored = meta.get("ignored_words", [])
    if not isinstance(ignored, list) or not all(isinstance(w, str) for w in ignored):
        problems.append('"ignored_words" must be a list of words')
    if problems:
        raise ValueError(f"model file {path}: " + "; ".join(problems))
    assert isinstance(language, str) and isinstance(bits, int) and bias is not None
    return AbuseModel(
        language,
        bits,
        float(bias),
        weights,
        float(points["abusive"]),
        float(points["possible"]),
        frozenset(ignored),
        meta,
        str(path),
        int(meta.get("norm_floor", 1)),
    )


def save_abuse_model(path: Path | str, meta: dict, weights: np.ndarray) -> None:
    """Write a model file: float16 weights and the metadata as JSON text."""
    np.savez_compressed(
        Path(path),
        weights=weights.astype(np.float16),
        meta=np.array(json.dumps({"format": FORMAT, **meta}, ensure_ascii=False)),
    )
