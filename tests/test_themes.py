"""Complaint normalising, grouping, themes and holding statements."""

from __future__ import annotations

import random

import pytest

from backend.listening.themes import (
    Complaint,
    Theme,
    group_complaints,
    jaccard,
    normalise,
    personalise_holding_statement,
    top_themes,
    topic_of,
)


def test_normalise_strips_urls_handles_hashtag_marks_and_stopwords():
    text = "@acme@mastodon.social Your APP ate my order AGAIN!! #AcmeFail https://x.co/abc?d=1 @jo.bsky.social"
    assert normalise(text) == ["app", "ate", "order", "acmefail"]
    assert normalise("Die App ist schon wieder abgestürzt, ich bin so genervt") == [
        "app",
        "abgestürzt",
        "genervt",
    ]
    assert normalise("Acme’s app can't load", ignore=["acme's"]) == ["app", "load"]
    assert normalise("order 12345 is 2 days late") == ["order", "days", "late"]


def test_jaccard():
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_near_identical_complaints_group_and_different_ones_do_not():
    posts = [
        Complaint(1, "@acme your app crashed and ate my order again"),
        Complaint(2, "Hey @acme, the app is down, can't log in at all"),
        Complaint(3, "@acme your app crashed and ate my order again!!! https://pic.example/1"),
        Complaint(4, "@acme Your APP crashed & ate my ORDER again #acmefail"),
        Complaint(5, "where is my refund @acme"),
        Complaint(6, "@acme app down, can't log in"),
        Complaint(7, "🙂"),
    ]
    groups = group_complaints(posts, threshold=0.6, ignore=["acmefail"])
    assert [g.ids for g in groups] == [(1, 3, 4), (2, 6), (5,), (7,)]
    assert groups[0].example == posts[0].text and groups[0].size == 3


def test_threshold_decides():
    posts = [
        Complaint("a", "delivery late parcel missing box"),
        Complaint("b", "delivery late parcel missing refund"),
    ]  # Jaccard 4/6
    assert len(group_complaints(posts, threshold=0.6)) == 1
    assert len(group_complaints(posts, threshold=0.7)) == 2
    with pytest.raises(ValueError):
        group_complaints(posts, threshold=0)


def crisis_posts(n: int, seed: int = 7) -> tuple[list[Complaint], list[int]]:
    """n posts: three copied complaints with small edits, plus unrelated chatter."""
    rng = random.Random(seed)
    bases = [
        "app crashed checkout lost basket payment taken twice card charged".split(),
        "parcel never arrived tracking stuck warehouse weeks refund ignored".split(),
        "login broken password reset email never comes account locked".split(),
    ]
    filler = (
        "great weather coffee train concert football weekend music garden holiday cat dog "
        "pizza movie beach mountain bike book guitar rain snow sunset friends party dinner "
        "lunch tea museum river lake forest city village bakery market festival game "
        "podcast series"
    ).split()
    posts, truth = [], []
    for i in range(n):
        kind = rng.randrange(4)
        if kind < 3:
            words = list(bases[kind])
            words[rng.randrange(len(words))] = rng.choice(["seriously", "ugh", "again", "today"])
            text = (
                "@acme " + " ".join(words) + rng.choice(["", "!!", " #acmefail", " https://t.co/x"])
            )
        else:
            text = " ".join(rng.sample(filler, 5)) + f" {rng.randrange(10**6)}"
        posts.append(Complaint(i, text))
        truth.append(kind)
    return posts, truth


def test_thousands_group_correctly():
    # How fast: bench/crisis_groups.py (speed is measured there, never asserted here).
    posts, truth = crisis_posts(5000)
    groups = group_complaints(posts, ignore=["acmefail"])
    big = groups[:3]
    # Each copied complaint is one group holding all of its copies and nothing else.
    assert sorted(g.size for g in big) == sorted(truth.count(k) for k in range(3))
    for g in big:
        assert len({truth[i] for i in g.ids}) == 1
    # Chatter is random word picks: mostly alone, never merged into a complaint group.
    assert all(truth[i] == 3 for g in groups[3:] for i in g.ids)


def test_grouping_is_deterministic():
    posts, _ = crisis_posts(500, seed=3)
    assert group_complaints(posts) == group_complaints(posts)


def test_top_themes_prefer_phrases_and_count_each_post_once():
    texts = [
        "@acme order missing again, order missing!",
        "my order missing since Monday",
        "Bestellung fehlt, order missing",
        "app crash on login",
        "app crash again",
        "app is slow",
        "app won't open",
        "new app version",
        "Die Bestellung fehlt immer noch",
    ]
    themes = top_themes(texts, limit=4)
    assert themes[:2] == [Theme("app", 5), Theme("order missing", 3)]
    assert Theme("app crash", 2) in themes and Theme("bestellung fehlt", 2) in themes
    # "app" is used more than twice as often as "app crash", so it stays a theme of its own.
    assert all(t.term not in ("order", "missing") for t in themes)


def test_topic_of_uses_a_shared_theme_else_reads_as_your_message():
    themes = [Theme("order missing", 5), Theme("app crash", 3)]
    assert topic_of("@acme my order missing for a week", themes) == "order missing"
    # No theme: never two arbitrary words ("answers cancelling"), which do not read as a topic.
    assert topic_of("@acme answers cancelling, sorry?", themes) == "your message"
    assert topic_of("@acme ???", themes) == "your message"


def test_personalise_holding_statement():
    template = (
        "Hi {name}, we know about the {topic} problem and are on it. Updates here within the hour."
    )
    assert (
        personalise_holding_statement(template, "@jo_k", "order missing")
        == "Hi jo_k, we know about the order missing problem and are on it. Updates here within the hour."
    )
    assert personalise_holding_statement("Hi {name}!", "  ", "x") == "Hi there!"
    assert (
        personalise_holding_statement("Hallo {name}", "", "x", fallback_name="zusammen")
        == "Hallo zusammen"
    )
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\): \{Name\}, \{topik\}"):
        personalise_holding_statement("Hi {Name}, about {topik}", "Jo", "x")
