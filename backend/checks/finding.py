"""What a check reports: one finding per problem, for the composer or the queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ADVISORY = "advisory"  # warns; the operator may send anyway
REFUSAL = "refusal"  # blocks sending (personal data in a public reply)
FLAG = "flag"  # marks an inbound post (personal data, abuse)


@dataclass(frozen=True)
class Finding:
    """One problem found in a text.

    `check` names the rule ("defensive", "personal_data", "abusive", ...),
    `kind` says what the console does with it, `start`/`end` is the character
    span in the checked text (None when the finding is about the whole text,
    such as a missing apology).
    """

    check: str
    kind: str
    message: str
    suggestion: str = ""
    start: int | None = None
    end: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "check": self.check,
            "kind": self.kind,
            "message": self.message,
            "suggestion": self.suggestion,
            "start": self.start,
            "end": self.end,
            "detail": dict(self.detail),
        }
