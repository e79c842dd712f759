"""Priorities P1-P4 and the reasons an operator sees."""

from __future__ import annotations

import pytest

from backend.listening.text import fold
from backend.listening.triage import followers_text, priority_for, triage, urgent_words
from tests.listening_helpers import english, project_rules


@pytest.fixture(scope="module")
def rules():
    return project_rules().triage


def test_negative_big_reach_urgent_word_is_p1_with_reasons(rules):
    result = triage(
        rules,
        sentiment=-0.72,
        followers=48_213,
        how=("name",),
        urgent=urgent_words(rules, fold("Ich will die Kündigung, sofort")),
    )
    assert result.priority == "P1"
    assert english(result.reasons) == (
        "very negative (-0.72)",
        "reach 48k followers",
        "urgent word: Kündigung",
    )
    assert result.score == 3 + 2 + 3


def test_neutral_small_untagged_is_p4_without_reasons(rules):
    result = triage(rules, sentiment=0.1, followers=12, how=("name",))
    assert (result.priority, english(result.reasons), result.score) == ("P4", (), 0)


def test_direct_message_counts(rules):
    result = triage(rules, sentiment=-0.4, followers=0, how=("direct",))
    assert english(result.reasons) == ("negative (-0.40)", "direct message")
    assert result.priority == "P2"


def test_urgent_words_match_longer_forms_and_every_language(rules):
    assert urgent_words(
        rules, fold("Kündigungsfrist? I want my REFUNDED money, call my lawyer")
    ) == ["Kündigung", "refund", "lawyer"]
    assert urgent_words(rules, fold("the app is down again")) == ["is down"]
    assert urgent_words(rules, fold("calm down, cancellation is fine")) == ["cancel"]
    assert urgent_words(rules, fold("the sunday download")) == []


def test_urgent_points_given_once(rules):
    one = triage(rules, sentiment=None, followers=0, how=(), urgent=["refund"])
    two = triage(rules, sentiment=None, followers=0, how=(), urgent=["refund", "lawyer"])
    assert one.score == two.score == rules.urgent_points
    assert english(two.reasons) == ("urgent words: refund, lawyer",)


def test_flags_add_points_and_show_detail(rules):
    result = triage(
        rules,
        sentiment=None,
        followers=0,
        how=(),
        flags=[
            {"check": "personal_data", "detail": {"kind": "iban"}},
            {"check": "abusive", "detail": {"severity": "high"}},
            {"check": "spam_link"},
        ],
    )
    assert english(result.reasons) == (
        "personal data in public (IBAN)",  # a code is shown as its name
        "abusive language (high)",
        "flag: spam link",
    )
    assert result.score == rules.flags["personal_data"].points + rules.flags["abusive"].points


def test_unknown_sentiment_gives_no_points(rules):
    assert english(triage(rules, sentiment=None, followers=0, how=()).reasons) == ()


def test_reach_bands(rules):
    assert english(triage(rules, sentiment=None, followers=2_400_000, how=()).reasons) == (
        "reach 2.4M followers",
    )
    assert english(triage(rules, sentiment=None, followers=1500, how=()).reasons) == (
        "reach 1.5k followers",
    )
    assert english(triage(rules, sentiment=None, followers=999, how=()).reasons) == ()


def test_priority_thresholds(rules):
    p1, p2, p3 = rules.thresholds["P1"], rules.thresholds["P2"], rules.thresholds["P3"]
    assert [priority_for(rules, s) for s in (p1, p1 - 1, p2, p3, p3 - 1)] == [
        "P1",
        "P2",
        "P2",
        "P3",
        "P4",
    ]


def test_followers_text():
    assert [followers_text(n) for n in (950, 1000, 1250, 48_213, 1_000_000, 1_260_000)] == [
        "950",
        "1k",
        "1.2k",
        "48k",
        "1M",
        "1.3M",
    ]


def test_reasons_read_in_german_with_the_same_ids(rules):
    result = triage(
        rules,
        sentiment=-0.72,
        followers=48_000,
        how=("tagged",),
        urgent=["Kündigung"],
        flags=[{"check": "threat", "detail": {"severity": "high"}}],
    )
    assert [r.render("de") for r in result.reasons] == [
        "sehr negativ (-0,72)",
        "Reichweite 48k Follower",
        "hat uns getaggt",
        "dringendes Wort: Kündigung",
        "Drohung mit Gewalt oder Sachbeschädigung (hoch)",
    ]
    assert [r.id for r in result.reasons] == [
        "reason.sentiment",
        "reason.reach",
        "reason.tagged",
        "reason.urgent_word",
        "reason.flag_detail",
    ]
