"""One call per post: match, enrich, triage."""

from __future__ import annotations

from backend.listening import Listener, enrich, match
from tests.listening_helpers import RULES_DIR, english, post, project_rules


def test_angry_german_customer_with_reach_is_p1():
    listener = Listener(project_rules())
    result = listener.process(
        post(
            "@acme Ich will mein Geld zurück, das ist eine Frechheit! Mein Anwalt meldet sich.",
            followers=48_213,
        )
    )
    assert result.queued
    assert result.match.how == ("tagged",)
    e = result.enrichment
    assert (e.language, e.reach, e.priority) == ("de", 48_213, "P1")
    assert e.sentiment < -0.3
    assert english(e.reasons[1:]) == (
        "reach 48k followers",
        "tagged us",
        "urgent words: Geld zurück, Anwalt",
    )
    assert str(e.reasons[0]).startswith(("negative (-", "very negative (-"))


def test_happy_english_customer_is_low_priority():
    result = Listener(project_rules()).process(
        post("Loving the new Acme Go app, thank you!", followers=40)
    )
    e = result.enrichment
    assert (e.language, e.priority) == ("en", "P4")
    assert e.sentiment > 0.5
    assert result.match.terms == ("Acme Go",)


def test_not_about_us_is_none_and_own_posts_are_not_queued():
    listener = Listener.from_dir(str(RULES_DIR))
    assert listener.process(post("lovely weather today")) is None
    ours = listener.process(post("Sorry Jo, a fix is on its way", handle="acme@social.example"))
    assert ours.match.ours and not ours.queued and ours.enrichment is None


def test_flagger_gets_the_post_and_language_and_its_flags_feed_triage():
    calls = []

    def flagger(p, language):
        calls.append((p.text, language))
        return [{"check": "personal_data", "detail": {"kind": "phone"}}]

    text = "@acme please call me back on 0151 2345678, my order is missing"
    result = Listener(project_rules(), flagger=flagger).process(post(text))
    assert calls == [(text, "en")]
    assert result.enrichment.flags == ({"check": "personal_data", "detail": {"kind": "phone"}},)
    assert "personal data in public (phone number)" in english(result.enrichment.reasons)


def test_enrich_function_matches_listener():
    rules = project_rules()
    p = post(
        "#acmefail the app crashed again, cancel my subscription", followers=15_000, language="en"
    )
    found = match(rules.listening, p)
    assert enrich(rules, p, found) == Listener(rules).process(p).enrichment
    assert str(enrich(rules, p, found).reasons[-1]) == "urgent word: cancel"
