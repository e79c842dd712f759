"""Train the German abusive-language model (rules/conduct_de_model.json).

    pip install scikit-learn          # only for this script, not at run time
    python bench/train_conduct_de.py --germeval PATH/germeval2018.training.txt

Data: GermEval 2018 (Michael Wiegand, Melanie Siegel, Josef Ruppenhofer,
"Overview of the GermEval 2018 Shared Task on the Identification of
Offensive Language", Proceedings of GermEval 2018, Vienna; CC BY 4.0,
uds-lsv/GermEval-2018-Data). Read in place; no tweet is copied into the
repository, only weights derived from them.

What it does, deterministically (fixed folds, no randomness elsewhere):

1. Keeps only the tuning half of the tweets (backend.checks.quality
   .germeval_part: SHA-256 of the text, first byte < 128). The other half
   is never read here, so bench/rules_quality.py can report on it honestly.
2. Features are backend.checks.abuse_model.features (words, word pairs,
   4-5 letter word pieces), minus IGNORED_WORDS: names of parties,
   politicians, countries, religions and generic politics words. Those
   correlate with OFFENSE in political tweets but say nothing about
   whether a customer's post insults someone.
3. Keeps features seen in at least MIN_TWEETS tuning tweets (no weight
   rests on a single example).
4. NB-weighted logistic regression (Wang & Manning 2012, "NBSVM"): each
   feature is scaled by its smoothed log-count ratio between OFFENSE and
   OTHER, then an L2 logistic regression is fitted. The scale is folded
   into the stored weight, so scoring is a plain sum.
5. Chooses the threshold by 5-fold cross-validation inside the tuning
   half: the check as shipped (phrase list OR model score >= threshold)
   must reach PRECISION_FLOOR precision on the held-out folds; among the
   thresholds that do, the one with the best F1 wins. The floor sits
   above the 0.75 target so that the unseen half has some room.
6. Refits on the whole tuning half and writes the JSON file, weights
   sorted from most abusive to most harmless so it reads like a lexicon.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.feature_extraction import DictVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from backend.checks import load_rules  # noqa: E402
from backend.checks.abuse_model import FORMAT, features  # noqa: E402
from backend.checks.conduct import find_abuse  # noqa: E402
from backend.checks.quality import germeval_part, load_germeval  # noqa: E402

# Words the model must not learn from (umlauts folded, lower case; "x*"
# means every word starting with x). Topic words first, then profanity:
# GermEval counts swearing as OFFENSE, but "Scheißservice" or "so ein Mist"
# from a customer is an angry complaint, not abuse. Insults built on them
# ("Scheißkerl", "Drecksverein") are in the phrase list.
IGNORED_WORDS = sorted(
    set(
        """
merkel merkels afd spd cdu csu fdp gruene gruenen linke linken npd
islam islams muslim muslime muslimen moslem moslems fluechtling fluechtlinge
fluechtlingen migrant migranten asyl deutschland deutsche deutschen deutscher
tuerkei tuerkische erdogan israel juden jude usa trump putin russland europa
eu schulz seehofer gauland weidel petry maas nahles regierung politik
politiker partei parteien
scheiss* scheis* beschissen* kacke* kack* mist verdammt* fuck* shit*
""".split()
    )
)
MIN_TWEETS = 2
SMOOTHING = 1.0  # add-one counts for the log-count ratio
C = 0.1  # inverse L2 strength; small C: many weak weights, few strong ones
FOLDS = 5
SEED = 7
PRECISION_FLOOR = 0.78
THRESHOLDS = [round(0.30 + 0.01 * i, 2) for i in range(66)]  # 0.30 .. 0.95
DECIMALS = 5


def fit(rows: list[set[str]], labels: np.ndarray) -> tuple[float, dict[str, float]]:
    """Bias and per-feature weights (log-count ratio folded in)."""
    seen = Counter(f for r in rows for f in r)
    keep = {f for f, n in seen.items() if n >= MIN_TWEETS}
    vec = DictVectorizer()
    x = vec.fit_transform([{f: 1 for f in r if f in keep} for r in rows])
    pos = SMOOTHING + np.asarray(x[labels == 1].sum(0)).ravel()
    neg = SMOOTHING + np.asarray(x[labels == 0].sum(0)).ravel()
    ratio = np.log((pos / pos.sum()) / (neg / neg.sum()))
    model = LogisticRegression(C=C, max_iter=5000)
    model.fit(x @ sp.diags(ratio), labels)
    coef = model.coef_.ravel() * ratio
    names = vec.get_feature_names_out()
    return float(model.intercept_[0]), {str(n): float(w) for n, w in zip(names, coef)}


def score(bias: float, weights: dict[str, float], feats: set[str]) -> float:
    z = bias + sum(weights.get(f, 0.0) for f in feats)
    return 1.0 / (1.0 + np.exp(-z))


def choose_threshold(rows, labels, phrase_hits) -> tuple[float, dict]:
    """Best-F1 threshold whose cross-validated precision reaches the floor."""
    scores = np.zeros(len(rows))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    for train, held in folds.split(np.zeros(len(rows)), labels):
        bias, weights = fit([rows[i] for i in train], labels[train])
        for i in held:
            scores[i] = score(bias, weights, rows[i])
    best = None
    for t in THRESHOLDS:
        flagged = phrase_hits | (scores >= t)
        tp = int((flagged & (labels == 1)).sum())
        fp = int((flagged & (labels == 0)).sum())
        fn = int((~flagged & (labels == 1)).sum())
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if p >= PRECISION_FLOOR and (best is None or f1 > best[1]["f1"]):
            best = (t, {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3)})
    if best is None:
        raise SystemExit(f"no threshold reaches precision {PRECISION_FLOOR} in cross-validation")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--germeval", type=Path, required=True, help="germeval2018.training.txt")
    parser.add_argument(
        "--rules",
        type=Path,
        default=ROOT / "rules",
        help="rules folder whose German phrase list the model complements",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "rules" / "conduct_de_model.json")
    args = parser.parse_args()

    # The phrase lists alone: the shipped model must not score its own training data.
    phrases_only = dataclasses.replace(load_rules(args.rules).conduct, models={})
    ignored = frozenset(IGNORED_WORDS)
    tune = [(t, y) for t, y in load_germeval(args.germeval) if germeval_part(t) == "tune"]
    rows = [features(t, ignored) for t, _ in tune]
    labels = np.array([int(y) for _, y in tune])
    phrase_hits = np.array([bool(find_abuse(phrases_only, t, ("de",))) for t, _ in tune])

    threshold, cv = choose_threshold(rows, labels, phrase_hits)
    bias, weights = fit(rows, labels)
    kept = {f: round(w, DECIMALS) for f, w in weights.items() if round(w, DECIMALS) != 0}
    ordered = dict(sorted(kept.items(), key=lambda kv: (-kv[1], kv[0])))
    doc = {
        "format": FORMAT,
        "about": (
            "German abusive-language model for the conduct check (rules/conduct.yaml). "
            "Score = 1 / (1 + exp(-(bias + sum of the weights of the post's features))); "
            "a post is flagged (severity medium) from `threshold`. Features: w:word, "
            "b:word pair, c:4-5 letter piece of a word padded with < and >; words are lower "
            "case with umlauts folded (ä->ae, ß->ss); ignored_words are dropped first. "
            "Regenerate with bench/train_conduct_de.py; do not edit weights by hand."
        ),
        "attribution": (
            "Weights derived from the GermEval 2018 training data: Michael Wiegand, "
            "Melanie Siegel, Josef Ruppenhofer, 'Overview of the GermEval 2018 Shared "
            "Task on the Identification of Offensive Language', Proceedings of GermEval "
            "2018, Vienna. Data licensed CC BY 4.0 (uds-lsv/GermEval-2018-Data); only "
            "the tuning half (SHA-256 of the text, first byte < 128) was used."
        ),
        "licence": "CC BY 4.0 (derived from GermEval 2018 data)",
        "language": "de",
        "training": {
            "tweets": len(tune),
            "offense": int(labels.sum()),
            "min_tweets_per_feature": MIN_TWEETS,
            "method": "NB-weighted logistic regression",
            "C": C,
            "smoothing": SMOOTHING,
            "threshold_rule": f"best F1 with precision >= {PRECISION_FLOOR}, {FOLDS}-fold CV "
            f"(seed {SEED}) inside the tuning half, phrase list OR model",
            "cross_validated": cv,
        },
        "threshold": threshold,
        "bias": round(bias, DECIMALS),
        "ignored_words": IGNORED_WORDS,
        "weights": ordered,
    }
    args.out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    top = list(ordered)[:15]
    print(f"wrote {args.out}: {len(ordered)} weights, threshold {threshold}, cross-validated {cv}")
    print("most abusive features:", ", ".join(top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
