"""The gates that let ingest skip the privacy and abuse patterns must never
skip a text the pattern matches; and they must actually skip ordinary posts."""

import json
import random
import re
from pathlib import Path

import pytest

from backend.checks.prefilter import (
    LiteralGate,
    has_digit,
    literal_gate,
    needs_digit,
    required,
    trie_pattern,
)
from backend.checks.quality import load_germeval

ROOT = Path(__file__).resolve().parent.parent
GERMEVAL = ROOT.parent / "shared/data/germeval2018/germeval2018.training.txt"
if not GERMEVAL.exists():
    GERMEVAL = ROOT.parent.parent / "shared/data/germeval2018/germeval2018.training.txt"

# Characters the regex engine treats as equal to ASCII letters under IGNORECASE
# although str.lower() does not map them there: a gate must not miss these.
ODD_CASES = {"s": "ſS", "k": "\u212aK", "i": "ıİI", "a": "A", "u": "Uü"}


def _phrase_patterns(rules):
    c = rules.conduct
    return [p for sev in c.abusive.values() for p in sev.values()] + list(c.not_abusive.values())


def _texts():
    texts = [
        json.loads(line)["text"]
        for line in (ROOT / "tests/data/rules_labelled.jsonl").read_text().splitlines()
    ]
    if GERMEVAL.exists():
        texts += [t for t, _ in load_germeval(GERMEVAL)]
    return texts


def _case_variants(text, rng):
    """The text with letters swapped for case variants the engine matches alike."""
    out = []
    for ch in text:
        alts = ODD_CASES.get(ch.lower())
        out.append(
            rng.choice(alts)
            if alts and rng.random() < 0.5
            else (ch.upper() if rng.random() < 0.3 else ch)
        )
    return "".join(out)


def test_gates_never_skip_a_text_the_phrases_match(rules):
    rng = random.Random(3)
    texts = _texts()
    texts += [_case_variants(t, rng) for t in texts]
    matched = 0
    for pattern in _phrase_patterns(rules):
        gate = literal_gate(pattern)
        assert gate is not None, pattern.pattern[:60]
        for text in texts:
            if pattern.search(text):
                matched += 1
                assert gate.may_match(text), (pattern.pattern[:60], text)
    assert matched > 100  # the data does exercise the phrases


def test_gates_skip_ordinary_posts(rules):
    ordinary = [
        "@acme my parcel is three weeks late, where is it?",
        "Heute gibt es Kuchen im Büro, danke @acme",
        "#acmefail the app crashes on login again",
    ]
    gates = [literal_gate(p) for p in _phrase_patterns(rules)]
    skipped = sum(not g.may_match(t) for g in gates for t in ordinary)
    assert skipped >= len(gates) * len(ordinary) - 2


def test_odd_case_letters_reach_the_gate():
    pattern = re.compile(r"(?<!\w)(?:(?:kys)|(?:idiot\w*)|(?:scum))(?!\w)", re.IGNORECASE)
    gate = literal_gate(pattern)
    for text in ["\u212aYS", "ıdiots", "İDIOT", "ſcum", "SCUM"]:
        assert pattern.search(text), text
        assert gate.may_match(text), text
    assert not gate.may_match("nothing to see")


@pytest.mark.parametrize(
    "regex,literals",
    [
        (r"kys", {"kys"}),
        (r"(verreck|krepier)\w*", {"verreck", "krepier"}),
        (r"\w{3,}(idiot|depp)", {"idiot", "depp"}),
        (r"n[i1]gg(er|a)", {"nigger", "n1gger", "nigga", "n1gga"}),
        (r"(i )?hope you", {"hope you", "i hope you"}),
    ],
)
def test_required_literals(regex, literals):
    from re import _parser

    assert required(_parser.parse(regex, re.IGNORECASE)) == literals


@pytest.mark.parametrize("regex", [r"\w+", r"(a|\w+)x?", r"x?", r"."])
def test_no_gate_when_no_literal_is_certain(regex):
    assert literal_gate(re.compile(regex)) is None


def test_optional_parts_are_not_required():
    gate = literal_gate(re.compile(r"(?:foo)?bar?"))
    assert gate is not None and gate.may_match("ba") and not gate.may_match("foo")


@pytest.mark.parametrize(
    "regex,needs",
    [
        (r"ACM-?\d{6}", True),
        (r"KD ?\d{8}", True),
        (r"(?:\+|\b00)[1-9]\d{0,2}", True),
        (r"[0-9]+", True),
        (r"\d*x", False),
        (r"[^a-z]\d?", False),
        (r"(a|1)", False),
        (r"(?:2|1)", True),
    ],
)
def test_needs_digit(regex, needs):
    assert needs_digit(re.compile(regex)) is needs


def test_has_digit_sees_other_scripts():
    assert has_digit("order ٣") and has_digit("1") and not has_digit("no numbers here")


def test_trie_pattern_finds_every_literal():
    words = {"idiot", "idioten", "depp", "deppen", "pack", "hure"}
    regex = re.compile(trie_pattern(words))
    assert all(regex.search(f"du {w}!") for w in words)
    assert not regex.search("ein ganz normaler satz")


def test_privacy_still_finds_everything_without_digits_elsewhere(rules):
    from backend.checks.privacy import find_personal_data

    found = find_personal_data(
        rules.privacy, "mail me at jo@example.org or call +49 30 1234567, order ACM-123456"
    )
    assert [f.type for f in found] == ["email", "phone", "order number"]
    assert find_personal_data(rules.privacy, "no numbers and no mail here") == []


def test_literal_gate_handles_a_literal_list_directly():
    gate = LiteralGate({"scheiß", "ärger"})
    assert gate.may_match("SCHEIẞ") == bool(re.search("scheiß", "SCHEIẞ", re.IGNORECASE))
    assert gate.may_match("so ein ÄRGER") and not gate.may_match("alles gut")


def test_ascii_text_takes_the_lower_case_shortcut_only_when_it_is_exact():
    plain = LiteralGate({"idiot", "Pack"})
    assert plain._ascii_lower and plain.may_match("IDIOT") and plain.may_match("pACK")
    kelvin = LiteralGate({"\u212ays"})  # the Kelvin sign matches 'k' and 'K' under IGNORECASE
    assert not kelvin._ascii_lower
    assert kelvin.may_match("kys") and kelvin.may_match("KYS")


def test_latin1_text_gets_the_same_stand_ins_as_the_general_table():
    # The Kelvin sign stands for k and K: no Latin-1 table, the general one still answers.
    kelvin = LiteralGate({"\u212ays"})
    assert (
        kelvin._latin1 is None and kelvin.may_match("Kys, ärger") and not kelvin.may_match("ärger")
    )
    gate = LiteralGate({"scheiß", "ärger", "idiot", "sys"})
    assert gate._latin1 is not None
    rng = random.Random(9)
    alphabet = "abcdeiknorsty ÄäÖöÜüßẞſK\u212aİı😀µ"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12)))
        assert gate.may_match(text) == (
            "\x00" in text.translate(gate._table)
            or gate._search(text.translate(gate._table)) is not None
        ), text
        canon = gate._latin1_canon(text)
        assert canon is None or canon == text.translate(gate._table), text


def test_literals_containing_another_are_left_out():
    from backend.checks.prefilter import shortest_needed

    assert shortest_needed({"blöd", "der blöd", "blöde", "depp", "idiot", "vollidioten"}) == {
        "blöd",
        "depp",
        "idiot",
    }


@pytest.mark.parametrize(
    "regex,digits",
    [
        (r"ACM-?\d{6}", 6),
        (r"VTR-\d{4}-\d{4}", 8),
        (r"(?:\+|\b00)[1-9]\d{0,2}", 1),
        (r"\d*x", 0),
        (r"(12|3)[0-9]{2,}", 3),
        (r"(?<!\d)\w+", 0),
    ],
)
def test_min_digits(regex, digits):
    from backend.checks.prefilter import min_digits

    assert min_digits(re.compile(regex)) == digits


def test_count_digits_counts_what_the_regex_sees():
    from backend.checks.prefilter import count_digits

    assert (
        count_digits("order 12 of 345") == 5
        and count_digits("٣ and 4²") == 2
        and count_digits("none") == 0
    )
