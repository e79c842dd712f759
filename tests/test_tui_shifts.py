"""The console against the real backend: the handover report (H), the last shift's handover on sign-in,
and the crisis banner when the backend declares a crisis."""

from __future__ import annotations

from backend.crisis.surge import CrisisEnded, CrisisStarted
from tests.test_tui_keys import console, mention, started, wait_for
from tui.screens.handover import HandoverScreen, LatestHandoverScreen
from tui.screens.queue import QueueScreen


def plain(renderable) -> str:
    """What a screen shows, as text, whatever fits on the terminal."""
    import io

    from rich.console import Console

    console = Console(record=True, width=160, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def test_handover_screen_shows_the_backends_report_with_platform_text_inert(backend):
    await mention(backend, "@acme my order \x1b[31mvanished\x1b[0m, terrible", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await pilot.press("H")
        await c.until(lambda: isinstance(app.screen, HandoverScreen), "the handover")
        await c.until(lambda: app.screen.shown, "the report")
        text = plain(app.screen.shown)
        # Laid out for reading (not raw Markdown), the numbers as the report counts them.
        assert "Mentions" in text and "1 — negative 1" in text and "Still open: 1" in text
        assert "#" not in text and "\x1b" not in text


async def test_sign_in_starts_the_shift_and_shows_the_last_handover_until_dismissed(backend):
    from backend.handover.shifts import end_shift, start_shift

    ben, _ = await backend.add_operator("ben")
    svc = backend.services
    async with svc.pool.acquire() as conn:
        await start_shift(conn, ben, svc.clock.now())
        await end_shift(
            conn, ben, svc.clock.now(), "Courier outage in Hamburg; [bold]keep[/] an eye on it"
        )
    anna_op, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, LatestHandoverScreen), "the last handover"
        )
        widget = app.screen.query_one("#handover-body")

        def body() -> str:
            return "\n".join(s.text for s in widget.render_lines(widget.region.reset_offset))

        await wait_for(pilot, lambda: "From Ben" in body(), "the handover text on screen")
        assert "[bold]keep[/] an eye on it" in body()  # markup stays literal
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue")
    assert (
        await svc.pool.fetchval(
            "SELECT count(*) FROM shifts WHERE operator_id = $1 AND ended_at IS NULL", anna_op.id
        )
        == 1
    )


async def test_e_ends_the_shift_with_a_note_and_shows_the_handover_written(backend):
    await mention(backend, "@acme where is my parcel", "p1")
    anna_op, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await pilot.press("E")
        await c.until(lambda: app.screen.query("#prompt-input"), "the note prompt")
        await pilot.press(*"Courier outage")
        await pilot.press("enter")
        await c.until(lambda: isinstance(app.screen, LatestHandoverScreen), "the handover written")
        await c.until(lambda: "Still open: 1" in plain(app.screen.shown), "its summary")
        assert "Courier outage" in plain(app.screen.shown)
    svc = backend.services
    row = await svc.pool.fetchrow(
        "SELECT h.note, s.ended_at FROM handovers h JOIN shifts s ON s.operator_id = h.operator_id "
        "WHERE h.operator_id = $1",
        anna_op.id,
    )
    assert row["note"] == "Courier outage" and row["ended_at"] is not None


async def test_crisis_banner_follows_the_backends_declaration(backend):
    _, anna = await backend.add_operator("anna")
    svc = backend.services
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        assert not c.screen.header.crisis
        now = svc.clock.now()
        await svc.crisis_watch.record(CrisisStarted(now, 60.0, 5.0, 15.0))
        await wait_for(pilot, lambda: c.screen.header.crisis, "the crisis banner")
        assert c.screen.header.has_class("-crisis")
        await svc.crisis_watch.record(CrisisEnded(now, now, 1.0, 5.0, 7.5, 60.0))
        await wait_for(pilot, lambda: not c.screen.header.crisis, "the banner to go")
