"""Searching the queue by words: the customer's handle or name, or any of their posts.

What an operator types is split into words by PostgreSQL's own parser (the
'simple' configuration: lower case, no stemming, no stop words), the same way
posts and authors are indexed (migration 0015), and each word matches words
that start with it: "jo_k" finds @jo_k, "late" finds "late" and "lately",
"12345" finds order 12345 and 123456. Every word must match (in the posts or
the author's handle and name). Unlike the substring match it replaces
(ILIKE '%text%', no index could serve it: a rare handle walked the whole
queue), a word is not found in the middle of another: "ate" no longer finds
"late", nor "2345" order 12345. Text without a single word ("&|!", quotes)
searches nothing: the filter is shown as it is.

The words never reach a query's text: they are bound as a tsquery built here,
each word quoted, so no input makes a tsquery syntax error.

A search costs the posts and authors it matches, up to SEARCH_HITS: those
conversations are read by id and ordered. Past that (a word in most posts),
the filter's own index is walked in the queue's order and each conversation
is tested, which finds a page quickly because matches are that common. A
word common in the newest posts (SAMPLE) goes to the walk without reading
its matches at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# The indexed text (0015): the same expressions, or the GIN indexes do not apply.
POST_WORDS = "to_tsvector('simple', left({p}.text, 100000))"
AUTHOR_WORDS = "to_tsvector('simple', left({a}.handle || ' ' || {a}.display_name, 10000))"

# Matching posts or authors read from the word indexes at most; past this the search walks
# the queue instead. sqrt(page x backlog) at a million (100 x 1,000,000) balances the two:
# 10,000 ids sorted, or at most ~10,000 rows walked per page when matches are that common.
SEARCH_HITS = 10_000

_LEXEMES = "SELECT coalesce(array_agg(lexeme), '{}') FROM unnest(to_tsvector('simple', $1))"

_HITS = f"""
    (SELECT 'post' AS via, s.conversation_id AS id FROM mentions s
     WHERE {POST_WORDS.format(p="s")} @@ $1::tsquery AND s.conversation_id IS NOT NULL LIMIT $2)
    UNION ALL
    (SELECT 'author', c.id FROM authors a
     -- LATERAL ... OFFSET 0: each matching author's conversations from conversations_author; a join
     -- guessed 400 authors from a prefix and hashed every conversation instead.
     CROSS JOIN LATERAL (SELECT c.id FROM conversations c WHERE c.author_id = a.id OFFSET 0) c
     WHERE {AUTHOR_WORDS.format(a="a")} @@ $1::tsquery LIMIT $2)
"""


# Before reading a word's matches from its index (which reads its whole list: 160 ms for a
# word in a million posts, and 10,000 conversations to sort for one in every post of ten
# thousand), the newest SAMPLE posts are tested (1-3 ms; 500 took 10-20). A word in a fifth
# of them or more, and more than WALK_ABOVE posts in all, is searched by walking the queue
# straight away: a page is found in ~500 rows, a total capped at 1,000 in ~5,000.
SAMPLE = 100
COMMON_SHARE = 0.2
WALK_ABOVE = 1_000

_SAMPLED = f"""
    SELECT (SELECT count(*) FROM (SELECT s.text FROM mentions s ORDER BY s.id DESC LIMIT $2) s
            WHERE {POST_WORDS.format(p="s")} @@ $1::tsquery) AS matched,
           (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'mentions'::regclass) AS posts
"""


@dataclass(frozen=True)
class Search:
    """A search ready to run: its tsquery, and the conversations it matches when there are
    at most SEARCH_HITS of them (None: more, so the queue is walked and tested instead)."""

    query: str
    ids: list[int] | None


def prefix_query(lexemes: list[str]) -> str:
    """A tsquery (as text) asking for every lexeme as the start of a word. Each is quoted,
    quotes and backslashes escaped as tsquery input wants, so any text is a valid query."""
    quoted = ("'" + w.replace("\\", "\\\\").replace("'", "''") + "':*" for w in lexemes)
    return " & ".join(quoted)


async def prepare(conn: asyncpg.Connection | asyncpg.Pool, text: str) -> Search | None:
    """The search for what the operator typed; None when it holds no word."""
    lexemes = await conn.fetchval(_LEXEMES, text)
    if not lexemes:
        return None
    query = prefix_query(sorted(lexemes))
    sampled = await conn.fetchrow(_SAMPLED, query, SAMPLE)
    share = sampled["matched"] / SAMPLE
    if share >= COMMON_SHARE and share * sampled["posts"] > WALK_ABOVE:
        return Search(query, None)
    rows = await conn.fetch(_HITS, query, SEARCH_HITS + 1)
    if (
        sum(r["via"] == "post" for r in rows) > SEARCH_HITS
        or sum(r["via"] == "author" for r in rows) > SEARCH_HITS
    ):
        return Search(query, None)
    return Search(query, sorted({r["id"] for r in rows}))


def tested(query_param: str) -> str:
    """The per-conversation test of a common search (the walk): a post or the author matches.
    OFFSET 0 keeps each EXISTS a test of this row: without it PostgreSQL hashed every
    matching post first (a million for a word in every post, 0.9 s a page)."""
    return f"""(EXISTS (SELECT 1 FROM mentions s WHERE s.conversation_id = c.id
                        AND {POST_WORDS.format(p="s")} @@ {query_param} OFFSET 0)
             OR EXISTS (SELECT 1 FROM authors a WHERE a.id = c.author_id
                        AND {AUTHOR_WORDS.format(a="a")} @@ {query_param} OFFSET 0))"""
