"""The pure-Python scorer of rules/conduct_de_model.json and its file checks."""

import json
import math
from pathlib import Path

import pytest

from backend.checks.abuse_model import (
    FORMAT,
    AbuseModel,
    features,
    load_abuse_model,
    word_spans,
    words,
)

ROOT = Path(__file__).resolve().parent.parent


def test_words_are_normalised_and_skip_links_handles_and_ignored():
    text = "@acme Sooooo BLÖDE Leute!!! #Lügenpresse https://x.y/z Merkel Scheißladen"
    assert words(text) == ["soo", "bloede", "leute", "luegenpresse", "merkel", "scheissladen"]
    assert words(text, frozenset({"merkel", "scheiss*"})) == [
        "soo",
        "bloede",
        "leute",
        "luegenpresse",
    ]
    # word_spans gives the same words with spans into the original text.
    spans = word_spans(text, frozenset({"merkel"}))
    assert [w for w, _, _ in spans] == words(text, frozenset({"merkel"}))
    assert [text[s:e] for _, s, e in spans][:2] == ["Sooooo", "BLÖDE"]


def test_features_are_words_pairs_and_pieces():
    assert features("Du Depp") == {
        "w:du",
        "w:depp",
        "b:du depp",
        "c:<du>",
        "c:<dep",
        "c:depp",
        "c:epp>",
        "c:<depp",
        "c:depp>",
    }
    # Ignored words neither count nor join their neighbours into a pair.
    assert "b:du depp" in features("Du Merkel Depp", frozenset({"merkel"}))


def _model(weights, bias=-1.0, threshold=0.5, ignored=()):
    return AbuseModel("de", bias, weights, threshold, frozenset(ignored))


def test_score_is_the_logistic_of_bias_plus_weights_counted_once():
    m = _model({"w:depp": 2.0, "c:<dep": 0.5, "b:du depp": 1.0, "w:du": -0.25})
    expected = 1 / (1 + math.exp(-(-1.0 + 2.0 + 0.5 + 1.0 - 0.25)))
    assert m.score("Du Depp") == pytest.approx(expected)
    # Binary features: a repeated word weighs once.
    assert m.score("Depp Depp Depp") == pytest.approx(1 / (1 + math.exp(-(-1.0 + 2.0 + 0.5))))
    assert m.score("Hallo") == pytest.approx(1 / (1 + math.exp(1.0)))


def test_strongest_words_point_into_the_text():
    m = _model({"w:depp": 2.0, "w:trottel": 3.0, "w:hallo": -1.0})
    text = "Hallo Depp, du Trottel"
    ranked = m.strongest_words(text)
    assert [(w, text[s:e]) for w, s, e, _ in ranked] == [("trottel", "Trottel"), ("depp", "Depp")]


def test_shipped_model_is_attributed_and_loads():
    path = ROOT / "rules" / "conduct_de_model.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert "GermEval 2018" in data["attribution"] and "CC BY 4.0" in data["licence"]
    model = load_abuse_model(path)
    assert model.language == "de" and 0 < model.threshold < 1 and len(model.weights) > 1000
    # Topic words and profanity are not features.
    assert {"merkel", "afd", "scheiss*"} <= model.ignored
    assert not any(k.startswith("w:merkel") or k.startswith("w:scheiss") for k in model.weights)


@pytest.mark.parametrize(
    "content,reason",
    [
        ("{", "not valid JSON"),
        ('{"format": "other"}', "is not a shiftdesk-abuse-model/1 file"),
        (
            json.dumps(
                {
                    "format": FORMAT,
                    "language": "de",
                    "bias": 0,
                    "threshold": 1.5,
                    "weights": {"w:a": 1},
                }
            ),
            '"threshold" must be a number between 0 and 1',
        ),
        (
            json.dumps(
                {
                    "format": FORMAT,
                    "language": "de",
                    "bias": 0,
                    "threshold": 0.5,
                    "weights": {"w:a": "x"},
                }
            ),
            "weight of 'w:a' is not a number",
        ),
    ],
)
def test_bad_model_files_say_what_is_wrong(tmp_path, content, reason):
    path = tmp_path / "m.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=reason) as caught:
        load_abuse_model(path)
    assert str(path) in str(caught.value)


def test_fast_score_matches_the_feature_definition_the_model_was_trained_on():
    model = load_abuse_model(ROOT / "rules" / "conduct_de_model.json")
    for text in (
        "@acme Ihr seid erbärmliche Gestalten, erbärmlich!",
        "Danke, alles angekommen 😊",
        "Die Lieferung kam zu spät, die Verpackung war kaputt",
        "Gestalten Gestalten",
    ):
        for _ in range(2):  # second time from the per-word memory
            z = model.bias + sum(model.weights.get(f, 0.0) for f in features(text, model.ignored))
            assert model.score(text) == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-9)


def _words_longhand(text, ignored=frozenset()):
    """words() as first written: one regex for every text, every word tested."""
    import re

    from backend.checks import abuse_model as am

    if "@" in text or "http" in text:
        text = am._HANDLE.sub(" ", am._LINK.sub(" ", text))
    ws = re.sub(
        r"(.)\1{2,}", r"\1\1", " ".join(am._WORD.findall(text)).lower().translate(am._FOLD)
    ).split()
    prefixes = tuple(w[:-1] for w in ignored if w.endswith("*"))
    return [w for w in ws if w not in ignored and not (prefixes and w.startswith(prefixes))]


def test_words_shortcuts_give_the_longhand_words():
    import random

    from backend.checks.quality import load_germeval

    rng = random.Random(4)
    texts = [
        json.loads(line)["text"]
        for line in (ROOT / "tests/data/rules_labelled.jsonl").read_text().splitlines()
    ]
    germeval = ROOT.parent / "shared/data/germeval2018/germeval2018.training.txt"
    if not germeval.exists():
        germeval = ROOT.parent.parent / "shared/data/germeval2018/germeval2018.training.txt"
    if germeval.exists():
        texts += [t for t, _ in load_germeval(germeval)][::4]
    odd = list("_-0123456789²½ AaaaÄß@#'.!\n\t") + [
        "http://x.y",
        "aaaa",
        "--",
        "fuck",
        "kackladen",
        "ß-x",
    ]
    texts += ["".join(rng.choice(odd) for _ in range(rng.randrange(30))) for _ in range(3000)]
    ignored = [frozenset(), frozenset({"merkel", "fuck*", "kack*"}), frozenset({"a b*", "x"})]
    for text in texts:
        for ig in ignored:
            assert words(text, ig) == _words_longhand(text, ig), (text, ig)


def test_ceiling_bounds_the_score_and_skipping_never_changes_a_decision(rules):
    import random

    from backend.checks.abuse_model import CEILING_MARGIN
    from backend.checks.quality import load_germeval

    model, _, threshold = rules.conduct.models["de"]
    germeval = ROOT.parent / "shared/data/germeval2018/germeval2018.training.txt"
    if not germeval.exists():
        germeval = ROOT.parent.parent / "shared/data/germeval2018/germeval2018.training.txt"
    texts = [t for t, _ in load_germeval(germeval)] if germeval.exists() else []
    texts += ["@acme seit einer Stunde in der Warteschleife.", "Danke, alles gut", "", "Du Depp"]
    rng = random.Random(6)
    skipped = 0
    for text in texts:
        ws = words(text, model.ignored)
        score = model.score(text)
        z = math.log(score / (1 - score)) if 0 < score < 1 else 0.0
        assert model.ceiling(ws) >= z - 1e-9, text
        for t in (threshold, rng.uniform(0.05, 0.95)):
            reaching = model.score_reaching(text, t)
            if reaching is None:
                skipped += 1
                assert score < t and model.ceiling(ws) < math.log(t / (1 - t)) - CEILING_MARGIN, (
                    text
                )
            else:
                assert reaching == score
    assert skipped > 100 or not germeval.exists()
