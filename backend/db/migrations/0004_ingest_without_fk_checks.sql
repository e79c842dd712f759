-- Ingest writes these three references itself, in one transaction: the authors
-- and conversations first, then the mentions that point at them; nothing ever
-- deletes an author, a conversation or a mention. A foreign key check costs
-- each row an index probe plus a row lock on the referenced row (itself a WAL
-- record), about a third of PostgreSQL's work per ingested mention
-- (bench/ingest.py). The ingest and fault tests verify that no mention or
-- conversation points nowhere.
-- Everything operators write (messages, notes, tags, breaches) keeps its keys.
ALTER TABLE mentions DROP CONSTRAINT mentions_conversation_id_fkey;
ALTER TABLE mentions DROP CONSTRAINT mentions_author_id_fkey;
ALTER TABLE conversations DROP CONSTRAINT conversations_author_id_fkey;
