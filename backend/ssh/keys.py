"""Operators' SSH keys: a key is who is at the desk.

A key belongs to exactly one operator (its SHA256 fingerprint is unique in
operator_keys). Only the public half is ever seen; logs and events name a key
by its fingerprint alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
import asyncssh

from backend import events
from backend.operators import Operator, OperatorError

KEY_ADDED = "operator.key_added"
KEY_REMOVED = "operator.key_removed"
MIN_RSA_BITS = 2048  # what OpenSSH itself has refused below since 8.8-ish
# Enough for one key line (an RSA 16384 key is about 2.8 KB); anything bigger is not a .pub file.
MAX_KEY_FILE_BYTES = 16_384


@dataclass(frozen=True)
class PublicKey:
    line: str  # "ssh-ed25519 AAAA...": algorithm and base64, without the comment
    fingerprint: str  # "SHA256:...", as ssh-keygen -l prints it
    comment: str


def fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def parse_public_key(text: str, where: str) -> PublicKey:
    """One OpenSSH (or RFC 4716) public key from the text of a .pub file; KeyProblem naming
    `where` when it is not one, or is one too weak to be an identity."""
    if "PRIVATE KEY" in text:
        raise KeyProblem(
            f"{where}: this is a PRIVATE key; give the public half (the .pub file) — "
            "the private key never leaves the operator's machine"
        )
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) > 1 and not text.lstrip().startswith("---- BEGIN SSH2"):
        raise KeyProblem(f"{where}: holds {len(lines)} keys; add one key a time")
    try:
        key = asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError, UnicodeError) as exc:
        raise KeyProblem(
            f"{where}: not an SSH public key ({exc}); expected a line like "
            "'ssh-ed25519 AAAA... anna@laptop'"
        ) from None
    algorithm = key.get_algorithm()
    if algorithm == "ssh-dss":
        raise KeyProblem(f"{where}: DSA keys are too weak; use ssh-keygen -t ed25519")
    bits = getattr(key.pyca_key, "key_size", None)
    if algorithm == "ssh-rsa" and bits is not None and bits < MIN_RSA_BITS:
        raise KeyProblem(
            f"{where}: a {bits}-bit RSA key is too weak (at least {MIN_RSA_BITS}); "
            "use ssh-keygen -t ed25519"
        )
    exported = key.export_public_key("openssh").decode("ascii").split()
    comment = key.get_comment() or ""
    return PublicKey(" ".join(exported[:2]), fingerprint(key), comment)


class KeyProblem(OperatorError):
    """A key that cannot be added or removed, said so a person can fix it."""


@dataclass(frozen=True)
class KeyListing:
    operator: str
    fingerprint: str
    comment: str
    added_at: datetime


async def add_key(conn: asyncpg.Connection, name: str, key: PublicKey) -> Operator:
    """Give `key` to the active operator `name`; refused if any operator already has it."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, name, display_name, role, language FROM operators"
            " WHERE name = $1 AND revoked_at IS NULL",
            name,
        )
        if row is None:
            raise KeyProblem(f"no active operator named {name!r}")
        operator = Operator(**dict(row))
        holder = await conn.fetchval(
            """SELECT o.name FROM operator_keys k JOIN operators o ON o.id = k.operator_id
               WHERE k.fingerprint = $1""",
            key.fingerprint,
        )
        if holder is not None:
            whose = "them" if holder == name else f"operator {holder!r}"
            raise KeyProblem(
                f"key {key.fingerprint} already belongs to {whose}; a key is one person's "
                "identity, so each operator needs a key of their own"
            )
        try:
            await conn.execute(
                """INSERT INTO operator_keys (operator_id, fingerprint, public_key, comment)
                   VALUES ($1, $2, $3, $4)""",
                operator.id,
                key.fingerprint,
                key.line,
                key.comment,
            )
        except asyncpg.UniqueViolationError:  # added by someone else just now
            raise KeyProblem(f"key {key.fingerprint} already belongs to an operator") from None
        await events.record(
            conn,
            events.NewEvent(
                KEY_ADDED,
                operator_id=operator.id,
                data={"fingerprint": key.fingerprint, "comment": key.comment},
            ),
        )
    return operator


async def remove_key(conn: asyncpg.Connection, name: str, fingerprint: str) -> int:
    """Take a key from operator `name`; their SSH sessions opened with it end (the server
    notices within a second). Returns the operator's id."""
    wanted = fingerprint.strip()
    if wanted and not wanted.startswith("SHA256:"):
        wanted = "SHA256:" + wanted  # as ssh-keygen -l prints it, with or without the prefix
    async with conn.transaction():
        operator_id = await conn.fetchval(
            """DELETE FROM operator_keys k USING operators o
               WHERE o.id = k.operator_id AND o.name = $1 AND k.fingerprint = $2
               RETURNING o.id""",
            name,
            wanted,
        )
        if operator_id is None:
            raise KeyProblem(
                f"operator {name!r} has no key {wanted}; see: shiftdesk operators keys {name}"
            )
        await events.record(
            conn,
            events.NewEvent(KEY_REMOVED, operator_id=operator_id, data={"fingerprint": wanted}),
        )
    return int(operator_id)


async def list_keys(
    conn: asyncpg.Connection | asyncpg.Pool, name: str | None = None
) -> list[KeyListing]:
    """Every key (of operator `name`, if given), by operator and date added."""
    rows = await conn.fetch(
        """SELECT o.name, k.fingerprint, k.comment, k.added_at
           FROM operator_keys k JOIN operators o ON o.id = k.operator_id
           WHERE $1::text IS NULL OR o.name = $1
           ORDER BY o.name, k.added_at, k.id""",
        name,
    )
    return [KeyListing(r["name"], r["fingerprint"], r["comment"], r["added_at"]) for r in rows]


@dataclass(frozen=True)
class KeyOwner:
    operator: Operator
    fingerprint: str


async def owner_of(conn: asyncpg.Connection | asyncpg.Pool, fingerprint: str) -> KeyOwner | None:
    """The active operator a key belongs to; None for an unknown key or a revoked operator."""
    row = await conn.fetchrow(
        """SELECT o.id, o.name, o.display_name, o.role, o.language
           FROM operator_keys k JOIN operators o ON o.id = k.operator_id
           WHERE k.fingerprint = $1 AND o.revoked_at IS NULL""",
        fingerprint,
    )
    return KeyOwner(Operator(**dict(row)), fingerprint) if row else None
