"""Which language the console speaks, end to end with a real backend: --lang, else the operator's
profile kept by the backend, else LANG; and the backend's refusals reach the screen in it."""

from __future__ import annotations

import asyncio

import pytest

from backend import operators
from tui.app import ShiftdeskApp
from tui.client import BackendClient
from tui.drafts import DraftStore
from tui.i18n import language, use_language
from tui.screens.queue import QueueScreen

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def english_afterwards(monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    yield
    use_language("en")


async def wait_for(pilot, predicate, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def console(backend, token: str, lang: str | None) -> ShiftdeskApp:
    return ShiftdeskApp(
        BackendClient(backend.url, token), drafts=DraftStore(None), keymap={}, language=lang
    )


async def refusal_on_screen(pilot) -> str:
    """Claim the next conversation of an empty queue: the backend refuses; what the console shows."""
    app = pilot.app
    await pilot.press("n")
    await wait_for(pilot, lambda: bool(app._notifications), "the refusal")
    return " ".join(str(note.message) for note in app._notifications)


@pytest.mark.parametrize(
    "lang,profile,locale,expected,backend_says",
    [
        (None, "de", "en_US.UTF-8", "de", "de"),  # the profile over the terminal's locale
        # --lang over the profile, for the console's own words and the backend's alike
        # (the console sends its choice as X-Shiftdesk-Language, read before the profile).
        ("en", "de", "de_DE.UTF-8", "en", "en"),
        (None, None, "de_DE.UTF-8", "de", "de"),  # no profile: the locale, sent as Accept-Language
        (None, None, "C.UTF-8", "en", "en"),
    ],
)
async def test_lang_then_profile_then_locale(
    backend, monkeypatch, lang, profile, locale, expected, backend_says
):
    monkeypatch.setenv("LANG", locale)
    _, token = await backend.add_operator("anna")
    if profile:
        await operators.set_language(backend.pool, "anna", profile)
    app = console(backend, token, lang)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue screen")
        assert app.me["language"] == profile
        assert language() == expected
        shown = await refusal_on_screen(pilot)
    if backend_says == "de":
        assert "Die Warteschlange ist leer: Es gibt nichts mehr zu übernehmen." in shown
    else:
        assert "The queue is empty: nothing left to claim." in shown


async def test_a_console_without_a_profile_asks_the_backend_in_its_own_language(
    backend, monkeypatch
):
    """--lang de and no profile: the backend's refusal comes back German by Accept-Language."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    _, token = await backend.add_operator("anna")
    app = console(backend, token, "de")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue screen")
        shown = await refusal_on_screen(pilot)
    assert "Die Warteschlange ist leer" in shown and "queue is empty" not in shown
