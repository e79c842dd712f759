"""Keys as identities and consoles' tokens, on a real database (no SSH involved)."""

from __future__ import annotations

import asyncssh
import pytest

from backend import operators
from backend.ssh import consoles, keys


def public(comment: str = "anna@laptop", algorithm: str = "ssh-ed25519") -> keys.PublicKey:
    key = asyncssh.generate_private_key(algorithm, comment=comment)
    return keys.parse_public_key(key.export_public_key().decode(), "anna.pub")


def test_a_public_key_file_is_read_with_its_fingerprint_and_comment():
    key = asyncssh.generate_private_key("ssh-ed25519", comment="anna@laptop")
    parsed = keys.parse_public_key(key.export_public_key().decode(), "anna.pub")
    assert parsed.fingerprint == key.get_fingerprint("sha256")
    assert parsed.fingerprint.startswith("SHA256:")
    assert parsed.comment == "anna@laptop"
    assert parsed.line.startswith("ssh-ed25519 AAAA") and "anna@laptop" not in parsed.line


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hello", "not an SSH public key"),
        ("", "not an SSH public key"),
        (
            asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode(),
            "PRIVATE key",
        ),
        (
            asyncssh.generate_private_key("ssh-rsa", key_size=1024).export_public_key().decode(),
            "1024-bit RSA key is too weak",
        ),
        (
            "".join(
                asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
                for _ in range(2)
            ),
            "holds 2 keys",
        ),
    ],
    ids=["junk", "empty", "private", "weak-rsa", "two-keys"],
)
def test_what_is_not_one_good_public_key_is_refused_naming_the_file(text, says):
    with pytest.raises(keys.KeyProblem) as refused:
        keys.parse_public_key(text, "anna.pub")
    assert str(refused.value).startswith("anna.pub: ") and says in str(refused.value)


async def test_a_key_belongs_to_one_operator_only(db):
    await operators.add(db, "anna")
    await operators.add(db, "ben")
    key = public()
    await keys.add_key(db, "anna", key)
    with pytest.raises(keys.KeyProblem, match="already belongs to operator 'anna'"):
        await keys.add_key(db, "ben", key)
    with pytest.raises(keys.KeyProblem, match="already belongs to them"):
        await keys.add_key(db, "anna", key)
    with pytest.raises(keys.KeyProblem, match="no active operator named 'carl'"):
        await keys.add_key(db, "carl", public())
    owner = await keys.owner_of(db, key.fingerprint)
    assert owner is not None and owner.operator.name == "anna"
    assert [k.fingerprint for k in await keys.list_keys(db, "anna")] == [key.fingerprint]
    assert await keys.list_keys(db, "ben") == []
    # Removing by the fingerprint as ssh-keygen prints it, with or without its prefix.
    with pytest.raises(keys.KeyProblem, match="has no key"):
        await keys.remove_key(db, "ben", key.fingerprint)
    await keys.remove_key(db, "anna", key.fingerprint.removeprefix("SHA256:"))
    assert await keys.owner_of(db, key.fingerprint) is None
    kinds = await db.fetch("SELECT kind, data->>'fingerprint' AS fp FROM events ORDER BY id")
    assert [(r["kind"], r["fp"]) for r in kinds] == [
        (keys.KEY_ADDED, key.fingerprint),
        (keys.KEY_REMOVED, key.fingerprint),
    ]


async def test_a_revoked_operator_s_key_opens_nothing(db):
    await operators.add(db, "anna")
    key = public()
    await keys.add_key(db, "anna", key)
    await operators.revoke(db, "anna")
    assert await keys.owner_of(db, key.fingerprint) is None
    with pytest.raises(keys.KeyProblem, match="no active operator"):
        await keys.add_key(db, "anna", public())


async def test_a_console_s_token_works_only_while_its_session_lasts(pool):
    await operators.add(pool, "anna")
    key = public()
    async with pool.acquire() as conn:
        await keys.add_key(conn, "anna", key)
    owner = await keys.owner_of(pool, key.fingerprint)
    assert owner is not None
    console = await consoles.sign_in(pool, owner, "127.0.0.1")
    assert console is not None
    signed_in = await operators.authenticate(pool, console.token)
    assert signed_in is not None and signed_in.name == "anna"
    assert await consoles.ended(pool, [console.id]) == {}
    await consoles.sign_out(pool, console.id, consoles.QUIT)
    assert await operators.authenticate(pool, console.token) is None
    await consoles.sign_out(pool, console.id, consoles.QUIT)  # twice: one event
    assert (
        await pool.fetchval("SELECT count(*) FROM events WHERE kind = $1", consoles.SIGNED_OUT) == 1
    )


async def test_a_removed_key_or_a_revocation_ends_the_consoles_opened_with_it(pool):
    for name in ("anna", "ben"):
        await operators.add(pool, name)
    anna_key, ben_key = public(), public("ben@laptop")
    async with pool.acquire() as conn:
        await keys.add_key(conn, "anna", anna_key)
        await keys.add_key(conn, "ben", ben_key)
    opened = {}
    for key in (anna_key, ben_key):
        owner = await keys.owner_of(pool, key.fingerprint)
        assert owner is not None
        console = await consoles.sign_in(pool, owner, "127.0.0.1")
        assert console is not None
        opened[owner.operator.name] = console
    async with pool.acquire() as conn:
        await keys.remove_key(conn, "anna", anna_key.fingerprint)
        await operators.revoke(conn, "ben")
    ids = [c.id for c in opened.values()]
    assert await consoles.ended(pool, ids) == {
        opened["anna"].id: consoles.KEY_REMOVED,
        opened["ben"].id: consoles.REVOKED,
    }
    # Their tokens stop at once, before the SSH server has even ended the consoles.
    assert await operators.authenticate(pool, opened["ben"].token) is None
    assert await operators.authenticate(pool, opened["anna"].token) is None
    # A key removed between the check and the sign-in: no console.
    stale = keys.KeyOwner(operators.Operator(1, "anna", "Anna", "operator"), anna_key.fingerprint)
    assert await consoles.sign_in(pool, stale, "127.0.0.1") is None
