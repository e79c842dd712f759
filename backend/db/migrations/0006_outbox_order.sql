-- Messages of one conversation go out in order: a DM only after the platform
-- accepted its public acknowledgement, a closing only after the DM. after_id
-- is the message that must be published first; a message whose predecessor
-- failed for good is held (never sent), and held_reason says why, for the
-- console.
ALTER TABLE outbox ADD COLUMN after_id bigint REFERENCES outbox(id);
ALTER TABLE outbox ADD COLUMN held_reason text;
CREATE INDEX outbox_after ON outbox (after_id) WHERE after_id IS NOT NULL;
