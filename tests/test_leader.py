"""One listener per platform account across backends, against real processes.

Two `shiftdesk serve` processes share one database and one Mastodon account
(each with a token of its own, so the fake can tell whose requests it gets).
Only the elected one polls or streams; SIGKILL it and the other takes over
within seconds, and every mention posted before, during and after the
handover is stored exactly once. Run alone with `pytest -m faults`.
"""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from backend.db.pool import create_pool
from backend.ingest.leader import LEADER_APP_NAME
from tests.fakes import serve
from tests.fakes.mastodon import FakeMastodon
from tests.processes import BackendProcess, until

pytestmark = pytest.mark.faults

TOKENS = ("leader-test-token-a", "leader-test-token-b")
INTERVAL = 0.2  # poll_interval_seconds
HANDOVER_LIMIT = 5.0  # seconds from SIGKILL to the other backend listening


@pytest_asyncio.fixture(loop_scope="function")
async def pool(db_url: str):
    p = await create_pool(db_url, 1, 3)
    yield p
    await p.close()


def config(tmp_path: Path, url: str, streaming: bool) -> Path:
    path = tmp_path / "mastodon.yaml"
    path.write_text(
        f"connectors:\n  mastodon:\n    enabled: true\n    base_url: {url}\n    account: acme\n"
        "    token_env: SHIFTDESK_MASTODON_TOKEN\n    timeout_s: 2\n"
        f"    poll_interval_seconds: {INTERVAL}\n    hashtags: [acmefail]\n    search_terms: []\n"
        f"    streaming: {'true' if streaming else 'false'}\n    stream_idle_seconds: 5\n"
    )
    return path


async def leader_pid(pool: asyncpg.Pool) -> int | None:
    """The process id the leading session names in pg_stat_activity (None: no leader)."""
    names = await pool.fetch(
        "SELECT application_name FROM pg_stat_activity"
        " WHERE application_name LIKE $1 AND datname = current_database()",  # a shared server
        f"{LEADER_APP_NAME} mastodon:acme pid %",
    )
    assert len(names) <= 1, f"two leaders: {names}"
    return int(names[0]["application_name"].rsplit(" ", 1)[1]) if names else None


def polls_by(fake: FakeMastodon, token: str, since: int = 0) -> int:
    return sum(
        1
        for (_, path), caller in zip(fake.requests[since:], fake.callers[since:])
        if caller == token and path.startswith("/api/v1/notifications")
    )


async def stored_ids(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT post_id FROM mentions WHERE platform = 'mastodon'")
    return [r["post_id"] for r in rows]


@pytest.mark.parametrize("streaming", [False, True], ids=["polling", "streaming"])
async def test_one_backend_listens_per_account_and_another_takes_over_within_seconds_of_a_kill(
    db_url, pool, tmp_path, streaming
):
    fake = FakeMastodon(token=TOKENS[0])
    fake.other_tokens.add(TOKENS[1])
    async with serve(fake.app()) as url:
        path = config(tmp_path, url, streaming)
        backends = [
            BackendProcess(
                db_url,
                env={"SHIFTDESK_MASTODON_TOKEN": token},
                config_files=[path],
                log_path=tmp_path / f"serve-{i}.log",
            )
            for i, token in enumerate(TOKENS)
        ]
        try:
            for backend in backends:
                await backend.start()
            pid = await until(lambda: leader_pid(pool), "a leader elected")
            lead = next(i for i, b in enumerate(backends) if b.proc and b.proc.pid == pid)
            other = 1 - lead
            posted = [fake.post(f"before{i}", f"@acme order {i} is late") for i in range(5)]
            await until(
                lambda: _count(pool, len(posted)), "the first mentions stored by the leader"
            )

            # One backend's worth of platform traffic: the other sends none.
            mark, started = len(fake.requests), time.monotonic()
            if streaming:
                await until(
                    lambda: len(fake.streams_of(TOKENS[lead])) == 2, "the leader's two streams"
                )
                tagged = fake.post("tagger", "still no refund #acmefail")
                posted.append(tagged)
                await until(lambda: _count(pool, len(posted)), "the streamed hashtag post")
                assert fake.streams_of(TOKENS[other]) == []
            else:
                await until(
                    lambda: polls_by(fake, TOKENS[lead], mark) >= 10, "ten polls by the leader"
                )
                elapsed = time.monotonic() - started
                # A round sleeps the interval after it ends: at most one per interval.
                assert polls_by(fake, TOKENS[lead], mark) <= elapsed / INTERVAL + 1
            assert polls_by(fake, TOKENS[other], mark) == 0
            assert fake.streams_of(TOKENS[other]) == []

            # SIGKILL the leader; mentions keep coming during the handover.
            backends[lead].kill9()
            killed = time.monotonic()
            posted += [fake.post(f"during{i}", f"@acme still waiting {i}") for i in range(5)]
            new = await until(
                lambda: _other_leads(pool, backends[other]), "the other backend elected", 10
            )
            assert new
            if streaming:
                await until(
                    lambda: len(fake.streams_of(TOKENS[other])) == 2, "the new leader's streams"
                )
            else:
                await until(lambda: polls_by(fake, TOKENS[other]) >= 1, "the new leader polling")
            handover = time.monotonic() - killed
            assert handover < HANDOVER_LIMIT, f"handover took {handover:.1f} s"

            posted += [fake.post(f"after{i}", f"@acme hello? {i}") for i in range(5)]
            await until(lambda: _count(pool, len(posted)), "every mention stored")
            # Nothing lost, nothing twice: exactly the posted ids, once each.
            ids = await stored_ids(pool)
            assert sorted(ids) == sorted(s["id"] for s in posted)
            assert await pool.fetchval("SELECT count(*) FROM mentions") == len(posted)
        finally:
            for backend in backends:
                backend.stop()


async def _count(pool: asyncpg.Pool, n: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM mentions") >= n


async def _other_leads(pool: asyncpg.Pool, backend: BackendProcess) -> bool:
    return backend.proc is not None and await leader_pid(pool) == backend.proc.pid
