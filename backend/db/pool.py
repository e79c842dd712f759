"""Connections to PostgreSQL: one pool for requests, with JSON decoded."""

from __future__ import annotations

import json

import asyncpg

# Most flags and many payloads are empty: ingest encodes one per stored mention.
_EMPTY_JSONB: dict[type, bytes] = {list: b"\x01[]", tuple: b"\x01[]", dict: b"\x01{}"}


def _jsonb_encode(value: object) -> bytes:
    if not value:
        empty = _EMPTY_JSONB.get(type(value))
        if empty is not None:
            return empty
    return b"\x01" + json.dumps(value).encode()  # jsonb binary format: version 1, then the text


def _jsonb_decode(data: bytes) -> object:
    return json.loads(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    # Binary jsonb, so COPY (which is binary) can write jsonb columns too.
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(url: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=init_connection
    )


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    return conn
