"""Slowing down token guessing: bad operator tokens counted per client address.

After `limit` refused tokens from one address within `window_s`, that address
is answered 429 with Retry-After, without its token being looked up, for a
delay that doubles with each further refusal (capped at `max_delay_s`). The
token itself is never logged, only the address and the count.

The address is the connection's peer: behind a reverse proxy that is the
proxy, so put the limit there too (X-Forwarded-For is not trusted here).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)  # monotonic times within the window
    blocked_until: float = 0.0


@dataclass
class AuthGuard:
    limit: int = 10  # refused tokens per address per window before it is slowed down
    window_s: float = 60.0
    max_delay_s: float = 300.0
    max_addresses: int = 10_000  # the oldest are forgotten first: bounded memory under a flood
    what: str = "bad operator tokens"  # what is counted, as the log says it
    now: Callable[[], float] = time.monotonic
    _seen: OrderedDict[str, _Record] = field(default_factory=OrderedDict)

    def retry_after(self, address: str) -> int | None:
        """Seconds this address must wait before its next token is looked at; None: go ahead."""
        record = self._seen.get(address)
        if record is None:
            return None
        wait = record.blocked_until - self.now()
        return max(1, math.ceil(wait)) if wait > 0 else None

    def refused(self, address: str) -> None:
        """Count one refused token from `address`; block it once past the limit."""
        now = self.now()
        record = self._seen.pop(address, None) or _Record()
        self._seen[address] = record  # most recently seen last
        while len(self._seen) > self.max_addresses:
            self._seen.popitem(last=False)
        record.failures = [t for t in record.failures if now - t < self.window_s] + [now]
        over = len(record.failures) - self.limit
        if over >= 0:
            delay = min(self.max_delay_s, 2.0**over)
            record.blocked_until = now + delay
            log.warning(
                "%d %s from %s in the last %.0f s; slowing it down for %.0f s",
                len(record.failures),
                self.what,
                address,
                self.window_s,
                delay,
            )


AUTH_GUARD = web.AppKey("auth_guard", AuthGuard)
