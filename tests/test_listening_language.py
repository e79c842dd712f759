"""English or German, from the words of a post."""

from __future__ import annotations

import pytest

from backend.listening.language import declared_language, detect
from backend.listening.sentiment import words
from backend.listening.text import lower


def detect_text(text: str, declared: str | None = None, languages=("en", "de")) -> str | None:
    lowered = lower(text)
    return detect(words(lowered), lowered, languages, declared)


@pytest.mark.parametrize(
    "text",
    [
        "@acme why is my order still not here? I paid two weeks ago",
        "Thanks for the quick help, you are great",
        "The Acme Go app keeps crashing when I open it",
    ],
)
def test_english(text):
    assert detect_text(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "@acme warum ist meine Bestellung immer noch nicht da?",
        "Ich habe seit drei Tagen keine Antwort bekommen",
        "Die App stürzt ständig ab, das ist echt ärgerlich",
        "Kündigung läuft",  # no function words; the umlaut decides
    ],
)
def test_german(text):
    assert detect_text(text) == "de"


def test_unsure_when_nothing_to_go_by():
    assert detect_text("@acme #acmefail 🙄") is None


def test_declared_language_wins():
    assert detect_text("Ich habe keine Antwort", declared="en-GB") == "en"
    assert detect_text("The app is broken", declared="de_AT") == "de"
    assert detect_text("Bonjour Acme", declared="fr") == "fr"


def test_only_the_team_languages_are_chosen():
    assert detect_text("Ich habe keine Antwort bekommen", languages=("en",)) is None


def test_declared_language_base():
    assert declared_language("pt-BR") == "pt"
    assert declared_language("") is None
    assert declared_language(None) is None
