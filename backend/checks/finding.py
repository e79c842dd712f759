"""What a check reports: one finding per problem, for the composer or the queue.

A finding's message and suggestion are texts (`backend.i18n`): a rules file's wording per
language, or a catalog text, rendered for whoever reads it. `to_dict(language)` is what the
API returns; `stored()` is what the database keeps (the English as before, plus the texts
whole), and `render_stored` shows a kept finding in a reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.i18n import SOURCE_LANGUAGE, Message, Text, dump, load

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
    message: Message
    suggestion: Message | None = None
    start: int | None = None
    end: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, language: str = SOURCE_LANGUAGE) -> dict[str, Any]:
        """Plain JSON-ready form, its texts in `language` beside their ids and params."""
        return _shown(self.check, self.kind, self.message, self.suggestion, self, language)

    def stored(self) -> dict[str, Any]:
        """What the database keeps: the English form plus the texts whole, for `render_stored`."""
        return {
            **self.to_dict(),
            "detail": dict(self.detail or {}),  # with the reason whole (WHY)
            "texts": {
                "message": dump(self.message),
                "suggestion": dump(self.suggestion) if self.suggestion is not None else None,
            },
        }


WHY = "why"  # a detail key: why the check fired, kept whole (i18n.dump) to show per language


def why(reason: Text) -> dict[str, Any]:
    """Detail entries saying why a check fired: `reason` in English (logs, older readers)
    and the text whole, which `_shown` renders as `reason` in the reader's language."""
    return {"reason": str(reason), WHY: dump(reason)}


def _shown(
    check: str,
    kind: str,
    message: Message,
    suggestion: Message | None,
    where: Finding | Mapping[str, Any],
    language: str,
) -> dict[str, Any]:
    def get(key: str) -> Any:
        return getattr(where, key) if isinstance(where, Finding) else where.get(key)

    said = message.ref()
    advice = suggestion.ref() if suggestion is not None else None
    return {
        "check": check,
        "kind": kind,
        "message": message.render(language),
        "message_id": said["id"],
        "suggestion": suggestion.render(language) if suggestion is not None else "",
        "suggestion_id": advice["id"] if advice else None,
        # One set of params: the message's and the suggestion's never disagree.
        "params": {**(advice["params"] if advice else {}), **said["params"]},
        "start": get("start"),
        "end": get("end"),
        "detail": _detail(get("detail"), language),
    }


def _detail(detail: Any, language: str) -> dict[str, Any]:
    shown = dict(detail or {})
    kept = shown.pop(WHY, None)
    if kept is not None:
        shown["reason"] = load(kept).render(language)
    return shown


def render_stored(finding: Any, language: str) -> Any:
    """A finding the database kept (`Finding.stored`), shown in `language` like `to_dict`.

    Rows from before texts were kept have no "texts": they are shown as they are (English)."""
    if not isinstance(finding, dict) or not isinstance(finding.get("texts"), dict):
        return finding
    texts = finding["texts"]
    message = load(texts.get("message"))
    suggestion = load(texts["suggestion"]) if texts.get("suggestion") is not None else None
    return _shown(
        str(finding.get("check", "")),
        str(finding.get("kind", "")),
        message,
        suggestion,
        finding,
        language,
    )


def render_all_stored(findings: Any, language: str) -> Any:
    """`render_stored` for each of a list (flags, advisories); anything else as it is."""
    if not isinstance(findings, list):
        return findings
    return [render_stored(f, language) for f in findings]
