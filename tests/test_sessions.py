"""Operators leaving: revoked or reissued tokens end open streams at once, and signing
out gives the operator's claims back (or keeps them, when asked)."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import aiohttp
import pytest

from backend import operators
from backend.live import sessions
from tests.processes import until
from tests.test_access import call, mention

pytestmark = pytest.mark.faults


async def _open_stream(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(url + "/api/stream")
    while True:  # catch-up first, then "live"
        msg = await ws.receive_json(timeout=10)
        if msg["type"] == "live":
            return ws


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[dict]:
    seen = []
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.TEXT:
            seen.append(msg.json())
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return seen


async def test_revoking_an_operator_ends_their_stream_within_a_second_and_frees_their_claims(
    backend,
):
    cid = await mention(backend, "p1")
    gone, token = await backend.add_operator("gone")
    _, anna = await backend.add_operator("anna")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {anna}"}) as other,
    ):
        assert (await call(s, "POST", f"{backend.url}/api/conversations/{cid}/claim", {}))[0] == 200
        ws = await _open_stream(s, backend.url)
        watching = await _open_stream(other, backend.url)
        async with backend.pool.acquire() as conn:
            await operators.revoke(conn, "gone")
            loop = asyncio.get_running_loop()
            revoked_at = loop.time()
            await sessions.revoked(conn, gone.id, backend.services.clock.now())
        seen = await _until_closed(ws)
        assert loop.time() - revoked_at < 1.0
        assert ws.close_code == 4401
        assert seen[-1]["type"] == "signed_out"

        # Their presence goes too, at once (no reconnect grace for a revoked token).
        async def gone_from_presence() -> bool:
            status, summary, _ = await call(other, "GET", backend.url + "/api/summary", {})
            return status == 200 and gone.id not in {o["id"] for o in summary["online"]}

        await until(gone_from_presence, "the revoked operator gone from presence", timeout=1.5)
        # The claim went back to the queue with an event, and others' streams go on.
        state, holder = await backend.pool.fetchrow(
            "SELECT state, claimed_by FROM conversations WHERE id = $1", cid
        )
        assert (state, holder) == ("new", None)
        kinds = []
        while "operator.revoked" not in kinds:
            msg = await watching.receive_json(timeout=5)
            if msg["type"] == "event":
                kinds.append(msg["event"]["kind"])
        assert "conversation.released" in kinds and not watching.closed
        await watching.close()


async def test_sign_out_gives_claims_back_unless_kept(backend):
    first, second = await mention(backend, "p1", "jo"), await mention(backend, "p2", "max")
    _, token = await backend.add_operator("anna")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for cid in (first, second):
            await call(s, "POST", f"{backend.url}/api/conversations/{cid}/claim", {})
        status, kept, _ = await call(
            s, "POST", f"{backend.url}/api/sign-out", {"keep_claims": True}
        )
        assert (status, kept) == (200, {"released": [], "kept_claims": True})
        held = await backend.pool.fetchval(
            "SELECT count(*) FROM conversations WHERE claimed_by IS NOT NULL"
        )
        assert held == 2
        status, gave, _ = await call(s, "POST", f"{backend.url}/api/sign-out", {})
        assert status == 200 and sorted(gave["released"]) == sorted([first, second])
        assert (
            await backend.pool.fetchval(
                "SELECT count(*) FROM conversations WHERE claimed_by IS NULL AND state = 'new'"
            )
            == 2
        )


async def test_reissue_gives_a_new_token_and_ends_streams_of_the_old_one(backend, db_url, tmp_path):
    ben, old = await backend.add_operator("ben")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {old}"}) as s:
        ws = await _open_stream(s, backend.url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "backend.cli", "operators", "reissue", "ben",
            env={"SHIFTDESK_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        new = next(
            line.split()[1] for line in out.decode().splitlines() if line.startswith("token:")
        )
        seen = await _until_closed(ws)
        assert seen[-1]["type"] == "signed_out"
        assert (await call(s, "GET", backend.url + "/api/me", {}))[0] == 401
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {new}"}) as s:
        status, me, _ = await call(s, "GET", backend.url + "/api/me", {})
        assert status == 200 and me["name"] == "ben"


async def _next_event(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict:
    """Read the stream until an event of `kind` arrives (presence and others skipped)."""
    while True:
        msg = await ws.receive_json(timeout=5)
        assert msg["type"] not in ("signed_out", "resync"), msg
        if msg["type"] == "event" and msg["event"]["kind"] == kind:
            return msg["event"]


async def test_a_reissue_ends_only_the_streams_whose_credential_stopped_working(backend):
    """Consoles over SSH and browser consoles signed in with a link run on credentials of their
    own, which a reissue leaves working: their streams go on. The old token's stream ends, and
    so does a browser console signed in with that token (a reissue signs it out)."""
    import asyncssh

    from backend.ssh import consoles, keys

    ben, old = await backend.add_operator("ben")
    key = asyncssh.generate_private_key("ssh-ed25519")
    public = keys.parse_public_key(key.export_public_key().decode(), "test key")
    async with backend.pool.acquire() as conn:
        await keys.add_key(conn, "ben", public)
    ssh_console = await consoles.sign_in(
        backend.pool, keys.KeyOwner(ben, public.fingerprint), "127.0.0.1"
    )
    assert ssh_console is not None
    hours = timedelta(hours=1)
    _, by_link = await operators.open_session(backend.pool, ben.id, "link", hours)
    _, by_token = await operators.open_session(backend.pool, ben.id, "token", hours)
    credentials = {"old": old, "ssh": ssh_console.token, "link": by_link, "token": by_token}
    http = {
        name: aiohttp.ClientSession(headers={"Authorization": f"Bearer {secret}"})
        for name, secret in credentials.items()
    }
    try:
        streams = {name: await _open_stream(s, backend.url) for name, s in http.items()}
        async with backend.pool.acquire() as conn:
            await operators.reissue(conn, "ben")
            await sessions.token_reissued(conn, ben.id)
        for ended in ("old", "token"):
            seen = await _until_closed(streams[ended])
            assert seen[-1]["type"] == "signed_out", ended
            assert streams[ended].close_code == 4401
        # The consoles' streams were told of the reissue and stay open: a later event reaches
        # them too.
        for name in ("ssh", "link"):
            await _next_event(streams[name], sessions.REISSUED)
        await mention(backend, "after-reissue")
        for name in ("ssh", "link"):
            await _next_event(streams[name], "conversation.opened")
            assert not streams[name].closed
        # And a revocation still ends every stream of theirs.
        async with backend.pool.acquire() as conn:
            await operators.revoke(conn, "ben")
            await sessions.revoked(conn, ben.id, backend.services.clock.now())
        for name in ("ssh", "link"):
            seen = await _until_closed(streams[name])
            assert seen[-1]["type"] == "signed_out", name
    finally:
        for s in http.values():
            await s.close()
