"""Composer and queue checks for habits 3-5: tone, personal data, house rules.

Pure functions on plain data. The rules come from rules/tone.yaml,
rules/privacy.yaml and rules/conduct.yaml via `load_rules`; the backend
calls `check_outbound` before queueing a reply and `check_inbound` when a
post arrives.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.i18n import say

from . import conduct as _conduct
from . import privacy as _privacy
from . import tone as _tone
from .canned import find_canned
from .finding import ADVISORY, FLAG, REFUSAL, Finding
from .language import languages_for
from .rules import CheckRules, load_rules
from .tone import check_tone

__all__ = [
    "ADVISORY",
    "FLAG",
    "REFUSAL",
    "CheckRules",
    "Finding",
    "bio_for",
    "check_inbound",
    "check_outbound",
    "load_rules",
    "mask_personal_data",
    "suggested_conduct_reply",
]

CHANNELS = ("public", "dm")


def _channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"channel must be 'public' or 'dm', got {channel!r}")
    return channel


def _personal_data(rules: CheckRules, text: str, kind: str) -> list[Finding]:
    p = rules.privacy
    message, suggestion = (
        (p.refusal_message, p.refusal_suggestion)
        if kind == REFUSAL
        else (p.flag_message, p.flag_suggestion)
    )
    findings = []
    for item in _privacy.find_personal_data(p, text):
        what = _privacy.describe(item)
        if item.type == "service_number":
            # A company's line, not a person's: outbound an advisory, inbound nothing.
            if kind == REFUSAL:
                findings.append(
                    Finding(
                        "service_number",
                        ADVISORY,
                        say(
                            "finding.service_number",
                            "{message} ({number})",
                            message=p.service_message,
                            number=item.text.strip(),
                        ),
                        p.service_suggestion,
                        item.start,
                        item.end,
                        {"type": item.type, "what": what},
                    )
                )
            continue
        findings.append(
            Finding(
                "personal_data",
                kind,
                say(
                    "finding.personal_data",
                    "{message} ({what} at {start}–{end})",
                    message=message,
                    what=_privacy.describe_text(item),
                    start=item.start + 1,
                    end=item.end,
                ),
                suggestion,
                item.start,
                item.end,
                {"type": item.type, "what": what, "masked": _privacy.mask(p, item.text)},
            )
        )
    return findings


def check_outbound(
    rules: CheckRules,
    text: str,
    *,
    channel: str,
    language: str | None = None,
    customer_name: str | None = None,
    customer_upset: bool = False,
    recent_replies: Sequence[str] = (),
    templates: Sequence[str] = (),
    earlier_replies: Sequence[str] = (),
    customer_handle: str | None = None,
    customer_text: str | None = None,
) -> list[Finding]:
    """Findings for a reply or DM the operator is about to send.

    Personal data in a public reply is a refusal (the backend must not send
    it); in a DM it is allowed. The brand's own service numbers are an
    advisory. Everything else is an advisory. `earlier_replies` are our
    earlier replies in this conversation: an apology there counts.
    `customer_text`, the customer's latest post, when given decides whether
    the customer is upset (tone.yaml `apology.upset`) instead of
    `customer_upset`.
    """
    languages = languages_for(language)
    if customer_text is not None:
        customer_upset = _tone.customer_upset(rules.tone.upset, customer_text, languages)
    findings: list[Finding] = []
    if _channel(channel) == "public":
        findings += _personal_data(rules, text, REFUSAL)
    findings += check_tone(
        rules.tone,
        text,
        languages,
        customer_name=customer_name,
        customer_upset=customer_upset,
        earlier_replies=earlier_replies,
        customer_handle=customer_handle,
    )
    canned = find_canned(
        rules.canned,
        text,
        templates=templates,
        recent_replies=recent_replies,
        customer_name=customer_name,
        languages=languages,
    )
    if canned:
        findings.append(canned)
    return findings


def check_inbound(
    rules: CheckRules, text: str, *, channel: str, language: str | None = None
) -> list[Finding]:
    """Findings for a post that arrived: personal data in a public post (a
    flag, suggest move-to-DM); abusive language (a flag, move to
    flagged_conduct) or possibly abusive language (an advisory, nothing
    routed); a threat of violence or damage (a flag: priority P1 and a
    lead is told). Each says why in detail["reason"]."""
    findings: list[Finding] = []
    if _channel(channel) == "public":
        for f in _personal_data(rules, text, FLAG):
            findings.append(
                Finding(
                    f.check,
                    f.kind,
                    f.message,
                    f.suggestion,
                    f.start,
                    f.end,
                    {**f.detail, "suggest": "move_to_dm"},
                )
            )
    suggest = {"abusive": "flagged_conduct", "threat": "escalate", "possibly_abusive": "review"}
    for f in _conduct.find_conduct(rules.conduct, text, languages_for(language)):
        findings.append(
            Finding(
                f.check,
                f.kind,
                f.message,
                f.suggestion,
                f.start,
                f.end,
                {**f.detail, "suggest": suggest[f.check]},
            )
        )
    return findings


def mask_personal_data(rules: CheckRules, text: str) -> str:
    """The text as the console shows it before the operator reveals it."""
    return _privacy.mask(rules.privacy, text)


def suggested_conduct_reply(rules: CheckRules, language: str | None) -> str:
    """The house-rules reply to an abusive post, without arguing."""
    return _conduct.suggested_reply(rules.conduct, language)


def bio_for(rules: CheckRules, platform: str) -> str:
    """The house-rules statement fitted to the platform's bio length."""
    return _conduct.bio_for(rules.conduct, platform)
