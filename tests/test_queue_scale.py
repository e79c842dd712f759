"""The queue at scale: keyset pages, maintained counts, and what each read costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from backend.clock import FrozenClock
from backend.conversations import queue
from tests.conftest import start_backend

SEED = """
INSERT INTO authors (platform, platform_id, handle) SELECT 'simulator', 'a' || g, 'c' || g
FROM generate_series(1, 50) g;
INSERT INTO conversations (platform, author_id, state, priority, first_inbound_at, last_inbound_at,
                           sla_kind, sla_due_at, claimed_by, escalated)
SELECT 'simulator', (SELECT min(id) FROM authors) + g % 50,
       (ARRAY['new', 'claimed', 'awaiting_customer', 'in_dm', 'resolved', 'flagged_conduct'])[1 + g % 6],
       1 + g % 4, now(), now(), 'first',
       CASE WHEN g % 5 = 0 THEN NULL ELSE now() + make_interval(secs => (g::bigint * 7919) % 600 - 300) END,
       CASE WHEN g % 6 = 1 THEN $1::bigint END, g % 11 = 0
FROM generate_series(1, $2::int) g;
"""


async def all_ids(conn, filter: str, operator_id: int) -> list[int]:
    # These tests run the backend on the real clock, so the database's now() stands in for it.
    cond = queue.FILTERS[filter].replace("$1", str(operator_id)).replace(queue.NOW, "now()")
    return [
        r["id"]
        for r in await conn.fetch(f"SELECT c.id FROM conversations c WHERE {cond} {queue.ORDER}")
    ]


async def test_key_pages_forward_and_backward_read_the_whole_queue_in_order(backend):
    op, token = await backend.add_operator("anna")
    async with backend.pool.acquire() as conn:
        await conn.execute("SELECT 1")
        await conn.execute(SEED.replace("$1::bigint", str(op.id)).replace("$2::int", "300"))
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        for filter in ("needs_us", "open", "mine", "p1", "awaiting_customer", "escalated"):
            async with backend.pool.acquire() as conn:
                expected = await all_ids(conn, filter, op.id)
            forward: list[int] = []
            params = {"filter": filter, "limit": "7"}
            while True:
                async with s.get(f"{backend.url}/api/queue", params=params) as r:
                    page = await r.json()
                assert page["total"] == len(expected) and page["total_exact"]
                if not page["rows"]:
                    break
                forward += [row["id"] for row in page["rows"]]
                params = {"filter": filter, "limit": "7", "after": page["next"]}
            assert forward == expected, filter
            backward: list[int] = []
            params = {"filter": filter, "limit": "7", "before": "end"}
            while True:
                async with s.get(f"{backend.url}/api/queue", params=params) as r:
                    page = await r.json()
                if not page["rows"]:
                    break
                backward = [row["id"] for row in page["rows"]] + backward
                params = {"filter": filter, "limit": "7", "before": page["prev"]}
            assert backward == expected, filter
        async with s.get(f"{backend.url}/api/queue", params={"after": "yesterday"}) as r:
            assert r.status == 400 and "key" in (await r.json())["error"]


async def test_maintained_counts_follow_every_write(backend):
    op, _ = await backend.add_operator("anna")
    async with backend.pool.acquire() as conn:
        await conn.execute(SEED.replace("$1::bigint", str(op.id)).replace("$2::int", "400"))
        await conn.execute("UPDATE conversations SET state = 'resolved' WHERE id % 7 = 0")
        await conn.execute(
            "UPDATE conversations SET claimed_by = NULL, state = 'new' WHERE id % 9 = 0"
        )
        await conn.execute("UPDATE conversations SET escalated = true WHERE id % 13 = 0")
        await conn.execute("UPDATE conversations SET last_inbound_at = now()")  # nets to zero
        await conn.execute(
            "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations LIMIT 3)"
        )
        for folded in (False, True):
            if folded:
                await queue.fold(conn)
                assert await conn.fetchval("SELECT count(*) FROM conversation_count_deltas") == 0
            totals = await queue.filter_totals(conn)
            for filter in queue.COUNTED:
                assert totals[filter] == len(await all_ids(conn, filter, op.id)), filter
            summary = await queue.counts(conn, datetime.now(UTC))
            assert summary["queue"] == totals["needs_us"]
            assert summary["breaching"] == len(await all_ids(conn, "breaching", op.id))


async def test_a_deep_key_page_reads_only_its_own_rows(backend):
    """Cost bounded by what it returns: the plan's scans touch a page's worth of rows."""
    op, _ = await backend.add_operator("anna")
    async with backend.pool.acquire() as conn:
        await conn.execute(SEED.replace("$1::bigint", str(op.id)).replace("$2::int", "20000"))
        await conn.execute("ANALYZE conversations")
        last = await conn.fetchrow(
            f"SELECT c.sla_due_at, c.priority, c.id FROM conversations c "
            f"WHERE {queue.FILTERS['needs_us']} AND c.sla_due_at IS NOT NULL {queue.ORDER} "
            "OFFSET 9000 LIMIT 1"
        )
        for filter in ("needs_us", "open", "p1", "mine"):
            args = queue.Params()
            cond, source = queue.condition(filter, None, args, op.id, datetime.now(UTC))
            sql = queue.keyset_ids(
                filter, cond, source, args, args(100), (last[0], last[1], last[2]), None
            )
            plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args.values)
            read = scanned(plan[0]["Plan"])
            assert read <= 300, (filter, read)


def scanned(node: dict) -> int:
    own = (
        node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        if "Scan" in node["Node Type"]
        else 0
    )
    own += node.get("Rows Removed by Filter", 0)
    return own + sum(scanned(child) for child in node.get("Plans", []))


async def test_breaching_is_decided_by_the_backends_clock_not_the_databases(config, db_url):
    """Far from the real date, only the injected clock can say what is past due."""
    clock = FrozenClock(datetime(2040, 3, 1, 12, 0, tzinfo=UTC))
    backend = await start_backend(config, db_url, clock=clock)
    try:
        op, token = await backend.add_operator("anna")
        async with backend.pool.acquire() as conn:
            author = await conn.fetchval(
                "INSERT INTO authors (platform, platform_id, handle) "
                "VALUES ('simulator', 'a1', 'c1') RETURNING id"
            )
            ids = [
                await conn.fetchval(
                    """INSERT INTO conversations (platform, author_id, state, priority,
                           first_inbound_at, last_inbound_at, sla_kind, sla_due_at)
                       VALUES ('simulator', $1, 'new', 2, $2, $2, 'first', $3) RETURNING id""",
                    author,
                    clock.now() - timedelta(hours=1),
                    clock.now() + timedelta(minutes=minutes),
                )
                for minutes in (-5, 5)
            ]
        late, on_time = ids
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.get(f"{backend.url}/api/queue", params={"filter": "breaching"}) as r:
                page = await r.json()
            assert [row["id"] for row in page["rows"]] == [late] and page["total"] == 1
            async with s.get(f"{backend.url}/api/summary") as r:
                assert (await r.json())["breaching"] == 1
            clock.advance(minutes=10)  # now both are past due, by the clock alone
            async with s.get(f"{backend.url}/api/queue", params={"filter": "breaching"}) as r:
                page = await r.json()
            assert [row["id"] for row in page["rows"]] == [late, on_time]
            async with s.get(f"{backend.url}/api/summary") as r:
                assert (await r.json())["breaching"] == 2
    finally:
        await backend.runner.cleanup()


async def test_claim_next_reads_the_claimable_index_not_past_claimed_rows(pool):
    """Half the queue claimed one by one, statistics from when all of it was new (as in
    a busy shift): the next claim reads a handful of rows, not every claimed one."""
    from backend import operators
    from backend.conversations.actions import CLAIM_NEXT, Actions
    from backend.ingest.store import Ingest, accept_all
    from backend.model import Author, InboundPost
    from backend.sla.policy import fixed_deadlines

    clock = FrozenClock()
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), clock)
    actions = Actions(clock, timedelta(minutes=5))
    async with pool.acquire() as conn:
        for start in (0, 600):
            posts = [
                InboundPost(
                    "simulator",
                    f"p{i}",
                    Author(f"a{i}", f"c{i}"),
                    f"@acme problem {i}",
                    clock.advance(seconds=1),
                )
                for i in range(start, start + 600)
            ]
            await ingest.store(conn, posts)
        op, _ = await operators.add(conn, "anna")
        await conn.execute("ANALYZE conversations")
        for _ in range(600):
            assert await actions.claim_next(conn, op) is not None
        async with conn.transaction():
            plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {CLAIM_NEXT}")
    assert "conversations_claimable" in str(plan)
    assert scanned(plan[0]["Plan"]) <= 5
