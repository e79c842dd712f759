"""Every console key, driven by Pilot against the real backend and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from backend.model import Author, InboundPost
from tests.test_e2e_tui import wait_for
from tui.app import ShiftdeskApp
from tui.client import BackendClient
from tui.drafts import DraftStore
from tui.screens.queue import QueueScreen
from tui.screens.quit import QuitScreen
from tui.widgets.composer import Composer
from tui.widgets.queue_list import QueueList
from tui.widgets.shift_header import ShiftHeader
from tui.widgets.thread_view import ThreadView

pytestmark = pytest.mark.e2e


async def mention(
    backend, text: str, pid: str, handle: str = "jo_k", name: str = "Jo Kamara"
) -> int:
    svc = backend.services
    post = InboundPost(
        "simulator", pid, Author(f"id-{handle}", handle, name, 50), text, svc.clock.now()
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])
        return await conn.fetchval("SELECT conversation_id FROM mentions WHERE post_id = $1", pid)


async def state_of(backend, cid: int) -> str:
    return await backend.pool.fetchval("SELECT state FROM conversations WHERE id = $1", cid)


class Console:
    """A running console under Pilot, with the parts tests look at."""

    def __init__(self, app: ShiftdeskApp, pilot: Any) -> None:
        self.app, self.pilot = app, pilot

    @property
    def screen(self) -> QueueScreen:
        return self.app._queue_screen()  # type: ignore[return-value]

    @property
    def queue(self) -> QueueList:
        return self.screen.query_one(QueueList)

    @property
    def thread(self) -> ThreadView:
        return self.screen.query_one(ThreadView)

    @property
    def composer(self) -> Composer:
        return self.screen.query_one(Composer)

    @property
    def conv(self) -> dict[str, Any]:
        return self.screen.open_conversation or {}

    def thread_text(self) -> str:
        parts = (self.thread.head, self.thread.body)
        return "\n".join(s.text for w in parts for s in w.render_lines(w.region.reset_offset))

    async def until(self, predicate, what: str) -> None:
        await wait_for(self.pilot, predicate, what)

    async def write(self, text: str) -> None:
        # Text goes in at once (Pilot's per-key cost would dominate); the keys around it are pressed.
        self.composer.text_area.insert(text)
        await self.pilot.pause()

    async def open_first(self, rows: int = 1) -> None:
        await self.until(lambda: self.queue.total == rows, f"{rows} conversations")
        await self.pilot.press("enter")
        await self.until(lambda: self.conv.get("id") == self.queue.selected_id, "the thread")

    async def claim(self) -> None:
        await self.pilot.press("c")
        await self.until(
            lambda: (self.conv.get("holder") or {}).get("id") == self.app.me["id"], "the claim"
        )


def console(backend, token: str, size=(100, 30), drafts: DraftStore | None = None, keymap=None):
    """A console on its own drafts (in memory unless given) and the default keys."""
    app = ShiftdeskApp(
        BackendClient(backend.url, token),
        drafts=drafts if drafts is not None else DraftStore(None),
        keymap=keymap or {},
    )
    return app, app.run_test(size=size)


async def started(app, pilot) -> Console:
    c = Console(app, pilot)
    await wait_for(
        pilot, lambda: isinstance(app.screen, QueueScreen) and c.queue.loaded, "the queue"
    )
    return c


async def test_advisories_show_while_typing_and_a_second_ctrl_s_sends_anyway(backend):
    cid = await mention(backend, "@acme this is the worst service ever, I am furious", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        await c.claim()
        await pilot.press("r")
        assert c.composer.text_area.has_focus and c.composer.mode == "reply"
        await c.write("As we already said, that's not our fault.")
        await c.until(lambda: c.composer.findings, "the backend's advisories while typing")
        assert "defensive" in {f["check"] for f in c.composer.findings}
        await pilot.press("ctrl+s")
        await c.until(lambda: c.composer.awaiting_confirmation, "the request to confirm")
        assert await backend.pool.fetchval("SELECT count(*) FROM messages") == 0
        await pilot.press("ctrl+s")
        await c.until(
            lambda: any(t["kind"] == "outbound" for t in c.conv.get("thread", [])), "the sent reply"
        )
    assert await state_of(backend, cid) == "awaiting_customer"
    waived = await backend.pool.fetchval("SELECT advisories FROM messages")
    assert "defensive" in {f["check"] for f in waived}


async def test_move_to_dm_takes_two_texts_then_dm_reply_and_public_resolve(backend):
    cid = await mention(backend, "@acme where is my parcel?", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        await c.claim()
        await pilot.press("d")
        assert c.composer.mode == "move_ack" and c.composer.channel == "public"
        await c.write("Hi Jo, sorry for the wait. We've sent you a DM.")
        await pilot.press("ctrl+s")
        assert c.composer.mode == "move_dm" and c.composer.channel == "dm"
        assert c.composer.has_class("-dm")
        await c.write("Hi Jo, could you send me your order number?")
        await pilot.press("ctrl+s")
        await c.until(lambda: c.conv.get("state") == "in_dm", "the move to DM")
        purposes = [t["purpose"] for t in c.conv["thread"] if t["kind"] == "outbound"]
        assert purposes == ["dm_ack", "dm"]
        assert "[public]" in c.thread_text() and "[DM]" in c.thread_text()

        await pilot.press("d")  # in DM already: d replies in DM
        assert c.composer.mode == "dm"
        await c.write("Thanks Jo, the parcel is on its way.")
        await pilot.press("ctrl+s")
        await c.until(
            lambda: sum(t["kind"] == "outbound" for t in c.conv["thread"]) == 3, "the DM reply"
        )

        await pilot.press("R")
        assert c.composer.mode == "resolve"
        await c.write("Glad we could sort it out, Jo. Enjoy your parcel!")
        await pilot.press("ctrl+s")
        await c.until(lambda: c.conv.get("state") == "resolved", "the public resolve")
    assert await state_of(backend, cid) == "resolved"


async def test_personal_data_is_masked_until_revealed_and_refused_in_public(backend):
    await mention(backend, "@acme refund to my IBAN DE89 3704 0044 0532 0130 00 please", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        assert "3704 0044" not in c.thread_text()
        assert c.screen.check_action("reveal", ()) is True
        await pilot.press("v")
        await c.until(lambda: "3704 0044" in c.thread_text(), "the revealed IBAN")
        await pilot.press("v")
        await c.until(lambda: "3704 0044" not in c.thread_text(), "the IBAN masked again")
        await c.claim()
        await pilot.press("r")
        await c.write("Hi Jo, we refunded it to DE89 3704 0044 0532 0130 00 today.")
        await pilot.press("ctrl+s")
        await c.until(lambda: c.composer.has_class("-refused"), "the refusal")
        assert c.composer.findings[0]["check"] == "personal_data"
    assert await backend.pool.fetchval("SELECT count(*) FROM messages") == 0


async def test_note_tag_escalate_and_release_by_key(backend):
    cid = await mention(backend, "@acme my card was charged twice", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        await c.claim()
        await pilot.press("m")
        await pilot.press(*"bank ref 42")
        await pilot.press("enter")
        await c.until(
            lambda: any(n["text"] == "bank ref 42" for n in c.conv.get("notes", [])), "the note"
        )
        assert "bank ref 42" in c.thread_text()
        await pilot.press("t")
        await pilot.press(*"refund", "enter")
        await c.until(lambda: "refund" in c.conv.get("tags", []), "the tag")
        await pilot.press("e")
        await pilot.press("escape")  # esc backs out of a prompt without acting
        assert not c.conv.get("escalated")
        await pilot.press("e")
        await pilot.press(*"charged twice", "enter")
        await c.until(lambda: c.conv.get("escalated"), "the escalation")
        await pilot.press("u")
        await c.until(lambda: c.conv.get("holder") is None, "the release")
    assert await state_of(backend, cid) == "new"


async def test_bulk_select_tag_assign_and_release(backend):
    for i in range(3):
        await mention(backend, f"@acme problem number {i}", f"p{i}", handle=f"user{i}")
    anna_op, anna = await backend.add_operator("anna", role="lead")
    ben, _ = await backend.add_operator("ben")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 3, "three conversations")
        first, second = c.queue.row_at(0)["id"], c.queue.row_at(1)["id"]
        await pilot.press("space", "j", "space")
        assert c.queue.selected == {first, second}
        await pilot.press("t", *"outage", "enter")
        await c.until(lambda: not c.queue.selected, "the bulk tag to finish")
        await c.until(
            lambda: (
                sorted(i for i, r in c.queue.rows_by_id.items() if "outage" in r.get("tags", []))
                == sorted([first, second])
            ),
            "both tagged, and only them",
        )

        await pilot.press("k", "space", "j", "space")
        await pilot.press("a")
        await c.until(
            lambda: c.app.screen.__class__.__name__ == "ChoicePrompt", "the operator list"
        )
        options = c.app.screen.query_one("#choice-list")
        options.highlighted = [o.id for o in options.options].index(str(ben.id))
        await pilot.press("enter")
        await c.until(
            lambda: all(
                (c.queue.rows_by_id[i].get("holder") or {}).get("name") == "Ben"
                for i in (first, second)
            ),
            "Ben holding both",
        )

        # Anna takes them back (as a lead may), then releases both at once.
        await pilot.press("space", "k", "space", "a")
        await c.until(
            lambda: c.app.screen.__class__.__name__ == "ChoicePrompt", "the operator list"
        )
        options = c.app.screen.query_one("#choice-list")
        options.highlighted = [o.id for o in options.options].index(str(anna_op.id))
        await pilot.press("enter")
        await c.until(
            lambda: all(
                (c.queue.rows_by_id[i].get("holder") or {}).get("name") == "Anna"
                for i in (first, second)
            ),
            "Anna holding both",
        )

        await pilot.press("space", "j", "space", "u")
        await c.until(
            lambda: all(c.queue.rows_by_id[i].get("holder") is None for i in (first, second)),
            "both released",
        )


async def test_filter_search_saved_filters_and_moving_through_a_long_queue(backend):
    svc = backend.services
    posts = [
        InboundPost(
            "simulator",
            f"p{i}",
            Author(f"id-{i}", f"user{i}", f"User {i}", 5),
            f"@acme order {i} is late",
            svc.clock.now(),
        )
        for i in range(230)
    ]
    posts.append(
        InboundPost(
            "simulator",
            "special",
            Author("id-x", "zebra", "Zebra", 5),
            "@acme the blue lamp",
            svc.clock.now(),
        )
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, posts)
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna, size=(80, 24))
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 231, "the whole queue's total")
        assert len(c.queue.rows_by_id) == 100  # one page fetched, not 231 rows
        await pilot.press("G")
        assert c.queue.cursor == 230
        await c.until(lambda: c.queue.selected_id is not None, "the last page, fetched on demand")
        assert 2 in c.queue.pages
        await pilot.press("g", "j", "down", "j", "k", "up")
        assert c.queue.cursor == 1

        await pilot.press("slash")
        await pilot.press(*"blue lamp", "enter")
        await c.until(
            lambda: c.queue.total == 1 and c.queue.selected_id is not None, "the search result"
        )
        assert "@zebra" in c.queue.row_text(0)

        await pilot.press("enter")
        await c.until(lambda: c.conv.get("id") == c.queue.selected_id, "the thread")
        await c.claim()
        await pilot.press("escape")  # close the thread
        assert c.screen.open_conversation is None
        await pilot.press("slash", "tab")
        options = c.app.screen.query_one("#filter-list")
        options.highlighted = [o.id for o in options.options].index("mine")
        await pilot.press("enter")
        await c.until(
            lambda: (
                c.queue.filter == "mine"
                and c.queue.total == 1
                and c.queue.loaded
                and c.queue.selected_id is not None
            ),
            "the 'mine' filter",
        )
        assert "QUEUE · mine" in str(c.screen.query_one("#queue-title").render())


async def test_claim_next_help_handover_palette_and_quit(backend):
    cid = await mention(backend, "@acme hello?", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 1, "the conversation")
        await pilot.press("n")
        await c.until(lambda: (c.conv.get("holder") or {}).get("name") == "Anna", "claim next")
        await pilot.press("question_mark")
        await c.until(lambda: app.screen.__class__.__name__ == "HelpScreen", "the help")
        help_text = "\n".join(
            s.text
            for s in app.screen.query_one("#help-terminal").render_lines(
                app.screen.query_one("#help-terminal").region.reset_offset
            )
        )
        assert "IXON" in help_text
        await pilot.press("escape")
        await pilot.press("H")
        await c.until(lambda: app.screen.__class__.__name__ == "HandoverScreen", "the handover")
        body = app.screen.query_one("#handover-body")
        await c.until(lambda: "loading" not in str(body.render()), "the handover figures")
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await c.until(
            lambda: app.screen.__class__.__name__ == "CommandPalette", "the command palette"
        )
        titles = [cmd.title for cmd in app.get_system_commands(c.screen)]
        assert "Release (u)" in titles and "Filter: breaching" in titles
        await pilot.press("escape")
        # Anna holds the conversation: q asks before leaving a customer waiting on her.
        await pilot.press("q")
        await c.until(lambda: isinstance(app.screen, QuitScreen), "the question before quitting")
        await pilot.press("escape")  # stay
        await c.until(lambda: isinstance(app.screen, QueueScreen), "back at work")
        assert app.is_running
        await pilot.press("q")
        await c.until(lambda: isinstance(app.screen, QuitScreen), "the question again")
        await pilot.press("r")  # release and quit
        await c.until(lambda: not app.is_running, "quit")
    assert await state_of(backend, cid) == "new"  # back in the queue for the next operator


async def test_presence_reconnect_and_live_mentions(backend):
    cid = await mention(backend, "@acme is anyone there?", "p1")
    _, anna = await backend.add_operator("anna")
    _, ben = await backend.add_operator("ben")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        header = c.screen.query_one(ShiftHeader)
        await c.until(
            lambda: "Anna" in header.on_shift or "Anna" in str(header.render()), "who is on shift"
        )
        ben_client = BackendClient(backend.url, ben)
        try:
            await ben_client.presence(cid, True)
            await c.until(lambda: "Ben is typing here" in c.thread_text(), "Ben's presence")
            assert "✎" in c.queue.row_text(0)  # the queue shows where Ben is writing
            await ben_client.presence(cid, False)
            await c.until(lambda: "Ben is typing" not in c.thread_text(), "Ben stopped typing")
            assert "✎" not in c.queue.row_text(0)
        finally:
            await ben_client.close()

        # Drop the connection: a banner shows, nothing is lost, it comes back by itself.
        await app.client.session.close()
        await c.until(lambda: not header.connected, "the offline banner")
        assert "OFFLINE" in str(header.render())
        await mention(backend, "@acme written while you were away", "p2", handle="max")
        await c.until(lambda: header.connected, "the reconnect")
        await c.until(lambda: c.queue.total == 2, "the mention that arrived during the outage")
