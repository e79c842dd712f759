"""The rules a backend runs with, loaded from `rules/` as one set.

Listening (match, enrich, triage), the inbound checks (personal data,
abuse), the SLA policy and the saved replies load from `rules/` together; a
broken file anywhere reports every problem at once, and the backend keeps the
set it had.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from backend import yamlfile
from backend.checks import CheckRules, check_inbound
from backend.checks import load_rules as load_check_rules
from backend.listening import Listener
from backend.listening import load_rules as load_listening_rules
from backend.model import InboundPost
from backend.sla.policy import SlaPolicy, load_policy
from backend.yamlfile import FileError, FileErrors


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    text: str


@dataclass(frozen=True)
class Rulebook:
    listener: Listener
    checks: CheckRules
    sla: SlaPolicy
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
            errors.append(
                doc.error(
                    f"{key}.language", f"expected en or de, got {yamlfile.describe(language)}"
                )
            )
        if not isinstance(text, str) or not text.strip():
            errors.append(doc.error(f"{key}.text", "expected the reply text"))
        if (
            not errors
            and isinstance(name, str)
            and isinstance(language, str)
            and isinstance(text, str)
        ):
            names.add(name)
            out.append(Template(name, language, " ".join(text.split())))
    if errors:
        raise FileErrors(errors)
    return tuple(out)


def load_rulebook(rules_dir: str | Path) -> Rulebook:
    """Load every rules file the backend needs; raises FileErrors listing all problems."""
    problems = yamlfile.Problems()
    folder = Path(rules_dir)
    listening = problems.attempt(load_listening_rules, folder)
    checks = problems.attempt(load_check_rules, folder)
    sla = problems.attempt(load_policy, folder / "sla.yaml")
    saved = problems.attempt(load_templates, folder / "templates.yaml")
    problems.raise_any()
    assert listening is not None and checks is not None and sla is not None
    rulebook_checks = checks

    def flagger(post: InboundPost, language: str | None) -> list[dict[str, Any]]:
        channel = "dm" if post.is_direct else "public"
        return [
            f.to_dict()
            for f in check_inbound(rulebook_checks, post.text, channel=channel, language=language)
        ]

    return Rulebook(Listener(listening, flagger), checks, sla, saved or ())


class LiveRules:
    """The rulebook in force, swapped whole when the files change (see rules_watch).

    Consumers that keep something built from the rules (ingest's processor, the
    listening worker) subscribe with `on_change`; everyone else reads `current`.
    """

    def __init__(self, rulebook: Rulebook):
        self.current = rulebook
        self._followers: list[Callable[[Rulebook], None]] = []

    def on_change(self, follower: Callable[[Rulebook], None]) -> None:
        self._followers.append(follower)

    def use(self, rulebook: Rulebook) -> None:
        """Switch every consumer to a newly loaded (already validated) rulebook."""
        self.current = rulebook
        for follower in self._followers:
            follower(rulebook)


RULES = web.AppKey("rules", LiveRules)
