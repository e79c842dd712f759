"""Local stand-ins for the platforms, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Fault:
    """One misbehaviour, served to the next request whose path starts with `path`."""

    path: str
    kind: str  # "status" | "slow" | "malformed"
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0


class Faults:
    """A queue of faults shared by a fake's handlers."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.pending.append(fault)

    def take(self, path: str) -> Fault | None:
        for i, fault in enumerate(self.pending):
            if path.startswith(fault.path):
                return self.pending.pop(i)
        return None

    async def apply(self, path: str) -> web.StreamResponse | None:
        """The faulty answer for this request, or None to answer normally."""
        fault = self.take(path)
        if fault is None:
            return None
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            return None
        return web.Response(
            status=fault.status if fault.kind == "status" else 200,
            text=fault.body,
            headers=fault.headers,
            content_type="application/json" if fault.body.startswith(("[", "{")) else "text/html",
        )
