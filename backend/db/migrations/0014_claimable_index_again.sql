-- claim-next reads the top of the unclaimed queue from conversations_claimable
-- (0002). 0007's conversations_needs_us has the same key and a wider predicate
-- (claimed rows stay in it), so when both are estimated alike (fresh statistics
-- of a queue of new conversations) PostgreSQL kept the newer index, needs_us,
-- and each claim walked past every conversation claimed so far again: after
-- 1,500 claims, 1,500 rows removed by filter and 458 buffers a claim instead of
-- 10 (bench/claims.py fell from 435 to 369 claims/s). Built again, claimable is
-- the newer of the two; tests/test_queue_scale.py checks the plan.
DROP INDEX conversations_claimable;
CREATE INDEX conversations_claimable ON conversations (sla_due_at NULLS LAST, priority, id)
    WHERE state IN ('new', 'flagged_conduct') AND claimed_by IS NULL;
