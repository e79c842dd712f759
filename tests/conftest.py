"""Test fixtures on a real PostgreSQL.

The server is SHIFTDESK_TEST_DATABASE_URL if set, else the embedded one
(started once per test session in a temporary directory). A template
database is migrated once; every test gets its own copy, so tests never
see each other's rows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from backend.clock import FrozenClock
from backend.config import Config, load_config
from backend.db.embedded import scratch_server, start_embedded
from backend.db.migrate import migrate_url
from backend.db.pool import connect, create_pool
from backend.db.setup import with_database

# The suite starts a few hundred Python processes (workers, backends, consoles, the CLI):
# with PYTHONDONTWRITEBYTECODE set (as in our sandboxes) each compiled every module again
# and re-rewrote every test module's asserts. The caches are __pycache__ files git ignores.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

TEMPLATE = f"shiftdesk_test_template_{os.getpid()}"
_counter = itertools.count()


# A test server holds nothing worth keeping: without flushes to disk, creating and
# dropping a database per test costs a fraction (the suite's biggest single cost).
THROWAWAY = {
    "fsync": "off",
    "full_page_writes": "off",
}  # not synchronous_commit: ingest sets it itself


async def _throwaway(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for name, value in THROWAWAY.items():
            await conn.execute(f"ALTER SYSTEM SET {name} = {value}")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@contextlib.contextmanager
def _shared_server(run_id: str) -> Iterator[str]:
    """One embedded server for all of a run's xdist workers: each worker starting
    its own would run initdb once per worker. The embedded server is shared by
    design (a handle per process, the last to leave stops it). Its directory is
    not under pytest's tmp root, whose mode (0700, reset by each worker) the
    server's own user cannot always traverse."""
    data_dir = Path(tempfile.gettempdir()) / f"shiftdesk-test-pg-{run_id}" / "pgdata"
    server = start_embedded(data_dir)
    try:
        yield server.url
    finally:
        server.stop()
        if not (data_dir / "postmaster.pid").exists():  # we were the last: it stopped
            shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    if os.environ.get("SHIFTDESK_TEST_DATABASE_URL"):
        with scratch_server() as url:  # never change the settings of a server someone gave us
            yield url
        return
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    with _shared_server(run_id) if run_id else scratch_server("shiftdesk-test-pg-") as url:
        asyncio.run(_throwaway(url))
        yield url


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    async def create() -> None:
        conn = await asyncpg.connect(pg_admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
            await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        finally:
            await conn.close()
        await migrate_url(with_database(pg_admin_url, TEMPLATE))

    async def drop() -> None:
        conn = await asyncpg.connect(pg_admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    yield TEMPLATE
    asyncio.run(drop())


class Databases:
    """Fresh copies of the migrated template, one made ahead of the test that will use it.

    Making a copy and dropping a used one cost a test about 0.1-0.3 s of waiting on the
    server (checkpoints). Both run in a thread of their own with its own event loop, while
    the previous test runs, so a test usually finds its database ready; each test still gets
    a database nobody else has touched."""

    def __init__(self, admin_url: str, template: str) -> None:
        self._admin_url = admin_url
        self._template = template
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one admin connection: one statement at a time
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._next = self._submit(self._create())

    def _submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._admin_url)
        return self._conn

    async def _create(self) -> str:
        name = f"t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
        async with self._lock:
            conn = await self._connection()
            # FILE_COPY copies the small template's files instead of logging every block.
            strategy = " STRATEGY FILE_COPY" if conn.get_server_version().major >= 15 else ""
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"{strategy}')
        return name

    async def _drop(self, name: str) -> None:
        async with self._lock:
            conn = await self._connection()
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def take(self) -> str:
        """A database of the caller's own; the next one starts being made at once."""
        name: str = await asyncio.wrap_future(self._next)
        self._next = self._submit(self._create())
        return name

    def give_back(self, name: str) -> None:
        """Drop a used database, without making the test wait for it."""
        self._submit(self._drop(name))

    def close(self) -> None:
        spare = self._next.result()
        self.give_back(spare)
        for future in list(self._pending):
            future.result()
        if self._conn is not None:
            asyncio.run_coroutine_threadsafe(self._conn.close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@pytest.fixture(scope="session")
def databases(pg_admin_url: str, pg_template: str) -> Iterator[Databases]:
    made = Databases(pg_admin_url, pg_template)
    yield made
    made.close()


@pytest.fixture
async def db_url(pg_admin_url: str, databases: Databases) -> AsyncIterator[str]:
    """A freshly migrated database of this test's own."""
    name = await databases.take()
    yield with_database(pg_admin_url, name)
    databases.give_back(name)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(db_url)
    yield conn
    await conn.close()


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_url, 1, 5)
    yield p
    await p.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def config() -> Config:
    return load_config(env={})


class AppState:
    """Test-side shorthand: each attribute is the value under that domain's AppKey."""

    def __init__(self, app: web.Application):
        self._app = app

    def __getattr__(self, name: str) -> Any:
        from backend.conversations.actions import ACTIONS
        from backend.crisis.watch import CRISIS_WATCH
        from backend.ingest.pollers import POLLERS
        from backend.ingest.store import INGEST
        from backend.live.hub import HUB
        from backend.outbox import OUTBOX
        from backend.simulator.scenarios import SIMULATED
        from backend.sla.clock import SLA_CLOCK
        from backend.web.keys import CLOCK, CONFIG, POOL

        keys = {"pool": POOL, "clock": CLOCK, "config": CONFIG, "ingest": INGEST, "hub": HUB,
                "actions": ACTIONS, "outbox": OUTBOX, "pollers": POLLERS, "simulated": SIMULATED,
                "sla_clock": SLA_CLOCK, "crisis_watch": CRISIS_WATCH}  # fmt: skip
        if name not in keys:
            raise AttributeError(name)
        return self._app[keys[name]]


@dataclass
class RunningBackend:
    """A backend application serving real HTTP on a loopback port."""

    app: web.Application
    url: str
    db_url: str
    runner: web.AppRunner

    @property
    def pool(self) -> asyncpg.Pool:
        from backend.web.keys import POOL

        return self.app[POOL]

    @property
    def services(self) -> Any:
        """The app's shared state by name (`backend.services.clock`), for tests to read."""
        return AppState(self.app)

    async def add_operator(self, name: str, role: str = "operator") -> tuple[Any, str]:
        from backend import operators

        return await operators.add(self.pool, name, name.capitalize(), role)


async def start_backend(config: Config, db_url: str, **kw: Any) -> RunningBackend:
    from backend.app import init_app

    app = init_app(config, db_url, **kw)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    backend = RunningBackend(app, f"http://127.0.0.1:{port}", db_url, runner)
    from backend.live.hub import HUB

    await asyncio.wait_for(app[HUB].connected.wait(), 10)
    return backend


@pytest.fixture
async def backend(config: Config, db_url: str) -> AsyncIterator[RunningBackend]:
    b = await start_backend(config, db_url)
    yield b
    await b.runner.cleanup()


@pytest.fixture(scope="session")
def rules():
    """The composer and inbound checks, loaded from this checkout's rules/."""
    from backend.checks import load_rules

    return load_rules(Path(__file__).resolve().parent.parent / "rules")
