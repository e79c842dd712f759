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
from . import yamlfile
from .yamlfile import FileError, FileErrors


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    text: str


@dataclass(frozen=True)
class Rulebook:
    listener: Listener
    checks: CheckRules
    saved: tuple[Template, ...] = ()

    @property
    def templates(self) -> list[str]:
        return [t.text for t in self.saved]


def load_templates(path: Path) -> tuple[Template, ...]:
    """rules/templates.yaml: the team's saved replies (optional file)."""
    if not path.exists():
        return ()
    doc = yamlfile.load(path)
    errors: list[FileError] = []
    items = (doc.data or {}).get("templates", []) if isinstance(doc.data, dict) else None
    if not isinstance(items, list):
        raise FileErrors([doc.error("templates", "expected a list of templates")])
    out, names = [], set()
    for i, item in enumerate(items):
        key = f"templates[{i}]"
        if not isinstance(item, dict):
            errors.append(doc.error(key, "expected a mapping with name, language and text"))
            continue
        unknown = set(item) - {"name", "language", "text"}
        if unknown:
            errors.append(doc.error(key, f"unknown key(s): {', '.join(sorted(unknown))}"))
        name, language, text = item.get("name"), item.get("language"), item.get("text")
        if not isinstance(name, str) or not name.strip():
            errors.append(doc.error(f"{key}.name", "expected a short name"))
        elif name in names:
            errors.append(doc.error(f"{key}.name", f"{name!r} is used twice"))
        if language not in ("en", "de"):
            errors.append(doc.error(f"{key}.language", f"expected en or de, got {yamlfile.describe(language)}"))
        if not isinstance(text, str) or not text.strip():
            errors.append(doc.error(f"{key}.text", "expected the reply text"))
        if not errors:
            names.add(name)
            out.append(Template(name, language, " ".join(text.split())))
    if errors:
        raise FileErrors(errors)
    return tuple(out)


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
    saved: tuple[Template, ...] = ()
    try:
        saved = load_templates(Path(rules_dir) / "templates.yaml")
    except FileErrors as exc:
        errors.extend(exc.errors)
    except FileError as exc:
        errors.append(exc)
    if errors:
        raise FileErrors(errors)
    assert listening is not None and checks is not None
    rulebook_checks = checks

    def flagger(post: InboundPost, language: str | None) -> list[dict[str, Any]]:
        channel = "dm" if post.is_direct else "public"
        return [f.to_dict() for f in check_inbound(rulebook_checks, post.text, channel=channel, language=language)]

    return Rulebook(Listener(listening, flagger), checks, saved)


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
