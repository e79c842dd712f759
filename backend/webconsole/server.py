"""The browser console's web server: sign-in in front of textual-serve's console.

Routes, all behind the sign-in except the sign-in itself:

- GET /sign-in, POST /sign-in: an operator token in a form.
- GET /link/{secret}, POST /link: a one-time link (`shiftdesk operators link NAME`).
- GET /: the console page; GET /static/...: xterm.js and textual-serve's client.
- GET /ws: the WebSocket that starts a console for the signed-in operator.
- POST /sign-out.

A sign-in mints a console-session credential for the operator
(operators.open_session); each console the browser opens runs as
`shiftdesk tui` with that credential in its environment (SHIFTDESK_TUI_TOKEN),
never on a command line or in a URL. The browser holds only a signed,
HttpOnly, SameSite=Strict cookie naming the session. Every `check_seconds` the
open sessions are checked in the database: a revoked operator's consoles end.
Signing in and out are events (operators.WEB_SIGNED_IN, WEB_SIGNED_OUT with why).

Each run names itself in the sessions it opens (its host name and port, and a
run id): one killed without signing out ends, when it starts again, the
sessions it left open, and no other server's (operators.end_left_open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shlex
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import textual_serve
from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from backend import operators
from backend.config import Config
from backend.db.pool import create_pool
from backend.operators import Operator
from backend.web.guard import AuthGuard
from backend.webconsole import cookies, links, pages

log = logging.getLogger(__name__)

STATIC = Path(textual_serve.__file__).resolve().parent / "static"
SIGNED_OUT = (
    4001  # WebSocket close code: the session no longer works (revoked, signed out, expired)
)
MAX_FORM_BYTES = 16 * 1024
EXIT_WAIT = 5.0  # seconds a console whose output ended has to exit before it is killed
TOO_MANY = "You already have {n} open here (the most allowed); close one first."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def console_command(backend_url: str) -> list[str]:
    """`shiftdesk tui` against the backend; the credential travels in the environment."""
    return [sys.executable, "-m", "backend.cli", "tui", "--url", backend_url]


class OperatorConsole(AppService):
    """One browser tab's console process, run with its operator's session credential."""

    def __init__(self, command: str, credential: str, **kw: object) -> None:
        super().__init__(command, **kw)  # type: ignore[arg-type]
        self._credential = credential

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        # Read by `shiftdesk tui` (tui.token); the environment of a process is visible only to
        # its own user, unlike its command line.
        environment["SHIFTDESK_TUI_TOKEN"] = self._credential
        return environment

    async def run(self) -> None:
        try:
            await super().run()
            # Its output ended: reap the process (textual-serve never waits for it, leaving its
            # transport to be closed by the garbage collector, after the loop if it is late).
            process = self._process
            if process is not None:
                try:
                    await asyncio.wait_for(process.wait(), EXIT_WAIT)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        finally:
            # A console that exits or fails to start closes the tab's socket, so the page says
            # so (textual-serve closes it only on a clean exit).
            with contextlib.suppress(Exception):
                await self.remote_close()


@dataclass
class SignedIn:
    """A browser sign-in: who, the credential its consoles use, and the consoles it has open."""

    session_id: int
    operator: Operator
    credential: str
    expires: int  # Unix seconds
    consoles: set[web.WebSocketResponse] = field(default_factory=set)


class WebConsole:
    """The server's state: its cookie key, the sign-ins it holds, the consoles running."""

    def __init__(self, cfg: Config, pool: asyncpg.Pool, command: list[str]) -> None:
        self.cfg = cfg
        self.pool = pool
        self.command = shlex.join(command)
        self.key = secrets.token_bytes(32)  # drawn each start: a restart signs everyone out
        self.guard = AuthGuard()
        self.signed_in: dict[int, SignedIn] = {}
        self.running = 0
        self.running_for: Counter[int] = Counter()  # consoles running, by operator id
        # Who holds the sessions this run opens: named once listening (serving()).
        self.server: str | None = None
        self.run = uuid.uuid4().hex
        self.downloads = DownloadManager()
        self.secure = cfg.web.public_url.startswith("https://")

    # -- sessions ------------------------------------------------------------------------

    async def serving(self, address: tuple[str, int]) -> None:
        """Listening on `address` now: name this run's sessions after it, and end the ones an
        earlier run on the same host and port left open (it was killed: nobody else can hold
        that port while we do)."""
        self.server = f"web@{socket.gethostname()}:{address[1]}"
        try:
            left = await operators.end_left_open(self.pool, self.server, self.run)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot sign out the sessions the last run left open: %s", exc)
            return
        if left:
            log.info("signed out %d browser session(s) left open by the last run", len(left))

    async def start_session(self, op: Operator, via: str, address: str) -> web.Response:
        lifetime = timedelta(hours=self.cfg.web.session_hours)
        session_id, credential = await operators.open_session(
            self.pool, op.id, via, lifetime, address, self.server, self.run
        )
        expires = int(time.time() + lifetime.total_seconds())
        self.signed_in[session_id] = SignedIn(session_id, op, credential, expires)
        log.info("web sign-in: %s (%s), session %d", op.name, via, session_id)
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            cookies.COOKIE,
            cookies.sign(self.key, cookies.SessionCookie(session_id, expires)),
            max_age=int(lifetime.total_seconds()),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.secure,
        )
        return response

    def session_of(self, request: web.Request) -> SignedIn | None:
        found = cookies.read(self.key, request.cookies.get(cookies.COOKIE), time.time())
        return self.signed_in.get(found.session_id) if found else None

    async def end(self, session: SignedIn, reason: str) -> None:
        """Forget a sign-in and close its consoles (their processes stop with their sockets)."""
        self.signed_in.pop(session.session_id, None)
        log.info(
            "web session %d of %s ended: %s", session.session_id, session.operator.name, reason
        )
        for ws in list(session.consoles):
            with contextlib.suppress(Exception):
                await ws.close(code=SIGNED_OUT, message=reason.encode()[:120])

    async def watch(self) -> None:
        """End the sign-ins that stopped working: operator revoked or reissued, expired, signed
        out elsewhere. One query a tick for all of them."""
        while True:
            await asyncio.sleep(self.cfg.web.check_seconds)
            if not self.signed_in:
                continue
            try:
                still = await operators.open_sessions(self.pool, list(self.signed_in))
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot check web sessions: %s", exc)
                continue
            gone = [s for s in self.signed_in if s not in still]
            if not gone:
                continue
            # Revoked and reissued ones were signed out (with why) by whoever did it; the
            # ones whose time ran out are signed out here.
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await operators.end_lapsed(self.pool, gone)
            for session_id in gone:
                await self.end(self.signed_in[session_id], "access revoked or session ended")

    def too_many_for(self, op: Operator) -> str | None:
        """Why `op` may not open another console here, if they may not."""
        most = self.cfg.web.max_consoles_per_operator
        if self.running_for[op.id] >= most:
            return TOO_MANY.format(n=f"{most} console{'' if most == 1 else 's'}")
        return None

    # -- sign-in attempts ----------------------------------------------------------------

    def too_many(self, request: web.Request) -> web.Response | None:
        wait = self.guard.retry_after(request.remote or "unknown")
        if wait is None:
            return None
        response = pages.sign_in(
            f"Too many failed sign-ins from your address; try again in {wait} s.", status=429
        )
        response.headers["Retry-After"] = str(wait)
        return response

    def refused(self, request: web.Request, what: str) -> None:
        # The address and what kind of secret, never the secret itself.
        address = request.remote or "unknown"
        log.warning("refused web sign-in from %s: %s", address, what)
        self.guard.refused(address)


CONSOLE = web.AppKey("web_console", WebConsole)
_PUBLIC = ("/sign-in", "/link")


def _same_origin(request: web.Request) -> bool:
    """A form post or WebSocket from a page of this server (SameSite covers the cookie; this
    covers a browser that sends none)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


@web.middleware
async def sign_in_required(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route but the sign-in's own needs a signed-in browser."""
    if request.method == "POST" and not _same_origin(request):
        return web.Response(status=403, text="Cross-site request refused.")
    path = request.path
    if path == "/sign-in" or path == "/link" or path.startswith("/link/"):
        return await handler(request)
    if request.app[CONSOLE].session_of(request) is None:
        if path == "/" and request.method == "GET":
            raise web.HTTPSeeOther("/sign-in")
        return web.Response(status=401, text="Sign in first: /sign-in")
    return await handler(request)


async def sign_in_form(request: web.Request) -> web.StreamResponse:
    if request.app[CONSOLE].session_of(request) is not None:
        raise web.HTTPSeeOther("/")
    return pages.sign_in()


async def sign_in(request: web.Request) -> web.StreamResponse:
    web_console = request.app[CONSOLE]
    slowed = web_console.too_many(request)
    if slowed is not None:
        return slowed
    token = str((await request.post()).get("token", "")).strip()
    # Only an operator's own token signs in: not a console credential lifted from a process.
    op = None
    if token and not token.startswith(operators.SESSION_PREFIX):
        op = await operators.authenticate(web_console.pool, token)
    if op is None:
        web_console.refused(request, "unknown or revoked operator token")
        return pages.sign_in("That operator token is not valid (unknown or revoked).", 401)
    return await web_console.start_session(op, "token", request.remote or "unknown")


async def link_page(request: web.Request) -> web.StreamResponse:
    return pages.link(request.match_info["secret"])


async def use_link(request: web.Request) -> web.StreamResponse:
    web_console = request.app[CONSOLE]
    slowed = web_console.too_many(request)
    if slowed is not None:
        return slowed
    secret = str((await request.post()).get("link", "")).strip()
    op = await links.use(web_console.pool, secret) if secret else None
    if op is None:
        web_console.refused(request, "sign-in link unknown, used or expired")
        return pages.sign_in(
            "That sign-in link has been used or has expired; ask a lead for a new one "
            "(shiftdesk operators link NAME), or sign in with your token.",
            403,
        )
    return await web_console.start_session(op, "link", request.remote or "unknown")


async def sign_out(request: web.Request) -> web.StreamResponse:
    web_console = request.app[CONSOLE]
    session = web_console.session_of(request)
    if session is not None:
        await operators.end_sessions(web_console.pool, [session.session_id], operators.SIGNED_OUT)
        await web_console.end(session, "signed out")
    response = web.Response(status=303, headers={"Location": "/sign-in"})
    response.del_cookie(cookies.COOKIE, path="/")
    return response


def _size(request: web.Request, name: str, default: int, most: int) -> int:
    try:
        return max(1, min(most, int(request.query.get(name, default))))
    except ValueError:
        return default


async def console_page(request: web.Request) -> web.StreamResponse:
    web_console = request.app[CONSOLE]
    session = web_console.session_of(request)
    # Said here in words; the console's socket checks again (the page alone starts nothing).
    if session is not None and (refusal := web_console.too_many_for(session.operator)):
        return pages.refused(refusal, 429)
    return pages.console(_size(request, "fontsize", 16, 48))


async def console_socket(request: web.Request) -> web.StreamResponse:
    """Start a console for the signed-in operator and relay it (textual-serve's protocol)."""
    web_console = request.app[CONSOLE]
    session = web_console.session_of(request)
    if session is None or not _same_origin(request):
        return web.Response(status=403, text="Refused: open the console from its own page.")
    # Checked now, not only by the watcher: a revoked operator never gets another console.
    if await operators.authenticate(web_console.pool, session.credential) is None:
        await web_console.end(session, "access revoked or session ended")
        return web.Response(status=401, text="Your sign-in no longer works; sign in again.")
    if web_console.running >= web_console.cfg.web.max_consoles:
        return web.Response(status=503, text="Too many consoles open on this server; try later.")
    refusal = web_console.too_many_for(session.operator)
    if refusal is not None:
        log.warning("%s refused a browser console: %s", session.operator.name, refusal)
        return web.Response(status=429, text=refusal)
    # Counted before the first await: two tabs opening at once cannot both take the last place.
    web_console.running += 1
    web_console.running_for[session.operator.id] += 1
    ws = web.WebSocketResponse(heartbeat=15)
    try:
        await ws.prepare(request)
        service = OperatorConsole(
            web_console.command,
            session.credential,
            write_bytes=ws.send_bytes,
            write_str=ws.send_str,
            close=ws.close,
            download_manager=web_console.downloads,
        )
        session.consoles.add(ws)
        try:
            await service.start(_size(request, "width", 80, 500), _size(request, "height", 24, 200))
            await _relay(ws, service)
        finally:
            session.consoles.discard(ws)
            with contextlib.suppress(Exception):
                await service.stop()
    finally:
        web_console.running -= 1
        web_console.running_for[session.operator.id] -= 1
        await ws.close()
    return ws


async def _relay(ws: web.WebSocketResponse, service: AppService) -> None:
    """The browser's keys and resizes to the console (textual-serve's Server._process_messages,
    minus its assert on bad input)."""
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            kind, data = message.json()
        except (ValueError, TypeError):
            continue
        if kind == "stdin" and isinstance(data, str):
            await service.send_bytes(data.encode("utf-8"))
        elif kind == "resize" and isinstance(data, dict):
            try:
                width, height = int(data["width"]), int(data["height"])
            except (KeyError, TypeError, ValueError):
                continue
            await service.set_terminal_size(max(1, min(500, width)), max(1, min(200, height)))
        elif kind == "ping":
            await ws.send_json(["pong", data])
        elif kind == "blur":
            await service.blur()
        elif kind == "focus":
            await service.focus()


def init_web_app(cfg: Config, db_url: str, command: list[str] | None = None) -> web.Application:
    """The browser console's aiohttp application."""
    app = web.Application(middlewares=[sign_in_required], client_max_size=MAX_FORM_BYTES)
    backend_url = cfg.web.backend_url or cfg.tui.backend_url

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(db_url, 1, 4)
        web_console = WebConsole(cfg, pool, command or console_command(backend_url))
        app[CONSOLE] = web_console
        watcher = asyncio.create_task(web_console.watch())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            # This server's credentials die with it (nobody else holds them).
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await operators.end_sessions(
                    pool, list(web_console.signed_in), operators.SERVER_STOPPED
                )
            for session in list(web_console.signed_in.values()):
                await web_console.end(session, "the web console server stopped")
            await pool.close()

    app.cleanup_ctx.append(lifetime)
    r = app.router
    r.add_get("/sign-in", sign_in_form)
    r.add_post("/sign-in", sign_in)
    r.add_get("/link/{secret}", link_page)
    r.add_post("/link", use_link)
    r.add_post("/sign-out", sign_out)
    r.add_get("/", console_page)
    r.add_get("/ws", console_socket)
    r.add_static("/static", STATIC)
    return app


async def listen(runner: web.AppRunner, host: str, port: int) -> int:
    """Serve `runner`'s app (set up) on host:port; the port it listens on. Once listening, the
    sessions a killed earlier run on this port left open are signed out."""
    site = web.TCPSite(runner, host, port)
    await site.start()  # OSError if the port is taken
    bound = int(runner.addresses[-1][1])
    await runner.app[CONSOLE].serving((host, bound))
    return bound
