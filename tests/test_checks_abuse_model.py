"""The numpy scorer of rules/conduct_<lang>_model.npz and its file checks."""

import json
from pathlib import Path

import numpy as np
import pytest

from backend.checks.abuse_model import (
    FORMAT,
    hashed,
    load_abuse_model,
    normalise,
    save_abuse_model,
)

ROOT = Path(__file__).resolve().parent.parent
MODELS = {lang: ROOT / "rules" / f"conduct_{lang}_model.npz" for lang in ("de", "en")}


def test_normalise_folds_case_umlauts_links_handles_digits_and_repeats():
    text = "@acme Sooooo BLÖDE Leute!!! https://x.y/z 2024 Merkel Scheißladen"
    assert normalise(text) == " soo bloede leute 0 merkel scheissladen "
    assert normalise(text, frozenset({"merkel", "scheiss*"})) == " soo bloede leute 0 "
    assert normalise("") == "  "


def test_hashed_is_the_same_alone_and_in_a_batch():
    texts = [normalise(t) for t in ("Du Depp", "", "ihr seid alle so dumm", "ok")]
    ptr, idx = hashed(texts, 12)
    for i, t in enumerate(texts):
        p1, i1 = hashed([t], 12)
        assert list(i1) == list(idx[ptr[i] : ptr[i + 1]])
    # Distinct buckets, sorted, inside the table.
    for i in range(len(texts)):
        row = idx[ptr[i] : ptr[i + 1]]
        assert list(row) == sorted(set(row)) and (row < 4096).all()


def test_score_is_the_logistic_of_bias_plus_normalised_weights(tmp_path):
    bits = 10
    rng = np.random.default_rng(1)
    weights = rng.normal(size=1 << bits).astype(np.float16)
    meta = {
        "language": "de",
        "bits": bits,
        "bias": -0.5,
        "thresholds": {"abusive": 0.8, "possible": 0.4},
        "ignored_words": ["merkel"],
    }
    save_abuse_model(tmp_path / "m.npz", meta, weights)
    model = load_abuse_model(tmp_path / "m.npz")
    text = "Du Depp, Merkel"
    ptr, idx = hashed([normalise(text, frozenset({"merkel"}))], bits)
    z = -0.5 + weights.astype(np.float64)[idx].sum() / np.sqrt(len(idx))
    assert model.score(text) == pytest.approx(1 / (1 + np.exp(-z)))
    # Batches give the single scores.
    batch = ["a", text, "", "noch ein Text"]
    assert model.scores(batch) == pytest.approx([model.score(t) for t in batch])


@pytest.mark.parametrize("lang", ["de", "en"])
def test_runtime_scores_equal_the_training_time_scores(lang):
    """The training script stores the scores it computed (scipy matrix times
    weights) for fixed sentences; the shipped scorer must give the same."""
    model = load_abuse_model(MODELS[lang])
    checks = model.meta["checks"]
    assert len(checks) >= 5
    texts = [t for t, _ in checks]
    assert model.scores(texts) == pytest.approx([s for _, s in checks], abs=1e-6)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_shipped_models_are_small_attributed_and_have_two_operating_points(lang):
    path = MODELS[lang]
    assert path.stat().st_size < 1_000_000
    model = load_abuse_model(path)
    assert model.language == lang and model.meta["format"] == FORMAT
    assert 0 < model.possible <= model.abusive < 1
    assert ("CC BY 4.0" if lang == "de" else "MIT") in model.meta["attribution"]
    assert model.meta["training"]["held_out"]["abusive"]["precision"] > 0


def test_shipped_models_ignore_topic_words_and_profanity():
    de = load_abuse_model(MODELS["de"])
    assert {"merkel", "afd", "scheiss*", "anschlag"} <= de.ignored
    en = load_abuse_model(MODELS["en"])
    assert {"shit", "fucking"} <= en.ignored
    # An ignored word changes nothing.
    assert en.score("this update is shit") == pytest.approx(en.score("this update is"))


def test_strongest_words_point_into_the_text():
    model = load_abuse_model(MODELS["de"])
    text = "@acme Was seid ihr nur für erbärmliche Gestalten"
    ranked = model.strongest_words(text)
    assert ranked and all(text[s:e] == w for w, s, e, _ in ranked)
    assert "acme" not in [w for w, _, _, _ in ranked]


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"not a zip", "cannot be read"),
        (None, "not found"),
    ],
)
def test_bad_model_files_say_what_is_wrong(tmp_path, content, reason):
    path = tmp_path / "m.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        load_abuse_model(path)


def test_wrong_metadata_is_named(tmp_path):
    path = tmp_path / "m.npz"
    meta = {"language": "de", "bits": 11, "bias": 0, "thresholds": {"abusive": 2}}
    save_abuse_model(path, meta, np.zeros(1 << 10))
    with pytest.raises(ValueError) as exc:
        load_abuse_model(path)
    assert "bits" in str(exc.value) and "thresholds.abusive" in str(exc.value)
    np.savez(path, weights=np.zeros(4), meta=np.array(json.dumps({"format": "other"})))
    with pytest.raises(ValueError, match=FORMAT):
        load_abuse_model(path)


GERMEVAL = ROOT.parent / "shared/data/germeval2018/germeval2018.training.txt"
if not GERMEVAL.exists():
    GERMEVAL = ROOT.parent.parent / "shared/data/germeval2018/germeval2018.training.txt"


def test_batch_scores_are_one_at_a_time_scores_on_real_tweets():
    """Training scores in batches, ingest one post at a time: the same numbers, bit for
    bit, on GermEval 2018's training tweets (Wiegand et al., CC BY 4.0, read in place)."""
    from backend.checks.quality import load_germeval

    if not GERMEVAL.exists():
        pytest.skip(f"GermEval 2018 data not found at {GERMEVAL}")
    tweets = [t for t, _ in load_germeval(GERMEVAL)][::5]
    for lang, path in MODELS.items():
        model = load_abuse_model(path)
        assert model.scores(tweets).tolist() == [model.score(t) for t in tweets], lang
