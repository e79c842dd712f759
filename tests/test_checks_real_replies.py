"""Issue 15: what real agent replies need — no false refusals, no false
shouting, apologies counted across the conversation, stock apologies canned,
defensive tone in its four shapes."""

import io
import json

import pytest

from backend.checks import ADVISORY, check_inbound, check_outbound, mask_personal_data
from backend.checks.commands import run_explain


def checks(rules, text, **kw):
    kw.setdefault("channel", "public")
    return {f.check for f in check_outbound(rules, text, **kw)}


@pytest.mark.parametrize(
    "text,language",
    [
        ("Unfortunately there is nothing more we can do here.", "en"),
        ("We've done everything we can on our side.", "en"),
        ("If you had updated the app, this wouldn't happen.", "en"),
        ("Please read our reply more carefully.", "en"),
        ("We never said the refund was instant.", "en"),
        ("You're the only one with this problem.", "en"),
        ("Nobody else has reported this.", "en"),
        ("Da können wir leider nichts mehr machen.", "de"),
        ("Wenn Sie die Anleitung gelesen hätten, wäre das nicht passiert.", "de"),
        ("Bitte genauer lesen.", "de"),
        ("Das haben wir nie gesagt.", "de"),
        ("Sie sind der Einzige mit diesem Problem.", "de"),
        ("Bei allen anderen funktioniert es.", "de"),
    ],
)
def test_defensive_in_four_shapes(rules, text, language):
    assert "defensive" in checks(rules, text, language=language)


@pytest.mark.parametrize(
    "text",
    [
        "We're sorry to hear that. Can you DM us the details so we can take a look?",
        "Nothing to worry about — we've sent a new code to your email.",
        "We'd be happy to help! Could you tell us which device you're using?",
        "Please read the steps here and let us know if they help: https://help.example/1",
    ],
)
def test_ordinary_replies_are_not_defensive(rules, text):
    assert "defensive" not in checks(rules, text, language="en")


def test_brand_contacts_are_never_personal_data(rules):
    text = "Call us on +49 30 555 0100 or write to care@acme.example"
    assert "personal_data" not in checks(rules, text)
    assert mask_personal_data(rules, text) == text


def test_service_numbers_are_an_advisory_not_a_refusal(rules):
    found = check_outbound(rules, "Call Apple at 1-800-275-2273.", channel="public")
    assert [(f.check, f.kind) for f in found] == [("service_number", ADVISORY)]
    assert "personal_data" not in checks(rules, "Ruf uns an: 0800 987 6543", language="de")


def test_digits_in_links_are_not_phone_numbers(rules):
    text = "See https://support.example.com/en-us/HT201354 and https://x.com/a/status/1245425308704149506"
    assert "personal_data" not in checks(rules, text)


def test_a_bare_ten_digit_number_in_a_post_is_still_masked(rules):
    text = "@acme call me on 5551234567"
    assert any(f.check == "personal_data" for f in check_inbound(rules, text, channel="public"))
    assert "5551234567" not in mask_personal_data(rules, text)


@pytest.mark.parametrize(
    "text",
    [
        "Check the OS version and free RAM, then restart between 9 AM and 5 PM.",
        'Tap "CANCEL ORDER" in the app, then confirm.',
        "Your CPU and GPU drivers need the update.",
    ],
)
def test_shouting_ignores_abbreviations_and_quoted_labels(rules, text):
    assert "shouting" not in checks(rules, text)


def test_no_apology_only_when_nobody_apologised_yet(rules):
    reply = "Please DM us your order number."
    assert "no_apology" in checks(rules, reply, customer_upset=True)
    assert "no_apology" not in checks(rules, reply, customer_upset=False)
    earlier = ["Sorry for the wait, Jo — we're checking."]
    assert "no_apology" not in checks(rules, reply, customer_upset=True, earlier_replies=earlier)


@pytest.mark.parametrize(
    "text,language",
    [
        ("This is never the way we want you to feel and apologize. Please DM us.", "en"),
        ("Apologies, Jo. Please DM us your order number.", "en"),
        ("That doesn't sound right. Which version are you on?", "en"),
        ("We understand how frustrating this is. Let's sort it out.", "en"),
        ("That sounds like it can be difficult, so we want to help. Which model is it?", "en"),
        ("Das klingt ärgerlich. Welche Version nutzt du?", "de"),
        ("Ich kann mir vorstellen, wie lästig das ist. Schick uns eine DM.", "de"),
    ],
)
def test_apologies_and_acknowledgements_in_any_form_count(rules, text, language):
    """Real agents apologise in more shapes than "we apologise"; each one of
    these answered an upset customer and must not be told it did not."""
    assert "no_apology" not in checks(rules, text, language=language, customer_upset=True)
    plain = "Please DM us your order number." if language == "en" else "Schick uns eine DM."
    assert "no_apology" in checks(rules, plain, language=language, customer_upset=True)


@pytest.mark.parametrize(
    "text,language",
    [
        ("Thanks for your patience. We apologise for any inconvenience caused.", "en"),
        ("Danke für deine Geduld. Wir entschuldigen uns für die Unannehmlichkeiten.", "de"),
    ],
)
def test_stock_apologies_are_canned_without_recent_replies(rules, text, language):
    [f] = [
        f
        for f in check_outbound(rules, text, channel="public", language=language)
        if f.check == "canned"
    ]
    assert f.detail["source"] == "stock"


def test_explain_detects_language_and_checks_canned(tmp_path):
    from pathlib import Path

    rules_dir = Path(__file__).resolve().parent.parent / "rules"
    lines = [
        {"text": "@acme the texture pack is great", "direction": "inbound"},
        {
            "text": "Hi Jo, we're sorry your order is late, we'll DM you now.",
            "direction": "outbound",
            "recent_replies": ["Hi Max, we're sorry your order is late, we'll DM you now."],
        },
    ]
    out = io.StringIO()
    run_explain(rules_dir, io.StringIO("\n".join(json.dumps(x) for x in lines)), out)
    first, second = [json.loads(line) for line in out.getvalue().splitlines()]
    assert first["language"] == "en" and first["language_from"] == "detected"
    assert first["findings"] == []  # German lists do not run on an English post
    assert "canned" in [f["check"] for f in second["findings"]]


def test_addresses_at_the_brands_own_domain_are_not_personal_data(rules):
    text = "Please forward it to abuse@acme.example and we'll look into it."
    assert "personal_data" not in checks(rules, text)
    assert "personal_data" in checks(rules, "Write to jo.k@mailbox.example")


@pytest.mark.parametrize(
    "customer,language,upset",
    [
        ("@acme I get an error when I log in, the app crashed and I lost my basket", "en", False),
        ("@acme worst customer service ever, why the hell is nobody answering?!", "en", True),
        ("@acme Die App zeigt einen Fehler, die Bestellung ist verloren", "de", False),
        ("@acme Ich bin total sauer, schon wieder keine Antwort!", "de", True),
    ],
)
def test_the_customers_post_decides_upset_without_counting_fault_words(
    rules, customer, language, upset
):
    """Reporting what went wrong ("error", "lost", "Fehler") is not being upset;
    no_apology is for customers whose words are angry or hurt."""
    reply = "Please DM us your order number." if language == "en" else "Schick uns eine DM."
    found = checks(rules, reply, language=language, customer_text=customer)
    assert ("no_apology" in found) is upset
    # An apology earlier in the conversation still counts.
    earlier = ["Sorry about this!"]
    assert "no_apology" not in checks(
        rules, reply, language=language, customer_text=customer, earlier_replies=earlier
    )


def test_customer_text_overrides_the_yes_no_and_detects_the_language(rules):
    # German "die" is not the English word: with the language unknown, the post's own counts.
    assert "no_apology" not in checks(
        rules, "Schick uns eine DM.", customer_text="Die App stürzt ab", customer_upset=True
    )
