"""The handover's mention counts from the hourly tally: equal to counting, and bounded."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg
from hypothesis import given
from hypothesis import strategies as st

from backend.db.migrate import migrate, migration_files
from backend.handover import hours
from backend.handover import queries as handover_query
from tests.test_queue_scale import scanned

T0 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)

# Mentions over 30 hours at random microseconds, on three platforms, with sentiments on
# and around the band edges (and none), some of them the brand's own.
AUTHOR = """
INSERT INTO authors (platform, platform_id, handle) VALUES ('simulator', 'a1', 'c1')
ON CONFLICT DO NOTHING
"""
SEED = """
INSERT INTO mentions (platform, post_id, author_id, text, created_at, received_at, is_ours, sentiment)
SELECT (ARRAY['simulator', 'bluesky', 'mastodon'])[1 + (g * 7) % 3], $3 || g,
       (SELECT min(id) FROM authors), 'post ' || g, $1::timestamptz,
       $1::timestamptz + make_interval(secs => ((g::bigint * 104729) % 108000000) / 1000.0),
       g % 17 = 0,
       (ARRAY[NULL, -1, -0.25, -0.2500001, -0.24, 0, 0.25, 0.2500001, 0.9]::real[])[1 + (g * 5) % 9]
FROM generate_series(1, $2::int) g
"""


async def old_count(conn, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    rows = await conn.fetch(
        handover_query.MENTIONS, start, end, hours.TALLY_NEGATIVE_BELOW, hours.TALLY_POSITIVE_ABOVE
    )
    return {(r["platform"], r["band"]): r["n"] for r in rows}


async def new_count(conn, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    found = await handover_query.mention_counts(conn, start, end)
    return {(m.platform, m.sentiment): m.count for m in found}


def random_time(rng: random.Random, stamps: list[datetime]) -> datetime:
    """On the hour, on a mention's own time, or anywhere in (and around) the seeded span."""
    kind = rng.random()
    if kind < 0.2:
        return T0 + timedelta(hours=rng.randint(-2, 32))
    if kind < 0.4:
        return rng.choice(stamps)
    return T0 + timedelta(microseconds=rng.randint(-3_600_000_000, 112_000_000_000))


async def test_tallied_counts_equal_counting_every_mention_for_random_periods(db):
    # Three statements (three batches of deltas), then more after a fold: both are read.
    await db.execute(AUTHOR)
    for batch, n in enumerate((3000, 1500, 800)):
        await db.execute(SEED.replace("$3", f"'b{batch}-' ").replace("$2::int", str(n)), T0)
        if batch == 1:
            await db.execute("SELECT fold_tallies()")
    assert await db.fetchval("SELECT count(*) FROM mention_hour_deltas") > 0
    stamps = [r["received_at"] for r in await db.fetch("SELECT received_at FROM mentions")]
    rng = random.Random(19)
    for _ in range(300):
        a, b = random_time(rng, stamps), random_time(rng, stamps)
        start, end = min(a, b), max(a, b)
        assert await new_count(db, start, end) == await old_count(db, start, end), (start, end)
    # Another time zone on the connection changes nothing: the hours are UTC hours.
    await db.execute("SET TIME ZONE 'Asia/Kolkata'")
    start, end = T0 + timedelta(minutes=17), T0 + timedelta(hours=9, minutes=50)
    assert await new_count(db, start, end) == await old_count(db, start, end)
    # A threshold the tally does not keep is counted the old way, still right.
    found = await handover_query.mention_counts(db, start, end, negative_below=-0.5)
    expected = await db.fetch(handover_query.MENTIONS, start, end, -0.5, 0.25)
    assert {(m.platform, m.sentiment, m.count) for m in found} == {
        (r["platform"], r["band"], r["n"]) for r in expected
    }


async def test_a_period_with_a_million_mentions_reads_only_its_edges(db):
    """Plan check: the middle hours come from the tally; of the mentions themselves only
    the start's shorter side and what came after the end are read."""
    await db.execute(AUTHOR)
    await db.execute(SEED.replace("$3", "'m-' ").replace("$2::int", "60000"), T0)
    await db.execute("ANALYZE mentions")
    start, end = T0 + timedelta(hours=2, minutes=50), T0 + timedelta(hours=29, minutes=59)
    sql, args = hours.count_sql(hours.pieces(start, end))
    plan = await db.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    in_period = await db.fetchval(
        "SELECT count(*) FROM mentions WHERE received_at >= $1 AND received_at < $2", start, end
    )
    edges = await db.fetchval(
        "SELECT count(*) FROM mentions WHERE (received_at >= $1 AND received_at < $2)"
        " OR (received_at >= $3 AND received_at < $4)",
        start,
        T0 + timedelta(hours=3),
        end,
        T0 + timedelta(hours=30),
    )
    tally_rows = await db.fetchval(
        "SELECT (SELECT count(*) FROM mention_hours) + (SELECT count(*) FROM mention_hour_deltas)"
    )
    mentions_read = scanned_in(plan[0]["Plan"], "mentions")
    assert in_period > 50_000 and mentions_read <= edges, (mentions_read, edges, in_period)
    tally_read = sum(
        scanned_in(plan[0]["Plan"], t) for t in ("mention_hours", "mention_hour_deltas")
    )
    assert tally_read <= tally_rows
    assert "mentions_received_customer" in str(plan)
    assert await new_count(db, start, end) == await old_count(db, start, end)


def scanned_in(node: dict, table: str) -> int:
    """Rows the plan read from `table` (as tests.test_queue_scale.scanned, one table)."""
    own = scanned({**node, "Plans": []}) if node.get("Relation Name") == table else 0
    return own + sum(scanned_in(child, table) for child in node.get("Plans", []))


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 3)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=30)),
)
def test_pieces_cover_the_period_exactly_once(start_naive: datetime, length: timedelta):
    start = start_naive.replace(tzinfo=UTC)
    end = start + length
    parts = hours.pieces(start, end)
    for p in parts:
        if p.hours:
            assert p.start == hours.hour_of(p.start) and p.end == hours.hour_of(p.end)
    # Every boundary, and a point either side of it, is counted once inside and never outside.
    points = {start, end, hours.hour_of(start), hours.hour_of(end)}
    probes = {t + d for t in points for d in (timedelta(0), -timedelta(microseconds=1))}
    for t in probes:
        covered = sum(p.sign for p in parts if p.start <= t < p.end)
        assert covered == (1 if start <= t < end else 0), t
    # Counted one by one: at most half an hour before the end, and what came after it.
    before_end = [p.end - p.start for p in parts if not p.hours and p.start < end]
    assert sum(before_end, timedelta()) <= timedelta(minutes=30)


async def test_the_migration_counts_the_mentions_already_there(pg_admin_url):
    """0015 on a database that has mentions: the backfill counts them once."""
    from backend.db.setup import with_database

    name = "t_mention_hours_backfill"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(with_database(pg_admin_url, name))
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, file, sql in migration_files():
            if version < 15:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", version, file)
        await conn.execute(AUTHOR)
        await conn.execute(SEED.replace("$3", "'old-' ").replace("$2::int", "2000"), T0)
        assert "0015_search_words_and_mention_hours.sql" in await migrate(conn)
        await conn.execute(SEED.replace("$3", "'new-' ").replace("$2::int", "500"), T0)
        start, end = T0 + timedelta(minutes=5), T0 + timedelta(hours=28, minutes=1)
        assert await new_count(conn, start, end) == await old_count(conn, start, end)
        total = await conn.fetchval(
            "SELECT (SELECT sum(n) FROM mention_hours) + (SELECT sum(n) FROM mention_hour_deltas)"
        )
        assert total == await conn.fetchval("SELECT count(*) FROM mentions WHERE NOT is_ours")
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
