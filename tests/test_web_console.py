"""`shiftdesk web` as a person uses it: the console in headless Chromium, behind its sign-in.

The backend serves real HTTP in this process on the test's own database; the web console
server runs beside it and starts a real `shiftdesk tui` process per browser tab. The browser
is the distribution's Chromium driven by Playwright (never a downloaded browser build).

xterm.js draws the console in a canvas, so there is no text in the DOM to read. The page's
terminal is found with an init script (test-only) that notes each xterm.js Terminal as it is
built; its buffer is what xterm.js drew, read line by line. Plain HTTP checks beside the
browser show the console's routes refuse without a sign-in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from backend import operators
from backend.clock import Clock
from backend.config import Config
from backend.live import sessions
from backend.model import Author, InboundPost
from backend.webconsole import cookies, links
from backend.webconsole.server import CONSOLE, console_command, init_web_app
from tests.browser import BROWSER_ARGS, CHROMIUM, FIND_TERMINALS
from tests.processes import until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (.ci/run)"),
]
SCREENSHOT_DIR = os.environ.get("SHIFTDESK_WEB_SCREENSHOTS")  # keep the screenshots here


@pytest.fixture
async def web_console(backend, config: Config, tmp_path, monkeypatch) -> AsyncIterator[Served]:
    """The web console server on a loopback port, consoles against `backend`; its URL."""
    # The consoles' drafts and keymap in this test's own folders, not the user's.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cfg = config.model_copy(
        update={"web": config.web.model_copy(update={"check_seconds": 0.2, "max_consoles": 3})}
    )
    app = init_web_app(cfg, backend.db_url, console_command(backend.url))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield Served(f"http://127.0.0.1:{runner.addresses[0][1]}", app)
    await runner.cleanup()


@dataclass
class Served:
    url: str
    app: web.Application


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield chromium
        await chromium.close()


async def queue_with_a_customer(backend) -> None:
    svc = backend.services
    post = InboundPost(
        "simulator",
        "w1",
        Author("id-jo", "jo_k", "Jo K", 50),
        "@acme my order vanished",
        svc.clock.now(),
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])


async def new_page(browser):
    context = await browser.new_context(viewport={"width": 1100, "height": 640})
    page = await context.new_page()
    await page.add_init_script(FIND_TERMINALS)
    return page


async def screen_shows(page, text: str, timeout_ms: int = 30_000) -> str:
    """Wait until the terminal's drawn lines hold `text`; the screen, or a failure showing it."""
    try:
        await page.wait_for_function(
            "text => window.__screen && window.__screen().includes(text)",
            arg=text,
            timeout=timeout_ms,
        )
    except Exception as exc:
        shown = await page.evaluate("window.__screen ? window.__screen() : ''")
        shown = shown or f"(no terminal at {page.url}: {await page.inner_text('body')})"
        raise AssertionError(f"{text!r} never appeared on the web console:\n{shown}") from exc
    return await page.evaluate("window.__screen()")


async def keep_screenshot(page, name: str, tmp_path: Path) -> Path:
    folder = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000  # a drawn console, not a blank page
    return path


def console_processes() -> list[int]:
    """This test's `shiftdesk tui` processes: descendants of this process (other work on the
    machine may run consoles of its own)."""
    parents: dict[int, int] = {}
    consoles = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parents[int(entry.name)] = int(status.split("PPid:", 1)[1].split()[0])
        if b"backend.cli" in cmdline and b"tui" in cmdline:
            consoles.append(int(entry.name))

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [pid for pid in consoles if ours(pid)]


# -- without a sign-in --------------------------------------------------------------------


async def test_without_a_sign_in_no_route_reaches_the_console(web_console, backend, caplog):
    _, token = await backend.add_operator("anna")
    # unsafe: the jar keeps cookies for 127.0.0.1 (it drops cookies of IP addresses by default)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(web_console.url + "/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/sign-in"
        for path in ("/static/js/textual.js", "/static/css/xterm.css", "/ws"):
            async with http.get(web_console.url + path, allow_redirects=False) as r:
                assert r.status == 401, path
        # The WebSocket that starts a console refuses the upgrade.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(web_console.url + "/ws?width=80&height=24")
        assert refused.value.status == 401
        # A cookie made up, or one signed by another server's key, is no sign-in.
        forged = cookies.sign(b"k" * 32, cookies.SessionCookie(1, int(time.time()) + 3600))
        for value in (forged, "1.9999999999.abc", ""):
            http.cookie_jar.update_cookies({cookies.COOKIE: value})
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(web_console.url + "/ws")
        http.cookie_jar.clear()
        # A console credential is not an operator token: it does not sign in.
        anna = await operators.authenticate(backend.pool, token)
        assert anna is not None
        _, credential = await operators.open_session(
            backend.pool, anna.id, "token", timedelta(minutes=5)
        )
        with caplog.at_level(logging.WARNING, logger="backend.webconsole.server"):
            for bad in ("sd_not-a-real-token", credential):
                async with http.post(web_console.url + "/sign-in", data={"token": bad}) as r:
                    assert r.status == 401
                    assert "not valid" in await r.text()
        assert "refused web sign-in from 127.0.0.1" in caplog.text
        assert "sd_not-a-real-token" not in caplog.text and credential not in caplog.text
        assert console_processes() == []
        # The same client, signed in, is let through: the refusals above were the sign-in's.
        async with http.post(web_console.url + "/sign-in", data={"token": token}) as r:
            assert r.status == 200 and r.url.path == "/"
        async with http.get(web_console.url + "/static/js/textual.js") as r:
            assert r.status == 200


async def test_bad_sign_ins_are_slowed_down(web_console, backend):
    _, token = await backend.add_operator("anna")
    web_console.app[CONSOLE].guard.limit = 3
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(web_console.url + "/sign-in", data={"token": "sd_guess"}) as r:
                assert r.status == 401
        # Past the limit even the right token waits: guessing costs the guesser time.
        async with http.post(web_console.url + "/sign-in", data={"token": token}) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
            assert "Too many failed sign-ins" in await r.text()


async def test_a_post_from_another_site_is_refused(web_console, backend):
    _, token = await backend.add_operator("anna")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            web_console.url + "/sign-in",
            data={"token": token},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ) as r:
            assert r.status == 403


async def test_an_expired_link_is_refused(web_console, backend):
    await backend.add_operator("anna")
    _, secret, _ = await links.create(backend.pool, "anna", timedelta(minutes=5))
    await backend.pool.execute("UPDATE web_links SET expires_at = now() - interval '1 second'")
    async with aiohttp.ClientSession() as http:
        async with http.post(web_console.url + "/link", data={"link": secret}) as r:
            assert r.status == 403
            assert "used or has expired" in await r.text()
    assert await backend.pool.fetchval("SELECT count(*) FROM console_sessions") == 0


def test_the_cookie_is_signed_and_runs_out():
    key = b"s" * 32
    value = cookies.sign(key, cookies.SessionCookie(7, 2000))
    assert cookies.read(key, value, now=1000) == cookies.SessionCookie(7, 2000)
    assert cookies.read(key, value, now=2000) is None  # expired
    assert cookies.read(b"t" * 32, value, now=1000) is None  # another server's key
    session_id, expires, mac = value.split(".")
    assert cookies.read(key, f"{session_id}.9999.{mac}", now=1000) is None  # stretched
    assert cookies.read(key, f"8.{expires}.{mac}", now=1000) is None  # someone else's session


async def _web_events(pool, operator_id: int) -> list[tuple[str, dict]]:
    rows = await pool.fetch(
        """SELECT kind, data FROM events WHERE operator_id = $1 AND kind LIKE 'operator.web%'
           ORDER BY id""",
        operator_id,
    )
    return [(r["kind"], r["data"]) for r in rows]


def _browser() -> aiohttp.ClientSession:
    # unsafe: the jar keeps cookies for 127.0.0.1 (it drops cookies of IP addresses by default)
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _sign_in(http: aiohttp.ClientSession, url: str, token: str) -> None:
    async with http.post(url + "/sign-in", data={"token": token}) as r:
        assert r.status == 200 and r.url.path == "/"


async def test_browser_sign_ins_and_sign_outs_are_events_once_each_with_why(web_console, backend):
    url, pool = web_console.url, backend.pool
    signed_in, signed_out = operators.WEB_SIGNED_IN, operators.WEB_SIGNED_OUT
    anna, token = await backend.add_operator("anna")
    async with _browser() as http:
        await _sign_in(http, url, token)
        async with http.post(url + "/sign-out") as r:
            assert r.url.path == "/sign-in"
    (first, _), (second, out) = await _web_events(pool, anna.id)
    assert (first, second) == (signed_in, signed_out)
    assert out["reason"] == operators.SIGNED_OUT and out["how"] == "token"
    (_, into), _ = await _web_events(pool, anna.id)
    assert into == {"how": "token", "address": "127.0.0.1", "session": out["session"]}

    # A reissue signs out what the old token signed in, not what a link did; a revoke, the rest.
    _, secret, _ = await links.create(pool, "anna", timedelta(minutes=5))
    async with _browser() as by_token, _browser() as by_link:
        await _sign_in(by_token, url, token)
        async with by_link.post(url + "/link", data={"link": secret}) as r:
            assert r.status == 200 and r.url.path == "/"
        async with pool.acquire() as conn:
            await operators.reissue(conn, "anna")
            await sessions.token_reissued(conn, anna.id)
        later = (await _web_events(pool, anna.id))[2:]
        assert [(kind, data["how"]) for kind, data in later] == [
            (signed_in, "token"),
            (signed_in, "link"),
            (signed_out, "token"),
        ]
        assert later[2][1]["reason"] == operators.REISSUED
        async with pool.acquire() as conn:
            await operators.revoke(conn, "anna")
            await sessions.revoked(conn, anna.id, Clock().now())
        # The web server notices too (its watcher) and ends the consoles, recording nothing more.
        await until(lambda: not web_console.app[CONSOLE].signed_in, "the sign-ins forgotten")
    last = (await _web_events(pool, anna.id))[5:]
    assert [(kind, data["how"], data["reason"]) for kind, data in last] == [
        (signed_out, "link", operators.REVOKED)
    ]

    # A sign-in whose time runs out is signed out by the server, once.
    ben, ben_token = await backend.add_operator("ben")
    async with _browser() as http:
        await _sign_in(http, url, ben_token)
        await pool.execute("UPDATE console_sessions SET expires_at = now() WHERE ended_at IS NULL")
        await until(lambda: not web_console.app[CONSOLE].signed_in, "the sign-in run out")
    kinds = [(kind, data.get("reason")) for kind, data in await _web_events(pool, ben.id)]
    assert kinds == [(signed_in, None), (signed_out, operators.EXPIRED)]


async def test_an_operator_s_browser_consoles_are_limited_with_a_clear_refusal(
    web_console, backend
):
    anna, token = await backend.add_operator("anna")
    _, ben_token = await backend.add_operator("ben")
    served = web_console.app[CONSOLE]
    served.cfg = served.cfg.model_copy(
        update={"web": served.cfg.web.model_copy(update={"max_consoles_per_operator": 1})}
    )
    async with _browser() as http, _browser() as other_tab, _browser() as ben:
        await _sign_in(http, web_console.url, token)
        await _sign_in(other_tab, web_console.url, token)  # a second sign-in: still Anna
        await _sign_in(ben, web_console.url, ben_token)
        first = await http.ws_connect(web_console.url + "/ws?width=80&height=24")
        try:
            # Her next console, from either sign-in, is refused in words: the page and its socket.
            for tab in (http, other_tab):
                async with tab.get(web_console.url + "/") as r:
                    assert r.status == 429
                    assert "already have 1 console open here" in await r.text()
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await tab.ws_connect(web_console.url + "/ws")
                assert refused.value.status == 429
            # Ben is not held back by Anna's consoles.
            async with ben.get(web_console.url + "/") as r:
                assert r.status == 200
        finally:
            await first.close()
        await until(lambda: not served.running_for[anna.id], "the console counted out")
        async with http.get(web_console.url + "/") as r:
            assert r.status == 200  # closed one: room for the next
    await until(lambda: not console_processes(), "the console process to stop")


async def test_a_killed_web_server_signs_out_what_it_left_open_when_it_starts_again(
    backend, tmp_path
):
    """As for `shiftdesk ssh`: after a SIGKILL the same server (host and port) signs out its
    own leftover sessions when it starts again, saying why; another server's stay open."""
    import signal
    import socket

    from tests.processes import free_port

    pool = backend.pool
    anna, token = await backend.add_operator("anna")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {
        **os.environ,
        "SHIFTDESK_DATABASE_URL": backend.db_url,
        "SHIFTDESK_WEB_PORT": str(port),
        "SHIFTDESK_TUI_BACKEND_URL": backend.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }

    def start(log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "backend.cli", "web"], env=environ, stdout=out, stderr=out
            )

    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    server = start(first_log)
    try:
        await until(lambda: "the console in a browser on" in first_log.read_text(), "the server")
        for _ in range(2):
            async with _browser() as http:
                await _sign_in(http, url, token)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        left = await pool.fetch("SELECT id, server FROM console_sessions ORDER BY id")
        assert {r["server"] for r in left} == {f"web@{socket.gethostname()}:{port}"}
        # One of them runs out while the server is down; another server holds one of its own.
        await pool.execute("UPDATE console_sessions SET expires_at = now() WHERE id = $1", left[1]["id"])  # fmt: skip
        other, _ = await operators.open_session(
            pool, anna.id, "token", timedelta(hours=1), "10.0.0.9", "web@desk2:8471", "run-b"
        )

        server = start(second_log)
        await until(lambda: "the console in a browser on" in second_log.read_text(), "again")
        ended = await pool.fetch(
            """SELECT data->>'session' AS session, data->>'reason' AS reason FROM events
               WHERE kind = $1 ORDER BY id""",
            operators.WEB_SIGNED_OUT,
        )
        assert sorted((int(r["session"]), r["reason"]) for r in ended) == [
            (left[0]["id"], operators.SERVER_RESTARTED),
            (left[1]["id"], operators.EXPIRED),
        ]
        assert "signed out 2 browser session(s) left open by the last run" in second_log.read_text()
        # This run's own sign-ins are its to sign out when it stops.
        async with _browser() as http:
            await _sign_in(http, url, token)
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
        reasons = await pool.fetch(
            "SELECT id, end_reason FROM console_sessions WHERE id > $1 ORDER BY id", other
        )
        assert [r["end_reason"] for r in reasons] == [operators.SERVER_STOPPED]
        assert await pool.fetchval("SELECT ended_at FROM console_sessions WHERE id = $1", other) is None  # fmt: skip
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


# -- in the browser -----------------------------------------------------------------------


async def test_browser_without_a_sign_in_gets_the_form_not_the_console(web_console, browser):
    page = await new_page(browser)
    await page.goto(web_console.url + "/")
    assert page.url == web_console.url + "/sign-in"
    assert await page.locator("#token").count() == 1
    assert await page.locator(".xterm").count() == 0  # no terminal, no console started
    assert console_processes() == []


async def test_browser_sign_in_with_the_token_shows_the_queue(
    web_console, backend, browser, tmp_path
):
    await queue_with_a_customer(backend)
    anna, token = await backend.add_operator("anna")
    page = await new_page(browser)
    await page.goto(web_console.url + "/")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await screen_shows(page, "@jo_k")
    screen = await screen_shows(page, "Anna")
    assert "my order" in screen and "Anna" in screen  # the queue, as Anna
    await keep_screenshot(page, "web-console-queue", tmp_path)

    # The cookie cannot be read by the page's scripts and is not sent cross-site.
    (cookie,) = await page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # The console runs as Anna on a credential of its own, never on its command line.
    (pid,) = console_processes()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    environ = dict(
        line.split(b"=", 1)
        for line in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if b"=" in line
    )
    credential = environ[b"SHIFTDESK_TUI_TOKEN"].decode()
    assert credential.startswith(operators.SESSION_PREFIX) and credential != token
    assert credential.encode() not in cmdline and token.encode() not in cmdline
    assert (await operators.authenticate(backend.pool, credential)).id == anna.id

    # Keys reach it, and it acts as Anna: enter opens the thread, c claims it.
    await page.focus(".xterm-helper-textarea")  # where xterm.js takes keys (a click would)
    await page.keyboard.press("Enter")
    await page.keyboard.press("c")
    await screen_shows(page, "held by")
    await until(lambda: backend.pool.fetchval("SELECT claimed_by FROM conversations"), "the claim")
    assert await backend.pool.fetchval("SELECT claimed_by FROM conversations") == anna.id


async def test_a_one_time_link_signs_in_once(web_console, backend, browser, tmp_path):
    await queue_with_a_customer(backend)
    await backend.add_operator("ben")
    env = {
        **os.environ,
        "SHIFTDESK_DATABASE_URL": backend.db_url,
        "SHIFTDESK_WEB_PUBLIC_URL": web_console.url,
    }
    printed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "backend.cli", "operators", "link", "ben"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    (link,) = [line for line in printed.stdout.split() if line.startswith(web_console.url)]
    assert await backend.pool.fetchval("SELECT count(*) FROM web_links") == 1
    secret = link.rsplit("/", 1)[1]
    stored = await backend.pool.fetchval("SELECT token_hash FROM web_links")
    assert stored == operators.hash_token(secret) and secret.encode() not in stored

    first = await new_page(browser)
    await first.goto(link)
    await first.click("#use-link")
    await screen_shows(first, "@jo_k")
    await keep_screenshot(first, "web-console-link", tmp_path)

    second = await new_page(browser)  # another browser profile: no cookie
    await second.goto(link)
    await second.click("#use-link")
    assert second.url == web_console.url + "/link"
    assert "has been used or has expired" in await second.inner_text("body")
    assert await second.locator(".xterm").count() == 0


async def test_a_revoked_operators_web_console_ends(web_console, backend, browser):
    await queue_with_a_customer(backend)
    anna, token = await backend.add_operator("anna")
    page = await new_page(browser)
    await page.goto(web_console.url + "/sign-in")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await screen_shows(page, "@jo_k")
    assert len(console_processes()) == 1

    async with backend.pool.acquire() as conn:
        await operators.revoke(conn, "anna")
        await sessions.revoked(conn, anna.id, Clock().now())
    await page.wait_for_selector("body.-closed", timeout=15_000)  # "The console has ended."
    await until(lambda: not console_processes(), "the console process to stop")
    assert web_console.app[CONSOLE].signed_in == {}
    # Back on the page: the sign-in is gone too.
    await page.goto(web_console.url + "/")
    assert page.url == web_console.url + "/sign-in"


async def test_signing_out_ends_the_credential(web_console, backend, browser):
    _, token = await backend.add_operator("anna")
    page = await new_page(browser)
    await page.goto(web_console.url + "/sign-in")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await screen_shows(page, "Anna")
    credential = await backend.pool.fetchval("SELECT count(*) FROM console_sessions")
    assert credential == 1
    await page.focus(".xterm-helper-textarea")  # where xterm.js takes keys (a click would)
    await page.keyboard.press("Control+q")  # the console quits; the page offers to sign out
    await page.wait_for_selector("body.-closed", timeout=15_000)
    await page.click("text=Sign out")
    assert page.url == web_console.url + "/sign-in"
    assert await backend.pool.fetchval("SELECT count(*) FROM console_sessions WHERE ended_at IS NULL") == 0  # fmt: skip


def test_chromium_is_the_distributions():
    assert shutil.which("chromium") == CHROMIUM
