"""`shiftdesk ssh` used as a person uses it: an SSH client with a key, a terminal, the screen.

The SSH server runs in the test's loop in front of a backend serving real HTTP on the test's
own database; every console is a real `shiftdesk tui` process on a pty. The client is
asyncssh's, and what it receives is fed to pyte, a terminal emulator, so the assertions are
on the screen an operator would see.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pyte
import pytest

from backend import operators
from backend.config import SshConfig
from backend.live import sessions as live_sessions
from backend.model import Author, InboundPost
from backend.ssh import consoles, keys
from backend.ssh.server import (
    NEEDS_TERMINAL,
    NO_COMMANDS,
    Desk,
    DeskSettings,
    host_key,
    listening_on,
    start_server,
)
from tests.processes import until

pytestmark = [pytest.mark.e2e]


class Screen(asyncssh.SSHClientSession):
    """The client's terminal: everything the server sends goes through a VT emulator."""

    def __init__(self, columns: int = 80, rows: int = 24) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.stderr = b""
        self.closed = asyncio.Event()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.stderr += data
        else:
            self.stream.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def text(self) -> str:
        return "\n".join(self.screen.display)

    async def shows(self, text: str, timeout: float = 20.0) -> str:
        """Wait (bounded) until `text` is on the screen; fail showing the screen."""
        try:
            return await until(lambda: text in self.text() and self.text(), repr(text), timeout)
        except AssertionError:
            raise AssertionError(
                f"{text!r} never appeared; the screen was:\n{self.text()}"
            ) from None


@dataclass
class Running:
    desk: Desk  # the server in this test's loop (unused by tests of the real command)
    port: int
    backend: Any

    async def connect(
        self, key: asyncssh.SSHKey, user: str = "anna"
    ) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            "127.0.0.1",
            self.port,
            username=user,
            client_keys=[key],
            known_hosts=None,
            agent_path=None,
            config=[],
            preferred_auth="publickey",
        )

    async def console(
        self, key: asyncssh.SSHKey, columns: int = 80, rows: int = 24, term: str = "xterm-256color"
    ) -> tuple[asyncssh.SSHClientConnection, asyncssh.SSHClientChannel, Screen]:
        conn = await self.connect(key)
        chan, screen = await conn.create_session(
            lambda: Screen(columns, rows),
            term_type=term,
            term_size=(columns, rows),
            encoding=None,
        )
        return conn, chan, screen


def ssh_settings(**changes: object) -> SshConfig:
    # model_copy skips validation: the tests use limits shorter than a team may configure.
    return SshConfig(host="127.0.0.1", port=0).model_copy(update=changes)


@pytest.fixture
async def desk(backend, tmp_path, request) -> AsyncIterator[Running]:
    marker = request.node.get_closest_marker("ssh_config")
    ssh = ssh_settings(**(marker.kwargs if marker else {}))
    settings = DeskSettings(
        ssh=ssh,
        console_command=[
            sys.executable,
            "-m",
            "backend.cli",
            "tui",
            "--url",
            backend.url,
            "--token-file",
            "{secret}",
        ],  # fmt: skip
        operators_dir=tmp_path / "operators",
        base_env={"PATH": "/usr/bin:/bin"},
    )
    d = Desk(settings, backend.pool)
    acceptor = await start_server(d, host_key(tmp_path / "host_key"))
    watcher = asyncio.create_task(d.watch())
    try:
        yield Running(d, listening_on(acceptor)[1], backend)
    finally:
        acceptor.close()
        watcher.cancel()
        await asyncio.wait_for(d.close_all(), 15)


async def operator_with_key(
    backend, name: str = "anna"
) -> tuple[operators.Operator, asyncssh.SSHKey]:
    op, _ = await backend.add_operator(name)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{name}@laptop")
    public = keys.parse_public_key(key.export_public_key().decode(), "test key")
    async with backend.pool.acquire() as conn:
        await keys.add_key(conn, name, public)
    return op, key


async def a_mention(backend) -> None:
    svc = backend.services
    post = InboundPost(
        "simulator", "t1", Author("id-jo", "jo_k", "Jo K", 50), "@acme my order vanished",
        svc.clock.now(),
    )  # fmt: skip
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])


async def test_an_operator_claims_and_replies_over_ssh_and_quits(desk):
    backend = desk.backend
    await a_mention(backend)
    op, key = await operator_with_key(backend)
    conn, chan, screen = await desk.console(key)
    try:
        await screen.shows("@jo_k")
        chan.write(b"\r")
        await screen.shows("vanished")
        chan.write(b"c")
        await screen.shows("held by")
        chan.write(b"r")
        await screen.shows("Send")
        chan.write(b"Sorry Jo, looking now")
        await screen.shows("21/500")
        chan.write(b"\x13")  # ctrl+s
        await screen.shows("published")
        chan.write(b"q")
        await screen.shows("You hold 1 conversation")
        chan.write(b"r")  # release and quit
        await asyncio.wait_for(screen.closed.wait(), 15)
        assert chan.get_exit_status() == 0
    finally:
        conn.close()
    pool = backend.pool
    assert await pool.fetchval("SELECT text FROM messages") == "Sorry Jo, looking now"
    assert await pool.fetchval("SELECT claimed_by FROM conversations") is None
    # Sign-in and sign-out are events with the key's fingerprint, and the console's token
    # died with the session.
    fp = keys.fingerprint(key)

    async def signed_out() -> list:
        return await pool.fetch(
            "SELECT kind, operator_id, data FROM events WHERE kind LIKE 'operator.ssh%' ORDER BY id"
        )

    rows = await until(lambda: _both(signed_out()), "sign-in and sign-out events")
    assert [r["kind"] for r in rows] == [consoles.SIGNED_IN, consoles.SIGNED_OUT]
    assert {r["operator_id"] for r in rows} == {op.id}
    assert all(r["data"]["fingerprint"] == fp for r in rows)
    assert rows[1]["data"]["reason"] == consoles.QUIT
    ended = await pool.fetchval("SELECT count(*) FROM console_sessions WHERE ended_at IS NULL")
    assert ended == 0 and not desk.desk.consoles


async def _both(rows_coro) -> list | None:
    rows = await rows_coro
    return rows if len(rows) >= 2 else None


async def test_resizing_the_window_redraws_the_console_at_the_new_width(desk):
    await a_mention(desk.backend)
    _, key = await operator_with_key(desk.backend)
    conn, chan, screen = await desk.console(key, 80, 24)
    try:
        await screen.shows("@jo_k")
        assert max(len(line.rstrip()) for line in screen.screen.display) <= 80
        screen.screen.resize(30, 120)
        chan.change_terminal_size(120, 30)
        # The footer and the panes stretch: text now reaches past column 100.
        await until(
            lambda: max(len(line.rstrip()) for line in screen.screen.display) > 100,
            "the console redrawn 120 wide",
        )
        assert "@jo_k" in screen.text()
    finally:
        conn.close()


async def test_colours_follow_the_terminal_the_client_reports(desk):
    await a_mention(desk.backend)
    _, key = await operator_with_key(desk.backend)
    conn, chan, screen = await desk.console(key, term="xterm-256color")
    try:
        await screen.shows("@jo_k")
        # The console's environment carries the client's TERM (and nothing the client did not
        # send): read it from the running process.
        (console,) = desk.desk.consoles.values()
        assert console.process is not None
        environ = Path(f"/proc/{console.process.pid}/environ").read_bytes().split(b"\0")
        assert b"TERM=xterm-256color" in environ
        assert not any(v.startswith(b"SHIFTDESK_TUI_TOKEN") for v in environ)
        colours = {c.fg for row in screen.screen.buffer.values() for c in row.values()}
        assert colours - {"default"}, "the console drew no colour at all"
    finally:
        conn.close()


async def test_a_wrong_key_is_refused_and_logged_by_fingerprint_only(desk, caplog):
    await operator_with_key(desk.backend)
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    caplog.set_level(logging.WARNING, logger="shiftdesk.ssh")
    with pytest.raises(asyncssh.PermissionDenied):
        await desk.connect(stranger)
    fp = keys.fingerprint(stranger)
    assert any(fp in r.getMessage() for r in caplog.records)
    body = stranger.export_public_key().decode().split()[1]
    assert not any(body[:20] in r.getMessage() for r in caplog.records)
    # Each refused key counts against the address; past the limit it is slowed down.
    guard = desk.desk.guard
    for _ in range(guard.limit):
        guard.refused("127.0.0.1")
    assert guard.retry_after("127.0.0.1") is not None


async def test_commands_forwarding_and_sftp_are_refused(desk):
    _, key = await operator_with_key(desk.backend)
    conn = await desk.connect(key)
    try:
        result = await conn.run("sh", check=False)
        assert result.exit_status == 1
        assert NO_COMMANDS in result.stderr
        assert result.stdout == ""
        # No terminal asked for: no console either (and no shell).
        result = await conn.run(check=False, term_type=None)
        assert NEEDS_TERMINAL in result.stderr and result.exit_status == 1
        backend_port = int(desk.backend.url.rsplit(":", 1)[1])
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.create_connection(asyncssh.SSHTCPSession, "127.0.0.1", backend_port)
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", backend_port)
        with pytest.raises((asyncssh.ChannelOpenError, asyncssh.SFTPError)):
            await conn.start_sftp_client()
    finally:
        conn.close()


async def test_a_removed_key_ends_its_console_and_is_refused_after(desk):
    _, key = await operator_with_key(desk.backend)
    conn, chan, screen = await desk.console(key)
    try:
        await screen.shows("Nothing here")
        async with desk.backend.pool.acquire() as db:
            await keys.remove_key(db, "anna", keys.fingerprint(key))
        await asyncio.wait_for(screen.closed.wait(), 10)
        assert "your key was removed" in screen.text()
    finally:
        conn.close()
    with pytest.raises(asyncssh.PermissionDenied):
        await desk.connect(key)
    reason = await until(
        lambda: desk.backend.pool.fetchval(
            "SELECT data->>'reason' FROM events WHERE kind = $1", consoles.SIGNED_OUT
        ),
        "the sign-out event",
    )
    assert reason == consoles.KEY_REMOVED


async def test_a_revoked_operator_s_console_ends_and_they_are_refused(desk):
    op, key = await operator_with_key(desk.backend)
    conn, chan, screen = await desk.console(key)
    try:
        await screen.shows("Nothing here")
        async with desk.backend.pool.acquire() as db:
            await operators.revoke(db, "anna")
            await live_sessions.revoked(db, op.id, desk.backend.services.clock.now())
        await asyncio.wait_for(screen.closed.wait(), 10)
        assert "your access was revoked" in screen.text()
    finally:
        conn.close()
    with pytest.raises(asyncssh.PermissionDenied):
        await desk.connect(key)


@pytest.mark.ssh_config(max_sessions_per_operator=1)
async def test_one_console_too_many_is_refused_in_words(desk):
    _, key = await operator_with_key(desk.backend)
    conn, chan, screen = await desk.console(key)
    try:
        await screen.shows("Nothing here")
        conn2, chan2, screen2 = await desk.console(key)
        await asyncio.wait_for(screen2.closed.wait(), 10)
        assert b"already have 1 console" in screen2.stderr
        assert chan2.get_exit_status() == 1
        conn2.close()
        assert not screen.closed.is_set()  # the first one works on
    finally:
        conn.close()


@pytest.mark.ssh_config(idle_timeout_seconds=6)
async def test_an_idle_console_ends_and_gives_its_conversations_back(desk):
    await a_mention(desk.backend)
    _, key = await operator_with_key(desk.backend)
    conn, chan, screen = await desk.console(key)
    try:
        await screen.shows("@jo_k")
        chan.write(b"\r")
        await screen.shows("vanished")
        chan.write(b"c")
        await screen.shows("held by")
        await asyncio.wait_for(screen.closed.wait(), 15)
        assert "no keypress for 6 s" in screen.text()
    finally:
        conn.close()
    pool = desk.backend.pool
    await until(
        lambda: pool.fetchval("SELECT claimed_by IS NULL FROM conversations"),
        "the idle operator's claim given back",
    )


@pytest.mark.ssh_config(max_unauthenticated=1)
async def test_connections_still_signing_in_are_limited(desk):
    _, key = await operator_with_key(desk.backend)
    # One connection that never signs in holds the only place.
    loop = asyncio.get_running_loop()
    idle = socket.create_connection(("127.0.0.1", desk.port))
    try:
        await until(lambda: desk.desk.unauthenticated == 1, "the first connection counted")
        with pytest.raises((asyncssh.Error, ConnectionError, OSError)):
            await asyncio.wait_for(desk.connect(key), 10)
    finally:
        idle.close()
    await until(lambda: desk.desk.unauthenticated == 0, "the place given back")
    conn = await desk.connect(key)  # and then there is room again
    conn.close()
    del loop


def test_the_host_key_is_made_once_private_and_kept(tmp_path):
    path = tmp_path / "state" / "host_key"
    path.parent.mkdir()
    first = host_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = host_key(path)
    assert keys.fingerprint(first) == keys.fingerprint(again)
    path.chmod(0o644)
    from backend.ssh.server import HostKeyProblem

    with pytest.raises(HostKeyProblem, match="chmod 600"):
        host_key(path)


@pytest.mark.faults
async def test_the_shiftdesk_ssh_command_serves_consoles_and_signs_them_out_when_stopped(
    db_url, tmp_path
):
    import os
    import signal
    import subprocess

    from tests.processes import BackendProcess, free_port

    served = BackendProcess(db_url)
    await served.start()
    port = free_port()
    log = tmp_path / "ssh.log"
    environ = {
        **os.environ,
        "SHIFTDESK_DATABASE_URL": db_url,
        "SHIFTDESK_SSH_PORT": str(port),
        "SHIFTDESK_TUI_BACKEND_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "ssh"], env=environ, stdout=out, stderr=out
        )
    try:
        await until(lambda: "serving the console over SSH" in log.read_text(), "the SSH server")
        host_key_file = tmp_path / "state" / "shiftdesk" / "ssh_host_ed25519_key"
        assert host_key_file.stat().st_mode & 0o777 == 0o600
        assert "127.0.0.1:" + str(port) in log.read_text()  # loopback unless configured
        from backend.db.pool import connect

        db = await connect(db_url)
        try:
            await operators.add(db, "anna")
            key = asyncssh.generate_private_key("ssh-ed25519")
            await keys.add_key(
                db, "anna", keys.parse_public_key(key.export_public_key().decode(), "k")
            )
        finally:
            await db.close()
        running = Running(Desk.__new__(Desk), port, served)
        conn, chan, screen = await running.console(key)
        try:
            await screen.shows("Nothing here")
            server.send_signal(signal.SIGTERM)
            await asyncio.wait_for(screen.closed.wait(), 15)
            assert "the desk is shutting down" in screen.text()
        finally:
            conn.close()
        assert server.wait(15) == 0
        db = await connect(db_url)
        try:
            assert (
                await db.fetchval("SELECT count(*) FROM console_sessions WHERE ended_at IS NULL")
                == 0
            )
        finally:
            await db.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        served.stop()


@pytest.mark.faults
async def test_a_killed_ssh_server_signs_out_what_it_left_open_when_it_starts_again(
    backend, tmp_path
):
    """SIGKILL gives the server no chance to sign its consoles out. Started again on the same
    host and port it does, with the reason; another server's consoles on the same database
    are not its to end."""
    import os
    import signal
    import subprocess

    from tests.processes import free_port

    pool = backend.pool
    op, key = await operator_with_key(backend)
    port = free_port()
    environ = {
        **os.environ,
        "SHIFTDESK_DATABASE_URL": backend.db_url,
        "SHIFTDESK_SSH_PORT": str(port),
        "SHIFTDESK_TUI_BACKEND_URL": backend.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }

    def start(log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "backend.cli", "ssh"], env=environ, stdout=out, stderr=out
            )

    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    server = start(first_log)
    try:
        await until(lambda: "serving the console over SSH" in first_log.read_text(), "the server")
        running = Running(Desk.__new__(Desk), port, backend)
        conn, chan, screen = await running.console(key)
        try:
            await screen.shows("Nothing here")
            server.send_signal(signal.SIGKILL)
            server.wait(10)
            await asyncio.wait_for(screen.closed.wait(), 15)
        finally:
            conn.close()
        left = await pool.fetchrow("SELECT id, server FROM console_sessions WHERE ended_at IS NULL")
        assert left is not None and left["server"] == f"ssh@{socket.gethostname()}:{port}"
        # Another desk on this database (another host) holds a console of its own.
        other = await consoles.sign_in(
            pool, keys.KeyOwner(op, keys.fingerprint(key)), "10.0.0.9", "ssh@desk2:2222", "run-b"
        )
        assert other is not None

        server = start(second_log)
        await until(lambda: "serving the console over SSH" in second_log.read_text(), "again")
        assert "signed out 1 console(s) the last run left open" in second_log.read_text()
        ended = await pool.fetch(
            "SELECT id, end_reason FROM console_sessions WHERE ended_at IS NOT NULL"
        )
        assert [(r["id"], r["end_reason"]) for r in ended] == [
            (left["id"], consoles.SERVER_RESTARTED)
        ]
        (event,) = await pool.fetch(
            "SELECT operator_id, data FROM events WHERE kind = $1", consoles.SIGNED_OUT
        )
        assert event["operator_id"] == op.id
        assert event["data"]["console"] == left["id"]
        assert event["data"]["reason"] == consoles.SERVER_RESTARTED
        assert event["data"]["fingerprint"] == keys.fingerprint(key)
        # The new run's own consoles are not touched by that, and sign out as usual.
        conn, chan, screen = await running.console(key)
        try:
            await screen.shows("Nothing here")
        finally:
            conn.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
        still_open = await pool.fetch("SELECT id FROM console_sessions WHERE ended_at IS NULL")
        assert [r["id"] for r in still_open] == [other.id]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
