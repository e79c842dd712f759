"""Measure the checks against labelled data: the project's own set in
tests/data/ and the GermEval 2018 German offensive-language tweets.

GermEval 2018: Michael Wiegand, Melanie Siegel, Josef Ruppenhofer, "Overview
of the GermEval 2018 Shared Task on the Identification of Offensive
Language", Proceedings of GermEval 2018, Vienna. Data CC BY 4.0
(uds-lsv/GermEval-2018-Data).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import CheckRules, check_inbound, check_outbound

# The checks the labelled set is scored on, in table order. "abusive~"
# counts a post as flagged at either operating point (abusive or possibly).
SCORED_CHECKS = (
    "personal_data",
    "defensive",
    "canned",
    "abusive",
    "abusive~",
    "negative",
    "blame",
    "shouting",
    "no_apology",
    "no_name",
)


@dataclass
class Counts:
    """True positives, false positives and false negatives for one check."""

    n: int = 0  # items that should have this check
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_labelled(path: Path) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The labelled items (JSON lines) and the team context beside them
    (team_context.json: templates and recent replies for the canned check)."""
    items = [
        json.loads(line)
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    context = json.loads((Path(path).parent / "team_context.json").read_text(encoding="utf-8"))
    return items, context


def run_item(rules: CheckRules, item: dict[str, Any], context: dict[str, list[str]]) -> set[str]:
    """The set of checks that fire on one labelled item ("abusive~": either point)."""
    got = _run_item(rules, item, context)
    if got & {"abusive", "possibly_abusive"}:
        got.add("abusive~")
    return got


def _run_item(rules: CheckRules, item: dict[str, Any], context: dict[str, list[str]]) -> set[str]:
    if item["direction"] == "outbound":
        findings = check_outbound(
            rules,
            item["text"],
            channel=item["channel"],
            language=item.get("language"),
            customer_name=item.get("customer_name"),
            customer_upset=item.get("customer_upset", False),
            recent_replies=context["recent_replies"],
            templates=context["templates"],
        )
    else:
        findings = check_inbound(
            rules, item["text"], channel=item["channel"], language=item.get("language")
        )
    return {f.check for f in findings}


def evaluate(
    rules: CheckRules,
    items: Iterable[dict[str, Any]],
    context: dict[str, list[str]],
    mistakes: list[tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, Counts]:
    """Counts per check over the labelled items; wrong calls go to `mistakes` if given."""
    counts = {check: Counts() for check in SCORED_CHECKS}
    for item in items:
        expected = set(item["expected"])
        if "abusive" in expected:
            expected.add("abusive~")
        got = run_item(rules, item, context)
        for check, c in counts.items():
            want, have = check in expected, check in got
            c.n += want
            c.tp += want and have
            c.fp += have and not want
            c.fn += want and not have
            if mistakes is not None and want != have:
                mistakes.append((("FN" if want else "FP") + " " + check, item))
    return counts


# --- GermEval 2018 -----------------------------------------------------------


def germeval_part(text: str) -> str:
    """ "tune" or "test", fixed by the text's SHA-256: the first byte below 128
    is tuning. Stable across runs and machines; no example chooses its side."""
    return "tune" if hashlib.sha256(text.encode("utf-8")).digest()[0] < 128 else "test"


def load_germeval(path: Path) -> list[tuple[str, bool]]:
    """(tweet text, is OFFENSE) pairs; `|LBR|` line-break markers become newlines."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        text, coarse, _fine = line.split("\t")
        rows.append((text.replace("|LBR|", "\n"), coarse == "OFFENSE"))
    return rows


def germeval_held_out(text: str) -> bool:
    """Whether a GermEval tweet is in the fixed held-out part (~30 %) that
    training/train_conduct.py never fits or tunes on: tweets of the old
    "test" half (which the phrase lists were never tuned on) whose second
    SHA-256 byte is below 154."""
    return germeval_part(text) == "test" and hashlib.sha256(text.encode("utf-8")).digest()[1] < 154


def evaluate_germeval(
    rules: CheckRules, rows: list[tuple[str, bool]], held_out: bool
) -> dict[str, Counts]:
    """OFFENSE precision/recall of the German conduct check at both operating
    points ("abusive": routed; "possible": abusive or possibly abusive), on
    the held-out part or on the training part."""
    counts = {"abusive": Counts(), "possible": Counts()}
    for text, offense in rows:
        if germeval_held_out(text) != held_out:
            continue
        checks = {f.check for f in check_inbound(rules, text, channel="public", language="de")}
        for point, flagged in (
            ("abusive", "abusive" in checks),
            ("possible", bool(checks & {"abusive", "possibly_abusive"})),
        ):
            c = counts[point]
            c.n += offense
            c.tp += offense and flagged
            c.fp += flagged and not offense
            c.fn += offense and not flagged
    return counts
