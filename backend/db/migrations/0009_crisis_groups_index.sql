-- Crisis groups read the 5,000 newest conversations still waiting for a first
-- word (GROUP_LIMIT, LIMIT 5000): without an index in that order PostgreSQL
-- scanned and top-N sorted every open conversation, 790 ms at a million.
CREATE INDEX conversations_waiting_latest ON conversations (last_inbound_at DESC)
    WHERE state IN ('new', 'claimed');
