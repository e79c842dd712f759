import pytest

from backend.checks import FLAG, bio_for, check_inbound, suggested_conduct_reply


def abuse(rules, text, language=None):
    return [f for f in check_inbound(rules, text, channel="public", language=language) if f.check == "abusive"]


@pytest.mark.parametrize("text,language,severity", [
    ("@acme you idiots shipped the wrong colour", "en", "medium"),
    ("@acme I will find you and hurt you", "en", "high"),
    ("@acme Ihr Vollidioten habt es wieder verbockt", "de", "medium"),
    ("@acme Die sollte man alle aufhängen", "de", "high"),
])
def test_abusive_with_severity(rules, text, language, severity):
    [f] = abuse(rules, text, language)
    assert f.kind == FLAG and f.detail["severity"] == severity
    assert f.detail["suggest"] == "flagged_conduct"


@pytest.mark.parametrize("text,language", [
    ("@acme this is fucking ridiculous, 3 weeks and no parcel", "en"),
    ("@acme worst customer service ever. absolute joke.", "en"),
    ("@acme honestly feel like an idiot for buying the warranty", "en"),
    ("@acme Scheißservice, drei Wochen und kein Paket!", "de"),
    ("@acme Die blöde App stürzt schon wieder ab", "de"),
    ("@acme Ich komme mir vor wie ein Idiot, Stecker vergessen", "de"),
    ("@acme Schwein gehabt, die letzte Packung erwischt", "de"),
])
def test_angry_complaints_and_self_deprecation_are_not_abuse(rules, text, language):
    assert abuse(rules, text, language) == []


def test_suggested_reply_states_the_rule(rules):
    assert "house rules" in suggested_conduct_reply(rules, "en").lower()
    assert "Hausregeln" in suggested_conduct_reply(rules, "de-AT")
    assert suggested_conduct_reply(rules, None) == suggested_conduct_reply(rules, "en")


def test_bio_fits_each_platform(rules):
    mastodon, bluesky = bio_for(rules, "mastodon"), bio_for(rules, "bluesky")
    assert len(mastodon) <= 500 and len(bluesky) <= 256
    assert len(mastodon) > len(bluesky)   # the roomier platform gets the fuller text
    with pytest.raises(ValueError, match="bluesky"):
        bio_for(rules, "myspace")
