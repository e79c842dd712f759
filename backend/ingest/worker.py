"""The rules a backend runs with, and the ingest step built from them.

Listening (match, enrich, triage), the inbound checks (personal data,
abuse), the SLA policy and the saved replies load from `rules/` together; a broken file anywhere reports every
problem at once, and the backend keeps the set it had.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend import yamlfile
from backend.checks import CheckRules, check_inbound
from backend.checks import load_rules as load_check_rules
from backend.heap import settle_after_startup
from backend.ingest.store import (
    ListeningUnavailable,
    Prepared,
    Processed,
    Processor,
    prepared,
    unique_posts,
)
from backend.listening import Listener
from backend.listening import load_rules as load_listening_rules
from backend.model import Author, InboundPost
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
        if not errors:
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
        return Processed(
            post,
            match_how=how,
            language=e.language,
            sentiment=e.sentiment,
            priority=int(e.priority[1:]),
            priority_reasons=tuple(e.reasons),
            flags=tuple(e.flags),
            abusive=is_abusive(e.flags),
        )

    return process


# The worker process's processor, built once from the rules directory it was started with.
_worker_process: Processor | None = None
_NOT_SENT = datetime(1970, 1, 1, tzinfo=UTC)  # fields listening never reads


def _start_worker(rules_dir: str) -> None:
    global _worker_process
    _worker_process = make_processor(load_rulebook(rules_dir))
    settle_after_startup()


# Posts cross to the worker and results come back as plain tuples: pickling the
# slotted dataclasses (and each post's raw payload) cost more than listening saved.
def _listening_fields(post: InboundPost) -> tuple[Any, ...]:
    """What listening reads of a post: matching, language, sentiment, reach, checks."""
    return (
        post.platform,
        post.author.platform_id,
        post.author.handle,
        post.author.followers,
        post.text,
        post.is_direct,
        post.language,
        post.mentioned_handles,
        post.hashtags,
    )


def _listen_in_worker(batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...] | None]:
    assert _worker_process is not None, "ListeningWorker's process was not started"
    out: list[tuple[Any, ...] | None] = []
    for (
        platform,
        author_id,
        handle,
        followers,
        text,
        is_direct,
        language,
        handles,
        hashtags,
    ) in batch:
        post = InboundPost(
            platform,
            "",
            Author(author_id, handle, "", followers),
            text,
            _NOT_SENT,
            is_direct=is_direct,
            language=language,
            mentioned_handles=handles,
            hashtags=hashtags,
        )
        p = _worker_process(post)
        out.append(
            None
            if p is None
            else (
                p.ours,
                p.match_how,
                p.language,
                p.sentiment,
                p.priority,
                p.priority_reasons,
                p.flags,
                p.abusive,
            )
        )
    return out


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class ListeningWorker:
    """Listening (match, enrich, checks) for ingest in a process of its own.

    Listening is pure CPU and the database round trips of storing a batch
    leave this process idle, so `prepare` for batch N+1 runs there while
    batch N is stored here (Ingest.store_prepared). It pays off when a core
    is free: sending posts across costs ~10 us a post in this process, so
    on a machine already busy with other work `Ingest.store` in one process
    is as fast or faster (bench/ingest.py with and without --serial shows
    which). The worker loads the rules from `rules_dir` itself (a processor
    cannot be sent to another process); when the rules change, start a new
    worker (Services.use_rulebook does).
    """

    RETRY_AFTER = 30.0  # seconds before starting a process again after one could not start or died

    def __init__(self, rules_dir: str | Path, *, validate: bool = True):
        if validate:
            load_rulebook(
                rules_dir
            )  # broken rules raise FileErrors here, naming file and line, not in the worker
        self._rules_dir = str(rules_dir)
        self._pool = self._start()
        self._down_until = 0.0

    def _start(self) -> ProcessPoolExecutor:
        # spawn: a fresh interpreter, not a fork of one holding sockets and an event loop.
        # The process itself starts on the first batch.
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._rules_dir,),
        )

    async def prepare(self, posts: Sequence[InboundPost]) -> Prepared:
        """`ingest.prepare` for `posts`, with the listening run in the worker process.

        Raises ListeningUnavailable when the process died (killed, out of
        memory) or cannot start; a new one is started for a later batch."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            raise ListeningUnavailable("the worker process failed recently")
        unique, duplicates = unique_posts(posts)
        try:
            results = await loop.run_in_executor(
                self._pool, _listen_in_worker, [_listening_fields(p) for p in unique]
            )
        except BrokenProcessPool as exc:
            self._pool.shutdown(wait=False)
            self._pool = self._start()
            self._down_until = loop.time() + self.RETRY_AFTER
            raise ListeningUnavailable(f"the worker process stopped ({exc})") from None
        return prepared(
            [None if r is None else Processed(post, *r) for post, r in zip(unique, results)],
            duplicates,
        )

    async def resident_mb(self) -> float:
        """The worker process's resident memory in MB (Linux), to watch it stay flat."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, _resident_mb)

    def close(self, wait: bool = True) -> None:
        """Stop the worker process; with wait=False it ends after the batch it is on."""
        self._pool.shutdown(wait=wait)

    def __enter__(self) -> ListeningWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
