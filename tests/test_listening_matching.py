"""Which posts mention Acme, and how."""

from __future__ import annotations

import pytest

from backend.listening import match
from backend.listening.text import fold
from tests.listening_helpers import post, project_rules


@pytest.fixture(scope="module")
def rules():
    return project_rules().listening


@pytest.mark.parametrize(
    "text", ["Acme's app is down", "ACME!", "I love acme.", "(Acme)", "acme\u2019s support"]
)
def test_name_is_word_bounded_and_case_blind(rules, text):
    found = match(rules, post(text))
    assert found is not None and found.how == ("name",) and found.terms == ("Acme",)


@pytest.mark.parametrize(
    "text", ["acmecorp rocks", "AcmeCorp", "preacme stuff", "acmes_bot", "acme_fan"]
)
def test_longer_words_do_not_match(rules, text):
    assert match(rules, post(text)) is None


def test_listed_alias_and_product_match_and_longest_wins(rules):
    found = match(rules, post("ACME   Corp ruined my weekend, and the Acme Go app too"))
    assert found.how == ("name",)
    assert found.terms == ("ACME Corp", "Acme Go")


@pytest.mark.parametrize("text", ["Ａｃｍｅ ist super", "Acmé is fine", "ACMÉ"])
def test_full_width_and_accents_fold_to_the_name(rules, text):
    assert match(rules, post(text)).terms == ("Acme",)


def test_fold_handles_nfkc_casefold_and_accents():
    assert fold("Ａｃｍｅ") == "acme"
    assert fold("KÜNDIGUNG") == fold("Kündigung") == "kundigung"
    assert fold("Straße") == "strasse"


def test_german_text_with_genitive_alias(rules):
    found = match(rules, post("Acmes Kundenservice antwortet seit Tagen nicht #AcmeHilfe"))
    assert found.how == ("hashtag", "name")
    assert found.terms == ("#acmehilfe", "Acmes")


def test_tag_in_text_and_reported_by_platform(rules):
    in_text = match(rules, post("@acme why is my order late?"))
    assert in_text.how == ("tagged",) and in_text.terms == ("@acme@social.example",)
    reported = match(
        rules, post("why is my order late?", mentioned_handles=("acme@social.example",))
    )
    assert reported.how == ("tagged",) and reported.terms == ("@acme@social.example",)


def test_tag_of_another_account_with_the_same_name_is_not_ours(rules):
    assert match(rules, post("hi @acme.other.social and @acme@elsewhere.example")) is None
    assert match(rules, post("hi", mentioned_handles=("acme@elsewhere.example",))) is None


def test_bluesky_handle_tag(rules):
    found = match(rules, post("@acme.bsky.social app crashed", platform="bluesky"))
    assert found.how == ("tagged",) and found.terms == ("@acme.bsky.social",)


def test_all_kinds_reported_strongest_first(rules):
    found = match(rules, post("Acme, see #acmefail @acme", is_direct=True))
    assert found.how == ("direct", "tagged", "hashtag", "name")
    assert found.strongest == "direct"


def test_hashtag_is_not_also_a_name(rules):
    found = match(rules, post("so slow today #acme"))
    assert found.how == ("hashtag",) and found.terms == ("#acme",)


def test_hashtag_reported_by_platform(rules):
    assert match(rules, post("help", hashtags=("AcmeFail",))).terms == ("#acmefail",)


def test_direct_message_always_matches(rules):
    found = match(rules, post("where is my parcel?", is_direct=True))
    assert found.how == ("direct",) and not found.ours


def test_exclusion_phrase_drops_name_only_mentions(rules):
    assert match(rules, post("Wile E. Coyote ordered another Acme anvil")) is None
    assert match(rules, post("the ACME of perfection")) is None


def test_exclusion_phrase_never_drops_a_tag_or_hashtag(rules):
    found = match(rules, post("@acme my Acme anvil arrived broken"))
    assert found is not None and found.how == ("tagged", "name")


def test_excluded_account_is_dropped_on_any_and_its_platform(rules):
    assert (
        match(rules, post("@acme deal of the day!", handle="acme_deals_bot", platform="bluesky"))
        is None
    )
    assert match(rules, post("Acme news", handle="@AcmeNews@feeds.example")) is None
    assert (
        match(rules, post("Acme news", handle="acmenews@feeds.example", platform="bluesky"))
        is not None
    )


def test_our_own_posts_are_recognised_and_not_dropped(rules):
    reply = match(
        rules, post("Sorry, Jo, we're on it", handle="acme@social.example", in_reply_to="9")
    )
    assert reply is not None and reply.ours and reply.how == ()
    local = match(rules, post("Acme status: all good", handle="acme"))
    assert local.ours and local.how == ("name",)
    assert match(rules, post("hi", handle="acme.bsky.social", platform="bluesky")).ours


def test_unrelated_post_does_not_match(rules):
    assert match(rules, post("lovely weather in Berlin today")) is None


def test_tag_at_sentence_end_and_in_capitals(rules):
    assert match(rules, post("thanks @acme.")).how == ("tagged",)
    assert match(rules, post("cc @ACME@Social.Example: help")).terms == ("@acme@social.example",)
    assert (
        match(rules, post("mail me at jo@acme")) is None
    )  # an address, neither a tag nor our name
