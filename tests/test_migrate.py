"""Migrations: in order, once, safe when several backends start together."""

from __future__ import annotations

import asyncio

import asyncpg

from backend.db.migrate import migrate_url, migration_files
from backend.db.setup import with_database


async def test_concurrent_migrations_apply_each_file_once(pg_admin_url):
    name = "t_migrate_concurrent"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(pg_admin_url, name)
        results = await asyncio.gather(*(migrate_url(url) for _ in range(4)))
        applied = [names for names in results if names]
        files = [f for _, f, _ in migration_files()]
        assert applied == [files]  # exactly one runner applied everything, in order
        assert await migrate_url(url) == []  # and a later start finds nothing to do
        conn = await asyncpg.connect(url)
        try:
            versions = [
                r["version"]
                for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
            ]
            tables = {
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            }
        finally:
            await conn.close()
        assert versions == [v for v, _, _ in migration_files()]
        assert {
            "operators",
            "authors",
            "mentions",
            "conversations",
            "messages",
            "outbox",
            "events",
            "notes",
            "tags",
            "conversation_tags",
            "shifts",
            "handovers",
            "connector_state",
        } <= tables
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_migration_files_are_numbered_in_order():
    versions = [v for v, _, _ in migration_files()]
    assert versions == sorted(versions) and versions[0] == 1
    assert len(set(versions)) == len(versions)
