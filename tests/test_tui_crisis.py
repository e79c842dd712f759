"""The console's crisis tools against the real backend: the grouped view (x) and a lead's
holding statement (C), previewed, sent and queued per conversation."""

from __future__ import annotations

import pytest

from backend.crisis.surge import CrisisStarted
from tests.test_tui_keys import console, mention, started
from tui.screens.crisis import CrisisGroupsScreen, HoldingStatementScreen
from tui.screens.queue import QueueScreen

pytestmark = pytest.mark.e2e

TEMPLATE = "Hi {name}, we know about the problem with {topic} and are on it. We'll update you within the hour."


async def crisis_with_complaints(backend) -> tuple[int, int, int]:
    """Two near-identical parcel complaints and one unrelated one, in a declared crisis."""
    a = await mention(
        backend, "@acme my order 123 never arrived, where is my parcel", "p1", name="Jo Kamara"
    )
    b = await mention(
        backend,
        "@acme my order never arrived, where is my parcel?",
        "p2",
        handle="mia",
        name="Mia Roth",
    )
    other = await mention(
        backend,
        "@acme the app logs me out every \x1b[31mfive minutes\x1b[0m",
        "p3",
        handle="kim",
        name="Kim Lee",
    )
    svc = backend.services
    await svc.crisis_watch.record(CrisisStarted(svc.clock.now(), 60.0, 5.0, 15.0))
    return a, b, other


def screen_text(widget) -> str:
    return "\n".join(s.text for s in widget.render_lines(widget.region.reset_offset))


async def test_groups_show_size_topic_and_example_and_enter_selects_the_group(backend):
    a, b, other = await crisis_with_complaints(backend)
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 3, "three conversations")
        await pilot.press("x")
        await c.until(
            lambda: isinstance(app.screen, CrisisGroupsScreen) and app.screen.groups is not None,
            "the groups",
        )
        groups = app.screen.groups
        assert sorted(groups[0]["ids"]) == [a, b] and groups[0]["size"] == 2
        shown = screen_text(app.screen.query_one("#groups-list"))
        assert f"   2 × {groups[0]['topic']}" in shown and "never arrived" in shown
        assert "\x1b" not in shown and "^[[31mfive minutes" in shown  # platform text stays literal
        await pilot.press("enter")
        await c.until(lambda: isinstance(app.screen, QueueScreen), "back to the queue")
        assert c.queue.selected == {a, b}
        assert "2 selected" in str(c.screen.query_one("#queue-title").render())


async def test_an_operator_cannot_send_a_holding_statement(backend):
    await crisis_with_complaints(backend)
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        assert c.screen.check_action("holding_statement", ()) is None  # greyed out in the footer
        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        titles = [cmd.title for cmd in app.get_system_commands(c.screen)]
        assert any(t.startswith("Groups (x)") for t in titles)
        assert not any(t.startswith("Holding") for t in titles)


async def test_a_lead_previews_then_sends_a_personalised_statement_per_conversation(backend):
    a, b, other = await crisis_with_complaints(backend)
    svc = backend.services
    anna_op, anna_token = await backend.add_operator("anna")
    async with svc.pool.acquire() as conn:  # Anna holds Mia's complaint: the statement skips it
        await conn.execute(
            "UPDATE conversations SET state = 'claimed', claimed_by = $2, "
            "claim_expires_at = now() + interval '1 hour' WHERE id = $1",
            b,
            anna_op.id,
        )
    _, lea = await backend.add_operator("lea", role="lead")
    app, run = console(backend, lea)
    async with run as pilot:
        c = await started(app, pilot)
        assert c.screen.check_action("holding_statement", ()) is True
        await pilot.press("C")  # nothing selected: choose a group first
        await c.until(
            lambda: isinstance(app.screen, CrisisGroupsScreen) and app.screen.groups, "the groups"
        )
        await pilot.press("enter")
        await c.until(
            lambda: isinstance(app.screen, HoldingStatementScreen), "the holding statement"
        )
        holding = app.screen
        assert sorted(holding.conversation_ids) == [a, b]
        assert holding.check_action("send", ()) is None  # nothing previewed yet
        holding.query_one("#holding-template").value = TEMPLATE
        await pilot.press("enter")
        await c.until(lambda: holding.stage == "previewed", "the preview")
        by_id = {r["id"]: r for r in holding.results}
        assert by_id[a]["ok"] and by_id[a]["text"].startswith(
            "Hi Jo, we know about the problem with "
        )
        assert not by_id[b]["ok"] and "Anna holds it" in by_id[b]["error"]
        widget = holding.query_one("#holding-body")
        await c.until(lambda: "skipped" in screen_text(widget), "the preview laid out")
        body = screen_text(widget)
        assert "Hi Jo, we know about the problem with" in body and "skipped: Anna holds it" in body
        assert (
            await svc.pool.fetchval("SELECT count(*) FROM messages") == 0
        )  # a preview queues nothing

        holding.query_one("#holding-template").value = (
            TEMPLATE + " Sorry!"
        )  # edited: preview again first
        await pilot.pause()
        assert holding.check_action("send", ()) is None
        await pilot.press("ctrl+s")
        assert holding.stage == "write"
        await pilot.press("enter")
        await c.until(
            lambda: holding.stage == "previewed" and holding.previewed[0].endswith("Sorry!"),
            "the preview",
        )
        await pilot.press("ctrl+s")
        # The lead confirms the number of customers who will receive it (one here: Anna holds b).
        from tui.screens.prompts import ChoicePrompt

        await c.until(lambda: isinstance(app.screen, ChoicePrompt), "the confirmation")
        assert "to 1 customer?" in app.screen.title_text
        await pilot.press("enter")
        await c.until(lambda: holding.stage == "sent", "the results")
        assert "Sent 1, skipped 1." in str(holding.query_one("#holding-status").render())
        assert holding.has_class("-sent")
        await pilot.press("escape")
        await c.until(lambda: isinstance(app.screen, QueueScreen), "back to the queue")
    rows = await svc.pool.fetch("SELECT conversation_id, purpose, channel, text FROM messages")
    assert [(r["conversation_id"], r["purpose"], r["channel"]) for r in rows] == [
        (a, "holding", "public")
    ]
    text = rows[0]["text"]
    topic = (
        by_id[a]["text"]
        .removeprefix("Hi Jo, we know about the problem with ")
        .split(" and are on it")[0]
    )
    assert (
        text.startswith("Hi Jo, ")
        and topic
        and topic in text
        and "{" not in text
        and text.endswith("Sorry!")
    )


async def test_a_statement_the_checks_refuse_is_shown_as_skipped_and_nothing_goes_out(backend):
    a, b, _ = await crisis_with_complaints(backend)
    _, lea = await backend.add_operator("lea", role="lead")
    app, run = console(backend, lea)
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 3, "three conversations")
        await pilot.press("space")  # the selection is the target when there is one
        await pilot.press("C")
        await c.until(
            lambda: isinstance(app.screen, HoldingStatementScreen), "the holding statement"
        )
        holding = app.screen
        assert len(holding.conversation_ids) == 1
        holding.query_one("#holding-template").value = "Hi {nmae}"
        await pilot.press("enter")
        await c.until(lambda: holding.has_class("-refused"), "the backend's refusal")
        assert "nmae" in str(holding.query_one("#holding-status").render())
        holding.query_one(
            "#holding-template"
        ).value = "Hi {name}, call me at +49 170 1234567 about {topic}."
        await pilot.press("enter")
        await c.until(lambda: holding.stage == "previewed", "the preview")
        assert holding.results[0]["ok"] is False and holding.results[0]["findings"]
        assert not holding.results[0].get("needs_confirmation")  # refused, not merely advised
        assert holding.check_action("send", ()) is None  # nothing left to send
        assert "skipped:" in screen_text(holding.query_one("#holding-body"))
    assert await backend.pool.fetchval("SELECT count(*) FROM messages") == 0
