-- The two reads that still grew with the backlog (issue 19).
--
-- 1. Search (GET /api/queue?q=) was ILIKE '%text%' over every post and author:
--    no index serves a substring, so a rare handle or order number walked the
--    whole queue. Our embedded PostgreSQL ships no pg_trgm, so posts and
--    authors are indexed by their words (the 'simple' configuration: lower
--    case, no stemming, no stop words) and a search asks for words starting
--    with what the operator typed (backend/conversations/search.py). left():
--    a tsvector holds at most 1 MB, and one giant post must not fail a batch.
CREATE INDEX mentions_words ON mentions USING gin (to_tsvector('simple', left(text, 100000)));
CREATE INDEX authors_words ON authors
    USING gin (to_tsvector('simple', left(handle || ' ' || display_name, 10000)));

-- 2. The handover counts the period's mentions by platform and sentiment band;
--    with a million in the period that read each of them (1.2 s). Kept as they
--    arrive instead, per UTC hour, the way 0007 keeps the other tallies: each
--    INSERT statement appends its net change to mention_hour_deltas, readers add
--    the deltas and fold them now and then (fold_tallies). A period reads its
--    whole hours here and only the edges from mentions (backend/handover/hours.py).
--    The bands are the handover's defaults (sentiment below -0.25 negative,
--    above 0.25 positive); another threshold counts the period the old way.
CREATE FUNCTION mention_band(sentiment real) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN sentiment < (-0.25)::real THEN 'negative'
                WHEN sentiment > 0.25::real THEN 'positive' ELSE 'neutral' END
$$;

CREATE TABLE mention_hours (
    hour      timestamptz NOT NULL,  -- the UTC hour the mentions were received in
    platform  text NOT NULL,
    band      text NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (hour, platform, band)
);
CREATE TABLE mention_hour_deltas (
    hour      timestamptz NOT NULL,
    platform  text NOT NULL,
    band      text NOT NULL,
    n         bigint NOT NULL
);

-- Mentions are only ever inserted (0007); the brand's own posts are not counted.
CREATE FUNCTION mention_hours_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mention_hour_deltas
    SELECT date_trunc('hour', received_at, 'UTC'), platform, mention_band(sentiment), count(*)
    FROM new_rows WHERE NOT is_ours GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;
CREATE TRIGGER mention_hours_tally AFTER INSERT ON mentions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mention_hours_tally();

-- 0007's fold, and the hours' deltas too.
CREATE OR REPLACE FUNCTION fold_tallies() RETURNS void LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM conversation_count_deltas RETURNING *)
    INSERT INTO conversation_counts AS c
    SELECT state, priority, escalated, claimed, sum(n) FROM gone GROUP BY 1, 2, 3, 4
    ON CONFLICT (state, priority, escalated, claimed) DO UPDATE SET n = c.n + excluded.n;
    WITH gone AS (DELETE FROM tally_deltas RETURNING *)
    INSERT INTO tallies AS t
    SELECT metric, label, sum(n), sum(total) FROM gone GROUP BY 1, 2
    ON CONFLICT (metric, label) DO UPDATE SET n = t.n + excluded.n, total = t.total + excluded.total;
    WITH gone AS (DELETE FROM mention_hour_deltas RETURNING *)
    INSERT INTO mention_hours AS h
    SELECT hour, platform, band, sum(n) FROM gone GROUP BY 1, 2, 3
    ON CONFLICT (hour, platform, band) DO UPDATE SET n = h.n + excluded.n;
$$;

-- What is already there, counted once: one aggregate over the mentions of
-- customers (mentions_received_customer, 0008, has every column it needs).
INSERT INTO mention_hours
SELECT date_trunc('hour', received_at, 'UTC'), platform, mention_band(sentiment), count(*)
FROM mentions WHERE NOT is_ours GROUP BY 1, 2, 3;
