"""Advisories, refusals and "why P1" in the operator's language, over real HTTP.

The same finding or reason keeps its id and params whatever the language; only the words change.
English stays as it was. Texts kept in the database (flags on posts, advisories sent despite,
priority reasons) are shown in the reader's language, and older rows that kept only English
still show it.
"""

from __future__ import annotations

from backend import operators
from backend.checks.finding import render_stored
from backend.i18n import decode, encode, say
from tests.test_backend_i18n import call
from tests.test_workflow import mention

IBAN = "DE89 3704 0044 0532 0130 00"


def by_id(findings: list[dict]) -> dict[str, dict]:
    return {f["message_id"]: f for f in findings}


async def test_a_composer_check_in_german_keeps_each_advisory_id(backend):
    _, token = await backend.add_operator("anna")
    cid = await mention(backend, "@acme this is unacceptable, my order never came!")
    draft = {"text": "As I said, THIS IS NOT OUR FAULT!!!", "conversation_id": cid}
    status, english = await call(backend.url, "POST", "/api/advise", token, None, draft)
    assert status == 200
    status, german = await call(backend.url, "POST", "/api/advise", token, "de-DE,de", draft)
    assert status == 200
    en, de = by_id(english["findings"]), by_id(german["findings"])
    assert list(en) == list(de)
    assert {"tone.defensive.message", "tone.shouting.message", "tone.name.message"} <= set(en)
    # English as before; German as the care team writes it; ids, params and spans the same.
    assert en["tone.defensive.message"]["message"] == (
        'Sounds defensive — the customer may read it as "we told you so".'
    )
    assert de["tone.defensive.message"]["message"] == (
        "Klingt nach Rechtfertigung — das kann wie „haben wir doch gesagt“ ankommen."
    )
    assert de["tone.shouting.message"]["message"] == "Wirkt wie Schreien."
    assert (
        de["tone.name.message"]["suggestion"]
        == 'Sprich sie mit Namen an — „Hallo Jo, …“ / "Hi Jo, …".'
    )
    assert de["tone.name.message"]["suggestion_id"] == "tone.name.suggestion"
    for key in ("check", "kind", "start", "end", "params", "suggestion_id"):
        assert [f[key] for f in english["findings"]] == [f[key] for f in german["findings"]]
    # Why shouting fired is said in each language too; the other details are the same.
    assert de["tone.shouting.message"]["detail"] == {"reason": "überwiegend Großbuchstaben"}
    assert en["tone.shouting.message"]["detail"] == {"reason": "mostly capitals"}
    assert en["tone.name.message"]["params"] == {"name": "Jo"}


async def test_a_refusal_embeds_its_findings_in_the_profile_language(backend):
    _, token = await backend.add_operator("ben")
    await operators.set_language(backend.pool, "ben", "de")
    cid = await mention(backend, "@acme where is my refund?")
    assert (await call(backend.url, "POST", f"/api/conversations/{cid}/claim", token))[0] == 200
    reply = {"text": f"Hi Jo, sorry! Please send the refund to {IBAN}."}
    # The profile (German) wins over the header (English).
    status, refused = await call(
        backend.url, "POST", f"/api/conversations/{cid}/reply", token, "en", reply
    )
    assert status == 422
    [finding] = refused["findings"]
    assert finding["message_id"] == "finding.personal_data"
    assert finding["params"]["message"] == "privacy.messages.refusal"
    assert finding["params"]["what"] == "privacy.type.iban"
    where = f"(IBAN, Zeichen {finding['start'] + 1}–{finding['end']})"
    assert finding["message"] == (
        f"Persönliche Daten in einer öffentlichen Antwort — verschieb das in eine DM. {where}"
    )
    assert finding["suggestion"] == "Nimm sie hier heraus und schick sie stattdessen per DM."
    assert refused["error_id"] == "send.refused"
    assert refused["error"] == f"Das darf nicht öffentlich gepostet werden: {finding['message']}"


async def test_advisories_sent_despite_read_in_each_readers_language(backend):
    _, anna = await backend.add_operator("anna")
    _, ben = await backend.add_operator("ben")
    await operators.set_language(backend.pool, "ben", "de")
    cid = await mention(backend, "@acme still nothing")
    assert (await call(backend.url, "POST", f"/api/conversations/{cid}/claim", anna))[0] == 200
    reply = {"text": "Hi Jo, as I said, it ships today!!!"}
    status, held = await call(
        backend.url, "POST", f"/api/conversations/{cid}/reply", anna, "de", reply
    )
    assert status == 409 and held["needs_confirmation"]
    assert held["error"].startswith("Bitte die Hinweise prüfen")
    assert "Klingt nach Rechtfertigung" in held["error"] and "Wirkt wie Schreien." in held["error"]
    status, _ = await call(
        backend.url,
        "POST",
        f"/api/conversations/{cid}/reply",
        anna,
        None,
        {**reply, "confirm": True},
    )
    assert status == 201
    _, for_anna = await call(backend.url, "GET", f"/api/conversations/{cid}", anna)
    _, for_ben = await call(backend.url, "GET", f"/api/conversations/{cid}", ben)
    [sent_en] = [i for i in for_anna["thread"] if i["kind"] == "outbound"]
    [sent_de] = [i for i in for_ben["thread"] if i["kind"] == "outbound"]
    assert [a["message"] for a in sent_en["advisories"]] == [
        'Sounds defensive — the customer may read it as "we told you so".',
        "Reads as shouting.",
    ]
    assert [a["message"] for a in sent_de["advisories"]] == [
        "Klingt nach Rechtfertigung — das kann wie „haben wir doch gesagt“ ankommen.",
        "Wirkt wie Schreien.",
    ]
    assert [a["message_id"] for a in sent_de["advisories"]] == [
        a["message_id"] for a in sent_en["advisories"]
    ]


async def test_why_p1_and_the_flag_in_the_profile_language(backend):
    _, anna = await backend.add_operator("anna")
    _, ben = await backend.add_operator("ben")
    await operators.set_language(backend.pool, "ben", "de")
    cid = await mention(backend, "@acme I will burn down your shop, I want my money back")
    _, for_anna = await call(backend.url, "GET", "/api/queue?filter=p1", anna)
    _, for_ben = await call(backend.url, "GET", "/api/queue?filter=p1", ben, "en")
    [row_en] = [r for r in for_anna["rows"] if r["id"] == cid]
    [row_de] = [r for r in for_ben["rows"] if r["id"] == cid]
    assert row_en["priority"] == 1
    assert "threat of violence or damage (high)" in row_en["priority_reasons"]
    assert "urgent word: money back" in row_en["priority_reasons"]
    assert "Drohung mit Gewalt oder Sachbeschädigung (hoch)" in row_de["priority_reasons"]
    assert "dringendes Wort: money back" in row_de["priority_reasons"]
    assert "hat uns getaggt" in row_de["priority_reasons"]
    assert row_de["priority_reason_ids"] == row_en["priority_reason_ids"]
    ids = [r["id"] for r in row_de["priority_reason_ids"]]
    assert {"reason.flag_detail", "reason.urgent_word", "reason.tagged"} <= set(ids)
    # The thread: the post's own reasons and its threat flag, in German for Ben.
    _, thread = await call(backend.url, "GET", f"/api/conversations/{cid}", ben)
    [post] = [i for i in thread["thread"] if i["kind"] == "inbound"]
    assert post["priority_reasons"] == row_de["priority_reasons"]
    [threat] = [f for f in post["flags"] if f["check"] == "threat"]
    assert threat["message"] == (
        "Drohung mit Gewalt oder Sachbeschädigung — Priorität P1; ein Lead wird informiert."
    )
    assert threat["message_id"] == "conduct.threats.message"
    assert "texts" not in threat  # what is kept for rendering is not shown


async def test_rows_kept_before_texts_were_kept_whole_still_show(backend):
    _, ben = await backend.add_operator("ben")
    await operators.set_language(backend.pool, "ben", "de")
    cid = await mention(backend, "@acme hello")
    await backend.pool.execute(
        "UPDATE conversations SET priority_reasons = $2, flags = $3 WHERE id = $1",
        cid,
        ["negative (-0.72)"],
        [{"check": "abusive", "kind": "flag", "message": "Abusive.", "suggestion": ""}],
    )
    _, page = await call(backend.url, "GET", "/api/queue?filter=open", ben)
    [row] = [r for r in page["rows"] if r["id"] == cid]
    assert row["priority_reasons"] == ["negative (-0.72)"]
    assert row["priority_reason_ids"] == [
        {"id": "untranslated", "params": {"text": "negative (-0.72)"}}
    ]
    assert row["flags"][0]["message"] == "Abusive."


def test_a_kept_text_comes_back_whole_and_broken_ones_still_show():
    label = say("reason.tagged", "tagged us")
    reason = say("reason.flag_detail", "{label} ({detail})", label=label, detail="high")
    assert decode(encode(reason)) == reason
    assert decode(encode(reason)).render("de") == "hat uns getaggt (high)"
    assert str(decode("{not json")) == "{not json"
    assert str(decode('{"id": 3}')) == '{"id": 3}'
    assert render_stored({"check": "x", "texts": {"message": None}}, "de")["message"] == "null"


async def test_the_german_console_shows_the_advisories_in_german(backend):
    """--lang de and no profile: the composer's advisories come back German by Accept-Language
    and the composer shows them as the backend words them."""
    from textual.widgets import Static

    from tests.test_tui_keys import Console, started
    from tests.test_tui_language import console
    from tui.i18n import use_language

    await mention(backend, "@acme this is the worst service ever, I am furious", "p1")
    _, anna = await backend.add_operator("anna")
    app = console(backend, anna, "de")
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            c: Console = await started(app, pilot)
            await c.open_first()
            await c.claim()
            await pilot.press("r")
            await c.write("As we already said, that's not our fault.")
            await c.until(lambda: c.composer.findings, "the backend's advisories while typing")
            shown = str(c.composer.query_one("#composer-advice", Static).render())
    finally:
        use_language("en")
    assert "⚠ Klingt nach Rechtfertigung — das kann wie „haben wir doch gesagt“ ankommen." in shown
    assert "→ Lass den Verweis weg" in shown
    assert "Sounds defensive" not in shown


def test_every_text_the_shipped_rules_give_an_operator_is_in_every_language():
    """Like the catalogs' test: a rules text added in English only would show English to a
    German operator, so the shipped files give each one in every language we have."""
    import dataclasses
    from pathlib import Path

    from backend.i18n import Wording, available_languages
    from backend.rulebook import load_rulebook

    rulebook = load_rulebook(Path(__file__).resolve().parent.parent / "rules")
    found: dict[str, Wording] = {}

    def walk(value: object) -> None:
        if isinstance(value, Wording):
            found[value.id] = value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name, None))
        elif isinstance(value, (tuple, list)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(rulebook.checks)
    walk(rulebook.listener.rules.triage)
    assert {"tone.defensive.message", "privacy.messages.refusal", "conduct.threats.message"} <= set(
        found
    )
    assert {"triage.flags.threat.label", "triage.sentiment[0].label"} <= set(found)
    missing = {
        key: sorted(set(available_languages()) - set(w.texts))
        for key, w in found.items()
        if set(available_languages()) - set(w.texts)
    }
    assert missing == {}


async def test_the_stream_says_why_it_ends_in_the_operators_language(backend):
    import aiohttp

    from backend.live import sessions
    from tests.test_sessions import _open_stream, _until_closed

    gone, token = await backend.add_operator("gone")
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "de"}
    async with aiohttp.ClientSession(headers=headers) as s:
        ws = await _open_stream(s, backend.url)
        async with backend.pool.acquire() as conn:
            await operators.revoke(conn, "gone")
            await sessions.revoked(conn, gone.id, backend.services.clock.now())
        seen = await _until_closed(ws)
    assert ws.close_code == 4401
    assert seen[-1] == {
        "type": "signed_out",
        "reason": "Dein Zugang wurde entzogen oder dein Token neu ausgestellt; melde dich neu an.",
        "reason_id": "stream.signed_out",
    }


def test_why_a_check_fired_reads_in_the_readers_language(rules):
    # The thread shows why a flag fired ("phrase: “idiot”", the model's score): in German too.
    from backend.checks import check_inbound
    from backend.checks.finding import render_stored

    [flag] = [f for f in check_inbound(rules, "you idiots", channel="public") if f.kind == "flag"]
    kept = flag.stored()
    assert flag.to_dict("en")["detail"]["reason"].startswith("phrase: “")
    assert render_stored(kept, "de")["detail"]["reason"].startswith("Ausdruck: „")
    assert "why" not in render_stored(kept, "de")["detail"]  # the kept text is not sent


async def test_the_composer_reads_upset_from_the_customers_latest_post(backend):
    # An angry customer should hear an apology; one who only reports a fault ("I get an
    # error") is not upset, though "error" scores negative (tone.yaml apology.upset).
    _, token = await backend.add_operator("anna")
    angry = await mention(backend, "@acme worst service ever, I am furious and fed up!")
    fault = await mention(backend, "@acme I get an error when I log in", "p2", "kim_b", "Kim")
    draft = "Hi Jo, please send us your order number."
    checks = {}
    for cid in (angry, fault):
        body = {"text": draft, "conversation_id": cid}
        status, got = await call(backend.url, "POST", "/api/advise", token, None, body)
        assert status == 200
        checks[cid] = {f["check"] for f in got["findings"]}
    assert "no_apology" in checks[angry]
    assert "no_apology" not in checks[fault]
