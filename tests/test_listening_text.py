"""Term sets grouped by first letter find exactly what one flat alternation finds."""

import random
import re

from backend.listening.text import TermSet, by_first_letter, fold, term_pattern

from .listening_helpers import project_rules


def _flat(terms):
    bodies = [term_pattern(t) for t in sorted(terms, key=lambda t: -len(fold(t)))]
    return re.compile(r"\b(?:" + "|".join(bodies) + ")")


def test_grouping_keeps_each_letters_terms_in_order():
    assert (
        by_first_letter(["cancel", "refund", "chargeback", "c"])
        == r"c(?<!\w.)(?:ancel|hargeback|)|r(?<!\w.)(?:efund)"
    )
    many = ["cancel", "refund", "ausfall", "betrug", "chargeback", "storung"]
    assert (
        by_first_letter(many)
        == r"\b(?:c(?:ancel|hargeback)|r(?:efund)|a(?:usfall)|b(?:etrug)|s(?:torung))"
    )


def test_grouped_term_sets_match_like_one_flat_alternation():
    rules = project_rules()
    sets = [
        rules.listening.name_terms,
        rules.listening.exclude_phrase_terms,
        rules.triage.urgent_terms,
        TermSet(["sue", "suing", "su*", "s", "geht nicht", "geht*", "Kündigung*", "kundige*"]),
    ]
    words = [w for s in sets for t in s.terms for w in fold(t).rstrip("*").split()]
    rng = random.Random(2)
    filler = [
        "the",
        "app",
        "x",
        "nichts",
        "-",
        "!",
        "'s",
        "\n",
        "  ",
        "#",
        "@",
        "1",
        "_",
        "é",
        "\u0301",
    ]
    texts = [
        rng.choice([" ", "", "\n"]).join(
            rng.choice(words + filler) + rng.choice(["", "s", "ed", "ung", "*"])
            for _ in range(rng.randrange(1, 12))
        )
        for _ in range(4000)
    ]
    hits = 0
    for s in sets:
        flat = _flat(s.terms)
        for text in texts:
            expected = [(m.start(), m.group()) for m in flat.finditer(text)]
            assert [(m.start(), m.group()) for m in s.regex.finditer(text)] == expected, (
                s.terms,
                text,
            )
            hits += len(expected)
    assert hits > 5000


def test_lower_replaces_typographic_apostrophes_like_a_translate_table():
    import unicodedata

    from backend.listening.text import lower

    table = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"})
    rng = random.Random(3)
    alphabet = "aB Ä’‘ʼ＇'ß\u0301İﬁ!"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        expected = (
            text.lower()
            if text.isascii()
            else unicodedata.normalize("NFKC", text).translate(table).casefold()
        )
        assert lower(text) == expected, text
    assert lower("Acme’s DON’T") == "acme's don't"
