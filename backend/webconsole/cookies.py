"""The browser's session cookie: which sign-in it is and until when, signed by the server.

The value is `session_id.expires.signature`, an HMAC-SHA256 under a key the
server draws when it starts: nobody can make one up or stretch its time, and a
restarted server (which no longer holds the sessions' console credentials)
asks everyone to sign in again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

COOKIE = "shiftdesk_web"
_VALUE = re.compile(r"^(\d{1,18})\.(\d{1,12})\.([0-9a-f]{64})$")


@dataclass(frozen=True)
class SessionCookie:
    session_id: int
    expires: int  # Unix seconds


def _mac(key: bytes, session_id: int, expires: int) -> str:
    return hmac.new(key, f"{session_id}.{expires}".encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, cookie: SessionCookie) -> str:
    """The cookie's value."""
    return f"{cookie.session_id}.{cookie.expires}.{_mac(key, cookie.session_id, cookie.expires)}"


def read(key: bytes, value: str | None, now: float) -> SessionCookie | None:
    """The session a cookie value names, if it is well-formed, signed by `key` and not expired."""
    m = _VALUE.match(value or "")
    if m is None:
        return None
    session_id, expires = int(m.group(1)), int(m.group(2))
    if not hmac.compare_digest(m.group(3), _mac(key, session_id, expires)):
        return None
    if expires <= now:
        return None
    return SessionCookie(session_id, expires)
