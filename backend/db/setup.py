"""Find the database: the configured URL, or the embedded server started here."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from backend.config import Config
from backend.db.embedded import EmbeddedPostgres, start_embedded

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextlib.contextmanager
def database_server(cfg: Config) -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    """Yield (admin URL, embedded server or None); stops the embedded server on exit."""
    if cfg.database.url:
        yield cfg.database.url, None
        return
    if not _DB_NAME.match(cfg.database.name):
        raise ValueError(
            f"database.name {cfg.database.name!r}: use lower-case letters, digits and '_'"
        )
    server = start_embedded(cfg.database.data_dir or None)
    try:
        yield server.url, server
    finally:
        server.stop()


async def prepare(cfg: Config, admin_url: str, embedded: EmbeddedPostgres | None) -> str:
    """Create (embedded only) and migrate the database; returns its URL."""
    from backend.db.embedded import ensure_database
    from backend.db.migrate import migrate_url

    if embedded is None:
        url = admin_url
    else:
        await ensure_database(admin_url, cfg.database.name)
        url = with_database(admin_url, cfg.database.name)
    await migrate_url(url)
    return url
