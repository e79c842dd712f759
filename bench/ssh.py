"""The console over SSH: sessions held at once with the memory each, and keypress-to-screen
latency over SSH on loopback next to the plain `shiftdesk tui` on a pty, in the same run.

    .venv/bin/python bench/ssh.py [--sessions 20] [--presses 100] [--conversations 500]

A backend process (`shiftdesk serve`) and an SSH server process (`shiftdesk ssh`) run on a
real PostgreSQL (SHIFTDESK_TEST_DATABASE_URL's server, else a throwaway embedded one) with N
open conversations. This process is the operators' terminals: asyncssh clients whose screens
are pyte terminal emulators.

- baseline: `shiftdesk tui` started on a pty of this process (backend/ssh/console.py, the same
  code the server uses) with the operator's own token; keys written to the pty.
- over SSH: the same console behind `shiftdesk ssh`, keys sent by an SSH client on loopback.
- keypress to screen: from writing j (or k) to the first change of the emulated screen
  (characters or their colours) it causes: what the operator sees, encryption, the server's
  copy loop and the pty included. Presses are spaced until the screen is quiet.
- sessions: N consoles opened at once (each to its first paint of the queue), then the
  resident memory (RSS) of each console process and of the SSH server itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncssh  # noqa: E402
import pyte  # noqa: E402

from backend import operators  # noqa: E402
from backend.db.pool import connect as connect_db  # noqa: E402
from backend.ssh import keys  # noqa: E402
from backend.ssh.console import ConsoleProcess  # noqa: E402
from bench.harness import drop_database, percentile, postgres, queue_database, resident_mb  # noqa: E402
from tests.processes import BackendProcess, free_port, until  # noqa: E402

COLUMNS, ROWS = 80, 24
FIRST_PAINT = "QUEUE"  # the queue pane's title, on screen once the console has drawn


class Terminal:
    """An operator's terminal: bytes in, a VT screen; notes when what it shows changes."""

    def __init__(self) -> None:
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.changed = asyncio.Event()
        self.last_output = time.perf_counter()
        self._shown = self._look()

    def _look(self) -> int:
        return hash(
            tuple(
                (c.data, c.fg, c.bg, c.reverse)
                for row in range(ROWS)
                for c in self.screen.buffer[row].values()
            )
        )

    def feed(self, data: bytes) -> None:
        self.last_output = time.perf_counter()
        self.stream.feed(data)
        shown = self._look()
        if shown != self._shown:
            self._shown = shown
            self.changed.set()

    def text(self) -> str:
        return "\n".join(self.screen.display)


class SshTerminal(asyncssh.SSHClientSession):
    def __init__(self) -> None:
        self.terminal = Terminal()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.terminal.feed(data)


async def quiet(terminal: Terminal, for_s: float = 0.15, timeout: float = 10.0) -> None:
    """Wait until the console has drawn everything a keypress caused (no output for a while)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() - terminal.last_output < for_s and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)


async def keypresses(terminal: Terminal, send, presses: int) -> list[float]:
    """Milliseconds from each j/k written to the first change on screen."""
    await until(lambda: FIRST_PAINT in terminal.text(), "the first paint", 60)
    await quiet(terminal, 0.5)
    took = []
    for i in range(presses):
        terminal.changed.clear()
        start = time.perf_counter()
        send(b"j" if i % 2 == 0 else b"k")
        await asyncio.wait_for(terminal.changed.wait(), 10)
        took.append((time.perf_counter() - start) * 1000)
        await quiet(terminal)
    return took


def console_pids(server_pid: int) -> list[int]:
    with open(f"/proc/{server_pid}/task/{server_pid}/children") as f:
        return [int(p) for p in f.read().split()]


async def connect(port: int, key: asyncssh.SSHKey) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        "127.0.0.1", port, username="bench", client_keys=[key], known_hosts=None,
        agent_path=None, config=[], preferred_auth="publickey",
    )  # fmt: skip


async def measure(
    backend_url: str, db_url: str, ssh_port: int, server_pid: int, args: argparse.Namespace
) -> dict[str, object]:
    conn = await connect_db(db_url)
    try:
        _, token = await operators.add(conn, "bench", "Bench", "operator")
        key = asyncssh.generate_private_key("ssh-ed25519")
        await keys.add_key(
            conn, "bench", keys.parse_public_key(key.export_public_key().decode(), "k")
        )
    finally:
        await conn.close()

    # Baseline: the plain console on a pty of this process.
    local = Terminal()
    exited = asyncio.Event()
    tmp = Path(tempfile.mkdtemp(prefix="shiftdesk-bench-ssh-"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm-256color",
        "LANG": "C.UTF-8", "XDG_STATE_HOME": str(tmp / "state"), "XDG_CONFIG_HOME": str(tmp),
    }  # fmt: skip
    plain = ConsoleProcess(
        [sys.executable, "-m", "backend.cli", "tui", "--url", backend_url, "--token-file", "{secret}"],
        env, (COLUMNS, ROWS), token.encode(), local.feed, lambda _code: exited.set(),
    )  # fmt: skip
    try:
        baseline = await keypresses(local, plain.write, args.presses)
        baseline_rss = resident_mb(plain.pid)
    finally:
        await plain.stop()

    # The same console over SSH.
    server_rss_before = resident_mb(server_pid)
    client = await connect(ssh_port, key)
    try:
        chan, session = await client.create_session(
            SshTerminal, term_type="xterm-256color", term_size=(COLUMNS, ROWS), encoding=None
        )
        over_ssh = await keypresses(session.terminal, chan.write, args.presses)
        chan.close()
    finally:
        client.close()
    await until(lambda: not console_pids(server_pid), "the console over SSH ended", 15)

    # N sessions at once, each to its first paint.
    clients = []
    started = time.perf_counter()
    try:
        for _ in range(args.sessions):
            c = await connect(ssh_port, key)
            _chan, s = await c.create_session(
                SshTerminal, term_type="xterm-256color", term_size=(COLUMNS, ROWS), encoding=None
            )
            clients.append((c, s))
        for _, s in clients:
            await until(lambda s=s: FIRST_PAINT in s.terminal.text(), "every first paint", 120)
        all_painted_s = time.perf_counter() - started
        pids = console_pids(server_pid)
        rss = [resident_mb(p) for p in pids]
        server_rss = resident_mb(server_pid)
    finally:
        for c, _ in clients:
            c.close()
    return {
        "baseline": baseline,
        "ssh": over_ssh,
        "baseline_rss": baseline_rss,
        "rss": rss,
        "server_rss_before": server_rss_before,
        "server_rss": server_rss,
        "all_painted_s": all_painted_s,
    }


async def run(admin_url: str, args: argparse.Namespace) -> dict[str, object]:
    db_url, _ = await queue_database(admin_url, args.conversations)
    tmp = Path(tempfile.mkdtemp(prefix="shiftdesk-bench-ssh-"))
    backend = BackendProcess(db_url, log_path=tmp / "serve.log")
    ssh_port = free_port()
    ssh_log = tmp / "ssh.log"
    server = None
    try:
        await backend.start()
        env = {
            **os.environ,
            "SHIFTDESK_DATABASE_URL": db_url,
            "SHIFTDESK_SSH_PORT": str(ssh_port),
            "SHIFTDESK_SSH_MAX_SESSIONS_PER_OPERATOR": str(args.sessions + 1),
            "SHIFTDESK_TUI_BACKEND_URL": backend.url,
            "XDG_STATE_HOME": str(tmp / "state"),
        }
        with open(ssh_log, "wb") as log:
            server = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "backend.cli", "ssh", env=env, stdout=log, stderr=log
            )
        await until(lambda: "serving the console over SSH" in ssh_log.read_text(), "ssh", 60)
        return await measure(backend.url, db_url, ssh_port, server.pid, args)
    finally:
        if server is not None and server.returncode is None:
            server.terminate()
            await server.wait()
        backend.stop()
        await drop_database(admin_url, db_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="consoles held at once")
    parser.add_argument("--presses", type=int, default=100, help="j/k presses per mode")
    parser.add_argument("--conversations", type=int, default=500)
    args = parser.parse_args()
    with postgres() as admin:
        r = asyncio.run(run(admin, args))
    base, ssh = r["baseline"], r["ssh"]
    assert isinstance(base, list) and isinstance(ssh, list)
    rss = r["rss"]
    assert isinstance(rss, list)
    print(f"keypress to screen (j/k, {args.presses} presses, {COLUMNS}x{ROWS}, loopback)")
    print(f"{'':<34}{'p50':>9}{'p99':>9}{'max':>9}")
    for label, values in (
        ("plain shiftdesk tui on a pty", base),
        ("over SSH (shiftdesk ssh)", ssh),
    ):
        print(
            f"{label:<34}{percentile(values, 0.5):>7.1f}ms{percentile(values, 0.99):>7.1f}ms{max(values):>7.1f}ms"
        )
    print(
        f"{'SSH adds':<34}{percentile(ssh, 0.5) - percentile(base, 0.5):>+7.1f}ms"
        f"{percentile(ssh, 0.99) - percentile(base, 0.99):>+7.1f}ms"
    )
    print()
    print(f"sessions held at once: {len(rss)} of {args.sessions} consoles over SSH")
    print(f"  all first paints within        {r['all_painted_s']:.1f} s")
    print(
        f"  console RSS each (MB)          median {statistics.median(rss):.0f}, "
        f"max {max(rss):.0f}, total {sum(rss):.0f}"
    )
    print(f"  plain tui RSS (baseline, MB)   {r['baseline_rss']:.0f}")
    print(
        f"  shiftdesk ssh server RSS (MB)  {r['server_rss_before']:.0f} idle, "
        f"{r['server_rss']:.0f} with {len(rss)} sessions"
    )


if __name__ == "__main__":
    main()
