"""One listener per platform account across every backend, elected through PostgreSQL.

Each backend keeps one dedicated connection per account and asks for a
session-level advisory lock on it (`pg_try_advisory_lock`, keyed on the
account's connector_state name). The backend that holds the lock polls or
streams that account; the others ask again every `retry` seconds. The lock
lives exactly as long as the session: a backend killed outright closes its
socket, PostgreSQL ends the session and frees the lock, and the next ask
takes over. A machine that vanishes without closing its socket is noticed by
TCP keepalives set on the session (a few seconds), for the same outcome.

The leader checks its own session every `check` seconds; if the session is
gone it stops listening at once, since another backend may hold the lock by
then. The two may overlap by at most that check: harmless, because ingest
drops a post it already has and a cursor written late only makes the next
poll read again, never skip.

The leading session names itself in pg_stat_activity (`application_name`),
so who listens for which account is one query away, for a person and a test.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

# First half of the two-key advisory lock: keeps these apart from every other
# lock in the database (the one-key INGEST_LOCK included; PostgreSQL never
# confuses one- and two-key locks).
LOCK_CLASS = 0x5D1F
RETRY_SECONDS = 1.0
CHECK_SECONDS = 1.0
LEADER_APP_NAME = "shiftdesk leader"
CANDIDATE_APP_NAME = "shiftdesk candidate"
# Server-side keepalives on the lock's session: a dead peer frees the lock in ~5 s.
KEEPALIVES = {
    "tcp_keepalives_idle": "2",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
}
_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def lock_key(name: str) -> int:
    """A stable int4 for `name` (Python's hash() differs between processes)."""
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def application_name(name: str, leading: bool) -> str:
    role = LEADER_APP_NAME if leading else CANDIDATE_APP_NAME
    return f"{role} {name} pid {os.getpid()}"[:63]  # PostgreSQL keeps 63 bytes


class Leadership:
    """Whether this backend listens for one account; tests and health read it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.leading = False
        self.terms = 0  # times this backend took the lead
        self._changed = asyncio.Condition()

    async def _set(self, leading: bool) -> None:
        async with self._changed:
            self.leading = leading
            self.terms += leading
            self._changed.notify_all()

    async def wait_until(self, leading: bool) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.leading is leading)


async def _open(db_url: str, name: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        db_url,
        server_settings={"application_name": application_name(name, False), **KEEPALIVES},
    )


async def _held(conn: asyncpg.Connection, check: float) -> None:
    """Return when the session holding the lock is gone or stops answering."""
    while True:
        await asyncio.sleep(check)
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=max(check * 3, 2.0))
        except _DB_ERRORS as exc:
            log.warning("lost the database session holding the lead (%s)", type(exc).__name__)
            return


async def lead(
    db_url: str,
    leadership: Leadership,
    work: Callable[[], Awaitable[Any]],
    *,
    retry: float = RETRY_SECONDS,
    check: float = CHECK_SECONDS,
) -> None:
    """Run `work()` whenever this backend holds `leadership.name`'s lock, for good.

    `work` is cancelled the moment the lock's session is lost; it runs again
    once the lock is won again. It should not return on its own (if it does,
    the lock is released and this returns)."""
    key = lock_key(leadership.name)
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await _open(db_url, leadership.name)
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, key):
                await asyncio.sleep(retry)
            await conn.execute(
                "SELECT set_config('application_name', $1, false)",
                application_name(leadership.name, True),
            )
            log.info("%s: this backend now listens for the account", leadership.name)
            await leadership._set(True)
            if await _while_held(conn, work, check):
                return
        except asyncio.CancelledError:
            raise
        except _DB_ERRORS as exc:
            log.warning("%s: leader election: database unavailable (%s)", leadership.name, exc)
        finally:
            if leadership.leading:
                await leadership._set(False)
            if conn is not None:
                await _close(conn)
        await asyncio.sleep(retry)


async def _while_held(
    conn: asyncpg.Connection, work: Callable[[], Awaitable[Any]], check: float
) -> bool:
    """Run `work` until it ends (True) or the session is lost (False)."""
    job = asyncio.ensure_future(work())
    watch = asyncio.ensure_future(_held(conn, check))
    try:
        done, _ = await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (job, watch):
            task.cancel()
        await asyncio.wait({job, watch})  # unlike awaiting each, never swallows our cancellation
    if job in done:
        job.result()  # a failure of `work` propagates; supervise() never lets one through
        return True
    return False


async def _close(conn: asyncpg.Connection) -> None:
    """Closing the session frees the lock; a broken one is dropped without waiting."""
    try:
        await asyncio.wait_for(conn.close(), timeout=2.0)
    except (*_DB_ERRORS, asyncio.CancelledError):
        conn.terminate()
