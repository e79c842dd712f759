from backend.checks import ADVISORY, check_outbound


def checks(rules, text, **kw):
    kw.setdefault("channel", "public")
    return {f.check for f in check_outbound(rules, text, **kw)}


def test_defensive_english_and_german(rules):
    assert "defensive" in checks(rules, "As we already said, refunds take a week.")
    assert "defensive" in checks(rules, "That's not our fault, the courier lost it.")
    assert "defensive" in checks(rules, "Wie bereits erwähnt, dauert das 5 Tage.", language="de")
    assert "defensive" in checks(rules, "Laut unseren AGB ist das ausgeschlossen.", language="de")


def test_polite_as_mentioned_is_not_defensive(rules):
    assert "defensive" not in checks(rules, "As mentioned in our DM, the replacement ships today!")
    assert "defensive" not in checks(
        rules, "Wie besprochen schicken wir dir heute das Teil.", language="de"
    )


def test_language_selects_phrase_lists(rules):
    text = "Wie bereits erwähnt, the store opens Monday."
    assert "defensive" not in checks(rules, text, language="en")
    assert "defensive" in checks(rules, text, language=None)
    assert "defensive" in checks(rules, text, language="de-DE")


def test_findings_are_advisories_with_span_and_suggestion(rules):
    text = "Thanks. You should have kept the receipt."
    [f] = [f for f in check_outbound(rules, text, channel="public") if f.check == "defensive"]
    assert f.kind == ADVISORY and f.suggestion
    assert text[f.start : f.end].lower() == "you should have"


def test_negative_and_blame(rules):
    assert "negative" in checks(rules, "That is simply not possible.")
    assert "blame" in checks(rules, "You must have entered the wrong email address.")
    assert "blame" in checks(rules, "Sie haben vergessen, den Tank einzusetzen.", language="de")
    assert not checks(rules, "Looks like the postcode got mixed up — we've fixed it.")


def test_shouting(rules):
    assert "shouting" in checks(rules, "WE ARE WORKING ON IT. PLEASE STOP ASKING.")
    assert "shouting" in checks(rules, "On it!!!")
    # Abbreviations and the brand name are not shouting.
    assert "shouting" not in checks(rules, "The ACME FAQ has it: see the DHL section.")


def test_apology_only_required_when_upset(rules):
    assert "no_apology" in checks(rules, "We fixed it.", customer_upset=True)
    assert "no_apology" not in checks(rules, "We fixed it.")
    assert "no_apology" not in checks(
        rules, "Sorry for the trouble — we fixed it.", customer_upset=True
    )
    assert "no_apology" not in checks(
        rules, "Das tut uns leid! Ist behoben.", language="de", customer_upset=True
    )


def test_customer_name(rules):
    [f] = [
        f
        for f in check_outbound(
            rules, "Hi! It's fixed.", channel="public", customer_name="Rosa Díaz"
        )
    ]
    assert f.check == "no_name" and "Rosa" in str(f.suggestion)
    assert "no_name" not in checks(rules, "Hi Rosa, it's fixed.", customer_name="Rosa Díaz")
    assert "no_name" not in checks(rules, "Hi @rosa_d, it's fixed.", customer_name="rosa_d")


def test_the_name_an_operator_reads_in_the_handle_counts(rules):
    # The console shows "@jox" and "@ravi93"; "Hi Jox" and "Hi Ravi" use their names.
    for handle, greeting in [("jox", "Hi Jox"), ("ravi93", "Hallo Ravi"), ("sam_1_k", "Hi Sam")]:
        said = checks(rules, f"{greeting}, it's fixed.", customer_name="Jo", customer_handle=handle)
        assert "no_name" not in said, (handle, greeting)
    assert "no_name" in checks(rules, "Hi, it's fixed.", customer_name="Jo", customer_handle="jox")
    assert "no_name" in checks(
        rules, "Hi Max, it's fixed.", customer_name="Jo", customer_handle="jox"
    )


TEMPLATE = (
    "Hi {name}, we're sorry to hear about this! Please send us a DM with your "
    "order number and we'll look into it right away."
)
RECENT = "Sorry about the wait, Priya! Your refund was approved today and should reach your account in 3-5 business days."


def test_template_sent_unedited(rules):
    text = TEMPLATE.replace("{name}", "Omar")
    [f] = [
        f
        for f in check_outbound(
            rules, text, channel="public", customer_name="Omar", templates=[TEMPLATE]
        )
        if f.check == "canned"
    ]
    assert f.detail["source"] == "template" and f.detail["similarity"] >= 0.9
    assert f.detail["resembles"].startswith("Hi {name}")


def test_edited_template_is_not_canned(rules):
    text = (
        "Hi Omar, sorry to hear the blender stopped after two days — that's not how it should be. "
        "Please send us a DM with your order number and we'll look into it right away."
    )
    assert "canned" not in checks(rules, text, customer_name="Omar", templates=[TEMPLATE])


def test_near_copy_of_recent_reply(rules):
    text = RECENT.replace("Priya", "Hana").replace("account", "card")
    [f] = [
        f
        for f in check_outbound(
            rules,
            text,
            channel="public",
            customer_name="Hana",
            recent_replies=["Hey, thanks!", RECENT],
        )
        if f.check == "canned"
    ]
    assert f.detail["source"] == "recent" and f.detail["resembles"] == RECENT


def test_short_thanks_may_repeat(rules):
    assert "canned" not in checks(rules, "Thanks so much!", recent_replies=["Thanks so much!"])
