"""Cheap tests that tell when an expensive pattern cannot match a text.

Ingest runs the privacy and abuse patterns on every post, and almost every
post has neither. These gates answer "can this pattern match here?" with a
fast scan and never say no when the pattern would match, so running the
pattern only when the gate says yes gives exactly the same findings.

- `needs_digit(pattern)`: every match contains a digit (order numbers,
  phone numbers), so a text without one can be skipped.
- `LiteralGate`: every match of a phrase list contains one of a few literal
  strings ("idiot", "verreck", "kys"), read from the pattern itself; a text
  containing none of them can be skipped.

Both read the pattern's parse tree (the standard library's own parser) and
give up — no gate, always run the pattern — on anything they do not know.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The regex parser, to read what a pattern needs (Python 3.11+ keeps it here; the old
# sre_* names warn). typeshed does not describe these private modules.
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _p  # type: ignore[attr-defined]
from typing import Any

_DIGIT = re.compile(r"\d")
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_GROUPS = {_c.SUBPATTERN, getattr(_c, "ATOMIC_GROUP", _c.SUBPATTERN)}
_ZERO_WIDTH = {_c.AT, _c.ASSERT, _c.ASSERT_NOT}
CAP = 256  # most literal alternatives one part of a pattern may expand to


def has_digit(text: str) -> bool:
    """Whether `text` has a digit as the regex `\\d` sees one (any script)."""
    return _DIGIT.search(text) is not None


def _body(op: Any, av: Any) -> Any:
    return av[-1] if op in _GROUPS else av


def needs_digit(pattern: re.Pattern[str]) -> bool:
    """True only when every match of `pattern` must contain a digit."""
    return min_digits(pattern) > 0


def min_digits(pattern: re.Pattern[str]) -> int:
    """How many digits (as \\d sees them) every match of `pattern` contains at
    least: 6 for "ACM-?\\d{6}", 0 when this reading cannot tell."""
    try:
        return _seq_min_digits(_p.parse(pattern.pattern, pattern.flags))
    except Exception:  # a construct this reading does not know: no shortcut
        return 0


def _seq_min_digits(seq: Any) -> int:
    return sum(_item_min_digits(op, av) for op, av in seq)


def _item_min_digits(op: Any, av: Any) -> int:
    if op is _c.LITERAL:
        return 1 if _DIGIT.match(chr(av)) is not None else 0
    if op is _c.IN:
        return 1 if av and all(_in_item_is_digit(o, a) for o, a in av) else 0
    if op in _GROUPS:
        return _seq_min_digits(_body(op, av))
    if op in _REPEATS:
        return av[0] * _seq_min_digits(av[2])
    if op is _c.BRANCH:
        return min(_seq_min_digits(branch) for branch in av[1])
    return 0


def count_digits(text: str) -> int:
    """How many characters of `text` the regex `\\d` matches."""
    if text.isascii():
        return sum(map(text.count, "0123456789"))
    return len(_DIGIT.findall(text))


def _in_item_is_digit(op: Any, av: Any) -> bool:
    if op is _c.CATEGORY:
        return av is _c.CATEGORY_DIGIT
    if op is _c.LITERAL:
        return _DIGIT.match(chr(av)) is not None
    if op is _c.RANGE:
        return av[0] >= ord("0") and av[1] <= ord("9")
    return False  # NEGATE and anything else


# ---- literals every match must contain ------------------------------------


def _product(a: set[str], b: set[str]) -> set[str] | None:
    if len(a) * len(b) > CAP:
        return None
    return {x + y for x in a for y in b}


def _exact(seq: Any) -> set[str] | None:
    """Every string `seq` can match, when that is a small finite set; else None."""
    out: set[str] | None = {""}
    for op, av in seq:
        e = _exact_item(op, av)
        if e is None or out is None:
            return None
        out = _product(out, e)
    return out


def _exact_item(op: Any, av: Any) -> set[str] | None:
    if op is _c.LITERAL:
        return {chr(av)}
    if op is _c.IN:
        if av and all(o is _c.LITERAL for o, _ in av):
            return {chr(a) for _, a in av}
        return None
    if op in _ZERO_WIDTH:
        return {""}  # anchors and lookarounds consume nothing
    if op in _GROUPS:
        return _exact(_body(op, av))
    if op is _c.BRANCH:
        out: set[str] = set()
        for branch in av[1]:
            e = _exact(branch)
            if e is None:
                return None
            out |= e
        return out if len(out) <= CAP else None
    if op in _REPEATS:
        low, high, body = av
        if high > 3:
            return None
        e = _exact(body)
        if e is None:
            return None
        out, power = set(), {""}
        for count in range(high + 1):
            if count >= low:
                out |= power
            if count < high:
                nxt = _product(power, e)
                if nxt is None:
                    return None
                power = nxt
        return out if len(out) <= CAP else None
    return None


def _better(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    """The more selective of two candidate sets (longest shortest string, then fewest)."""

    def usable(s: set[str] | None) -> bool:
        return s is not None and "" not in s

    if not usable(a):
        return b if usable(b) else None
    if not usable(b):
        return a
    assert a is not None and b is not None
    ka, kb = (min(map(len, a)), -len(a)), (min(map(len, b)), -len(b))
    return a if ka >= kb else b


def required(seq: Any) -> set[str] | None:
    """Strings of which every match of `seq` contains at least one; None if unknown."""
    best: set[str] | None = None
    run: set[str] = {""}  # strings the items walked so far match exactly
    for op, av in seq:
        e = _exact_item(op, av)
        joined = _product(run, e) if e is not None else None
        if joined is not None:
            run = joined
            continue
        best = _better(best, run)
        if e is not None:
            run = e
            continue
        repeated = _exact(av[2]) if op in _REPEATS and av[0] >= 1 else None
        if repeated is not None:
            # "f\*+k": the first copy joins what came before ("f*"), the last
            # copy what comes after ("*k"), however many copies there are.
            joined = _product(run, repeated)
            best = _better(best, joined if joined is not None else repeated)
            run = repeated
        else:
            run = {""}
            best = _better(best, _required_item(op, av))
    return _better(best, run)


def _required_item(op: Any, av: Any) -> set[str] | None:
    if op in _GROUPS:
        return required(_body(op, av))
    if op in _REPEATS:
        return required(av[2]) if av[0] >= 1 else None
    if op is _c.BRANCH:
        out: set[str] = set()
        for branch in av[1]:
            r = required(branch)
            if r is None:
                return None
            out |= r
        return out
    return None


class LiteralGate:
    """Whether a text contains one of the literals a pattern needs.

    Case is compared the way the regex engine compares it with IGNORECASE
    (including its odd pairs like "ſ"/"s", "K"/"k", "ı"/"i"): each literal
    character stands for its class of characters the engine treats as equal,
    found by asking the engine itself, so the gate never says no where the
    pattern says yes.
    """

    def __init__(self, literals: set[str]):
        # An ASCII capital matches exactly what its small letter matches under
        # IGNORECASE; with small letters first, they stand for their class.
        literals = {"".join(ch.lower() if ch.isascii() else ch for ch in lit) for lit in literals}
        alphabet = sorted(
            {ch for lit in literals for ch in lit},
            key=lambda c: (not (c.isascii() and c.islower()), c),
        )
        self._rep: dict[str, str] = {}
        self._matchers = []
        for ch in alphabet:
            same = [
                self._rep[o] for o in self._rep if re.fullmatch(re.escape(o), ch, re.IGNORECASE)
            ]
            self._rep[ch] = same[0] if same else ch
            self._matchers.append((re.compile(re.escape(ch), re.IGNORECASE), self._rep[ch]))
        canon = shortest_needed({"".join(self._rep[ch] for ch in lit) for lit in literals})
        self._table = _CanonTable(self._matchers)
        # For ASCII text str.lower() gives the same stand-ins, several times faster
        # than translate: no ASCII character is equal to a letter outside its case pair.
        reps = set(self._rep.values())
        self._ascii_lower = all(
            chr(self._table[code]) == chr(code).lower()
            for code in range(128)
            if chr(self._table[code]) in reps
        )
        self._search = re.compile(trie_pattern(canon)).search
        # The same stand-ins as a 256-byte table, when every Latin-1 character's
        # stand-in is Latin-1 too: German text (umlauts, ß) is then mapped by
        # bytes.translate in C instead of a dict lookup per character.
        latin1 = [self._table[code] for code in range(256)]
        latin1 = [ord(v) if isinstance(v, str) else v for v in latin1]
        self._latin1 = bytes(latin1) if all(v < 256 for v in latin1) else None

    def may_match(self, text: str) -> bool:
        """False only when the gated pattern certainly does not match `text`."""
        canon: str | None
        if text.isascii():
            canon = text.lower() if self._ascii_lower else text.translate(self._table)
        else:
            canon = self._latin1_canon(text) if self._latin1 is not None else None
            if canon is None:
                canon = text.translate(self._table)
        return "\x00" in canon or self._search(canon) is not None

    def _latin1_canon(self, text: str) -> str | None:
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:  # emoji, other scripts: the general table
            return None
        return raw.translate(self._latin1).decode("latin-1")


def shortest_needed(literals: set[str]) -> set[str]:
    """The literals without those containing another one ("der blöd" goes when
    "blöd" is there): a text with the longer one has the shorter one too, so
    the gate answers the same with fewer literals to try."""
    out = set()
    for lit in literals:
        n = len(lit)
        if not any(
            lit[i:j] in literals for i in range(n) for j in range(i + 1, n + 1) if j - i < n
        ):
            out.add(lit)
    return out


def trie_pattern(literals: set[str]) -> str:
    """One regex for a set of literals, shared prefixes merged ("idiot|idioten" ->
    "idiot(?:en)?"-like): the engine then tries a few first letters at each
    position instead of every literal, several times faster on long lists."""
    trie: dict[str, Any] = {}
    for lit in literals:
        node = trie
        for ch in lit:
            node = node.setdefault(ch, {})
        node[""] = {}  # a literal ends here

    def build(node: dict[str, Any]) -> str:
        if "" in node:
            return ""  # a shorter literal already matches; longer ones add nothing
        parts = [re.escape(ch) + build(child) for ch, child in sorted(node.items())]
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"

    return build(trie)


class _CanonTable(dict):
    """str.translate table: a character -> its class's stand-in, worked out on first sight.

    Grows by one entry per distinct character ever seen (bounded by Unicode)."""

    def __init__(self, matchers: list[tuple[re.Pattern[str], str]]):
        super().__init__()
        self._matchers = matchers

    def __missing__(self, code: int) -> int | str:
        ch = chr(code)
        reps = {rep for m, rep in self._matchers if m.fullmatch(ch)}
        # A character equal to letters of two classes (never seen in practice)
        # becomes NUL, which makes may_match answer yes.
        value: int | str = ord(reps.pop()) if len(reps) == 1 else (code if not reps else "\x00")
        self[code] = value
        return value


def required_literals(pattern: re.Pattern[str]) -> set[str] | None:
    """Literals of which every match of `pattern` contains one, or None when
    there are none to rely on."""
    try:
        literals = required(_p.parse(pattern.pattern, pattern.flags))
    except Exception:  # a construct this reading does not know: no shortcut
        return None
    if not literals or "" in literals or "\x00" in "".join(literals):
        return None
    return literals


@lru_cache(maxsize=256)
def literal_gate(pattern: re.Pattern[str]) -> LiteralGate | None:
    """A gate for `pattern`, or None when no literal is needed by every match."""
    literals = required_literals(pattern)
    return None if literals is None else LiteralGate(literals)
