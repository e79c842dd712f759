import pytest

from backend.checks import FLAG, bio_for, check_inbound, suggested_conduct_reply


def abuse(rules, text, language=None):
    return [
        f
        for f in check_inbound(rules, text, channel="public", language=language)
        if f.check == "abusive"
    ]


@pytest.mark.parametrize(
    "text,language,severity",
    [
        ("@acme you idiots shipped the wrong colour", "en", "medium"),
        ("@acme I will find you and hurt you", "en", "high"),
        ("@acme Ihr Vollidioten habt es wieder verbockt", "de", "medium"),
        ("@acme Die sollte man alle aufhängen", "de", "high"),
    ],
)
def test_abusive_with_severity(rules, text, language, severity):
    [f] = abuse(rules, text, language)
    assert f.kind == FLAG and f.detail["severity"] == severity
    assert f.detail["suggest"] == "flagged_conduct"


@pytest.mark.parametrize(
    "text,language",
    [
        ("@acme this is fucking ridiculous, 3 weeks and no parcel", "en"),
        ("@acme worst customer service ever. absolute joke.", "en"),
        ("@acme honestly feel like an idiot for buying the warranty", "en"),
        ("@acme Scheißservice, drei Wochen und kein Paket!", "de"),
        ("@acme Die blöde App stürzt schon wieder ab", "de"),
        ("@acme Ich komme mir vor wie ein Idiot, Stecker vergessen", "de"),
        ("@acme Schwein gehabt, die letzte Packung erwischt", "de"),
    ],
)
def test_angry_complaints_and_self_deprecation_are_not_abuse(rules, text, language):
    assert abuse(rules, text, language) == []


def test_suggested_reply_states_the_rule(rules):
    assert "house rules" in suggested_conduct_reply(rules, "en").lower()
    assert "Hausregeln" in suggested_conduct_reply(rules, "de-AT")
    assert suggested_conduct_reply(rules, None) == suggested_conduct_reply(rules, "en")


def test_bio_fits_each_platform(rules):
    mastodon, bluesky = bio_for(rules, "mastodon"), bio_for(rules, "bluesky")
    assert len(mastodon) <= 500 and len(bluesky) <= 256
    assert len(mastodon) > len(bluesky)  # the roomier platform gets the fuller text
    with pytest.raises(ValueError, match="bluesky"):
        bio_for(rules, "myspace")


# --- the German model behind the phrase list --------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "@acme Eure App ist der letzte Mist, ich will mein Geld zurück!",
        "@acme Scheißservice, seit zwei Wochen keine Lieferung",
        "@acme Scheiß App, scheiß Update, alles kaputt",
        "@acme Das ist doch alles Scheiße, nie wieder bestelle ich bei euch",
        "@acme Verdammt, schon wieder kaputt",
        "@acme So ein Mist, die Lieferung ist schon wieder zu spät",
        "@acme Euer Kundenservice ist eine Katastrophe, keiner geht ans Telefon",
        "@acme Ich bin stinksauer. Drei Anrufe, keine Antwort.",
        "@acme Was ist eigentlich mit Merkel und der AfD los, und wo ist mein Paket?",
        # Packing a parcel is not the slur "Pack"; hating an app is a complaint.
        "@acme Ich packe das Paket gleich wieder ein und schicke es zurück",
        "@acme Ich hasse diese App",
    ],
)
def test_german_angry_complaints_pass_the_model(rules, text):
    assert abuse(rules, text, "de") == []


def conduct(rules, text, language=None):
    return [
        f
        for f in check_inbound(rules, text, channel="public", language=language)
        if f.check in ("abusive", "possibly_abusive")
    ]


def test_model_flags_insults_the_phrase_list_misses(rules):
    text = "@acme Was seid ihr nur für erbärmliche Gestalten"
    [f] = conduct(rules, text, "de")
    setting = rules.conduct.models["de"]
    assert f.detail["model_score"] >= setting.possible
    assert f.detail["operating_point"] in ("abusive", "possible")
    assert f.detail["reason"].startswith("model ")
    # The finding points at the word that weighed most, in the original text.
    assert text[f.start : f.end] == f.detail["phrase"] == f.detail["model_words"][0]
    assert "Gestalten" in f.detail["model_words"] or "erbärmliche" in f.detail["model_words"]


def test_phrase_list_decides_before_the_model(rules):
    [f] = abuse(rules, "@acme Die sollte man alle aufhängen, ihr erbärmlichen Gestalten", "de")
    assert f.detail["severity"] == "high" and "model_score" not in f.detail


def test_excused_text_is_not_scored(rules):
    # Self-deprecation is blanked before the model scores the post.
    assert abuse(rules, "@acme Ich war so blöd und hab die falsche Größe bestellt", "de") == []


def test_model_only_for_its_language(rules):
    assert abuse(rules, "@acme Was seid ihr nur für erbärmliche Gestalten", "en") == []
