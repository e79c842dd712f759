"""End to end: backend over real HTTP, real PostgreSQL, the console under Pilot."""

from __future__ import annotations

import asyncio

import pytest

from backend.conversations.actions import ACTIONS
from backend.simulator.scenarios import SIMULATED, Simulator
from backend.web.keys import CLOCK
from tui.app import ShiftdeskApp
from tui.client import BackendClient
from tui.drafts import DraftStore
from tui.screens.queue import QueueScreen
from tui.widgets.queue_list import QueueList

pytestmark = pytest.mark.e2e


async def wait_for(pilot, predicate, what: str, timeout: float = 10.0) -> None:
    """Let the app process events until `predicate` holds; no fixed sleeps."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def ingest(backend, posts) -> None:
    svc = backend.services
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, posts)


async def test_mention_claimed_answered_and_published_from_the_keyboard(backend):
    sim = Simulator("crisis", seed=11, clock=backend.app[CLOCK])
    _, token = await backend.add_operator("anna")
    app = ShiftdeskApp(BackendClient(backend.url, token), drafts=DraftStore(None), keymap={})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue screen")
        queue = app.screen.query_one(QueueList)

        # A mention arrives after the console is open: it appears without a refresh.
        first = next(sim.posts(1))
        await ingest(backend, [first])
        await wait_for(pilot, lambda: queue.row_count == 1, "the new mention in the queue")
        assert "@" + first.author.handle in queue.row_text(0)

        # Open it, claim it by key, write a reply, send it.
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.open_conversation is not None, "the thread")
        await pilot.press("c")
        await wait_for(
            pilot,
            lambda: (app.screen.open_conversation or {}).get("holder") is not None,
            "the claim",
        )
        assert app.screen.open_conversation["holder"]["name"] == "Anna"
        await pilot.press("r")
        await pilot.press(*"Sorry Jo, checking now")
        await pilot.press("ctrl+s")

        conv_id = app.screen.open_conversation["id"]

        def published() -> bool:
            conv = app.screen.open_conversation or {}
            return any(
                t["kind"] == "outbound" and t["status"] == "published"
                for t in conv.get("thread", [])
            )

        await wait_for(pilot, published, "the reply to be published")
        # Replied conversations wait for the customer and leave the working queue.
        await wait_for(pilot, lambda: queue.row_count == 0, "the queue to update")

    async with backend.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, text, platform_post_id FROM messages WHERE conversation_id = $1",
            conv_id,
        )
    assert row["status"] == "published" and row["text"] == "Sorry Jo, checking now"
    assert row["platform_post_id"].startswith("sim-reply-")
    assert [m.text for m, _, _ in backend.app[SIMULATED].published.values()] == [
        "Sorry Jo, checking now"
    ]


async def test_other_operators_claims_appear_live(backend):
    sim = Simulator("calm", seed=2, clock=backend.app[CLOCK])
    await ingest(backend, list(sim.posts(3)))
    _, anna = await backend.add_operator("anna")
    ben, _ = await backend.add_operator("ben")
    app = ShiftdeskApp(BackendClient(backend.url, anna), drafts=DraftStore(None), keymap={})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue screen")
        queue = app.screen.query_one(QueueList)
        await wait_for(pilot, lambda: queue.row_count == 3, "three conversations")
        top = queue.selected_id
        async with backend.pool.acquire() as conn:
            await backend.app[ACTIONS].claim(conn, ben, top)
        await wait_for(
            pilot,
            lambda: (queue.rows_by_id[top].get("holder") or {}).get("name") == "Ben",
            "Ben's claim to show",
        )
        # The cursor stays on the conversation, whatever the re-sort did.
        assert queue.selected_id == top


async def test_countdown_ticks_every_second(backend):
    from datetime import datetime, timedelta

    sim = Simulator("calm", seed=4, clock=backend.app[CLOCK])
    await ingest(backend, list(sim.posts(1)))
    _, anna = await backend.add_operator("anna")
    now = [backend.app[CLOCK].now()]
    app = ShiftdeskApp(
        BackendClient(backend.url, anna), now=lambda: now[0], drafts=DraftStore(None), keymap={}
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue screen")
        queue = app.screen.query_one(QueueList)
        await wait_for(pilot, lambda: queue.row_count == 1, "the conversation")
        due = datetime.fromisoformat(queue.rows_by_id[queue.selected_id]["sla_due_at"])
        now[0] = due - timedelta(minutes=55)
        queue.tick()
        assert " 55:00 " in queue.row_text(0)
        now[0] += timedelta(seconds=61)
        queue.tick()
        assert " 53:59 " in queue.row_text(0)
        now[0] += timedelta(minutes=54)
        queue.tick()
        assert "-00:01 " in queue.row_text(0)  # breached: counts up
