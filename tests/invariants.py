"""Invariants of stored data that the schema does not enforce itself, as SQL for tests."""

# Ingest's references have no foreign keys (migration 0004): a count of rows pointing nowhere.
ORPHANED_REFERENCES = """
    SELECT (SELECT count(*) FROM mentions m WHERE m.conversation_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = m.conversation_id))
         + (SELECT count(*) FROM mentions m WHERE NOT EXISTS (SELECT 1 FROM authors a WHERE a.id = m.author_id))
         + (SELECT count(*) FROM conversations c WHERE NOT EXISTS (SELECT 1 FROM authors a WHERE a.id = c.author_id))
"""
