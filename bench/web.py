"""The console in a browser (`shiftdesk web`) next to the plain `shiftdesk tui`, in one run.

    .venv/bin/python bench/web.py [--conversations 10000] [--sessions 8]

A backend process (`shiftdesk serve`, real HTTP, real PostgreSQL: SHIFTDESK_TEST_DATABASE_URL's
server, else a throwaway embedded one) holds N open conversations (bench/harness.py's seed).

- plain tui (the baseline): `--sessions` consoles, each `shiftdesk tui` in a pseudo-terminal of
  its own (100x30), started one after another and all kept open; first paint is from starting
  the process to a queue row ("@customer…") written to its terminal; memory is each process's
  resident set with all of them open.
- web: a `shiftdesk web` process and headless Chromium (the distribution's). `--sessions`
  browser profiles each sign in with a token and open the console, all kept open; first paint
  is from loading the console page (signed in) to a queue row in xterm.js's buffer, which
  includes the server starting that tab's console process. Memory: the consoles' processes
  (each tab's `shiftdesk tui` and its shell) per session, and the web server's own growth
  per session. The browser's memory is the operator's machine's, not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from backend import operators  # noqa: E402
from bench.harness import drop_database, postgres, queue_database, resident_mb  # noqa: E402
from tests.browser import BROWSER_ARGS, CHROMIUM, FIND_TERMINALS  # noqa: E402
from tests.processes import BackendProcess, free_port, until  # noqa: E402

MARK = "@customer"  # the seeded customers' handles: a queue row is on screen
COLS, ROWS = 100, 30


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(status.split("PPid:", 1)[1].split()[0])
    found, frontier = [], {root}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        found += sorted(children)
        frontier = children
    return found


class PlainConsole:
    """`shiftdesk tui` in a pseudo-terminal of its own, read until a queue row shows."""

    def __init__(self, backend_url: str, token: str, home: Path) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "SHIFTDESK_TUI_TOKEN": token,
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_CONFIG_HOME": str(home / "config"),
        }
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "tui", "--url", backend_url],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        os.set_blocking(self.master, False)
        self.seen = b""
        self.painted = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_reader(self.master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            return
        # Keep the tail only: the mark may straddle two reads.
        self.seen = (self.seen + data)[-4096:]
        if not self.painted.done() and MARK.encode() in self.seen:
            self.painted.set_result(time.perf_counter() - self.started)

    def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.master)


async def plain(backend_url: str, tokens: list[str], home: Path) -> dict[str, float]:
    consoles: list[PlainConsole] = []
    paints = []
    try:
        for i, token in enumerate(tokens):
            console = PlainConsole(backend_url, token, home / f"plain{i}")
            consoles.append(console)
            paints.append(await asyncio.wait_for(console.painted, 60))
        rss = [resident_mb(c.proc.pid) for c in consoles]
    finally:
        for console in consoles:
            console.stop()
    return {
        "paint_p50": statistics.median(paints),
        "paint_max": max(paints),
        "rss": statistics.median(rss),
    }


async def socket_paint(url: str, token: str) -> float:
    """First paint through the web server with no browser drawing it: sign in over HTTP, open
    the console's WebSocket, read its bytes until a queue row is in them."""
    import aiohttp

    # unsafe: keep cookies from an IP address (127.0.0.1), which aiohttp's jar drops by default
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(url + "/sign-in", data={"token": token}) as r:
            assert r.status == 200, await r.text()  # followed to the console page
        started = time.perf_counter()
        async with http.ws_connect(f"{url}/ws?width={COLS}&height={ROWS}") as ws:
            seen = b""
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    seen = (seen + message.data)[-4096:]
                    if MARK.encode() in seen:
                        return time.perf_counter() - started
    raise RuntimeError("the console closed before a queue row showed")


async def browser(backend_url: str, db_url: str, tokens: list[str], home: Path) -> dict[str, float]:
    from playwright.async_api import async_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SHIFTDESK_DATABASE_URL": db_url,
        "SHIFTDESK_WEB_PORT": str(port),
        "SHIFTDESK_WEB_BACKEND_URL": backend_url,
        "SHIFTDESK_WEB_MAX_CONSOLES": str(len(tokens) + 1),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    log = open(home / "web.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "web"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()

    async def up() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"shiftdesk web exited:\n{(home / 'web.log').read_text()[-2000:]}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    try:
        await until(up, "shiftdesk web to listen", 60)
        bare = [await socket_paint(url, token) for token in tokens]
        await until(lambda: not descendants(server.pid), "the measured consoles to stop", 30)
        server_before = resident_mb(server.pid)
        paints = []
        async with async_playwright() as p:
            chromium = await p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            try:
                for token in tokens:
                    context = await chromium.new_context(viewport={"width": 1000, "height": 600})
                    page = await context.new_page()
                    await page.add_init_script(FIND_TERMINALS)
                    await page.goto(url + "/sign-in")
                    await page.fill("#token", token)
                    # Signed in, then the console page loaded afresh: its first paint alone.
                    async with page.expect_navigation():
                        await page.click("button[type=submit]")
                    started = time.perf_counter()
                    await page.goto(url + "/")
                    await page.wait_for_function(
                        "mark => window.__screen && window.__screen().includes(mark)",
                        arg=MARK,
                        timeout=60_000,
                    )
                    paints.append(time.perf_counter() - started)
                consoles = descendants(server.pid)
                consoles_mb = sum(resident_mb(pid) for pid in consoles)
                server_after = resident_mb(server.pid)
            finally:
                await chromium.close()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    n = len(tokens)
    return {
        "socket_p50": statistics.median(bare),
        "paint_p50": statistics.median(paints),
        "paint_max": max(paints),
        "rss": consoles_mb / n,
        "processes": len(consoles) / n,
        "server_growth": (server_after - server_before) / n,
        "server": server_after,
    }


async def run(admin_url: str, n: int, sessions: int) -> dict[str, dict[str, float]]:
    db_url, _ = await queue_database(admin_url, n)
    home = Path(tempfile.mkdtemp(prefix="shiftdesk-bench-web-"))
    backend = BackendProcess(db_url, log_path=home / "serve.log")
    try:
        conn = await asyncpg.connect(db_url)
        try:
            tokens = [
                (await operators.add(conn, f"web{i}", f"Web {i}", "operator"))[1]
                for i in range(sessions)
            ]
        finally:
            await conn.close()
        await backend.start()
        return {
            "plain": await plain(backend.url, tokens, home),
            "web": await browser(backend.url, db_url, tokens, home),
        }
    finally:
        backend.stop()
        await drop_database(admin_url, db_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=8, help="consoles held open at once")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)")
    with postgres() as admin:
        r = asyncio.run(run(admin, args.conversations, args.sessions))
    plain_r, web_r = r["plain"], r["web"]
    s = args.sessions
    rows = [
        (f"sessions held at once ({args.conversations:,} open conversations)", f"{s}", ""),
        ("plain tui: first paint p50", f"{plain_r['paint_p50']:.2f} s", "(baseline)"),
        ("plain tui: first paint max", f"{plain_r['paint_max']:.2f} s", ""),
        ("plain tui: memory per console (RSS)", f"{plain_r['rss']:.0f} MB", "(baseline)"),
        (
            "web: first paint p50, WebSocket only (no browser)",
            f"{web_r['socket_p50']:.2f} s",
            "",
        ),
        ("web: first paint p50 (page to queue row)", f"{web_r['paint_p50']:.2f} s", ""),
        ("web: first paint max", f"{web_r['paint_max']:.2f} s", ""),
        (
            f"web: memory per session ({web_r['processes']:.0f} processes each)",
            f"{web_r['rss']:.0f} MB",
            "",
        ),
        ("web: server growth per session", f"{web_r['server_growth']:.1f} MB", ""),
        (f"web: server RSS with {s} sessions", f"{web_r['server']:.0f} MB", ""),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    for what, value, target in rows:
        print(f"{what:<{width}}  {value:>10}  {target}")


if __name__ == "__main__":
    main()
