"""Quality and speed of the tone, privacy and conduct checks.

    python bench/rules_quality.py [--germeval PATH]

Prints precision and recall per check on tests/data/rules_labelled.jsonl,
the time to check one outbound reply (with the team's ~200 recent replies
and templates for the canned check), the German abusive-language check
on both halves of GermEval 2018 (the tuning half is in-sample; only the
unseen half counts) and the time to check one inbound German post.

GermEval 2018 data: Wiegand, Siegel, Ruppenhofer, "Overview of the GermEval
2018 Shared Task on the Identification of Offensive Language", Proceedings
of GermEval 2018, Vienna (CC BY 4.0, uds-lsv/GermEval-2018-Data). It is read
in place, not copied.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.checks import check_inbound, check_outbound, load_rules  # noqa: E402
from backend.checks.quality import (  # noqa: E402
    Counts,
    evaluate,
    evaluate_germeval,
    germeval_part,
    load_germeval,
    load_labelled,
)

GERMEVAL = Path("shared/data/germeval2018/germeval2018.training.txt")


def default_germeval() -> Path:
    """The repo's sibling shared/ (../shared from the repo root); a worktree
    one level deeper finds it one level further up."""
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / GERMEVAL).exists():
            return base / GERMEVAL
    return ROOT.parent / GERMEVAL


def row(name: str, c: Counts) -> str:
    return f"{name:14} {c.n:4} {c.tp:4} {c.fp:4} {c.fn:4} {c.precision:9.3f} {c.recall:7.3f} {c.f1:6.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=ROOT / "rules")
    parser.add_argument("--labelled", type=Path, default=ROOT / "tests/data/rules_labelled.jsonl")
    parser.add_argument("--germeval", type=Path, default=default_germeval())
    args = parser.parse_args()

    rules = load_rules(args.rules)
    items, context = load_labelled(args.labelled)
    print(f"Labelled set: {len(items)} items ({args.labelled.relative_to(ROOT)})")
    header = f"{'check':14} {'n':>4} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7} {'F1':>6}"
    print(header)
    for check, c in evaluate(rules, items, context).items():
        print(row(check, c))

    outbound = [i for i in items if i["direction"] == "outbound"]
    times = []
    for _ in range(5):
        for item in outbound:
            t0 = time.perf_counter()
            check_outbound(
                rules,
                item["text"],
                channel=item["channel"],
                language=item["language"],
                customer_name=item.get("customer_name"),
                customer_upset=item.get("customer_upset", False),
                recent_replies=context["recent_replies"],
                templates=context["templates"],
            )
            times.append((time.perf_counter() - t0) * 1e6)
    times.sort()
    print(
        f"\nOne outbound reply ({len(context['recent_replies'])} recent replies, "
        f"{len(context['templates'])} templates): median {statistics.median(times):.0f} µs, "
        f"p99 {times[int(len(times) * 0.99)]:.0f} µs, max {times[-1]:.0f} µs over {len(times)} checks"
    )

    if not args.germeval.exists():
        print(f"\nGermEval 2018: {args.germeval} not found, skipped (pass --germeval PATH)")
        return 0
    rows = load_germeval(args.germeval)
    tune = sum(germeval_part(t) == "tune" for t, _ in rows)
    print("\nGermEval 2018 (Wiegand, Siegel, Ruppenhofer 2018), German abusive check vs OFFENSE")
    print("split: SHA-256 of the tweet text, first byte < 128 = tuning part; phrase list tuned and")
    print(
        "model (rules/conduct_de_model.json) trained only there, its threshold by 5-fold CV inside it"
    )
    print(f"tune size {tune}, test size {len(rows) - tune}")
    print(
        f"{'part':14} {'n':>4} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7} {'F1':>6}"
    )
    labels = {"tune": "tune (trained)", "test": "test (unseen)"}
    for part in ("tune", "test"):
        print(row(labels[part], evaluate_germeval(rules, rows, part)))

    # Time of the German abusive check on one inbound post (phrases, then model).
    unseen = [t for t, _ in rows if germeval_part(t) == "test"]
    times = []
    for text in unseen:
        t0 = time.perf_counter()
        check_inbound(rules, text, channel="dm", language="de")
        times.append((time.perf_counter() - t0) * 1e6)
    times.sort()
    print(
        f"\nOne inbound German post (unseen tweets, conduct check): median {statistics.median(times):.0f} µs, "
        f"p99 {times[int(len(times) * 0.99)]:.0f} µs, max {times[-1]:.0f} µs over {len(times)} checks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
