"""Searching the queue by words: what it finds, that any text is safe, and what it reads."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.conversations import queue, search
from tests.test_queue_scale import scanned

# 30 customers with one open conversation each; customer 7 is @jo_k, posts name order numbers.
SEED = """
INSERT INTO authors (platform, platform_id, handle, display_name)
SELECT 'simulator', 'a' || g, CASE WHEN g = 7 THEN 'jo_k' ELSE 'customer' || g END,
       CASE WHEN g = 8 THEN 'Zoë Müller' ELSE 'Customer ' || g END
FROM generate_series(1, $1::int) g;
INSERT INTO conversations (platform, author_id, state, priority, first_inbound_at, last_inbound_at,
                           sla_kind, sla_due_at)
SELECT 'simulator', a.id, 'new', 2, now(), now(), 'first', now() + make_interval(mins => a.id::int)
FROM authors a;
INSERT INTO mentions (platform, post_id, conversation_id, author_id, text, created_at)
SELECT 'simulator', 'p' || c.id, c.id, c.author_id,
       CASE WHEN a.platform_id = 'a3' THEN 'Where is ORDER #12345? Chocolate arrived LATE'
            ELSE '@acme order ' || (50000 + c.id) || ' is late again' END, now()
FROM conversations c JOIN authors a ON a.id = c.author_id;
"""


async def seeded(backend, n: int = 30) -> str:
    _, token = await backend.add_operator("anna")
    async with backend.pool.acquire() as conn:
        for statement in SEED.replace("$1::int", str(n)).split(";"):
            if statement.strip():
                await conn.execute(statement)
        await conn.execute("ANALYZE")
    return token


async def found(s: aiohttp.ClientSession, url: str, q: str, **params: str) -> dict:
    async with s.get(f"{url}/api/queue", params={"q": q, "limit": "100", **params}) as r:
        body = await r.json()
        assert r.status == 200, (q, body)
        return body


async def test_a_search_finds_handles_order_numbers_and_words_at_their_start(backend):
    token = await seeded(backend)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:

        async def handles(q: str) -> list[str]:
            return [row["author"]["handle"] for row in (await found(s, backend.url, q))["rows"]]

        assert await handles("@jo_k") == ["jo_k"]
        assert await handles("JO_K") == ["jo_k"]  # any case
        assert await handles("12345") == ["customer3"]  # an order number
        assert await handles("#12345") == ["customer3"]
        assert await handles("order 12345") == ["customer3"]  # every word
        assert await handles("chocolate late") == ["customer3"]
        assert await handles("choc") == ["customer3"]  # the start of a word
        assert await handles("zoë") == ["customer8"]  # the author's name
        assert await handles("müll") == ["customer8"]
        assert await handles("customer2") == ["customer2"] + [f"customer{i}" for i in range(20, 30)]
        # What the substring match found and words do not: the middle of a word.
        assert await handles("ate") == []
        assert await handles("2345") == []
        # A common word is found in every post, with an exact total and in the queue's order.
        page = await found(s, backend.url, "late")
        assert page["total"] == 30 and page["total_exact"] and len(page["rows"]) == 30
        due = [row["sla_due_at"] for row in page["rows"]]
        assert due == sorted(due)
        # Nothing but punctuation holds no word: the filter as it is.
        page = await found(s, backend.url, "&|!():*")
        assert page["total"] == 30


async def test_a_common_word_walks_the_queue_and_pages_by_key(backend, monkeypatch):
    """Past SEARCH_HITS matches the queue is walked and tested; pages and totals agree with
    the few-matches way."""
    token = await seeded(backend)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        few = await found(s, backend.url, "late")
        monkeypatch.setattr(search, "SEARCH_HITS", 5)
        many = await found(s, backend.url, "late")
        assert [r["id"] for r in many["rows"]] == [r["id"] for r in few["rows"]]
        assert many["total"] == few["total"] == 30
        walked: list[int] = []
        params = {"limit": "7"}
        while True:
            page = await found(s, backend.url, "late", **params)
            if not page["rows"]:
                break
            walked += [r["id"] for r in page["rows"]]
            params = {"limit": "7", "after": page["next"]}
        assert walked == [r["id"] for r in few["rows"]]


# tsquery's own syntax, quotes, backslashes, spaces and any other character.
WILD = st.text(
    st.sampled_from(list("&|!():*'\"\\<->@#%_ ab1éß\t")) | st.characters(codec="utf-8"),
    max_size=30,
)


def search_answers(url: str, token: str, examples: int) -> list[str]:
    """Generated search texts sent over HTTP; every answer that is not a 200 with rows."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    failures: list[str] = []

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None)
    @given(q=WILD)
    def run(q: str) -> None:
        if "\x00" in q or any(0xD800 <= ord(c) <= 0xDFFF for c in q):
            return  # refused before any search as a bad parameter (tests/test_bad_input.py)
        query = urllib.parse.urlencode({"q": q})
        request = urllib.request.Request(
            f"{url}/api/queue?{query}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                assert "rows" in json.loads(r.read())
        except urllib.error.HTTPError as exc:
            failures.append(f"{q!r} -> {exc.code} {exc.read()[:200]!r}")

    run()
    return failures


async def test_any_search_text_answers_with_rows_never_an_error(backend):
    token = await seeded(backend, 5)
    for q in ("&|!():*", "'", "''", "\\", "a:*", "!a", "a & | b", "(", "<->", "'a' & 'b'", "*"):
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            await found(s, backend.url, q)
    failures = await asyncio.to_thread(search_answers, backend.url, token, 80)
    assert not failures, failures[:5]


def test_the_tsquery_quotes_every_word():
    assert search.prefix_query(["jo", "k"]) == "'jo':* & 'k':*"
    assert search.prefix_query(["it's", "a\\b"]) == "'it''s':* & 'a\\\\b':*"


async def test_a_rare_search_reads_its_matches_not_the_queue(backend, monkeypatch):
    """Plan check: a handle among 20,000 open conversations reads its own rows from the
    word indexes; the page's total and rows are read by id."""
    await seeded(backend, 20000)
    async with backend.pool.acquire() as conn:
        found_search = await search.prepare(conn, "customer1234")
        assert found_search is not None and found_search.ids is not None
        assert 1 <= len(found_search.ids) <= 11  # customer1234 and customer12340-12349
        hits = await conn.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {search._HITS}",
            found_search.query,
            search.SEARCH_HITS + 1,
        )
        assert "mentions_words" in str(hits) and "authors_words" in str(hits)
        assert scanned(hits[0]["Plan"]) <= 100, json.dumps(hits, indent=1)
        for filter in ("needs_us", "open"):
            args = queue.Params()
            cond, source = queue.condition(filter, found_search, args, 0, datetime.now(UTC))
            sql = queue.keyset_ids(filter, cond, source, args, args(100), None, None)
            plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args.values)
            assert scanned(plan[0]["Plan"]) <= 100, filter
        # A word in every post: the queue is walked and each row tested, never every
        # matching post hashed first.
        common = await search.prepare(conn, "late")
        assert common is not None and common.ids is None
        args = queue.Params()
        cond, source = queue.condition("needs_us", common, args, 0, datetime.now(UTC))
        sql = queue.keyset_ids("needs_us", cond, source, args, args(100), None, None)
        plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args.values)
        assert "hashed" not in json.dumps(plan) and scanned(plan[0]["Plan"]) <= 300
        # Common in the newest posts: straight to the walk, its matches never read.
        monkeypatch.setattr(search, "_HITS", "SELECT 1/0")
        again = await search.prepare(conn, "late")
        assert again is not None and again.ids is None
