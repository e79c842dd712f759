"""A console whose backend dies under it (kill -9) and comes back on the same
address: the offline banner shows, the console reconnects by itself and
resyncs what happened while it was away. (tests/test_tui_keys.py drops the
console's own connection; here the server goes.)"""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend import operators
from backend.clock import Clock
from backend.db.pool import create_pool
from backend.ingest.store import Ingest, accept_all
from backend.model import Author, InboundPost
from backend.sla.policy import fixed_deadlines
from tests.processes import BackendProcess
from tests.test_tui_keys import console, started
from tui.widgets.shift_header import ShiftHeader

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


async def test_backend_killed_under_the_console_banner_reconnect_and_resync(db_url, tmp_path):
    pool = await create_pool(db_url, 1, 3)
    ingest = Ingest(accept_all, fixed_deadlines(timedelta(hours=1)), Clock())

    async def mention(pid: str, handle: str, text: str) -> None:
        post = InboundPost(
            "simulator", pid, Author(f"id-{handle}", handle, handle.title(), 5), text, Clock().now()
        )
        async with pool.acquire() as conn:
            await ingest.store(conn, [post])

    backend = BackendProcess(db_url, log_path=tmp_path / "serve.log")
    try:
        await mention("p1", "jo_k", "@acme is anyone there?")
        _, token = await operators.add(pool, "anna", "Anna")
        await backend.start()
        app, run = console(backend, token)
        async with run as pilot:
            c = await started(app, pilot)
            await c.until(lambda: c.queue.total == 1, "the first conversation")
            header = c.screen.query_one(ShiftHeader)
            await c.until(lambda: header.connected, "the live stream")

            backend.kill9()
            await c.until(lambda: not header.connected, "the offline banner")
            assert "OFFLINE" in str(header.render())
            # While the backend is down, customers keep writing (another backend stores them).
            await mention("p2", "max", "@acme written while the backend was down")
            await mention("p3", "lena", "@acme me too")
            assert c.queue.total == 1

            await backend.start()
            await c.until(lambda: header.connected, "the reconnect")
            await c.until(lambda: c.queue.total == 3, "the mentions from the outage")
            assert "OFFLINE" not in str(header.render())
            rows = " ".join(c.queue.row_text(i) for i in range(3))
            assert "@max" in rows and "@lena" in rows
    finally:
        backend.stop()
        await pool.close()
