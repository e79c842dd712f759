"""The console's only way to the backend: its HTTP API and its event stream."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, AsyncIterator

import aiohttp


class BackendError(Exception):
    """The backend said no, or could not be reached; `message` is for the operator."""

    def __init__(self, message: str, status: int | None = None, body: dict[str, Any] | None = None):
        self.message = message
        self.status = status
        self.body = body or {}
        super().__init__(message)


@dataclass
class StreamStatus:
    """Told to the console when the live stream connects or drops."""

    connected: bool
    detail: str = ""
    retry_in: float = 0.0


class BackendClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self._token}"}, timeout=self._timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            async with self.session.request(method, self.base_url + path, **kw) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = {"error": (await resp.text())[:200]}
                if resp.status >= 400:
                    message = body.get("error") if isinstance(body, dict) else None
                    raise BackendError(message or f"HTTP {resp.status}", resp.status,
                                       body if isinstance(body, dict) else None)
                return body
        except aiohttp.ClientError as exc:
            raise BackendError(f"Cannot reach the backend at {self.base_url}: {exc}") from None
        except asyncio.TimeoutError:
            raise BackendError(f"The backend at {self.base_url} did not answer in time.") from None

    async def me(self) -> dict[str, Any]:
        return await self._call("GET", "/api/me")

    async def summary(self) -> dict[str, Any]:
        return await self._call("GET", "/api/summary")

    async def queue(self, filter: str = "needs_us", offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return await self._call("GET", "/api/queue", params={"filter": filter, "offset": offset, "limit": limit})

    async def conversation(self, conversation_id: int) -> dict[str, Any]:
        return await self._call("GET", f"/api/conversations/{conversation_id}")

    async def claim(self, conversation_id: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/conversations/{conversation_id}/claim")

    async def release(self, conversation_id: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/conversations/{conversation_id}/release")

    async def heartbeat(self, conversation_id: int) -> dict[str, Any]:
        return await self._call("POST", f"/api/conversations/{conversation_id}/heartbeat")

    async def claim_next(self) -> dict[str, Any]:
        return await self._call("POST", "/api/claim-next")

    async def reply(self, conversation_id: int, text: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/conversations/{conversation_id}/reply", json={"text": text})

    async def stream(self, after: int) -> AsyncIterator[dict[str, Any] | StreamStatus]:
        """Events after `after`, forever; reconnects with backoff and resumes from the last id seen."""
        last = after
        delay = 0.5
        rng = random.Random()
        while True:
            try:
                async with self.session.ws_connect(
                    f"{self.base_url}/api/stream", params={"after": str(last)}, heartbeat=20,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5),
                ) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        data = msg.json()
                        if data["type"] == "live":
                            delay = 0.5
                            yield StreamStatus(True)
                        elif data["type"] == "event":
                            last = max(last, data["event"]["id"])
                            yield data["event"]
                        elif data["type"] == "resync":
                            break
                detail = "the backend closed the event stream"
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                detail = f"lost the backend ({exc.__class__.__name__})"
            wait = delay * rng.uniform(0.5, 1.0)
            yield StreamStatus(False, detail, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 15)
