"""Every rules file is read through its schema: each kind of mistake a care lead
can make is reported at its file, line and dotted key, in words.

Each case starts from the shipped file and makes one edit; the message must
name the line the edit is on (or, for a missing key, the section it is missing
from).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.checks import load_rules as load_check_rules
from backend.listening import load_rules as load_listening_rules
from backend.rulebook import load_rulebook
from backend.yamlfile import FileError, FileErrors

ROOT = Path(__file__).resolve().parent.parent
LISTENING = ("listening.yaml", "triage.yaml")


@dataclass(frozen=True)
class Case:
    file: str
    old: str
    new: str
    at: str | None  # text on the line the message must name; None: no line (a top-level key)
    expected: str  # "dotted.key: reason"


CASES = {
    # rules/listening.yaml (no regular expressions and no numbers: names are words)
    "listening wrong type": Case(
        "listening.yaml",
        "names: [Acme]",
        "names: Acme",
        "names: Acme",
        "names: expected a list, got 'Acme'",
    ),
    "listening unknown key": Case(
        "listening.yaml",
        "hashtags: [acme,",
        "hashtag: [acme,",
        "hashtag:",
        "hashtag: unknown setting (did you mean hashtags?)",
    ),
    "listening value not allowed": Case(
        "listening.yaml",
        "  handles: exact",
        "  handles: always",
        "handles: always",
        "names_in_tags.handles: expected exact, prefix or off, got 'always'",
    ),
    "listening bad list item": Case(
        "listening.yaml",
        "  bluesky: [acme.bsky.social]",
        "  bluesky: [acme.bsky.social, '']",
        "bluesky:",
        "accounts.bluesky[1]: must not be empty",
    ),
    "listening missing": Case(
        "listening.yaml",
        "names: [Acme]\n",
        "",
        None,
        "names: missing (the brand's name as people write it)",
    ),
    # rules/triage.yaml
    "triage wrong type": Case(
        "triage.yaml",
        "  hashtag: 1",
        "  hashtag: one",
        "hashtag: one",
        "mentioned.hashtag: expected a whole number, got 'one'",
    ),
    "triage unknown key": Case(
        "triage.yaml",
        "{below: -0.3, points: 2, label: {en: negative,",
        "{below: -0.3, points: 2, lable: {en: negative,",
        "lable: {en: negative",
        "sentiment[1].lable: unknown setting (did you mean sentiment[1].label?)",
    ),
    "triage out of range": Case(
        "triage.yaml",
        "    outage: -2.5",
        "    outage: -25",
        "outage: -25",
        "sentiment_words.en.outage: must be between -4 and 4, got -25",
    ),
    "triage negative count": Case(
        "triage.yaml",
        "{at_least: 1000, points: 1}",
        "{at_least: -1, points: 1}",
        "at_least: -1",
        "reach[2].at_least: must be at least 0, got -1",
    ),
    "triage missing": Case(
        "triage.yaml",
        "  P2: 4\n",
        "",
        "priorities:",
        "priorities.P2: missing",
    ),
    # rules/tone.yaml
    "tone wrong type": Case(
        "tone.yaml",
        "  min_letters: 12",
        "  min_letters: twelve",
        "min_letters: twelve",
        "shouting.min_letters: expected a whole number, got 'twelve'",
    ),
    "tone unknown key": Case(
        "tone.yaml",
        "  suggestion:\n    en: Use normal capitalisation",
        "  suggestions:\n    en: Use normal capitalisation",
        "suggestions:",
        "shouting.suggestions: unknown setting (did you mean shouting.suggestion?)",
    ),
    "tone bad regex": Case(
        "tone.yaml",
        "    - not our department",
        "    - not our (department",
        "not our (department",
        "negative.en[8]: not a valid pattern: missing ), unterminated subpattern "
        "(at character 8) in 'not our (department'",
    ),
    "tone regex matching everything": Case(
        "tone.yaml",
        "    - not our department",
        "    - (not our department)?",
        "not our department)?",
        "negative.en[8]: matches empty text, so it would flag everything: '(not our department)?'",
    ),
    "tone out of range": Case(
        "tone.yaml",
        "  upper_share: 0.6",
        "  upper_share: 6",
        "upper_share: 6",
        "shouting.upper_share: must be between 0.1 and 1, got 6",
    ),
    "tone upset out of range": Case(
        "tone.yaml",
        "    sentiment_at_most: -0.25",
        "    sentiment_at_most: 0.5",
        "sentiment_at_most: 0.5",
        "apology.upset.sentiment_at_most: must be between -1 and 0, got 0.5",
    ),
    "tone missing": Case(
        "tone.yaml",
        "  message:\n    en: The reply does not use the customer's name.\n"
        "    de: Die Antwort nennt die Person nicht beim Namen.\n",
        "",
        "name:",
        "name.message: missing",
    ),
    # A text for the operator in a language the backend has no catalog for: at its own line.
    "tone message in an unknown language": Case(
        "tone.yaml",
        "    de: Wirkt wie Schreien.",
        "    fr: Ça crie.",
        "fr: Ça crie.",
        "shouting.message.fr: no catalog for language 'fr' (have: de, en); "
        "start one with: python scripts/i18n.py init fr",
    ),
    "tone message without English": Case(
        "tone.yaml",
        "  message:\n    en: Reads as shouting.\n    de: Wirkt wie Schreien.",
        "  message: {de: Wirkt wie Schreien.}",
        "message: {de: Wirkt wie Schreien.}",
        "shouting.message: needs the English text too (en:), shown where no other language fits",
    ),
    "conduct suggestion in an unknown language": Case(
        "conduct.yaml",
        "    en: Answer once with the house rules; don't argue.",
        "    eng: Answer once with the house rules; don't argue.",
        "eng: Answer once",
        "abusive.suggestion.eng: no catalog for language 'eng' (have: de, en); "
        "start one with: python scripts/i18n.py init eng",
    ),
    "triage label in an unknown language": Case(
        "triage.yaml",
        "label: {en: negative, de: negativ}",
        "label: {en: negative, es: negativo}",
        "es: negativo",
        "sentiment[1].label.es: no catalog for language 'es' (have: de, en); "
        "start one with: python scripts/i18n.py init es",
    ),
    # rules/privacy.yaml
    "privacy wrong type": Case(
        "privacy.yaml",
        "card: true",
        "card: sometimes",
        "card: sometimes",
        "card: expected true or false, got 'sometimes'",
    ),
    "privacy unknown key": Case(
        "privacy.yaml",
        "  keep_last: 2",
        "  keep_lats: 2",
        "keep_lats",
        "mask.keep_lats: unknown setting (did you mean mask.keep_last?)",
    ),
    "privacy bad regex": Case(
        "privacy.yaml",
        r"    pattern: VTR-\d{4}-\d{4}",
        r"    pattern: VTR-\d{4}-\d{4}[",
        "pattern: VTR",
        r"numbers[2].pattern: not a valid pattern: unterminated character set "
        r"(at character 15) in 'VTR-\\d{4}-\\d{4}['",
    ),
    "privacy out of range": Case(
        "privacy.yaml",
        "  keep_last: 2",
        "  keep_last: 9",
        "keep_last: 9",
        "mask.keep_last: must be between 0 and 4, got 9",
    ),
    "privacy limits out of order": Case(
        "privacy.yaml",
        "  max_digits: 15",
        "  max_digits: 5",
        "max_digits: 5",
        "phone.max_digits: must not be less than min_digits (8)",
    ),
    "privacy name used twice": Case(
        "privacy.yaml",
        "  - name: contract number",
        '  - name: "order number"',
        'name: "order number"',  # the second one, quoted here to find its line
        "numbers[2].name: 'order number' is used twice",
    ),
    "privacy missing": Case(
        "privacy.yaml",
        "  flag:\n    en: Personal data in a public post — suggest moving to a DM.\n"
        "    de: Persönliche Daten in einem öffentlichen Beitrag — am besten in eine DM verschieben.\n",
        "",
        "messages:",
        "messages.flag: missing",
    ),
    # rules/conduct.yaml
    "conduct wrong type": Case(
        "conduct.yaml",
        "    bluesky: 256",
        "    bluesky: [256]",
        "bluesky: [256]",
        "bio.lengths.bluesky: expected a whole number, got a list",
    ),
    "conduct unknown key": Case(
        "conduct.yaml",
        "threats:\n",
        "threat:\n",
        "threat:",
        "threat: unknown setting (did you mean threats?)",
    ),
    "conduct bad regex": Case(
        "conduct.yaml",
        "      - kys\n",
        "      - kys)\n",
        "kys)",
        "abusive.en.high[2]: not a valid pattern: unbalanced parenthesis "
        "(at character 3) in 'kys)'",
    ),
    "conduct out of range": Case(
        "conduct.yaml",
        "    bluesky: 256",
        "    bluesky: 10",
        "bluesky: 10",
        "bio.lengths.bluesky: must be at least 20, got 10",
    ),
    "conduct missing model file": Case(
        "conduct.yaml",
        "      file: conduct_de_model.npz",
        "      file: conduct_xx_model.npz",
        "conduct_xx_model.npz",
        "abusive.model.de.file: model file {dir}/conduct_xx_model.npz not found",
    ),
    "conduct missing": Case(
        "conduct.yaml",
        "house_rules:\n",
        "house_rulez:\n",
        None,
        "house_rules: missing",
    ),
}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


def load(rules_dir: Path, file: str) -> None:
    """The loader that reads `file` in the backend."""
    if file in LISTENING:
        load_listening_rules(rules_dir)
    else:
        load_check_rules(rules_dir)


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_each_mistake_is_named_by_file_line_and_key(rules_dir: Path, case: Case) -> None:
    path = rules_dir / case.file
    text = path.read_text(encoding="utf-8")
    assert text.count(case.old) == 1, f"the edit must be unambiguous: {case.old!r}"
    text = text.replace(case.old, case.new)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileErrors) as caught:
        load(rules_dir, case.file)
    messages = [str(e) for e in caught.value.errors]
    where = str(path)
    if case.at is not None:
        lines = [
            n
            for n, line in enumerate(text.splitlines(), 1)
            if case.at in line and not line.lstrip().startswith("#")
        ]
        assert len(lines) == 1, f"{case.at!r} must be on exactly one line"
        where += f":{lines[0]}"
    expected = f"{where}: {case.expected.replace('{dir}', str(rules_dir))}"
    assert expected in messages, "\n".join(messages)
    # Only the edited file is blamed.
    assert all(m.startswith(f"{path}:") for m in messages), "\n".join(messages)


def test_the_shipped_rules_all_load() -> None:
    rulebook = load_rulebook(ROOT / "rules")
    assert rulebook.listener.rules.listening.names[0] == "Acme"
    assert rulebook.listener.rules.triage.thresholds == {"P1": 7, "P2": 4, "P3": 2}
    assert rulebook.checks.privacy.numbers[0].name == "order number"
    assert set(rulebook.checks.conduct.models) == {"en", "de"}
    assert rulebook.checks.tone.shouting.min_letters == 12
    assert rulebook.saved and rulebook.sla.targets


def test_every_mistake_in_a_file_is_reported_together(rules_dir: Path) -> None:
    tone = rules_dir / "tone.yaml"
    text = tone.read_text(encoding="utf-8")
    for old, new in (
        ("    - not our department", "    - not our (department"),
        ("  upper_share: 0.6", "  upper_share: 6"),
        ("  caps_words_in_row: 3", "  caps_word_in_row: 3"),
        ("  min_words: 6", "  min_words: six"),
    ):
        text = text.replace(old, new)
    tone.write_text(text, encoding="utf-8")
    with pytest.raises(FileErrors) as caught:
        load_check_rules(rules_dir)
    keys = [e.key for e in caught.value.errors]
    assert keys == [
        "negative.en[8]",
        "shouting.caps_words_in_row",  # missing: reported at its section's line
        "shouting.upper_share",
        "shouting.caps_word_in_row",
        "canned.min_words",
    ]
    lines = [e.line for e in caught.value.errors]
    assert lines == sorted(lines)  # in file order, to fix top to bottom


def test_a_file_that_is_not_a_mapping(rules_dir: Path) -> None:
    (rules_dir / "privacy.yaml").write_text("- iban\n- card\n", encoding="utf-8")
    with pytest.raises(FileErrors) as caught:
        load_check_rules(rules_dir)
    assert [str(e) for e in caught.value.errors] == [
        f"{rules_dir / 'privacy.yaml'}: expected a mapping, got a list"
    ]


def test_an_empty_list_in_listening_means_none(rules_dir: Path) -> None:
    # A lead who comments out every alias leaves `aliases:` with nothing under it.
    path = rules_dir / "listening.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("  - ACME Corp\n  - Acmes", "#  - ACME Corp\n#  - Acmes"), encoding="utf-8"
    )
    rules = load_listening_rules(rules_dir)
    assert "ACME Corp" not in rules.listening.names and "Acme Go" in rules.listening.names


def test_broken_yaml_is_still_a_file_error(rules_dir: Path) -> None:
    (rules_dir / "conduct.yaml").write_text("bio: [\n", encoding="utf-8")
    with pytest.raises(FileErrors) as caught:
        load_check_rules(rules_dir)
    [error] = caught.value.errors
    assert isinstance(error, FileError) and "not valid YAML" in error.reason


def test_a_rulebook_is_built_once_per_state_of_its_files(tmp_path):
    """Unchanged files give the rulebook already built (a second app in the process, a
    reload of an untouched folder); any edit gives a new one, and a broken edit an error."""
    import shutil

    from backend.rulebook import load_rulebook
    from backend.yamlfile import FileErrors

    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    first = load_rulebook(folder)
    assert load_rulebook(folder) is first
    sla = folder / "sla.yaml"
    sla.write_text(sla.read_text() + "\n# a lead's note\n")
    edited = load_rulebook(folder)
    assert edited is not first
    sla.write_text("targets: soon\n")
    with pytest.raises(FileErrors) as err:
        load_rulebook(folder)
    assert "sla.yaml" in str(err.value)
