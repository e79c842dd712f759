"""Sentiment sign and strength on clear English and German posts."""

from __future__ import annotations

import pytest

from backend.listening.sentiment import (
    english_lexicon,
    german_lexicon,
    lexicon,
    polarity,
    sentiment,
    words,
)
from backend.listening.text import lower


@pytest.mark.parametrize(
    "text",
    [
        "I love the new Acme Go app, great work!",
        "Thanks Acme, the support was excellent :)",
    ],
)
def test_english_positive(text):
    assert sentiment(text, "en") > 0.3


@pytest.mark.parametrize(
    "text",
    [
        "@acme your service is terrible and I am angry",
        "Worst experience ever, awful app 😡",
    ],
)
def test_english_negative(text):
    assert sentiment(text, "en") < -0.3


@pytest.mark.parametrize(
    "text",
    [
        "Danke Acme, super Service, ich bin sehr zufrieden!",
        "Die neue App ist wirklich toll",
    ],
)
def test_german_positive(text):
    assert sentiment(text, "de") > 0.3


@pytest.mark.parametrize(
    "text",
    [
        "Acme ist echt schlecht, ich bin enttäuscht",
        "Der Kundenservice ist eine Katastrophe und total unfreundlich",
    ],
)
def test_german_negative(text):
    assert sentiment(text, "de") < -0.3


def test_negation_flips_the_sign():
    assert sentiment("the app is good", "en") > 0 > sentiment("the app is not good", "en")
    assert sentiment("Die App ist gut", "de") > 0 > sentiment("Die App ist nicht gut", "de")


def test_booster_strengthens_and_exclamation_adds_emphasis():
    assert sentiment("Das ist sehr schlecht", "de") < sentiment("Das ist schlecht", "de") < 0
    assert sentiment("this is bad!!!", "en") < sentiment("this is bad", "en") < 0


def test_words_after_but_count_more():
    assert sentiment("the food was great but the delivery was terrible", "en") < 0
    assert sentiment("Lieferung war schlecht, aber der Service war super", "de") > 0


def test_neutral_and_unknown_language():
    assert sentiment("my parcel arrived, tracking 12345", "en") == 0.0
    assert sentiment("Bonjour, ma commande", "fr") is None


def test_team_words_extend_the_lexicon():
    text = "Funkloch seit heute morgen"
    assert sentiment(text, "de") == 0.0
    extra = lexicon("de", {"Funkloch": -2.5})
    assert polarity(extra, words(lower(text))) < -0.3
    assert "funkloch" not in german_lexicon().valence  # the shared lexicon is untouched


def test_lexicons_come_from_the_packages():
    assert english_lexicon().valence["love"] == 3.2  # VADER's value
    assert german_lexicon().valence["schlecht"] == -2.0  # textblob-de's -1.0, scaled like VADER


def test_scores_stay_within_bounds():
    text = " ".join(["terrible horrible awful"] * 30) + "!!!!!!"
    assert -1.0 <= sentiment(text, "en") < -0.99


def test_agrees_with_vaders_own_scorer_on_clear_posts():
    # Our fast scorer reimplements VADER's core; on clear posts the sign must match VADER's own.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    posts = [
        "I love the new Acme Go app, great work!",
        "@acme your service is terrible and I am angry",
        "the app is not good",
        "the food was great but the delivery was terrible",
        "not bad at all",
        "very disappointed with acme",
        "absolutely fantastic customer care",
        "Worst experience ever, awful app",
        "Thanks Acme, the support team sorted it out in minutes, great service :)",
    ]
    for text in posts:
        ours, theirs = sentiment(text, "en"), vader.polarity_scores(text)["compound"]
        assert (ours > 0) == (theirs > 0) and abs(ours - theirs) < 0.5, (text, ours, theirs)


def test_word_only_shortcut_finds_what_the_full_tokeniser_finds():
    import random

    from backend.listening.sentiment import TOKEN, words

    rng = random.Random(12)
    alphabet = [
        "a",
        "b",
        "don't",
        " ",
        "'",
        ":",
        "(",
        ")",
        ";",
        "-",
        "=",
        "<",
        "3",
        "d",
        "p",
        "😀",
        "é",
        "_",
        "!",
    ]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(15))) for _ in range(5000)]
    assert all(words(t) == TOKEN.findall(t) for t in texts)
    assert words("love it :) <3") == ["love", "it", ":)", "<3"] and words("don't go") == [
        "don't",
        "go",
    ]


def _polarity_longhand(lex, tokens, exclamations=0):
    """polarity() as first written: every token, every look-back."""
    import math

    from backend.listening import sentiment as s

    before = after = 0.0
    contrast_seen = False
    for i, token in enumerate(tokens):
        if token in lex.contrast:
            contrast_seen = True
            continue
        v = lex.valence.get(token)
        if v is None:
            continue
        for distance, j in enumerate(range(i - 1, max(i - 4, -1), -1)):
            boost = lex.boosters.get(tokens[j])
            if boost is not None:
                b = boost * (1.0 - 0.05 * distance)
                v += b if v > 0 else -b
            elif tokens[j] in lex.negations:
                v *= s.NEGATION_FACTOR
        if contrast_seen:
            after += v
        else:
            before += v
    total = before * s.BEFORE_CONTRAST + after * s.AFTER_CONTRAST if contrast_seen else before
    if total and exclamations:
        emphasis = min(exclamations, 4) * s.EXCLAMATION
        total += emphasis if total > 0 else -emphasis
    if not total:
        return 0.0
    return max(-1.0, min(1.0, total / math.sqrt(total * total + s.SQUASH_ALPHA)))


def test_polarity_shortcuts_give_the_longhand_scores():
    import random

    from backend.listening.sentiment import english_lexicon, german_lexicon, polarity

    rng = random.Random(21)
    for lex in (english_lexicon(), german_lexicon()):
        feeling = sorted(lex.valence)[::97][:60]
        vocabulary = (
            feeling
            + sorted(lex.boosters)[:8]
            + sorted(lex.negations)[:6]
            + sorted(lex.contrast)
            + ["the", "app"]
        )
        for _ in range(4000):
            tokens = [rng.choice(vocabulary) for _ in range(rng.randrange(12))]
            bangs = rng.randrange(3)
            assert polarity(lex, tokens, bangs) == _polarity_longhand(lex, tokens, bangs), tokens
