"""`shiftdesk ssh`: the operator console served over SSH, to operators' keys.

Each SSH session that asks for a terminal gets a console of its own (a
`shiftdesk tui` process on a fresh pty, backend/ssh/console.py) signed in as
the operator whose key it used, with a token that dies with the session.
Nothing else is offered: no shell, no commands, no port, agent or X11
forwarding, no subsystems (sftp). Keys are checked against operator_keys;
consoles whose key is removed or whose operator is revoked end within a
second, as do consoles left without a keypress for ssh.idle_timeout_seconds.
Once listening, the server signs out the consoles a killed earlier run on the
same host and port left open (backend/ssh/consoles.py, end_left_open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import asyncssh

from backend.clock import Clock
from backend.config import SshConfig
from backend.live import sessions as live_sessions
from backend.ssh import consoles
from backend.ssh.console import ConsoleProcess
from backend.ssh.keys import KeyOwner, fingerprint, owner_of
from backend.web.guard import AuthGuard

log = logging.getLogger("shiftdesk.ssh")

WATCH_EVERY = 1.0  # seconds between checks for removed keys, revoked operators, idle consoles
MAX_SLOWDOWN = 20.0  # seconds a refused address waits at most before its next key is looked at
# What a client may tell the console about its terminal and language; nothing else it sends
# (PATH, LD_PRELOAD, ...) reaches the process.
PASSED_ENV = ("COLORTERM", "NO_COLOR", "LANG", "LC_ALL", "LC_MESSAGES")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.@+:-]{0,64}")
_TERM = re.compile(r"[A-Za-z0-9_.+-]{1,64}")

# Written after a console the server ended (it had no chance to restore the terminal): leave
# the alternate screen, mouse and paste modes, show the cursor, plain attributes.
RESTORE_TERMINAL = (
    b"\x1b[0m\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l\x1b[?25h\x1b[?1049l"
)
NO_COMMANDS = "shiftdesk: this desk serves the console only; no commands (connect with plain ssh)"
NEEDS_TERMINAL = "shiftdesk: the console needs a terminal; connect with ssh -t"
TOO_MANY = "shiftdesk: you already have {n} consoles open here (the most allowed); close one first"
KEY_GONE = "shiftdesk: your key no longer opens this desk"
ENDED = {
    consoles.IDLE: "no keypress for {idle}; signed out, your conversations are back in the queue",
    consoles.KEY_REMOVED: "your key was removed from this desk; signed out",
    consoles.REVOKED: "your access was revoked; signed out",
    consoles.SERVER_STOPPED: "the desk is shutting down; signed out",
}


@dataclass
class DeskSettings:
    """How consoles are started: everything `shiftdesk ssh` decides before serving."""

    ssh: SshConfig
    # The console's command line; "{secret}" is replaced by a file the token is read from.
    console_command: list[str]
    operators_dir: Path  # each operator's drafts and keymap: <dir>/<name>/{state,config}
    base_env: Mapping[str, str] = field(default_factory=dict)


class Desk:
    """What every connection shares: the database, the limits, the consoles open now."""

    def __init__(
        self,
        settings: DeskSettings,
        pool: asyncpg.Pool,
        guard: AuthGuard | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock or Clock()
        # Refused keys slow their address down; a client offering several keys is fine.
        self.guard = guard or AuthGuard(limit=10, window_s=60.0, max_delay_s=MAX_SLOWDOWN)
        self.guard.what = "refused SSH keys"
        self.unauthenticated = 0
        self.consoles: dict[int, ConsoleSession] = {}
        # Who holds the consoles this run opens: named once listening (start_server).
        self.server: str | None = None
        self.run = uuid.uuid4().hex

    def open_for(self, operator_id: int) -> int:
        return sum(1 for c in self.consoles.values() if c.owner.operator.id == operator_id)

    async def watch(self) -> None:
        """End consoles whose key was removed, whose operator was revoked, or that sat idle."""
        idle = self.settings.ssh.idle_timeout_seconds
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_EVERY)
            now = loop.time()
            for session in list(self.consoles.values()):
                if now - session.last_input > idle:
                    session.end(consoles.IDLE)
            try:
                gone = await consoles.ended(self.pool, list(self.consoles))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot check consoles' keys (database: %s); retrying", exc)
                continue
            for console_id, reason in gone.items():
                if (ending := self.consoles.get(console_id)) is not None:
                    ending.end(reason)

    async def close_all(self) -> None:
        """The server stops: every console ends and signs out."""
        open_now = list(self.consoles.values())
        for console in open_now:
            console.end(consoles.SERVER_STOPPED)
        await asyncio.gather(*(c.finished.wait() for c in open_now))


class DeskConnection(asyncssh.SSHServer):
    """One client connection: its key decides who it is; it may open consoles, nothing else."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.address = "unknown"
        self.owner: KeyOwner | None = None
        self._candidate: KeyOwner | None = None
        self._counted = False
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername")
        self.address = str(peer[0]) if peer else "unknown"
        if self.desk.unauthenticated >= self.desk.settings.ssh.max_unauthenticated:
            log.warning(
                "turned away a connection from %s: %d connections are signing in already",
                self.address,
                self.desk.unauthenticated,
            )
            conn.close()
            return
        self.desk.unauthenticated += 1
        self._counted = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_counting()

    def _stop_counting(self) -> None:
        if self._counted:
            self.desk.unauthenticated -= 1
            self._counted = False

    def begin_auth(self, username: str) -> bool:
        return True  # a key is needed; the user name is not (the key says who it is)

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Called once when the client offers the key and again with its signature; the
        # owner found last is the one whose signature asyncssh then checks.
        guard = self.desk.guard
        wait = guard.retry_after(self.address)
        if wait is not None:
            await asyncio.sleep(min(wait, MAX_SLOWDOWN))
        print_ = fingerprint(key)
        try:
            owner = await owner_of(self.desk.pool, print_)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot check key %s from %s (database: %s)", print_, self.address, exc)
            return False
        if owner is None:
            # The fingerprint only: never key material, never the name the client typed.
            log.warning("refused key %s from %s: no active operator has it", print_, self.address)
            guard.refused(self.address)
            self._candidate = None
            return False
        self._candidate = owner
        return True

    def auth_completed(self) -> None:
        self._stop_counting()
        self.owner = self._candidate
        if self.owner is not None:
            log.info(
                "%s signed in with key %s from %s",
                self.owner.operator.name,
                self.owner.fingerprint,
                self.address,
            )

    def session_requested(self) -> asyncssh.SSHServerSession | bool:
        if self.owner is None:
            return False
        limit = self.desk.settings.ssh.max_sessions_per_operator
        if self.desk.open_for(self.owner.operator.id) >= limit:
            log.warning("%s refused a console: %d open already", self.owner.operator.name, limit)
            return Refusal(TOO_MANY.format(n=limit))
        return ConsoleSession(self.desk, self.owner, self.address)

    # Every kind of forwarding is refused (asyncssh's defaults too; said here so it stays so).
    def connection_requested(self, *_: Any) -> bool:
        return False

    def server_requested(self, *_: Any) -> bool:
        return False

    def unix_connection_requested(self, *_: Any) -> bool:
        return False

    def unix_server_requested(self, *_: Any) -> bool:
        return False

    def tun_requested(self, *_: Any) -> bool:
        return False

    def tap_requested(self, *_: Any) -> bool:
        return False


class Refusal(asyncssh.SSHServerSession):
    """A session that says why in one line, then ends with status 1."""

    def __init__(self, message: str) -> None:
        self.message = message
        self._chan: asyncssh.SSHServerChannel | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        return True

    def session_started(self) -> None:
        assert self._chan is not None
        self._chan.write_stderr((self.message + "\r\n").encode())
        self._chan.exit(1)


class ConsoleSession(asyncssh.SSHServerSession):
    """One SSH session: a console process on a pty, bytes copied both ways."""

    def __init__(self, desk: Desk, owner: KeyOwner, address: str) -> None:
        self.desk = desk
        self.owner = owner
        self.address = address
        self.term = ""
        self.size = (80, 24)
        self.refusal: str | None = None
        self.console: consoles.Console | None = None
        self.process: ConsoleProcess | None = None
        self.reason = consoles.DISCONNECTED
        self.last_input = asyncio.get_running_loop().time()
        self.finished = asyncio.Event()
        self._chan: asyncssh.SSHServerChannel | None = None
        self._closed = False
        self._ending = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what the client asks for ---------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Mapping[int, int]
    ) -> bool:
        self.term = term_type if _TERM.fullmatch(term_type or "") else "xterm-256color"
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if width > 0 and height > 0:
            self.size = (width, height)
            if self.process is not None:
                self.process.resize(width, height)

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        # Accepted only to say no in words: a bare refusal reads as a broken server.
        self.refusal = NO_COMMANDS
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False  # sftp and the like: refused outright

    def session_started(self) -> None:
        if self.refusal is None and not self.term:
            self.refusal = NEEDS_TERMINAL
        if self.refusal is not None:
            self._refuse(self.refusal)
            return
        self._spawn(self._start())

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.last_input = asyncio.get_running_loop().time()
        if self.process is not None:
            self.process.write(data)

    def eof_received(self) -> bool:
        return True  # keep the channel half-open: the console ends it

    def pause_writing(self) -> None:
        if self.process is not None:
            self.process.pause_output()

    def resume_writing(self) -> None:
        if self.process is not None:
            self.process.resume_output()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._spawn(self._finish())

    # -- the console ----------------------------------------------------------------------

    async def _start(self) -> None:
        try:
            desk = self.desk
            console = await consoles.sign_in(
                desk.pool, self.owner, self.address, desk.server, desk.run
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(
                "cannot open a console for %s (database: %s)", self.owner.operator.name, exc
            )
            self._refuse("shiftdesk: the desk cannot reach its database; try again in a moment")
            return
        if console is None:
            self._refuse(KEY_GONE)
            return
        self.console = console
        if self._closed:  # the client left while we signed in
            await consoles.sign_out(self.desk.pool, console.id, consoles.DISCONNECTED)
            return
        self.desk.consoles[console.id] = self
        try:
            self.process = ConsoleProcess(
                self.desk.settings.console_command,
                self._environment(),
                self.size,
                console.token.encode(),
                self._output,
                self._exited,
            )
        except OSError as exc:
            log.error("cannot start a console for %s: %s", self.owner.operator.name, exc)
            self.reason = f"console did not start: {exc.strerror}"
            self._refuse("shiftdesk: the console could not start; the desk's log says why")
            return
        log.info(
            "console %d for %s (%s, %dx%d) from %s",
            console.id,
            self.owner.operator.name,
            self.term,
            *self.size,
            self.address,
        )

    def _environment(self) -> dict[str, str]:
        home = self.desk.settings.operators_dir / self.owner.operator.name
        state, config = home / "state", home / "config"
        for folder in (state, config):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = dict(self.desk.settings.base_env)
        env.setdefault("LANG", "C.UTF-8")
        assert self._chan is not None
        for name, value in self._chan.get_environment().items():
            if name in PASSED_ENV and _SAFE_VALUE.fullmatch(value):
                env[name] = value
        env.update(
            TERM=self.term,
            HOME=str(home),
            # Each operator's drafts and keymap apart: they all run as the server's user.
            XDG_STATE_HOME=str(state),
            XDG_CONFIG_HOME=str(config),
        )
        return env

    def _output(self, data: bytes) -> None:
        if not self._closed and self._chan is not None:
            self._chan.write(data)

    def _exited(self, code: int) -> None:
        if self.reason == consoles.DISCONNECTED and not self._closed and not self._ending:
            self.reason = consoles.QUIT
        if self._closed or self._chan is None:
            return
        if self._ending:
            self._chan.write(RESTORE_TERMINAL)
        message = ENDED.get(self.reason)
        if message is not None:
            idle = _duration(self.desk.settings.ssh.idle_timeout_seconds)
            self._chan.write(("\r\nshiftdesk: " + message.format(idle=idle) + "\r\n").encode())
        self._chan.exit(code if code >= 0 else 128 - code)

    def end(self, reason: str) -> None:
        """End this console from the server's side (idle, key removed, revoked, stopping)."""
        if self._ending:
            return
        self._ending = True
        self.reason = reason
        log.info(
            "ending console %s of %s: %s",
            self.console.id if self.console else "-",
            self.owner.operator.name,
            reason,
        )
        if self.process is not None:
            self._spawn(self.process.stop())
        elif self._chan is not None:
            self._chan.close()

    async def _finish(self) -> None:
        """The channel has closed: stop the console, give claims back if it idled, sign out."""
        try:
            if self.process is not None:
                await self.process.stop()
            if self.console is None:
                return
            self.desk.consoles.pop(self.console.id, None)
            pool = self.desk.pool
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if self.reason == consoles.IDLE and not self.desk.open_for(self.owner.operator.id):
                    async with pool.acquire() as conn:
                        await live_sessions.sign_out(
                            conn, self.owner.operator.id, self.desk.clock.now(), keep_claims=False
                        )
                await consoles.sign_out(pool, self.console.id, self.reason)
            log.info(
                "console %d of %s ended: %s", self.console.id, self.owner.operator.name, self.reason
            )
        finally:
            self.finished.set()

    def _refuse(self, message: str) -> None:
        if self._chan is not None and not self._closed:
            self._chan.write_stderr((message + "\r\n").encode())
            self._chan.exit(1)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# -- the host key ---------------------------------------------------------------------------


class HostKeyProblem(Exception):
    pass


def host_key(path: Path) -> asyncssh.SSHKey:
    """The server's host key: made once (ed25519, mode 0600) and kept, so clients can trust it;
    refused if others can read it, as sshd refuses."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise HostKeyProblem(
                f"host key {path} can be read by others (mode {mode:o}); run: chmod 600 {path}"
            ) from None
        try:
            return asyncssh.read_private_key(path)
        except (asyncssh.KeyImportError, OSError) as exc:
            raise HostKeyProblem(f"host key {path}: {exc}") from None
    except OSError as exc:
        raise HostKeyProblem(f"cannot create the host key {path}: {exc.strerror}") from None
    key = asyncssh.generate_private_key("ssh-ed25519", comment="shiftdesk host key")
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key())
    path.with_name(path.name + ".pub").write_bytes(key.export_public_key())
    log.info("made a new host key %s (%s)", path, fingerprint(key))
    return key


async def start_server(desk: Desk, key: asyncssh.SSHKey) -> asyncssh.SSHAcceptor:
    """Listen for operators; the acceptor's sockets say where. Once listening, sign out the
    consoles a killed earlier run on this host and port left open."""
    ssh = desk.settings.ssh
    # asyncssh logs each auth step at INFO; ours says what a team needs, by fingerprint.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    acceptor = await asyncssh.create_server(
        lambda: DeskConnection(desk),
        ssh.host,
        ssh.port,
        server_host_keys=[key],
        server_version="shiftdesk",
        public_key_auth=True,
        password_auth=False,
        kbdint_auth=False,
        host_based_auth=False,
        gss_auth=False,
        gss_kex=False,
        allow_pty=True,
        agent_forwarding=False,
        x11_forwarding=False,
        allow_scp=False,
        sftp_factory=None,
        line_editor=False,  # the console reads raw keys
        encoding=None,  # bytes both ways: the pty is not ours to decode
        login_timeout=ssh.login_timeout_seconds,
        keepalive_interval=30,
        keepalive_count_max=3,
    )
    # Named before anything can sign in (that takes a key check, a database round trip). Only
    # one process at a time listens on a host's port, so open rows with this name and another
    # run were left by a run that is gone: SIGKILLed, or its machine lost.
    desk.server = f"ssh@{socket.gethostname()}:{listening_on(acceptor)[1]}"
    try:
        left = await consoles.end_left_open(desk.pool, desk.server, desk.run)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("cannot sign out the consoles the last run left open (database: %s)", exc)
    else:
        if left:
            log.info("signed out %d console(s) the last run left open", len(left))
    return acceptor


def listening_on(acceptor: asyncssh.SSHAcceptor) -> tuple[str, int]:
    host, port = acceptor.sockets[0].getsockname()[:2]
    return str(host), int(port)
