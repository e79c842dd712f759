"""The console speaks the operator's language: chosen by --lang, else the profile, else the locale,
else English; the footer, help, prompts and the quit question come from the catalog."""

from __future__ import annotations

import pytest

from backend.cli import main
from tests.test_tui_snapshots import make_app, open_and_compose, settle
from tui.formats import age, clock_time, format_count
from tui.i18n import available_languages, choose_language, language_from_environment, use_language
from tui.widgets.key_bar import KeyBar


@pytest.fixture(autouse=True)
def back_to_english():
    yield
    use_language("en")


def test_language_from_the_locale():
    assert language_from_environment({"LANG": "de_DE.UTF-8"}) == "de"
    assert language_from_environment({"LANG": "en_GB.UTF-8", "LC_ALL": "de_AT.UTF-8"}) == "de"
    assert language_from_environment({"LC_MESSAGES": "de_CH", "LANG": "en_US"}) == "de"
    assert language_from_environment({"LANG": "C.UTF-8"}) is None
    assert language_from_environment({}) is None


def test_lang_wins_then_locale_then_english():
    assert "de" in available_languages() and "en" in available_languages()
    assert choose_language("en", {"LANG": "de_DE.UTF-8"}) == "en"
    assert choose_language(None, {"LANG": "de_DE.UTF-8"}) == "de"
    assert choose_language(None, {"LANG": "fr_FR.UTF-8"}) == "en"  # no French catalog
    assert choose_language(None, {}) == "en"
    with pytest.raises(ValueError, match="no such catalog"):
        choose_language("xx", {})


def test_cli_refuses_a_language_without_a_catalog(capsys, monkeypatch):
    monkeypatch.setenv("SHIFTDESK_TUI_TOKEN", "sd_test")
    code = main(["tui", "--lang", "xx", "--url", "http://127.0.0.1:9"])
    assert code != 0
    assert "--lang xx: no such catalog; available: de, en" in capsys.readouterr().err


def test_numbers_times_and_ages_follow_the_language():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 25, 14, 5, tzinfo=UTC)
    use_language("de")
    assert (format_count(1234), clock_time(now), age(now - timedelta(minutes=3), now)) == (
        "1.234",
        "14:05",
        "vor 3 Min.",
    )
    use_language("en")
    assert (format_count(1234), clock_time(now)) == ("1,234", "14:05")
    assert age(now - timedelta(minutes=3), now) == "3 min. ago"


async def test_german_console_footer_header_and_composer():
    app = make_app(language="de")
    async with app.run_test(size=(200, 50)) as pilot:
        await open_and_compose(pilot)
        bar = app.screen.query_one(KeyBar)
        footer = str(bar.render())
        assert "Senden" in footer and "Textbaustein" in footer
        assert "Send" not in footer.replace("Senden", "")
        header = str(app.screen.query_one("#header").render())
        assert "offen 412" in header and "Schicht:" in header
        status = str(app.screen.query_one("#composer-status").render())
        assert "ÖFFENTLICH" in status and "öffentliche Antwort" in status


async def test_german_help_is_built_from_the_bindings():
    app = make_app(language="de")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        from rich.console import Console

        from tui.screens.help import HelpScreen, keys_table

        screen = app.screen
        assert isinstance(screen, HelpScreen)
        keys = keys_table(screen.sections, screen.keymap, app.get_key_display)

        console = Console(width=120, record=True)
        console.print(keys)
        text = console.export_text()
        # A binding's German tooltip, next to its key as the keymap has it.
        assert "Die Unterhaltung übernehmen" in text
        assert "Überall" in text and "Warteschlange" in text


async def test_german_quit_question():
    app = make_app(language="de")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        for _ in range(20):
            await pilot.pause()
            if app.screen.query("#quit"):
                break
        text = " ".join(str(label.render()) for label in app.screen.query("Label"))
        assert "shiftdesk beenden?" in text
        assert "Du hältst 2 Unterhaltungen" in text  # the claimed row and the waiting one
