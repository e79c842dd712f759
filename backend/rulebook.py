"""The rules a backend runs with, loaded from `rules/` as one set.

Listening (match, enrich, triage), the inbound checks (personal data,
abuse), the SLA policy and the saved replies load from `rules/` together; a
broken file anywhere reports every problem at once, and the backend keeps the
set it had.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, Field

from backend import schema, yamlfile
from backend.checks import CheckRules, check_inbound
from backend.checks import load_rules as load_check_rules
from backend.listening import Listener
from backend.listening import load_rules as load_listening_rules
from backend.model import InboundPost
from backend.schema import Schema
from backend.sla.policy import SlaPolicy, load_policy


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


def _short_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class TemplateEntry(Schema):
    """One saved reply under `templates:`."""

    name: Annotated[str, AfterValidator(_short_name), Field(description="a short name")]
    language: Literal["en", "de"] = Field(description="en or de")
    text: Annotated[schema.Prose, Field(description="the reply text")]


class TemplatesFile(Schema):
    """What rules/templates.yaml may say."""

    templates: Annotated[list[TemplateEntry], schema.once_each("name")] = []


def load_templates(path: Path) -> tuple[Template, ...]:
    """rules/templates.yaml: the team's saved replies (optional file)."""
    if not path.exists():
        return ()
    doc = yamlfile.load(path)
    if doc.data is None:
        return ()
    saved = schema.validate_document(doc, TemplatesFile)
    return tuple(Template(t.name, t.language, t.text) for t in saved.templates)


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What the folder's files are now: name, size and change time of each."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple(
        (e.name, st.st_size, st.st_mtime_ns) for e in entries if e.is_file() and (st := e.stat())
    )


# Rulebooks already built from unchanged files. Building one compiles the phrase screens
# and loads the models (most of a second); a process that starts several applications
# (the demo, the tests) or reloads files that did not change pays that once. Rulebooks
# never change once built, so sharing one is safe.
_BUILT: dict[tuple[str, tuple[tuple[str, int, int], ...]], Rulebook] = {}
_BUILT_MAX = 4
_BUILT_LOCK = threading.Lock()  # reloads may load in a thread


def load_rulebook(rules_dir: str | Path) -> Rulebook:
    """Load every rules file the backend needs; raises FileErrors listing all problems."""
    folder = Path(rules_dir)
    key = (str(folder.resolve()), _signature(folder))
    with _BUILT_LOCK:
        built = _BUILT.get(key) if key[1] else None
    if built is not None:
        return built
    rulebook = _load_rulebook(folder)
    if key[1] and _signature(folder) == key[1]:  # not changed while we read it
        with _BUILT_LOCK:
            while len(_BUILT) >= _BUILT_MAX:
                _BUILT.pop(next(iter(_BUILT)))
            _BUILT[key] = rulebook
    return rulebook


def _load_rulebook(folder: Path) -> Rulebook:
    problems = yamlfile.Problems()
    listening = problems.attempt(load_listening_rules, folder)
    checks = problems.attempt(load_check_rules, folder)
    sla = problems.attempt(load_policy, folder / "sla.yaml")
    saved = problems.attempt(load_templates, folder / "templates.yaml")
    problems.raise_any()
    assert listening is not None and checks is not None and sla is not None
    rulebook_checks = checks

    def flagger(post: InboundPost, language: str | None) -> list[dict[str, Any]]:
        channel = "dm" if post.is_direct else "public"
        # Kept whole (Finding.stored): the thread shows a flag in each reader's language.
        return [
            f.stored()
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
