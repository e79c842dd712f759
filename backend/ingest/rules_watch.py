"""Reload rules/ when a team lead edits it, without a restart.

A broken edit never takes effect: the backend keeps the rules it had and
records a `rules.invalid` event saying what is wrong and where, so the
console can show it; a good edit records `rules.reloaded`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import asyncpg

from backend import events
from backend.rulebook import Rulebook, load_rulebook
from backend.yamlfile import FileError, FileErrors

log = logging.getLogger(__name__)


def fingerprint(rules_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of every rules file: cheap to poll."""
    out = []
    for p in sorted(rules_dir.glob("*")):
        if p.is_file():
            st = p.stat()
            out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


class RulesWatcher:
    def __init__(self, rules_dir: Path, pool: asyncpg.Pool, apply: Callable[[Rulebook], None]):
        self.rules_dir = rules_dir
        self.pool = pool
        self.apply = apply
        self.seen = fingerprint(rules_dir)

    async def check(self) -> bool | None:
        """Reload if anything changed: True reloaded, False rejected, None unchanged."""
        now = fingerprint(self.rules_dir)
        if now == self.seen:
            return None
        self.seen = now
        try:
            rulebook = await asyncio.to_thread(load_rulebook, self.rules_dir)
        except (FileErrors, FileError) as exc:
            problems = exc.errors if isinstance(exc, FileErrors) else [exc]
            log.warning("rules not reloaded, keeping the previous set:\n%s", exc)
            await self._event("rules.invalid", {"errors": [str(e) for e in problems]})
            return False
        self.apply(rulebook)
        await self._event("rules.reloaded", {"files": [name for name, _, _ in now]})
        return True

    async def _event(self, kind: str, data: dict) -> None:
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await events.record(conn, events.NewEvent(kind, data=data))

    async def run(self, interval: float = 2.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except OSError as exc:
                log.warning("rules watcher: %s", exc)
