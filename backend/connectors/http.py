"""One HTTP call to a platform, with its failures sorted into the three kinds
the runner and publisher act on: RateLimited, TransientError, PermanentError.

Error messages name the method, the URL and what was wrong. URLs never carry
credentials (tokens travel in headers), so they are safe to print.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from backend.clock import Clock
from backend.connectors.base import PermanentError, RateLimited, TransientError

# When a platform says 429 but not until when, wait this long.
DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=60)
# Pacing waits up to this long before a request; a longer wait is the caller's
# (RateLimited: the poller sleeps, the outbox reschedules the message).
MAX_PACING_WAIT = timedelta(seconds=5)
# Below this share of the window's allowance, requests are spread over the time left.
PACE_BELOW = 0.1


@dataclass(slots=True)
class Response:
    """A platform's answer: status, headers and the parsed JSON body (or None)."""

    method: str
    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: Any

    def error_text(self) -> str:
        """The platform's own words for an error, short enough for a log line."""
        body = self.body
        if isinstance(body, dict):
            parts = [str(body[k]) for k in ("error", "message", "error_description") if body.get(k)]
            if parts:
                return ": ".join(parts)[:300]
        if isinstance(body, str) and body.strip():
            return body.strip()[:300]
        return "no details given"

    def where(self) -> str:
        return f"{self.method} {self.url}"


def retry_after(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """The moment a standard Retry-After header (seconds or HTTP date) points at."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo else None


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def next_request_at(
    headers: Mapping[str, str],
    now: datetime,
    rate_limit_reset: Callable[[Mapping[str, str], datetime], datetime | None],
) -> datetime | None:
    """When the next request may go, from an answer's rate-limit headers
    (Retry-After; X-RateLimit-* on Mastodon, RateLimit-* on Bluesky); None: now.

    Nothing left: wait for the reset. Little left: spread what is left evenly
    over the time to the reset, so a poll round does not spend it all in a
    burst and then stand still (or meet a 429) for the rest of the window."""
    after = retry_after(headers, now)
    if after is not None:
        return after
    remaining = _header(headers, "X-RateLimit-Remaining", "RateLimit-Remaining")
    reset = rate_limit_reset(headers, now)
    if remaining is None or not remaining.isdigit() or reset is None or reset <= now:
        return None
    left = int(remaining)
    if left == 0:
        return reset
    limit = _header(headers, "X-RateLimit-Limit", "RateLimit-Limit") or ""
    limit = limit.split(";", 1)[0].strip()  # RateLimit-Limit may carry a policy: "3000;w=300"
    if limit.isdigit() and left > int(limit) * PACE_BELOW:
        return None
    return now + (reset - now) / (left + 1)


class PlatformHttp:
    """An aiohttp session for one platform, opened lazily inside the running loop."""

    def __init__(
        self,
        *,
        timeout_s: float,
        clock: Clock,
        rate_limit_reset: Callable[[Mapping[str, str], datetime], datetime | None],
        user_agent: str = "shiftdesk/0.1",
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._clock = clock
        self._rate_limit_reset = rate_limit_reset
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._sleep = sleep
        self.not_before: datetime | None = None  # no request before this (rate-limit pacing)
        self.requests = 0  # sent so far (a poll round counts its own)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request. Raises RateLimited on 429 and TransientError on 5xx,
        timeouts, connection errors and non-JSON success bodies; returns every
        other answer (the caller decides what a 4xx means, see `raise_for_status`)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": self._user_agent}
            )
        await self._pace(method, url)
        self.requests += 1
        shown = url
        try:
            async with self._session.request(
                method, url, params=params, json=json_body, data=form, headers=dict(headers or {})
            ) as resp:
                shown = str(resp.url)
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise TransientError(
                f"{method} {shown}: no answer within {self._timeout_s:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise TransientError(
                f"{method} {shown}: connection failed ({type(exc).__name__})"
            ) from None

        body = _parse_json(raw)
        response = Response(method, shown, status, resp_headers, body)
        now = self._clock.now()
        self.not_before = next_request_at(resp_headers, now, self._rate_limit_reset)
        if status == 429:
            at = (
                self._rate_limit_reset(resp_headers, now)
                or retry_after(resp_headers, now)
                or now + DEFAULT_RATE_LIMIT_WAIT
            )
            raise RateLimited(at, f"{response.where()}: rate limited until {at.isoformat()}")
        if status >= 500:
            raise TransientError(
                f"{response.where()}: server error {status}: {response.error_text()}"
            )
        if 200 <= status < 300 and body is _NOT_JSON:
            raise TransientError(f"{response.where()}: malformed response: body is not JSON")
        if body is _NOT_JSON:
            response.body = raw.decode("utf-8", "replace")
        return response

    @contextlib.asynccontextmanager
    async def open_stream(
        self,
        url: str,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        idle_s: float,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET a long-lived response (server-sent events) and yield it once its
        headers say 200. No total timeout: the stream lasts as long as the server
        keeps it; silence longer than `idle_s` (no event, no heartbeat) raises
        TransientError, as does a dropped connection. Refusals are sorted as
        `request` sorts them."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": self._user_agent}
            )
        await self._pace("GET", url)
        self.requests += 1
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout_s, sock_read=idle_s)
        try:
            async with self._session.get(
                url,
                params=params,
                headers={"Accept": "text/event-stream", **dict(headers or {})},
                timeout=timeout,
                allow_redirects=False,  # a redirect elsewhere must not carry our token
            ) as resp:
                if resp.status != 200:
                    raw = await resp.read()
                    body = _parse_json(raw)
                    if body is _NOT_JSON:
                        body = raw.decode("utf-8", "replace")
                    response = Response("GET", str(resp.url), resp.status, resp.headers, body)
                    now = self._clock.now()
                    if resp.status == 429:
                        at = (
                            self._rate_limit_reset(resp.headers, now)
                            or retry_after(resp.headers, now)
                            or now + DEFAULT_RATE_LIMIT_WAIT
                        )
                        raise RateLimited(at, f"{response.where()}: rate limited until {at}")
                    if 300 <= resp.status < 400:
                        # Mastodon's web server may send its streaming API elsewhere.
                        raise PermanentError(
                            f"{response.where()}: redirected to "
                            f"{resp.headers.get('Location', '?')} (configure that streaming URL)",
                            status=resp.status,
                        )
                    if resp.status >= 500 or resp.status < 400:
                        raise TransientError(
                            f"{response.where()}: stream not opened ({resp.status}): "
                            f"{response.error_text()}"
                        )
                    raise_for_status(response)
                yield resp
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise TransientError(f"GET {url}: stream silent for {idle_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise TransientError(
                f"GET {url}: stream connection failed ({type(exc).__name__})"
            ) from None

    async def _pace(self, method: str, url: str) -> None:
        """Wait as the last answer's rate-limit headers asked; a long wait is RateLimited."""
        if self.not_before is None:
            return
        wait = self.not_before - self._clock.now()
        if wait <= timedelta(0):
            self.not_before = None
            return
        if wait > MAX_PACING_WAIT:
            raise RateLimited(
                self.not_before,
                f"{method} {url}: holding back until {self.not_before.isoformat()} "
                "(the platform's rate-limit headers)",
            )
        await self._sleep(wait.total_seconds())
        self.not_before = None


def raise_for_status(response: Response) -> Response:
    """Turn any remaining 4xx into a PermanentError naming the call and the platform's reason."""
    if response.status >= 400:
        raise PermanentError(
            f"{response.where()}: refused with {response.status}: {response.error_text()}",
            status=response.status,
        )
    return response


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


_NOT_JSON: Any = _NotJson()


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def malformed(response: Response, what: str) -> TransientError:
    """A success status with a body we cannot use: retry later, and say what was off."""
    return TransientError(f"{response.where()}: malformed page: {what}")
