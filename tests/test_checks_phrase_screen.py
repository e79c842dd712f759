"""The phrase screen in front of the conduct patterns must never turn away a
text a phrase matches, must turn away ordinary posts, and find_abuse behind
it must report exactly what running every pattern without gates reports."""

import json
import random
import re
from pathlib import Path

from backend.checks.conduct import SEVERITIES, find_abuse
from backend.checks.finding import FLAG, Finding, why
from backend.checks.language import LANGUAGES
from backend.checks.phrase_screen import PhraseScreen
from backend.checks.prefilter import required
from backend.checks.quality import load_germeval
from backend.i18n import say

ROOT = Path(__file__).resolve().parent.parent
GERMEVAL = ROOT.parent / "shared/data/germeval2018/germeval2018.training.txt"
if not GERMEVAL.exists():
    GERMEVAL = ROOT.parent.parent / "shared/data/germeval2018/germeval2018.training.txt"
LANGUAGE_SETS = [("en",), ("de",), LANGUAGES]
ODD_CASES = {"s": "ſS", "k": "\u212aK", "i": "ıİI", "u": "Uü"}


def _texts():
    texts = [
        json.loads(line)["text"]
        for line in (ROOT / "tests/data/rules_labelled.jsonl").read_text().splitlines()
    ]
    if GERMEVAL.exists():
        texts += [t for t, _ in load_germeval(GERMEVAL)][::3]
    rng = random.Random(11)
    texts += [
        "".join(
            rng.choice(ODD_CASES.get(ch.lower(), ch)) if rng.random() < 0.5 else ch.upper()
            for ch in t
        )
        for t in texts[:400]
    ]
    return texts


def _find_abuse_ungated(rules, text, languages):
    """find_abuse's phrase part as written before any gate: every pattern run
    (on texts without obfuscated words, which find_abuse spells out first)."""
    if rules.deobfuscator.clean(text).text != text:
        return None
    excused = []
    for lang in languages:
        pattern = rules.not_abusive.get(lang)
        if pattern:
            excused += [(m.start(), m.end()) for m in pattern.finditer(text)]
    for severity in SEVERITIES:
        for lang in languages:
            pattern = rules.abusive.get(lang, {}).get(severity)
            for m in pattern.finditer(text) if pattern else ():
                if not any(s <= m.start() and m.end() <= e for s, e in excused):
                    return [
                        Finding(
                            "abusive",
                            FLAG,
                            rules.message,
                            rules.suggestion,
                            m.start(),
                            m.end(),
                            {
                                "severity": severity,
                                "language": lang,
                                "phrase": m.group(),
                                **why(
                                    say("flag.why.phrase", "phrase: “{phrase}”", phrase=m.group())
                                ),
                            },
                        )
                    ]
    return None


def test_screen_never_turns_away_a_text_a_phrase_matches(rules):
    c = rules.conduct
    matched = 0
    for languages in LANGUAGE_SETS:
        screen = c.screen(languages)
        patterns = [p for _, p in screen.excuses] + [p for _, _, p in screen.abusive]
        for text in _texts():
            if any(g.pattern.search(text) for g in patterns):
                matched += 1
                assert screen.may_match(text), (languages, text)
                assert all(g.may_match(text) for g in patterns if g.pattern.search(text)), text
    # The data does exercise the phrases (the labelled posts alone give ~200; GermEval, where present, more).
    assert matched > 150


def test_screen_turns_away_ordinary_posts(rules):
    ordinary = [
        "@acme my parcel is three weeks late, where is it?",
        "@acme your app ate my order AGAIN. Where is my refund?",
        "Heute gibt es Kuchen im Büro, danke @acme",
        "#acmefail the app crashes on login again",
    ]
    for languages in LANGUAGE_SETS:
        assert not any(rules.conduct.screen(languages).may_match(t) for t in ordinary), languages


def test_find_abuse_reports_what_ungated_patterns_report(rules):
    c = rules.conduct
    flagged = 0
    for text in _texts():
        for languages in LANGUAGE_SETS:
            expected = _find_abuse_ungated(c, text, languages)
            if expected is not None:
                flagged += 1
                assert find_abuse(c, text, languages) == expected, (languages, text)
    assert flagged > 150


def test_a_pattern_without_a_gate_keeps_the_screen_open():
    anything = re.compile(r"(?<!\w)\w+ing(?!\w)", re.IGNORECASE)
    idiot = re.compile(r"(?<!\w)idiot\w*(?!\w)", re.IGNORECASE)
    assert not PhraseScreen([], [("medium", "en", idiot)]).may_match("waiting for my parcel")
    assert PhraseScreen([], [("medium", "en", idiot), ("high", "en", anything)]).may_match(
        "waiting"
    )


def test_a_repeat_joins_its_neighbours_in_the_required_literals():
    from re import _parser

    # Before: just "f", which nearly every post contains.
    assert required(_parser.parse(r"f\*+k", re.IGNORECASE)) == {"f*"}
    # The parser pulls the shared "f" out of the branches: f(?:uck|\*+k).
    assert required(_parser.parse(r"(fuck|f\*+k) (you|u)", re.IGNORECASE)) == {"uck", "*k"}
