"""The few HTML pages of the browser console: sign-in, a link's confirmation, the console.

Self-contained (no fonts or scripts from elsewhere: an operator's browser
talks to this server only) and sent with a Content-Security-Policy that
allows nothing else. Every value put in a page is HTML-escaped.
"""

from __future__ import annotations

import html
import secrets
from string import Template

from aiohttp import web

_STYLE = """
body { background: #0c181f; color: #e8eef2; font: 16px/1.5 "Roboto Mono", menlo, monospace;
       display: flex; align-items: center; justify-content: center; min-height: 100vh; margin: 0; }
main { background: #12232d; padding: 32px 40px; max-width: 480px; }
h1 { font-size: 20px; margin-top: 0; }
input { font: inherit; width: 100%; padding: 8px; box-sizing: border-box; margin: 8px 0 16px; }
button { font: inherit; padding: 10px 24px; background: #5e0ba7; color: #fff; border: 0; cursor: pointer; }
.problem { color: #ffb4a8; }
"""

_SIGN_IN = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shiftdesk · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="$nonce">$style</style></head>
<body><main>
<h1>shiftdesk · sign in</h1>
$problem
<form method="post" action="/sign-in">
<label for="token">Your operator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Open the console</button>
</form>
<p>No token at hand? Ask a lead for a one-time link: <code>shiftdesk operators link NAME</code>.</p>
</main></body></html>
""")

_LINK = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shiftdesk · sign in with a link</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="$nonce">$style</style></head>
<body><main>
<h1>shiftdesk · sign-in link</h1>
<p>This link signs you in once. Open the console now?</p>
<form method="post" action="/link">
<input type="hidden" name="link" value="$link">
<button type="submit" id="use-link">Open the console</button>
</form>
</main></body></html>
""")

_REFUSED = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shiftdesk · no console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="$nonce">$style</style></head>
<body><main>
<h1>shiftdesk · no console opened</h1>
<p class="problem" role="alert">$problem</p>
<form method="get" action="/"><button type="submit">Try again</button></form>
</main></body></html>
""")

# textual-serve's page, less its web font and its start/ping dialog: the terminal, the
# "session ended" dialog, and the WebSocket address taken from where the page was loaded
# (wss:// behind a TLS proxy, with no setting to forget).
_CONSOLE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shiftdesk</title>
<link rel="stylesheet" href="/static/css/xterm.css">
<script src="/static/js/textual.js"></script>
<style nonce="$nonce">
body { background: #0c181f; margin: 0; }
.textual-terminal { width: 100vw; height: 100vh; opacity: 0; transition: opacity 0.3s ease-out; }
body.-first-byte .textual-terminal { opacity: 1; }
.closed-dialog { display: none; position: absolute; inset: 0; z-index: 10; align-items: center;
  justify-content: center; background: #0c181f; color: #e8eef2; font: 16px "Roboto Mono", monospace; }
body.-closed .closed-dialog { display: flex; }
.closed-dialog main { background: #12232d; padding: 32px 40px; text-align: center; }
button { font: inherit; padding: 10px 24px; margin: 8px; background: #5e0ba7; color: #fff; border: 0; cursor: pointer; }
</style></head>
<body>
<div class="closed-dialog"><main>
<p>The console has ended.</p>
<form method="get" action="/"><button type="submit">Open it again</button></form>
<form method="post" action="/sign-out"><button type="submit">Sign out</button></form>
</main></div>
<div id="terminal" class="textual-terminal" data-font-size="$font_size"></div>
<script nonce="$nonce">
document.getElementById("terminal").dataset.sessionWebsocketUrl =
  (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
</script>
</body></html>
""")


def _page(body: str, nonce: str, status: int = 200) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html")
    headers = response.headers
    headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        # xterm.js sets styles on its own elements; a sign-in form posts only here.
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    headers["Cache-Control"] = "no-store"
    # A link's secret never leaves in a Referer to another site ("no-referrer" would also
    # blank the Origin of our own form posts, which the server checks).
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Content-Type-Options"] = "nosniff"
    return response


def sign_in(problem: str = "", status: int = 200) -> web.Response:
    """The sign-in form, with what went wrong last time if anything did."""
    nonce = secrets.token_urlsafe(16)
    shown = f'<p class="problem" role="alert">{html.escape(problem)}</p>' if problem else ""
    return _page(_SIGN_IN.substitute(nonce=nonce, style=_STYLE, problem=shown), nonce, status)


def link(secret: str) -> web.Response:
    """A link's page: the secret is used only when the person presses the button (a chat's
    link preview fetching the page does not spend it)."""
    nonce = secrets.token_urlsafe(16)
    return _page(_LINK.substitute(nonce=nonce, style=_STYLE, link=html.escape(secret)), nonce)


def refused(problem: str, status: int) -> web.Response:
    """Why no console was opened, with a way to try again."""
    nonce = secrets.token_urlsafe(16)
    return _page(
        _REFUSED.substitute(nonce=nonce, style=_STYLE, problem=html.escape(problem)),
        nonce,
        status,
    )


def console(font_size: int) -> web.Response:
    """The page that runs the console in xterm.js."""
    nonce = secrets.token_urlsafe(16)
    return _page(_CONSOLE.substitute(nonce=nonce, font_size=font_size), nonce)
