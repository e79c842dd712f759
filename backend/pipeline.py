"""The rules a backend runs with, and the ingest step built from them.

Listening (match, enrich, triage) and the inbound checks (personal data,
abuse) load from `rules/` together; a broken file anywhere reports every
problem at once, and the backend keeps the set it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checks import CheckRules, check_inbound
from .checks import load_rules as load_check_rules
from .ingest import Processed, Processor
from .listening import Listener
from .listening import load_rules as load_listening_rules
from .model import InboundPost
from .yamlfile import FileError, FileErrors


@dataclass(frozen=True)
class Rulebook:
    listener: Listener
    checks: CheckRules


def load_rulebook(rules_dir: str | Path) -> Rulebook:
    """Load every rules file the backend needs; raises FileErrors listing all problems."""
    errors: list[FileError] = []
    listening = checks = None
    try:
        listening = load_listening_rules(rules_dir)
    except FileErrors as exc:
        errors.extend(exc.errors)
    try:
        checks = load_check_rules(Path(rules_dir))
    except FileErrors as exc:
        errors.extend(exc.errors)
    if errors:
        raise FileErrors(errors)
    assert listening is not None and checks is not None
    rulebook_checks = checks

    def flagger(post: InboundPost, language: str | None) -> list[dict[str, Any]]:
        channel = "dm" if post.is_direct else "public"
        return [f.to_dict() for f in check_inbound(rulebook_checks, post.text, channel=channel, language=language)]

    return Rulebook(Listener(listening, flagger), checks)


def is_abusive(flags: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> bool:
    return any(f.get("check") == "abusive" for f in flags)


def make_processor(rulebook: Rulebook) -> Processor:
    """The ingest step: None for posts not about us; our own posts marked as ours."""
    listener = rulebook.listener

    def process(post: InboundPost) -> Processed | None:
        found = listener.process(post)
        if found is None:
            return None
        how = tuple(found.match.how)
        e = found.enrichment
        if e is None:
            return Processed(post, ours=True, match_how=how)
        return Processed(post, match_how=how, language=e.language, sentiment=e.sentiment,
                         priority=int(e.priority[1:]), priority_reasons=tuple(e.reasons), flags=tuple(e.flags),
                         abusive=is_abusive(e.flags))

    return process
