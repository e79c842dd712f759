"""The targets from issue 6 hold on the labelled set (quality only; speed is in bench/)."""

from pathlib import Path

import pytest

from backend.checks.quality import evaluate, evaluate_germeval, load_germeval, load_labelled

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "rules_labelled.jsonl"


def test_labelled_set_is_big_and_bilingual():
    items, context = load_labelled(DATA)
    assert len(items) >= 300
    assert {i["language"] for i in items} >= {"en", "de"}
    assert {i["direction"] for i in items} == {"inbound", "outbound"}
    assert len(context["recent_replies"]) >= 200


def test_quality_targets(rules):
    items, context = load_labelled(DATA)
    counts = evaluate(rules, items, context)
    pd = counts["personal_data"]
    assert pd.recall >= 0.99 and pd.precision >= 0.95, pd
    for check in ("defensive", "canned", "abusive"):
        c = counts[check]
        assert c.n >= 20, (check, c)
        assert c.precision >= 0.85 and c.recall >= 0.85, (check, c)


GERMEVAL = Path("/work/shared/data/germeval2018/germeval2018.training.txt")
GERMEVAL = next(
    (
        p
        for p in (
            GERMEVAL,
            ROOT.parent / "shared/data/germeval2018/germeval2018.training.txt",
            ROOT.parent.parent / "shared/data/germeval2018/germeval2018.training.txt",
        )
        if p.exists()
    ),
    GERMEVAL,
)


@pytest.mark.skipif(not GERMEVAL.exists(), reason="GermEval 2018 data not found beside the repo")
def test_germeval_targets_on_the_unseen_half(rules):
    # Issue 6, point 7: precise first. GermEval 2018 (Wiegand et al.), CC BY 4.0.
    c = evaluate_germeval(rules, load_germeval(GERMEVAL), "test")
    assert c.n > 800
    assert c.precision >= 0.75 and c.f1 >= 0.6, c
