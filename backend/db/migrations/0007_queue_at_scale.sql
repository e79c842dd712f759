-- The queue at a million open conversations (issue 19): every screen reads a
-- bounded, indexed slice or a maintained aggregate, never the whole backlog.
-- Measured before this migration on a 2-core machine with 1,000,000 open
-- (bench/tui.py's seed): GET /api/summary 1.7 s (count over the queue),
-- every GET /api/queue page 0.4-0.5 s (count plus OFFSET), GET /metrics 1.0 s
-- (group-bys over conversations and mentions), GET /api/handover 24.7 s.

-- Counts of conversations by what the saved filters ask about, kept as they
-- change. Writers never update a shared counter row: each statement appends
-- its net change to conversation_count_deltas (one row per key it touched),
-- so concurrent ingest batches and operator actions never wait on one
-- another's counter lock and cannot deadlock on it. Readers add the deltas to
-- the folded counts; fold_tallies() moves deltas into the counts now and then.
CREATE TABLE conversation_counts (
    state      text NOT NULL,
    priority   smallint NOT NULL,
    escalated  boolean NOT NULL,
    claimed    boolean NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (state, priority, escalated, claimed)
);
CREATE TABLE conversation_count_deltas (
    state      text NOT NULL,
    priority   smallint NOT NULL,
    escalated  boolean NOT NULL,
    claimed    boolean NOT NULL,
    n          bigint NOT NULL
);

-- Other running totals /metrics reports (Prometheus counters and histogram),
-- keyed by metric and one label: mentions by platform, breaches by priority,
-- first responses by whole minute (1441 = over a day), with the seconds summed.
CREATE TABLE tallies (
    metric  text NOT NULL,
    label   text NOT NULL,
    n       bigint NOT NULL,
    total   double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (metric, label)
);
CREATE TABLE tally_deltas (
    metric  text NOT NULL,
    label   text NOT NULL,
    n       bigint NOT NULL,
    total   double precision NOT NULL DEFAULT 0
);

-- Statement-level triggers with transition tables: one aggregate per
-- statement, not one write per row, because ingest stores its mentions and
-- conversations in batches of hundreds (bench/ingest.py, bench/soak.py).
-- An UPDATE that leaves the keys alone (heartbeats, the SLA clock, a new
-- message in a thread) nets to zero and writes nothing.
CREATE FUNCTION conversations_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO conversation_count_deltas
        SELECT state, priority, escalated, claimed_by IS NOT NULL, count(*) FROM new_rows GROUP BY 1, 2, 3, 4;
        INSERT INTO tally_deltas
        SELECT 'first_response', m, count(*), sum(s) FROM (
            SELECT least(ceil(s / 60), 1441)::int::text AS m, s FROM (
                SELECT greatest(extract(epoch FROM first_response_at - first_inbound_at), 0)::float8 AS s
                FROM new_rows WHERE first_response_at IS NOT NULL) x) y
        GROUP BY m;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO conversation_count_deltas
        SELECT state, priority, escalated, claimed_by IS NOT NULL, -count(*) FROM old_rows GROUP BY 1, 2, 3, 4;
    ELSE
        INSERT INTO conversation_count_deltas
        SELECT state, priority, escalated, claimed, sum(n) FROM (
            SELECT state, priority, escalated, claimed_by IS NOT NULL AS claimed, 1 AS n FROM new_rows
            UNION ALL
            SELECT state, priority, escalated, claimed_by IS NOT NULL, -1 FROM old_rows) d
        GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0;
        INSERT INTO tally_deltas
        SELECT 'first_response', least(ceil(s / 60), 1441)::int::text, sum(n), sum(n * s) FROM (
            SELECT greatest(extract(epoch FROM first_response_at - first_inbound_at), 0)::float8 AS s, 1 AS n
            FROM new_rows WHERE first_response_at IS NOT NULL
            UNION ALL
            SELECT greatest(extract(epoch FROM first_response_at - first_inbound_at), 0)::float8, -1
            FROM old_rows WHERE first_response_at IS NOT NULL) d
        GROUP BY 2 HAVING sum(n) <> 0 OR abs(sum(n * s)) > 1e-6;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_tally_insert AFTER INSERT ON conversations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION conversations_tally();
CREATE TRIGGER conversations_tally_update AFTER UPDATE ON conversations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION conversations_tally();
CREATE TRIGGER conversations_tally_delete AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION conversations_tally();

-- Mentions and breaches are only ever inserted (nothing updates or deletes them).
CREATE FUNCTION mentions_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_deltas
    SELECT 'mentions', platform, count(*), 0 FROM new_rows WHERE NOT is_ours GROUP BY platform;
    RETURN NULL;
END $$;
CREATE TRIGGER mentions_tally AFTER INSERT ON mentions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mentions_tally();

CREATE FUNCTION sla_breaches_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_deltas
    SELECT 'breaches', priority::text, count(*), 0 FROM new_rows GROUP BY priority;
    RETURN NULL;
END $$;
CREATE TRIGGER sla_breaches_tally AFTER INSERT ON sla_breaches
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sla_breaches_tally();

-- Fold the deltas into the totals. Readers call it (under a try-lock, so one
-- at a time) when the deltas have grown: a delta row read costs about as much
-- as a folded one, so the read stays bounded by the folding threshold.
CREATE FUNCTION fold_tallies() RETURNS void LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM conversation_count_deltas RETURNING *)
    INSERT INTO conversation_counts AS c
    SELECT state, priority, escalated, claimed, sum(n) FROM gone GROUP BY 1, 2, 3, 4
    ON CONFLICT (state, priority, escalated, claimed) DO UPDATE SET n = c.n + excluded.n;
    WITH gone AS (DELETE FROM tally_deltas RETURNING *)
    INSERT INTO tallies AS t
    SELECT metric, label, sum(n), sum(total) FROM gone GROUP BY 1, 2
    ON CONFLICT (metric, label) DO UPDATE SET n = t.n + excluded.n, total = t.total + excluded.total;
$$;

-- What is already there, counted once.
INSERT INTO conversation_counts
SELECT state, priority, escalated, claimed_by IS NOT NULL, count(*) FROM conversations GROUP BY 1, 2, 3, 4;
INSERT INTO tallies
SELECT 'first_response', least(ceil(s / 60), 1441)::int::text, count(*), sum(s) FROM (
    SELECT greatest(extract(epoch FROM first_response_at - first_inbound_at), 0)::float8 AS s
    FROM conversations WHERE first_response_at IS NOT NULL) x
GROUP BY 2;
INSERT INTO tallies SELECT 'mentions', platform, count(*), 0 FROM mentions WHERE NOT is_ours GROUP BY platform;
INSERT INTO tallies SELECT 'breaches', priority::text, count(*), 0 FROM sla_breaches GROUP BY priority;

-- Keyset paging: each saved filter reads its page from an index in the
-- queue's own order (sla_due_at NULLS LAST, priority, id), starting at the
-- last row the console has, so a page costs its 100 rows wherever it is.
-- "open" uses conversations_queue and "unclaimed" conversations_claimable;
-- "breaching" is the front of needs_us. The others would otherwise walk the
-- open index past every row they do not want.
CREATE INDEX conversations_needs_us ON conversations (sla_due_at NULLS LAST, priority, id)
    WHERE state IN ('new', 'claimed', 'flagged_conduct', 'in_dm');
CREATE INDEX conversations_p1 ON conversations (sla_due_at NULLS LAST, priority, id)
    WHERE priority = 1 AND state IN ('new', 'claimed', 'flagged_conduct', 'in_dm', 'awaiting_customer');
CREATE INDEX conversations_awaiting ON conversations (sla_due_at NULLS LAST, priority, id)
    WHERE state = 'awaiting_customer';
CREATE INDEX conversations_in_dm ON conversations (sla_due_at NULLS LAST, priority, id)
    WHERE state = 'in_dm';
CREATE INDEX conversations_escalated ON conversations (sla_due_at NULLS LAST, priority, id)
    WHERE escalated AND state NOT IN ('resolved', 'dismissed');
-- "mine", the handover's holders and sign-out: what one operator holds.
CREATE INDEX conversations_holder ON conversations (claimed_by, sla_due_at NULLS LAST, priority, id)
    WHERE claimed_by IS NOT NULL;
-- The handover's first responses in its period, and who owes a public close.
CREATE INDEX conversations_first_response ON conversations (first_response_at)
    WHERE first_response_at IS NOT NULL;
CREATE INDEX conversations_owes_close ON conversations (updated_at)
    WHERE owes_public_close AND state NOT IN ('resolved', 'dismissed');
-- /metrics: failed messages, counted from their own index.
CREATE INDEX messages_failed ON messages (id) WHERE status = 'failed';
