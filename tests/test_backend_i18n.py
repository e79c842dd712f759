"""The backend speaks the operator's language: errors carry a stable id and its parameters beside
the text rendered for the request (profile language, else Accept-Language, else English); the
handover report comes in German with German numbers and dates; the CLI keeps a profile language."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backend import operators
from backend.handover.report import render_markdown, summarise
from backend.i18n import accepted_languages, negotiate, say
from tests.processes import run_cli
from tests.test_handover import BERLIN, shift
from tests.test_workflow import mention

ROOT = Path(__file__).resolve().parent.parent


async def call(
    url: str,
    method: str,
    path: str,
    token: str | None = None,
    language: str | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if language:
        headers["Accept-Language"] = language
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.request(method, url + path, json=body) as r:
            return r.status, await r.json(content_type=None)


def test_accept_language_is_read_best_first():
    assert accepted_languages("fr-CH, fr;q=0.9, de;q=0.8, *;q=0.5") == ["fr-CH", "fr", "de"]
    assert accepted_languages("en;q=0, de") == ["de"]
    assert accepted_languages("de;q=oops, en") == ["en"]
    assert accepted_languages(None) == []


def test_negotiation_profile_then_header_then_english():
    assert negotiate(None, "de-DE,de;q=0.9,en;q=0.8") == "de"
    assert negotiate(None, "DE") == "de"
    assert negotiate(None, "fr, de;q=0.5") == "de"  # no French catalog: the next choice
    assert negotiate(None, "fr, xx") == "en"
    assert negotiate(None, "") == "en"
    assert negotiate("de", "en") == "de"  # the profile wins over the header
    assert negotiate("en", "de") == "en"
    assert negotiate("xx", "de") == "de"  # a profile language we lost the catalog of: the header


def test_a_text_renders_in_each_language_with_nested_texts():
    doing = say("doing.resolve", "resolve it")
    state = say("state.resolved", "resolved")
    text = say(
        "state.forbids", "Cannot {doing}: the conversation is {state}.", doing=doing, state=state
    )
    assert text.render("en") == "Cannot resolve it: the conversation is resolved."
    assert (
        text.render("de")
        == "Die Unterhaltung ist abgeschlossen; es ist nicht möglich, sie abzuschließen."
    )
    assert text.render("xx") == text.render("en")
    assert text.to_json("de")["params"] == {"doing": "doing.resolve", "state": "state.resolved"}


async def test_an_api_error_in_german_keeps_its_id_and_params(backend):
    _, token = await backend.add_operator("anna")
    english = await call(backend.url, "GET", "/api/conversations/999", token)
    german = await call(backend.url, "GET", "/api/conversations/999", token, "de-DE,de;q=0.9")
    assert english == (
        404,
        {
            "error": "There is no conversation 999.",
            "error_id": "conversation.none",
            "params": {"id": 999},
        },
    )
    assert german[0] == 404
    assert german[1]["error"] == "Es gibt keine Unterhaltung 999."
    assert (german[1]["error_id"], german[1]["params"]) == ("conversation.none", {"id": 999})
    # An unknown language falls back to English; so does a signed-out request's header choice.
    assert (await call(backend.url, "GET", "/api/conversations/999", token, "xx, tlh"))[
        1
    ] == english[1]
    status, refused = await call(backend.url, "GET", "/api/me", "sd_wrong", "de")
    assert status == 401 and refused["error_id"] == "auth.bad_token"
    assert refused["error"] == "Dieses Token ist nicht gültig (unbekannt oder widerrufen)."


async def test_a_german_profile_wins_over_the_header_also_for_refusals(backend):
    op, anna = await backend.add_operator("anna")
    _, ben = await backend.add_operator("ben")
    await operators.set_language(backend.pool, "ben", "de")
    cid = await mention(backend, "@acme my order never came")
    assert (await call(backend.url, "POST", f"/api/conversations/{cid}/claim", anna))[0] == 200
    status, refused = await call(
        backend.url, "POST", f"/api/conversations/{cid}/reply", ben, "en", {"text": "Hi Jo!"}
    )
    assert status == 403
    assert refused["error_id"] == "claim.held_by_other"
    assert refused["params"] == {"holder": "Anna", "doing": "doing.reply"}
    assert refused["error"] == (
        "Anna betreut diese Unterhaltung; nur diese Person ist berechtigt, zu antworten."
    )
    assert refused["state"] == "claimed"  # the extras of a refusal stay as they were
    # Anna has no profile language: the same refusal in English for her, German on request.
    status, mine = await call(
        backend.url, "POST", f"/api/conversations/{cid}/dismiss", anna, None, {"reason": "nope"}
    )
    assert status == 422 and mine["error"].startswith("Dismiss needs a reason: one of ")
    status, mine = await call(
        backend.url, "POST", f"/api/conversations/{cid}/dismiss", anna, "de", {"reason": "nope"}
    )
    assert mine["error"].startswith("Zum Verwerfen braucht es einen Grund: einen von ")
    assert op.language is None


async def test_the_operator_sets_their_own_language(backend):
    _, token = await backend.add_operator("anna")
    status, me = await call(backend.url, "GET", "/api/me", token)
    assert status == 200 and me["language"] is None and {"de", "en"} <= set(me["languages"])
    status, me = await call(backend.url, "PATCH", "/api/me", token, None, {"language": "de"})
    assert status == 200 and me["language"] == "de"
    assert (await call(backend.url, "GET", "/api/me", token))[1]["language"] == "de"
    # The new language holds from this answer on, whatever the header says.
    status, refused = await call(backend.url, "PATCH", "/api/me", token, "en", {"language": "xx"})
    assert status == 422 and refused["error_id"] == "profile.bad_language"
    assert refused["params"]["language"] == "xx" and "de, en" in refused["error"]
    assert refused["error"].startswith("Das Feld 'language' muss")
    status, refused = await call(backend.url, "PATCH", "/api/me", token, None, {"language": 5})
    assert status == 422 and refused["params"]["language"] == "5"
    status, refused = await call(backend.url, "PATCH", "/api/me", token, None, {"role": "lead"})
    assert status == 400 and refused["error_id"] == "profile.unknown_fields"
    assert (await call(backend.url, "PATCH", "/api/me", token, None, {}))[0] == 400
    status, me = await call(backend.url, "PATCH", "/api/me", token, None, {"language": None})
    assert status == 200 and me["language"] is None
    assert (
        await backend.pool.fetchval("SELECT language FROM operators WHERE name = 'anna'")
    ) is None


async def test_operators_add_refuses_a_language_without_a_catalog(pool):
    with pytest.raises(operators.OperatorError, match="language 'xx': no such catalog"):
        await operators.add(pool, "kim", language="xx")
    op, _ = await operators.add(pool, "kim", language="de")
    assert op.language == "de"
    with pytest.raises(operators.OperatorError, match="no active operator named 'nobody'"):
        await operators.set_language(pool, "nobody", "de")


def numbers(text: str) -> list[str]:
    """Every number in the report, grouping separators dropped (1,234 and 1.234 are one number)."""
    return [re.sub(r"[.,]", "", n) for n in re.findall(r"\d[\d.,]*\d|\d", text)]


def test_the_german_handover_has_german_words_numbers_and_dates_and_the_same_figures():
    data = dataclasses.replace(shift(), replies_out=1234)
    english = render_markdown(summarise(data), zone=BERLIN)
    german = render_markdown(summarise(data), zone=BERLIN, language="de")
    assert german.splitlines()[0] == (
        "# Übergabe Mi., 25. Nov. 06:00 – Mi., 25. Nov. 14:00 (Europe/Berlin)"
    )
    assert "## Gesendete Antworten: 1.234 öffentlich, 4 per DM" in german
    assert "## Replies out: 1,234 public, 4 DM" in english
    assert (
        "## Erstantwort: Median 11 Min. 00 Sek., p90 22 Min. 12 Sek. (10 Unterhaltungen)" in german
    )
    assert "| Plattform | negativ | neutral | positiv | gesamt |" in german
    for heading in (
        "SLA-Verstöße: 3",
        "Noch offen: 3",
        "Angeheftete Notizen: 2",
        "Krisenphasen: 2",
    ):
        assert f"## {heading}" in german
    assert "(1 Std. 30 Min.), Spitze 32 negative/Min." in german
    # Same figures, in the same order: only the words and the formats changed.
    assert numbers(german) == numbers(english)
    assert len(german.splitlines()) == len(english.splitlines())


async def test_the_handover_markdown_over_http_follows_the_request(backend):
    _, token = await backend.add_operator("lea", role="lead")
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "de"}
    async with aiohttp.ClientSession(headers=headers) as s:
        params = {"since": "2020-01-01T00:00:00Z", "format": "md"}
        async with s.get(f"{backend.url}/api/handover", params=params) as r:
            md = await r.text()
            assert r.status == 200 and r.headers["Content-Language"] == "de"
    assert md.startswith("# Übergabe ") and "## Eingegangene Erwähnungen: 0" in md
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.get(f"{backend.url}/api/handover", params={"since": "noon"}) as r:
            refused = await r.json()
    assert r.status == 400 and refused["error_id"] == "since.not_iso"
    assert refused["error"].startswith("'since' muss eine Zeit nach ISO 8601 sein")


def cli(db_url: str, *args: str, lang: str = "C.UTF-8") -> subprocess.CompletedProcess[str]:
    return run_cli(
        *args,
        env={"SHIFTDESK_DATABASE_URL": db_url, "LANG": lang},
        unset=("LC_ALL", "LC_MESSAGES", "LANGUAGE"),
    )


def test_handover_cli_in_german_by_flag_or_by_locale(db_url):
    since = ("--since", "2020-01-01T00:00:00Z")
    german = cli(db_url, "handover", *since, "--lang", "de")
    assert german.returncode == 0, german.stderr
    assert german.stdout.startswith("# Übergabe ") and "## SLA-Verstöße: 0" in german.stdout
    by_locale = cli(db_url, "handover", *since, lang="de_DE.UTF-8")
    assert by_locale.stdout.startswith("# Übergabe ")
    assert cli(db_url, "handover", *since, "--lang", "en", lang="de_DE.UTF-8").stdout.startswith(
        "# Handover "
    )
    bad = cli(db_url, "handover", *since, "--lang", "xx")
    assert bad.returncode == 2 and "--lang xx: no such catalog; available: de, en" in bad.stderr


async def test_operators_cli_keeps_a_profile_language(db_url, pool):
    added = await asyncio.to_thread(cli, db_url, "operators", "add", "anna", "--language", "de")
    assert added.returncode == 0, added.stderr
    assert await pool.fetchval("SELECT language FROM operators WHERE name = 'anna'") == "de"
    changed = await asyncio.to_thread(cli, db_url, "operators", "set-language", "anna", "en")
    assert changed.returncode == 0 and "anna now reads shiftdesk in en" in changed.stdout
    assert await pool.fetchval("SELECT language FROM operators WHERE name = 'anna'") == "en"
    cleared = await asyncio.to_thread(cli, db_url, "operators", "set-language", "anna", "none")
    assert cleared.returncode == 0, cleared.stderr
    assert await pool.fetchval("SELECT language FROM operators WHERE name = 'anna'") is None
    bad = await asyncio.to_thread(cli, db_url, "operators", "set-language", "anna", "xx")
    assert bad.returncode == 2 and "language 'xx': no such catalog" in bad.stderr


def test_decimals_in_a_text_are_written_the_readers_way():
    # "why P1: sehr negativ (-0,72)": the pattern's own format, then the locale's marks;
    # whole numbers (often ids: "conversation 1234") are left alone.
    from backend.i18n import say

    reason = say(
        "test.sentiment", "{label} ({score:+.2f}) in {id}", label="x", score=-0.7213, id=1234
    )
    assert reason.render("en") == "x (-0.72) in 1234"
    assert reason.render("de") == "x (-0,72) in 1234"
    assert reason.ref()["params"]["score"] == -0.7213  # the API's params stay numbers


async def test_a_console_started_with_lang_wins_over_the_profile(backend):
    # `shiftdesk tui --lang en` by an operator whose profile says German: the console's own
    # words and the backend's are both English (the console sends X-Shiftdesk-Language).
    _, ben = await backend.add_operator("ben")
    await operators.set_language(backend.pool, "ben", "de")
    path = "/api/conversations/999999"
    headers = {"Authorization": f"Bearer {ben}", "Accept-Language": "en"}
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.get(backend.url + path) as r:
            profile = await r.json()
        async with s.get(backend.url + path, headers={"X-Shiftdesk-Language": "en"}) as r:
            chosen = await r.json()
        async with s.get(backend.url + path, headers={"X-Shiftdesk-Language": "xx"}) as r:
            unknown = await r.json()
    assert profile["error_id"] == chosen["error_id"] == unknown["error_id"]
    assert profile["error"] != chosen["error"]  # German by the profile, English by --lang
    assert unknown["error"] == profile["error"]  # a language we have no catalog for: the profile


def test_the_console_asks_for_its_language_only_when_the_operator_chose_it():
    from tui.i18n import language_headers, use_language

    try:
        use_language("de")
        assert language_headers() == {"Accept-Language": "de"}
        use_language("de", chosen_by_operator=True)
        assert language_headers() == {"Accept-Language": "de", "X-Shiftdesk-Language": "de"}
    finally:
        use_language("en")
