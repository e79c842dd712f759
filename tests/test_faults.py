"""Faults against the real backend process and a real PostgreSQL.

Each test starts `shiftdesk serve` as a subprocess and breaks something the
way production breaks it: SIGKILL mid-ingest and mid-publish, a PostgreSQL
restart under a live event stream, a platform answering 503 or 429 or
hanging. Afterwards the database and the fake platform's own record must
show every mention stored once, every reply published once, no event lost,
and no busy loop. Run alone with `pytest -m faults`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from backend import operators
from backend.clock import Clock
from backend.db.migrate import migrate_url
from backend.db.pool import create_pool
from backend.db.setup import with_database
from backend.simulator.feeder import drive
from backend.simulator.scenarios import Simulator
from tests.fakes import serve
from tests.fakes.mastodon import FakeMastodon
from tests.invariants import ORPHANED_REFERENCES
from tests.processes import BackendProcess, RestartablePostgres, until
from tui.client import BackendClient, StreamStatus

pytestmark = pytest.mark.faults

SECRET = "fault-test-webhook-secret"
MASTODON_TOKEN = "fault-test-mastodon-token"
ENV = {"SHIFTDESK_WEBHOOK_SIMULATOR_SECRET": SECRET, "SHIFTDESK_MASTODON_TOKEN": MASTODON_TOKEN}


def mastodon_config(
    tmp_path: Path, url: str, *, timeout_s: float = 10, poll: float = 0.05, page_limit: int = 40
) -> Path:
    path = tmp_path / "mastodon.yaml"
    path.write_text(
        f"connectors:\n  mastodon:\n    enabled: true\n    base_url: {url}\n    account: acme\n"
        f"    token_env: SHIFTDESK_MASTODON_TOKEN\n    page_limit: {page_limit}\n"
        f"    timeout_s: {timeout_s}\n    poll_interval_seconds: {poll}\n"
        "    hashtags: []\n    search_terms: []\n"
        "    streaming: false\n"  # polling under faults; streaming has tests of its own
        "outbox:\n  poll_interval_seconds: 0.2\n  backoff_base_seconds: 0.1\n"
    )
    return path


@pytest_asyncio.fixture(loop_scope="function")
async def pool(db_url: str):
    p = await create_pool(db_url, 1, 3)
    yield p
    await p.close()


async def count(pool: asyncpg.Pool, sql: str, *args) -> int:
    try:
        return await pool.fetchval(sql, *args)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
        return -1


async def assert_ingest_consistent(pool: asyncpg.Pool) -> None:
    """Invariants a crash must not break: one row per post, one open conversation
    per customer and channel, each stored mention counted once (conversation.opened or mention.received)."""
    dupes = await pool.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM mentions GROUP BY platform, post_id HAVING count(*) > 1) d"
    )
    assert dupes == 0
    orphans = await pool.fetchval(
        "SELECT count(*) FROM mentions WHERE conversation_id IS NULL AND NOT is_ours"
    )
    assert orphans == 0
    assert await pool.fetchval(ORPHANED_REFERENCES) == 0
    twice_open = await pool.fetchval(
        """SELECT count(*) FROM (SELECT author_id, is_direct FROM conversations
           WHERE state NOT IN ('resolved', 'dismissed') GROUP BY author_id, is_direct HAVING count(*) > 1) d"""
    )
    assert twice_open == 0
    received = await pool.fetchval(
        "SELECT coalesce(sum((data->>'count')::int), 0) FROM events"
        " WHERE kind IN ('mention.received', 'conversation.opened')"
    )
    assert received == await pool.fetchval("SELECT count(*) FROM mentions WHERE NOT is_ours")


async def test_kill_9_during_webhook_ingest_then_replay_stores_every_mention_exactly_once(
    db_url, pool, tmp_path
):
    backend = BackendProcess(db_url, env=ENV, log_path=tmp_path / "serve.log")
    await backend.start()
    try:
        total = 1200
        # `shiftdesk simulate` feeds the backend; it is killed while batches are in flight.
        feeder = asyncio.create_task(
            drive(
                backend.url,
                "simulator",
                SECRET,
                "crisis",
                rate=400,
                duration=total / 400,
                seed=5,
                batch_max=20,
                timeout_s=5,
            )
        )
        await until(
            lambda: _at_least(pool, "SELECT count(*) FROM mentions", 200), "200 stored mentions"
        )
        backend.kill9()
        first = await feeder
        assert first.refused > 0, "the kill did not land while posts were still being sent"
        before = await pool.fetchval("SELECT count(*) FROM mentions")
        assert 0 < before < total
        await assert_ingest_consistent(pool)  # what was committed is whole

        # Restart; the platform (here: the simulator, same seed) sends everything again.
        await backend.start()
        again = await drive(
            backend.url,
            "simulator",
            SECRET,
            "crisis",
            rate=2400,
            duration=total / 2400,
            seed=5,
            batch_max=100,
            timeout_s=10,
        )
        assert again.refused == 0 and again.sent == total
        assert again.duplicates == before  # everything committed is recognised
        after = await pool.fetchval("SELECT count(*) FROM mentions")
        assert after == total - again.dropped == before + again.stored
        expected = {p.post_id for p in Simulator("crisis", 5, Clock()).posts(total)}
        stored = {r["post_id"] for r in await pool.fetch("SELECT post_id FROM mentions")}
        assert stored <= expected
        await assert_ingest_consistent(pool)
    finally:
        backend.stop()


async def _at_least(pool: asyncpg.Pool, sql: str, n: int) -> bool:
    return await count(pool, sql) >= n


async def test_kill_9_while_polling_mastodon_resumes_from_the_committed_cursor(
    db_url, pool, tmp_path
):
    fake = FakeMastodon(token=MASTODON_TOKEN)
    async with serve(fake.app()) as url:
        backend = BackendProcess(
            db_url,
            env=ENV,
            log_path=tmp_path / "serve.log",
            config_files=[mastodon_config(tmp_path, url, page_limit=2)],
        )
        await backend.start()
        try:
            await until(
                lambda: _at_least(pool, "SELECT count(*) FROM connector_state", 1),
                "listening to start",
            )
            # Small, slow pages, so catching up takes seconds of commits and the kill lands between them.
            for _ in range(60):
                fake.slow("/api/v1/notifications", 0.05)
            posted = [fake.post(f"user{i}", f"@acme order {i} never arrived") for i in range(120)]
            await until(
                lambda: _at_least(pool, "SELECT count(*) FROM mentions", 10), "the first pages"
            )
            backend.kill9()
            before = await pool.fetchval("SELECT count(*) FROM mentions")
            assert before < len(posted), "the poll finished before the kill"
            await backend.start()
            await until(
                lambda: _at_least(pool, "SELECT count(*) FROM mentions", len(posted)),
                "every mention",
            )
            # A few more polls: nothing arrives twice.
            polls = len(fake.requests)
            await until(lambda: len(fake.requests) >= polls + 4, "more polls")
            ids = [
                r["post_id"]
                for r in await pool.fetch(
                    "SELECT post_id FROM mentions WHERE platform = 'mastodon'"
                )
            ]
            assert sorted(ids) == sorted(s["id"] for s in posted)
            await assert_ingest_consistent(pool)
        finally:
            backend.stop()


class HangingMastodon(FakeMastodon):
    """Answers the first `passes` status posts; then alternately creates the status
    and hangs before answering (the crash falls between send and record), or hangs
    before creating it (the crash falls before the send took effect)."""

    def __init__(self, *a, passes: int = 2, **kw):
        super().__init__(*a, **kw)
        self.passes = passes
        self.posts_seen = 0
        self.hanging = 0
        self.gate = asyncio.Event()

    async def _create(self, request):
        n = self.posts_seen
        self.posts_seen += 1
        if n < self.passes or self.gate.is_set():
            return await super()._create(request)
        self.hanging += 1
        if n % 2 == 0:
            answer = await super()._create(request)
            await self.gate.wait()
            return answer
        await self.gate.wait()
        return await super()._create(request)


async def test_kill_9_during_publishing_publishes_every_queued_reply_exactly_once(
    db_url, pool, tmp_path
):
    fake = HangingMastodon(token=MASTODON_TOKEN, passes=2)
    customers = 6
    async with serve(fake.app()) as url:
        mentions = [fake.post(f"cust{i}", f"@acme my parcel {i} is lost") for i in range(customers)]
        backend = BackendProcess(
            db_url,
            env=ENV,
            log_path=tmp_path / "serve.log",
            config_files=[mastodon_config(tmp_path, url)],
        )
        await backend.start()
        try:
            await until(
                lambda: _at_least(pool, "SELECT count(*) FROM conversations", customers),
                "the conversations",
            )
            _, token = await operators.add(pool, "anna", "Anna")
            convs = [r["id"] for r in await pool.fetch("SELECT id FROM conversations ORDER BY id")]
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
                for cid in convs:
                    async with s.post(f"{backend.url}/api/conversations/{cid}/claim") as r:
                        assert r.status == 200, await r.text()
                    async with s.post(
                        f"{backend.url}/api/conversations/{cid}/reply",
                        json={
                            "text": "Hi, I'm sorry about your parcel. Could you DM me the order number?",
                            "confirm": True,
                        },
                    ) as r:
                        assert r.status == 201, await r.text()
            await until(lambda: fake.hanging == customers - 2, "every other reply in flight")
            backend.kill9()
            await until(
                lambda: len(fake._idempotency) == 2 + (customers - 2) // 2,
                "statuses created before the crash",
            )
            fake.gate.set()
            # The crashed attempts hold a 60 s lease against double sends; let it lapse now
            # instead of waiting it out (what a restarted publisher sees a minute later).
            await pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE done_at IS NULL")
            await backend.start()
            await until(
                lambda: _at_least(
                    pool, "SELECT count(*) FROM outbox WHERE done_at IS NOT NULL", customers
                ),
                "every reply published",
            )
        finally:
            backend.stop()

    ours = [s for s in fake.statuses.values() if s["account"]["acct"] == "acme"]
    assert sorted(s["in_reply_to_id"] for s in ours) == sorted(
        m["id"] for m in mentions
    )  # once each
    rows = await pool.fetch(
        "SELECT m.status, m.platform_post_id, o.idempotency_key FROM messages m "
        "JOIN outbox o ON o.message_id = m.id"
    )
    assert {r["status"] for r in rows} == {"published"}
    assert sorted(r["platform_post_id"] for r in rows) == sorted(s["id"] for s in ours)
    assert {fake._idempotency[("acme", r["idempotency_key"])] for r in rows} == {
        s["id"] for s in ours
    }
    published = await pool.fetchval("SELECT count(*) FROM events WHERE kind = 'message.published'")
    assert published == customers


async def test_postgres_restart_the_backend_reconnects_relistens_and_the_stream_loses_nothing(
    tmp_path,
):
    pg = RestartablePostgres(_pg_dir())  # see _pg_dir: not under tmp_path
    try:
        admin = await asyncpg.connect(pg.url)
        await admin.execute('CREATE DATABASE "restart"')
        await admin.close()
        url = with_database(pg.url, "restart")
        await migrate_url(url)
        setup = await asyncpg.connect(url)
        _, token = await operators.add(setup, "anna", "Anna")
        await setup.close()
        backend = BackendProcess(url, env=ENV, log_path=tmp_path / "serve.log")
        await backend.start()
        client = BackendClient(backend.url, token)
        seen: list[int] = []
        statuses: list[bool] = []

        async def follow() -> None:
            async for item in client.stream(0):
                if isinstance(item, StreamStatus):
                    statuses.append(item.connected)
                elif isinstance(item, dict):
                    seen.append(item["id"])

        follower = asyncio.create_task(follow())
        try:
            first = await drive(
                backend.url, "simulator", SECRET, "crisis", rate=200, duration=0.5, seed=3
            )
            assert first.refused == 0
            assert first.stored > 0
            before = await asyncpg.connect(url)
            try:
                last_before = await before.fetchval("SELECT max(id) FROM events")
            finally:
                await before.close()
            await until(lambda: seen and seen[-1] >= last_before, "the first events on the stream")

            await asyncio.to_thread(pg.stop)
            health = await until(lambda: _down(backend), "/healthz to report the database down")
            assert health["database"] is False
            # Losing the database is the server's problem, not the request's: 503 and when to retry.
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
                async with s.get(backend.url + "/api/me") as r:
                    assert r.status == 503, await r.text()
                    assert int(r.headers["Retry-After"]) > 0
                    assert "database" in (await r.json())["error"]
            await asyncio.to_thread(pg.start)
            await backend.healthy()  # database reachable and LISTEN re-established

            # Mentions after the restart: the pool may hand out a dead connection once (503); the
            # sender retries, as a platform does, until the batch is accepted.
            async def accepted() -> bool:
                report = await drive(
                    backend.url, "simulator", SECRET, "crisis", rate=200, duration=0.5, seed=4
                )
                return report.refused == 0

            await until(accepted, "a batch accepted after the restart", timeout=30)

            conn = await asyncpg.connect(url)
            try:
                all_ids = [r["id"] for r in await conn.fetch("SELECT id FROM events ORDER BY id")]
            finally:
                await conn.close()
            await until(lambda: seen and seen[-1] >= all_ids[-1], "the stream to catch up")
            assert seen == all_ids  # every event, in order, none twice
            assert statuses[0] is True and statuses[-1] is True
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            await client.close()
            backend.stop()
    finally:
        pg.close()


async def _down(backend: BackendProcess) -> dict | None:
    health = await backend.health()
    return health if health and not health.get("ok") else None


async def test_a_platform_answering_503_429_and_hanging_is_backed_off_and_loses_nothing(
    db_url, pool, tmp_path
):
    fake = FakeMastodon(token=MASTODON_TOKEN)
    async with serve(fake.app()) as url:
        backend = BackendProcess(
            db_url,
            env=ENV,
            log_path=tmp_path / "serve.log",
            config_files=[mastodon_config(tmp_path, url, timeout_s=0.5, poll=0.05)],
        )
        await backend.start()
        try:
            await until(
                lambda: any(p.startswith("/api/v1/notifications") for _, p in fake.requests),
                "a first poll",
            )
            # Every poll fails for a while: 503s, a 429 with a reset, a hang past the timeout.
            for _ in range(6):
                fake.fail("/api/v1/notifications", 503)
            fake.rate_limit("/api/v1/notifications", _utc_in(0.5))
            fake.slow("/api/v1/notifications", 2.0)
            posted = [fake.post(f"user{i}", f"@acme help {i}") for i in range(5)]
            started = time.monotonic()
            await until(
                lambda: _at_least(pool, "SELECT count(*) FROM mentions", len(posted)),
                "every mention",
                timeout=60,
            )
            elapsed = time.monotonic() - started
            assert not fake.faults.pending
            polls = [p for _, p in fake.requests if p.startswith("/api/v1/notifications")]
            # With a 0.05 s interval and no backoff, that time would be hundreds of polls.
            # Polling every 0.05 s without backoff would be elapsed / 0.05 polls (~150 here; 10 measured).
            assert len(polls) < elapsed / 0.05 / 5, (len(polls), elapsed)
            ids = {r["post_id"] for r in await pool.fetch("SELECT post_id FROM mentions")}
            assert ids == {s["id"] for s in posted}
        finally:
            backend.stop()


def _utc_in(seconds: float):
    from datetime import datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=seconds)


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process we can see (Linux /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended while we looked
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        out[int(entry.name)] = (int(ppid), state, cmd)
    return out


def _descendants(root: int) -> dict[int, str]:
    table = _processes()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, cmd) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = cmd
                frontier.append(pid)
    return found


def _alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie waiting for a parent to reap it has stopped)."""
    table = _processes()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


async def test_kill_9_of_the_backend_leaves_no_listening_worker_or_resource_tracker(
    db_url, tmp_path
):
    from backend.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    backend = BackendProcess(db_url, env=ENV, log_path=tmp_path / "serve.log")
    await backend.start()
    try:
        assert backend.proc is not None
        root = backend.proc.pid
        # A batch past worker_min_batch starts the listening worker (and the resource tracker).
        posts = [
            {
                "id": f"w{i}",
                "author": {"id": f"a{i}", "handle": f"user{i}"},
                "text": "@acme the app is down",
                "created_at": "2026-11-25T09:00:00Z",
            }
            for i in range(80)
        ]
        body = json.dumps({"posts": posts}).encode()
        stamp = str(int(time.time()))
        async with aiohttp.ClientSession() as s:
            async with s.post(
                f"{backend.url}/ingest/simulator",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    TIMESTAMP_HEADER: stamp,
                    SIGNATURE_HEADER: sign(SECRET, stamp, body),
                },
            ) as r:
                assert r.status == 202, await r.text()

        def helpers() -> dict[int, str]:
            found = _descendants(root)
            kinds = {"tracker" if "resource_tracker" in c else "worker" for c in found.values()}
            return found if kinds >= {"tracker", "worker"} else {}

        children = await until(helpers, "the listening worker and the resource tracker")
        backend.kill9()
        await until(
            lambda: not _alive(set(children)),
            f"the backend's helpers to end after its SIGKILL: {children}",
            timeout=10,
        )
    finally:
        backend.stop()


def _postmaster(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    try:
        return int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _pg_dir() -> Path:
    """A directory for an embedded server's data: not under pytest's tmp_path, whose root
    (mode 0700, reset by every pytest session of this user) the server's own user cannot
    always traverse on a shared machine."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="shiftdesk-faults-pg-")) / "pgdata"


async def test_an_embedded_postgres_is_stopped_after_its_backend_is_killed_with_sigkill(tmp_path):
    data = _pg_dir()
    backend = BackendProcess(
        "",  # no database URL: `shiftdesk serve` starts the embedded server itself
        env={**ENV, "SHIFTDESK_DATABASE_DATA_DIR": str(data)},
        log_path=tmp_path / "serve.log",
    )
    await backend.start(timeout=90)  # the first start runs initdb
    postmaster = _postmaster(data)
    assert postmaster is not None and _alive({postmaster})
    backend.kill9()
    # Its watchdog leaves for it: the server stops and the handle file forgets it.
    await until(lambda: not _alive({postmaster}), "the embedded PostgreSQL to stop", timeout=30)
    assert json.loads((data / ".handle_pids.json").read_text()) == []
    shutil.rmtree(data.parent, ignore_errors=True)


def test_a_stale_pid_in_the_handle_file_does_not_keep_the_embedded_server_running():
    from backend.db.embedded import start_embedded

    server = start_embedded(_pg_dir())
    data = server.data_dir
    postmaster = _postmaster(data)
    assert postmaster is not None
    # A process that used the server and was killed before it could leave: a pid no longer running.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    handles = json.loads((data / ".handle_pids.json").read_text())
    (data / ".handle_pids.json").write_text(json.dumps([dead.pid, *handles]))
    server.stop()
    assert not _alive({postmaster}), "a dead process's handle kept the server running"
    assert json.loads((data / ".handle_pids.json").read_text()) == []
    shutil.rmtree(data.parent, ignore_errors=True)
