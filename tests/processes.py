"""Real processes for fault tests: `shiftdesk serve` that can be killed with
SIGKILL and started again on the same port, a PostgreSQL of a test's own
that can be restarted, and bounded polling of observable state."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(
    check: Callable[[], Awaitable[Any] | Any], what: str, timeout: float = 20.0, every: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})"
            )
        await asyncio.sleep(every)


class BackendProcess:
    """`python -m backend.cli serve` on a fixed loopback port, restartable.

    The port stays the same across restarts, so consoles and clients reconnect
    to the same URL, as they would to a restarted server.
    """

    def __init__(
        self,
        db_url: str,
        *,
        config_files: list[Path] = (),
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ):
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_files = list(config_files)
        self.env = env or {}
        self.log_path = log_path or Path(
            tempfile.mkstemp(prefix="shiftdesk-serve-", suffix=".log")[1]
        )
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "backend.cli"]
        for path in self.config_files:
            cmd += ["--config", str(path)]
        return cmd + ["serve"]

    async def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until /healthz says it is serving and listening."""
        environ = {
            **os.environ,
            "SHIFTDESK_DATABASE_URL": self.db_url,
            "SHIFTDESK_SERVER_PORT": str(self.port),
            "SHIFTDESK_SERVER_HOST": "127.0.0.1",
            **self.env,
        }
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self._command(), cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.starts += 1
        await self.healthy(timeout)

    async def healthy(self, timeout: float = 30.0) -> None:
        async def ok() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"backend exited with {self.proc.returncode}:\n{self.log()[-3000:]}"
                )
            return (await self.health()).get("ok", False)

        await until(ok, "the backend's /healthz", timeout)

    async def health(self) -> dict[str, Any]:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
                async with s.get(self.url + "/healthz") as r:
                    return await r.json()
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return {}

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or an OOM kill."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class RestartablePostgres:
    """An embedded PostgreSQL in a temp dir of its own that a test can stop and start.

    It listens on a Unix socket inside its data directory, so a restart comes
    back at the same address. The session's shared server is not touched.
    """

    def __init__(self, data_dir: Path):
        from backend.db.embedded import start_embedded

        self.embedded = start_embedded(data_dir)
        self.url = self.embedded.url

    def stop(self) -> None:
        """pg_ctl stop (fast): every connection is cut, as when the database host restarts."""
        self.embedded._server.stop()  # type: ignore[attr-defined]

    def start(self) -> None:
        server = self.embedded._server  # type: ignore[attr-defined]
        with server._lock:  # not server.start(): that would register this process a second time
            server.ensure_postgres_running()

    def close(self) -> None:
        self.embedded._server.stop()  # type: ignore[attr-defined]
        self.embedded.stop()


def run_cli(
    *args: str,
    env: dict | None = None,
    unset: tuple[str, ...] = (),
    stdin: str | None = None,
    process: bool = False,
) -> subprocess.CompletedProcess:
    """Run `shiftdesk ARGS`: in this process by default (the same main(), without a Python
    start-up each, which cost about a second of CPU per call), or as a real process.
    `env` is added to the environment and `unset` taken out of it, for that call only.
    From a coroutine, run it in a thread (asyncio.to_thread): main() runs its own loop."""
    if process:
        return subprocess.run(
            [sys.executable, "-m", "backend.cli", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            input=stdin,
            env={k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset},
            timeout=120,
        )
    import contextlib
    import io

    from backend.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_stdin, saved_cwd = dict(os.environ), sys.stdin, os.getcwd()
    os.environ.update(env or {})
    for name in unset:
        os.environ.pop(name, None)
    sys.stdin = io.StringIO(stdin or "")
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
