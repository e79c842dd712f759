"""The conduct phrase lists for one set of languages, ready for every post.

`find_abuse` may run up to three phrase patterns per language (not_abusive,
high, medium) on every post that arrives, each behind its literal gate (see
prefilter). A `PhraseScreen` is built once per language set when the rules
load: each pattern's gate resolved up front instead of looked up per call,
the patterns in the order find_abuse tries them, and one gate for all of
them together in front. The common post contains none of the literals any
phrase needs, so one scan of it replaces three; findings are the same,
because no pattern can match a text its gate turns away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .prefilter import LiteralGate, literal_gate, required_literals


@dataclass(frozen=True)
class GatedPattern:
    """One phrase pattern with its literal gate (None: always run it)."""

    pattern: re.Pattern[str]
    gate: LiteralGate | None

    def may_match(self, text: str) -> bool:
        """False only when the pattern certainly does not match `text`."""
        return self.gate is None or self.gate.may_match(text)


def gated(pattern: re.Pattern[str]) -> GatedPattern:
    """The pattern with its gate worked out now."""
    return GatedPattern(pattern, literal_gate(pattern))


class PhraseScreen:
    """The not_abusive and abusive patterns for `languages`, in the order
    find_abuse applies them, with one gate in front of them all."""

    __slots__ = ("excuses", "abusive", "_gate")

    def __init__(
        self,
        excuses: list[tuple[str, re.Pattern[str]]],
        abusive: list[tuple[str, str, re.Pattern[str]]],
    ):
        # (language, pattern) and (severity, language, pattern), in find_abuse's order.
        self.excuses = tuple((lang, gated(p)) for lang, p in excuses)
        self.abusive = tuple((severity, lang, gated(p)) for severity, lang, p in abusive)
        literals: set[str] = set()
        for p in [p for _, p in excuses] + [p for _, _, p in abusive]:
            literals |= required_literals(p) or {""}
        # A pattern without a gate must always run, and so must the screen.
        # A literal's inner part is needed too: " yourself" -> "yourself", so
        # that spaces are not among the places the scan must stop at.
        literals = {lit.strip() or lit for lit in literals}
        self._gate = LiteralGate(literals) if literals and "" not in literals else None

    def may_match(self, text: str) -> bool:
        """False only when none of the phrase patterns can match `text`."""
        return self._gate is None or self._gate.may_match(text)
