"""Running the polling connectors inside the backend.

Each enabled connector gets one task: `run_poller` with a `store` that writes
the posts and the connector's cursor in one transaction, and a `load_cursor`
that reads that cursor back from connector_state. A poller that dies (bad
token, database gone, a bug) is restarted after a jittered backoff; it then
reloads the committed cursor, so nothing is lost or stored twice.
Log lines name the connector and the error, never a token.

A connector that streams (`StreamingConnector` with streaming on) runs
`run_streaming` instead, which polls only to catch up. Which backend runs an
account's poller at all is decided by `backend.ingest.leader`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web

from backend.clock import Clock
from backend.config import Config, ConnectorSettings
from backend.connectors.backoff import Backoff, run_poller
from backend.connectors.base import Connector, ConnectorError, StreamingConnector
from backend.connectors.bluesky import BlueskyConnector
from backend.connectors.mastodon import MastodonConnector
from backend.ingest.leader import Leadership
from backend.ingest.store import Ingest
from backend.ingest.stream import run_streaming
from backend.model import InboundPost
from backend.yamlfile import FileError, FileErrors

log = logging.getLogger(__name__)

RESTART_BASE_SECONDS = 1.0
RESTART_CAP_SECONDS = 300.0

_CONNECTOR_CLASSES: dict[str, Callable[..., Connector]] = {
    "mastodon": MastodonConnector,
    "bluesky": BlueskyConnector,
}


@dataclass
class PollerStatus:
    """What one poller has done, for health checks and for tests to wait on."""

    name: str  # connector_state key, e.g. "mastodon:acme"
    platform: str
    rounds: int = 0  # polls whose posts and cursor were committed
    stored: int = 0  # mentions those rounds stored
    restarts: int = 0
    last_error: str | None = None
    streamed: int = 0  # mentions the streams brought and ingest stored
    streaming: bool = False  # the streams are open and caught up
    stream_sessions: int = 0  # times they came up
    leadership: Leadership = field(init=False)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition, repr=False)

    def __post_init__(self) -> None:
        self.leadership = Leadership(self.name)

    async def _bump(self, stored: int) -> None:
        async with self._changed:
            self.rounds += 1
            self.stored += stored
            self._changed.notify_all()

    async def _streamed(self, stored: int) -> None:
        async with self._changed:
            self.streamed += stored
            self.stored += stored
            self._changed.notify_all()

    def _live(self, live: bool) -> None:
        self.streaming = live
        self.stream_sessions += live

    async def _failed(self, error: str) -> None:
        async with self._changed:
            self.restarts += 1
            self.last_error = error
            self._changed.notify_all()

    async def wait_until(self, done: Callable[[PollerStatus], bool]) -> None:
        """Return once `done(self)` holds (checked after every round and restart)."""
        async with self._changed:
            await self._changed.wait_for(lambda: done(self))


def build_connectors(
    config: Config, clock: Clock, env: Mapping[str, str] | None = None
) -> dict[str, tuple[ConnectorSettings, Connector]]:
    """A connector for every enabled section of config; a missing token is a config error."""
    built: dict[str, tuple[ConnectorSettings, Connector]] = {}
    errors: list[FileError] = []
    for name, settings in config.connectors.items():
        if not settings.enabled:
            continue
        try:
            connector = _CONNECTOR_CLASSES[name](settings.settings, clock, env=env)
        except ConnectorError as exc:
            key = "token_env" if hasattr(settings.settings, "token_env") else "password_env"
            errors.append(FileError("config", f"connectors.{name}.{key}", str(exc)))
            continue
        built[name] = (settings, connector)
    if errors:
        raise FileErrors(errors)
    return built


def describe(exc: BaseException) -> str:
    """An error for a log line: its kind and message (connector messages never hold tokens)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def load_cursor(pool: asyncpg.Pool, name: str) -> dict[str, Any]:
    """The cursor committed with the last stored batch; {} before the first poll."""
    async with pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT cursor FROM connector_state WHERE connector = $1", name)
            or {}
        )


async def supervise(
    connector: Connector,
    settings: ConnectorSettings,
    pool: asyncpg.Pool,
    ingest: Ingest,
    clock: Clock,
    status: PollerStatus,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Run one connector's poller for good: restart it with backoff whenever it dies."""
    rng = rng or random.Random()
    restart = Backoff(RESTART_BASE_SECONDS, RESTART_CAP_SECONDS, rng)
    interval = settings.poll_interval_seconds

    async def store(posts: list, cursor: dict[str, Any]) -> None:
        result = await ingest.store_from(pool, posts, cursor=(status.name, cursor))
        restart.reset()
        await status._bump(result.stored)

    async def store_streamed(posts: list[InboundPost]) -> None:
        result = await ingest.store_from(pool, posts)
        await status._streamed(result.stored)

    def cursor() -> Awaitable[dict[str, Any]]:
        return load_cursor(pool, status.name)

    while True:
        try:
            if isinstance(connector, StreamingConnector) and connector.streaming:
                await run_streaming(
                    connector,
                    cursor,
                    store,
                    store_streamed,
                    clock,
                    interval,
                    connector.resync_seconds,
                    rng=rng,
                    on_live=status._live,
                )
            else:
                await run_poller(
                    connector,
                    cursor,
                    store,
                    clock,
                    sleep,
                    interval,
                    backoff=Backoff(interval, max(interval, RESTART_CAP_SECONDS), rng),
                )
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure restarts the poller, none may end it
            error = describe(exc)
            await status._failed(error)
            wait = restart.next_delay()
            log.warning("%s poller stopped (%s); restarting in %.1f s", status.name, error, wait)
            await sleep(wait)


# The connectors config enables (name -> (settings, connector)) and what each poller has done.
CONNECTORS: web.AppKey[dict[str, tuple[ConnectorSettings, Connector]]] = web.AppKey("connectors")
POLLERS: web.AppKey[dict[str, PollerStatus]] = web.AppKey("pollers")
