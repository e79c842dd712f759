-- claim-next reads the top of the unclaimed queue. Claimed rows stay in the
-- general queue index, and skipping past them made every claim slower as
-- the shift went on; this index holds only what can be claimed.
CREATE INDEX conversations_claimable ON conversations (sla_due_at NULLS LAST, priority, id)
    WHERE state IN ('new', 'flagged_conduct') AND claimed_by IS NULL;
