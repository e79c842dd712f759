"""Issue 14, a console you can trust for an eight-hour shift: no keystroke lost or misread, keys
acting on what is on screen, drafts kept, honest presence, saved replies, the conduct keys,
remappable keys, and the number of keys a whole conversation takes. Against the real backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tui.widgets.composer as composer_module
from backend.cli import load_console_config
from backend.config import DEFAULT_CONFIG
from backend.yamlfile import FileErrors
from tests.processes import run_cli as shiftdesk
from tests.test_tui_keys import Console, console, mention, started, state_of
from tui.app import ShiftdeskApp
from tui.client import BackendClient
from tui.drafts import DraftStore
from tui.screens.handover import HandoverScreen
from tui.screens.help import HelpScreen
from tui.screens.prompts import ChoicePrompt
from tui.screens.queue import QueueScreen
from tui.screens.quit import QuitScreen

pytestmark = pytest.mark.e2e


async def typed(pilot: Any, text: str) -> None:
    """Type text key by key, as an operator does (each character is a key press)."""
    await pilot.press(*[ch if ch != " " else "space" for ch in text])


async def holder_of(backend, cid: int) -> str | None:
    return await backend.services.pool.fetchval(
        "SELECT o.display_name FROM conversations c LEFT JOIN operators o ON o.id = c.claimed_by"
        " WHERE c.id = $1",
        cid,
    )


async def test_r_on_an_unclaimed_conversation_claims_it_and_every_letter_lands_in_the_composer(
    backend,
):
    cid = await mention(backend, "@acme my order vanished", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        # Typed at once, before the claim is answered: q and H must not quit or open the handover.
        await pilot.press("r")
        await typed(pilot, "quick question: Hallo?")
        assert app.is_running and isinstance(app.screen, QueueScreen)
        assert not isinstance(app.screen, HandoverScreen)
        assert c.composer.text_area.text == "quick question: Hallo?"
        await c.until(lambda: (c.conv.get("holder") or {}).get("name") == "Anna", "the claim")
        assert c.composer.notice == ""
    assert await holder_of(backend, cid) == "Anna"


async def test_r_where_someone_else_holds_it_keeps_the_words_and_says_what_to_do(backend):
    cid = await mention(backend, "@acme my order vanished", "p1")
    ben, _ = await backend.add_operator("ben")
    async with backend.services.pool.acquire() as conn:
        await backend.services.actions.claim(conn, ben, cid)
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        await pilot.press("r")
        await typed(pilot, "quick")
        assert app.is_running and c.composer.text_area.text == "quick"
        assert "Ben holds this conversation" in c.composer.notice
        assert "reassign" in c.composer.notice
    assert await holder_of(backend, cid) == "Ben"


async def test_keys_act_on_the_open_conversation_not_the_row_under_the_cursor(backend):
    first = await mention(backend, "@acme first problem", "p1", handle="ann")
    second = await mention(backend, "@acme second problem", "p2", handle="bob")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna, size=(200, 50))  # wide: queue and thread side by side
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 2, "two conversations")
        opened = c.queue.selected_id
        await pilot.press("enter")
        await c.until(lambda: c.conv.get("id") == opened, "the thread")
        await pilot.press("1", "j")  # the cursor moves on in the queue; the thread stays
        assert c.queue.selected_id != opened
        await pilot.press("c")
        await c.until(lambda: (c.conv.get("holder") or {}).get("name") == "Anna", "the claim")
        await pilot.press("t", *"vip", "enter")
        await c.until(lambda: "vip" in c.conv.get("tags", []), "the tag")
    other = second if opened == first else first
    assert await holder_of(backend, opened) == "Anna"
    assert await holder_of(backend, other) is None
    tags = await backend.services.pool.fetchval(
        "SELECT count(*) FROM conversation_tags WHERE conversation_id = $1", other
    )
    assert tags == 0


async def test_drafts_are_kept_per_conversation_across_switching_and_a_restart(backend, tmp_path):
    await mention(backend, "@acme first problem", "p1", handle="ann")
    await mention(backend, "@acme second problem", "p2", handle="bob")
    _, anna = await backend.add_operator("anna")
    path = tmp_path / "drafts.json"

    async def open_row(c: Console, pilot: Any, index: int) -> int:
        await pilot.press("escape", "escape", "g", *(["j"] * index), "enter")
        cid = c.queue.selected_id
        await c.until(lambda: c.conv.get("id") == cid, "the thread")
        return cid

    app, run = console(backend, anna, drafts=DraftStore(path))
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 2, "two conversations")
        a = await open_row(c, pilot, 0)
        await pilot.press("r")
        await typed(pilot, "for ann")
        b = await open_row(c, pilot, 1)
        assert c.composer.text_area.text == ""  # never the other conversation's draft
        await pilot.press("r")
        await typed(pilot, "for bob")
        await open_row(c, pilot, 0)
        assert c.composer.text_area.text == "for ann" and c.composer.conversation_id == a
        await pilot.press("q")
        await c.until(lambda: isinstance(app.screen, QuitScreen), "the question")
        await pilot.press("k")  # keep the claims
        await c.until(lambda: not app.is_running, "quit")
    assert "for ann" in path.read_text() and "for bob" in path.read_text()
    assert path.stat().st_mode & 0o077 == 0  # private to the operator

    # A new console, as after a restart: the drafts are back; sending drops one.
    app, run = console(backend, anna, drafts=DraftStore(path))
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 2, "two conversations")
        await open_row(c, pilot, 1)
        assert c.composer.text_area.text == "for bob" and c.composer.conversation_id == b
        await pilot.press("r")
        await c.write(", Bob: we are on it")
        await pilot.press("ctrl+s")

        def sent() -> bool:
            return any(t["kind"] == "outbound" for t in c.conv.get("thread", []))

        await c.until(lambda: sent() or c.composer.awaiting_confirmation, "the answer")
        if not sent():
            await pilot.press("ctrl+s")  # send despite the advisories on this terse draft
        await c.until(sent, "the reply")
        await c.until(lambda: "for bob" not in path.read_text(), "the sent draft dropped")
    assert "for ann" in path.read_text()


async def test_typing_ends_on_send_on_esc_and_when_idle(backend, monkeypatch):
    monkeypatch.setattr(composer_module, "TYPING_IDLE", 0.3)
    cid = await mention(backend, "@acme anyone?", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    told: list[tuple[int | None, bool]] = []
    async with run as pilot:
        original = app.client.presence

        async def presence(conversation_id: int | None, typing: bool) -> None:
            told.append((conversation_id, typing))
            await original(conversation_id, typing)

        app.client.presence = presence  # type: ignore[method-assign]
        c = await started(app, pilot)
        await c.open_first()
        await pilot.press("r")
        await typed(pilot, "hi")
        await c.until(lambda: told[-1:] == [(cid, True)], "typing")
        await pilot.press("escape")
        await c.until(lambda: told[-1:] == [(cid, False)], "stopped on esc")
        await pilot.press("r")
        await typed(pilot, "Sorry Jo")
        await c.until(lambda: told[-1:] == [(cid, True)], "typing again")
        await c.until(lambda: told[-1:] == [(cid, False)], "stopped when idle")
        await typed(pilot, ", on it")
        await c.until(lambda: told[-1:] == [(cid, True)], "typing once more")
        await pilot.press("ctrl+s")
        await c.until(lambda: told[-1:] == [(cid, False)], "stopped on send")


async def test_a_saved_reply_in_the_customers_language_with_their_name_warns_when_unedited(
    backend,
):
    await mention(
        backend,
        "@acme Hallo, meine Bestellung ist seit zwei Wochen nicht da. Wo ist sie?",
        "p1",
        name="Jonas Weber",
    )
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        assert c.conv.get("language") == "de"
        await pilot.press("r")
        await c.until(lambda: c.composer.notice == "", "the claim")
        await pilot.press("ctrl+t")
        await c.until(lambda: isinstance(app.screen, ChoicePrompt), "the saved replies")
        first = app.screen.choices[0][1]
        assert first.startswith("[de] ")
        await pilot.press("enter")
        await c.until(lambda: c.composer.text_area.text, "the template in the composer")
        assert c.composer.text_area.text.startswith("Hallo Jonas, ")
        assert "{name}" not in c.composer.text_area.text
        await pilot.press("ctrl+s")
        await c.until(lambda: c.composer.awaiting_confirmation, "the request to confirm")
        assert "canned" in {f["check"] for f in c.composer.findings}
    assert await backend.services.pool.fetchval("SELECT count(*) FROM messages") == 0


async def test_a_flagged_abusive_post_is_answered_with_the_house_rules_or_dismissed(backend):
    rude = await mention(backend, "@acme you idiots lost my parcel", "p1", handle="rude1")
    spam = await mention(backend, "@acme idiots idiots buy followers here", "p2", handle="spam1")
    assert await state_of(backend, rude) == "flagged_conduct"
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 2, "two conversations")
        while c.queue.selected_id != rude:
            await pilot.press("j")
        await pilot.press("enter")
        await c.until(lambda: c.conv.get("id") == rude, "the thread")
        assert "house rules" in c.thread_text() and c.screen.check_action("house_rules", ())
        await pilot.press("h", "enter")
        await c.until(lambda: c.conv.get("state") == "awaiting_customer", "the house rules")
        assert [t["purpose"] for t in c.conv["thread"] if t["kind"] == "outbound"] == [
            "house_rules"
        ]
        await pilot.press("escape", "g")
        await c.until(lambda: c.queue.selected_id == spam, "the other one")
        await pilot.press("enter")
        await c.until(lambda: c.conv.get("id") == spam, "the thread")
        await pilot.press("D")
        await c.until(lambda: isinstance(app.screen, ChoicePrompt), "the reasons")
        await pilot.press("enter")  # spam
        await c.until(lambda: c.conv.get("state") == "dismissed", "dismissed")
    assert await state_of(backend, spam) == "dismissed"


async def test_claim_public_acknowledgement_dm_and_public_close_take_at_most_8_keys(backend):
    cid = await mention(backend, "@acme where is my parcel?", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna, size=(80, 24))
    async with run as pilot:
        c = await started(app, pilot)
        await c.until(lambda: c.queue.total == 1, "the conversation")
        keys: list[str] = []

        async def press(*pressed: str) -> None:
            keys.extend(pressed)
            await pilot.press(*pressed)

        await press("d")  # claims, opens, public acknowledgement first
        await c.write("Hi Jo, sorry for the wait: we've sent you a DM.")
        await press("ctrl+s")
        await c.write("Hi Jo, could you send me your order number?")
        await press("ctrl+s")
        await c.until(lambda: c.conv.get("state") == "in_dm", "the move to DM")
        await press("R")
        await c.write("Glad we could sort it out, Jo. Enjoy your parcel!")
        await press("ctrl+s")
        await c.until(lambda: c.conv.get("state") == "resolved", "the public close")
    assert len(keys) <= 8, keys
    assert await state_of(backend, cid) == "resolved"
    purposes = await backend.services.pool.fetch(
        "SELECT purpose FROM messages WHERE conversation_id = $1 ORDER BY id", cid
    )
    assert [p["purpose"] for p in purposes] == ["dm_ack", "dm", "closing"]


@pytest.mark.parametrize(
    ("language", "waits", "yours"), [("en", "waits", "yours"), ("de", "wartet", "deine")]
)
async def test_at_80x24_a_row_waiting_on_the_customer_says_so_and_that_it_is_yours(
    backend, language, waits, yours
):
    await mention(backend, "@acme where is my parcel? ordered last monday", "p1")
    _, anna = await backend.add_operator("anna")
    app = ShiftdeskApp(
        BackendClient(backend.url, anna), drafts=DraftStore(None), keymap={}, language=language
    )
    async with app.run_test(size=(80, 24)) as pilot:
        c = await started(app, pilot)
        await c.open_first()
        await pilot.press("r")  # claims and opens the composer
        await c.write("Hi Jo, sorry! We're checking where your parcel is.")
        await pilot.press("ctrl+s")
        await c.until(lambda: c.conv.get("state") == "awaiting_customer", "the public reply")
        await pilot.press("escape", "escape")  # out of the composer, back to the queue
        c.queue.filter = "mine"
        await c.until(lambda: c.queue.total == 1 and c.queue.row_at(0), "my waiting conversation")
        await c.until(lambda: c.queue.region.width > 70, "the queue across the screen")
        # What the operator sees: the queue's first line as drawn at this size.
        line = c.queue.render_lines(c.queue.region.reset_offset)[0].text
    assert f" {waits} " in line and "◷ @jo_k" in line and f" {yours} " in line, line
    assert "where is my parcel? ordered" in line, line  # the preview still says what it is about


async def test_ctrl_c_with_a_draft_asks_and_ctrl_c_again_leaves_at_once(backend):
    cid = await mention(backend, "@acme hello?", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        await pilot.press("r")
        await typed(pilot, "half a thought")
        await pilot.press("ctrl+c")
        await c.until(lambda: isinstance(app.screen, QuitScreen), "the question")
        assert app.screen.held == 1 and app.screen.drafts == 1
        await pilot.press("ctrl+c")
        await c.until(lambda: not app.is_running, "quit")
    assert await holder_of(backend, cid) == "Anna"  # kept: the lease runs out by itself


def console_config(tmp_path: Path, keymap: str) -> Path:
    """A config file of the operator's own, read after config/shiftdesk.yaml."""
    mine = tmp_path / "console.yaml"
    mine.write_text("tui:\n  backend_url: http://127.0.0.1:8470\n  keymap:\n" + keymap)
    return mine


async def test_keys_remapped_in_the_config_work_the_old_ones_do_not_and_help_shows_them(
    backend, tmp_path
):
    mine = console_config(tmp_path, "    conv.reply: w\n    app.help: [f1, '?']\n")
    cfg = load_console_config([DEFAULT_CONFIG, mine])
    assert cfg.tui.keymap == {"conv.reply": "w", "app.help": "f1,?"}
    await mention(backend, "@acme hello?", "p1")
    _, anna = await backend.add_operator("anna")
    app, run = console(backend, anna, keymap=cfg.tui.keymap)
    async with run as pilot:
        c = await started(app, pilot)
        await c.open_first()
        await c.claim()
        footer = {b.id: key for key, b in c.screen.keys.shown()}
        assert footer["conv.reply"] == "w"  # the footer too shows the key in force
        await pilot.press("f1")
        await c.until(lambda: isinstance(app.screen, HelpScreen), "the help on f1")
        keys = app.screen.query_one("#help-keys")
        shown = "\n".join(s.text for s in keys.render_lines(keys.region.reset_offset))
        assert "w " in shown and "Write a public reply" in shown
        assert "f1, ?" in shown
        await pilot.press("escape")
        await pilot.press("question_mark")
        await c.until(lambda: isinstance(app.screen, HelpScreen), "the help on ?")
        await pilot.press("escape")
        # r no longer replies: had it opened the composer, the w after it would be typed there.
        await pilot.press("r", "w")
        await c.until(lambda: c.composer.text_area.has_focus, "the composer on w")
        assert c.composer.text_area.text == ""


def test_a_broken_keymap_in_the_config_is_named_at_its_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("SHIFTDESK_KEYMAP", raising=False)
    mine = console_config(
        tmp_path, "    conv.replay: w\n    conv.assign: r\n    conv.note: [1, 2]\n"
    )
    with pytest.raises(FileErrors) as caught:
        load_console_config([DEFAULT_CONFIG, mine])
    errors = str(caught.value).splitlines()
    assert f"{mine}:6: tui.keymap.conv.note: expected a key such as 'r' or 'ctrl+o'" in errors[0]
    # The type is checked first; with it right, the ids and the clashes.
    mine = console_config(tmp_path, "    conv.replay: w\n    conv.assign: r\n")
    with pytest.raises(FileErrors) as caught:
        load_console_config([DEFAULT_CONFIG, mine])
    assert str(caught.value).splitlines() == [
        f"{mine}:4: tui.keymap.conv.replay: unknown binding id (did you mean conv.reply?)",
        f"{mine}:5: tui.keymap.conv.assign: 'r' is also the key of conv.reply in the queue",
    ]
    # The command says so and stops before the console starts.
    out = shiftdesk("--config", str(mine), "tui", env={"SHIFTDESK_TUI_TOKEN": "x"})
    assert out.returncode == 2 and "did you mean conv.reply?" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_old_keymap_file_is_refused_with_where_its_keys_go_now(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "shiftdesk").mkdir()
    (tmp_path / "shiftdesk" / "keymap.yaml").write_text("keymap:\n  conv.reply: w\n")
    out = shiftdesk("tui", env={"SHIFTDESK_TUI_TOKEN": "x"})
    assert out.returncode == 2
    assert "keymap.yaml: a keymap file is no longer read" in out.stderr
    assert "tui.keymap" in out.stderr


async def test_an_unknown_binding_id_in_the_keymap_stops_the_console_with_status_1(backend):
    _, anna = await backend.add_operator("anna")
    app = ShiftdeskApp(
        BackendClient(backend.url, anna), drafts=DraftStore(None), keymap={"conv.replay": "w"}
    )
    async with app.run_test() as pilot:
        await pilot.pause()
    assert app.return_code == 1


@pytest.mark.parametrize("where", ["bad token", "no backend"])
async def test_a_bad_token_or_no_backend_exits_1_with_a_one_line_reason(backend, where):
    url, token = (
        (backend.url, "not-a-token") if where == "bad token" else ("http://127.0.0.1:9", "x")
    )
    app = ShiftdeskApp(BackendClient(url, token), drafts=DraftStore(None), keymap={})
    async with app.run_test() as pilot:
        await pilot.pause()
    assert app.return_code == 1
    assert app.exit_reason.startswith("shiftdesk: ") and "\n" not in app.exit_reason
    if where == "no backend":
        assert "Cannot reach the backend" in app.exit_reason


def test_drafts_are_scoped_to_backend_and_operator_and_old_or_damaged_files_do_no_harm(
    tmp_path: Path,
):
    import json

    from tui.drafts import Draft

    path = tmp_path / "state" / "drafts.json"
    store = DraftStore(path)
    store.use("http://one.example", 1)
    store.put(5, Draft("reply", "hi"))
    store.use("http://two.example", 1)
    assert store.get(5) is None  # another backend's conversation 5 is another conversation
    store.use("http://one.example", 2)
    assert store.get(5) is None  # and another operator's draft is theirs
    store.use("http://one.example/", 1)
    assert store.get(5) == Draft("reply", "hi")

    data = json.loads(path.read_text())
    for entry in data.values():
        entry["saved_at"] = 0  # untouched for weeks
    path.write_text(json.dumps(data))
    assert DraftStore(path).conversations() == []

    path.write_text("{not json")
    assert DraftStore(path).conversations() == []
    assert path.with_suffix(".damaged").exists()
