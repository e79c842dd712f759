"""The targets from issue 6 hold on the labelled set (quality only; speed is in bench/)."""

from pathlib import Path

from backend.checks.quality import evaluate, load_labelled

DATA = Path(__file__).resolve().parent / "data" / "rules_labelled.jsonl"


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
