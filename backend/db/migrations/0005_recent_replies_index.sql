-- The composer compares every draft with the team's latest replies
-- (ORDER BY created_at DESC LIMIT 200); without this index that read
-- sorted the whole messages table on each reply, slower as the day went on.
CREATE INDEX messages_created ON messages (created_at);
