"""rules/listening.yaml and rules/triage.yaml: loading and the errors a care-team lead sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backend.listening import load_listening, load_rules, load_triage
from backend.yamlfile import FileError, FileErrors
from tests.listening_helpers import RULES_DIR, project_rules


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def messages(exc: FileErrors) -> list[str]:
    return [str(e) for e in exc.errors]


def test_shipped_rules_load():
    rules = project_rules()
    assert rules.listening.accounts["mastodon"] == ("acme@social.example",)
    assert rules.listening.hashtags == ("acme", "acmefail", "acmehilfe")
    assert "Acme Go" in rules.listening.names and "ACME Corp" in rules.listening.names
    assert rules.listening.languages == ("en", "de")
    assert rules.triage.thresholds == {"P1": 7, "P2": 4, "P3": 2}
    assert "Kündigung*" in rules.triage.urgent_words["de"]


def test_listening_errors_name_file_line_and_key(tmp_path):
    path = write(
        tmp_path,
        "listening.yaml",
        """\
brand: Acme
accounts:
  mastodon: [acme@social.example, "two words"]
hashtag: [acme]
names: [Acme, ACME]
languages: [en, fr]
exclude:
  phrases: "acme of"
""",
    )
    with pytest.raises(FileErrors) as caught:
        load_listening(path)
    assert messages(caught.value) == [
        f"{path}:3: accounts.mastodon[1]: 'two words' is not a handle (expected name, name@server or name.domain)",
        f"{path}:4: hashtag: unknown setting (did you mean hashtags?)",
        f"{path}:5: names[1]: 'ACME' is listed twice (same as item 0 once case and accents are ignored)",
        f"{path}:6: languages[1]: expected en or de, got 'fr'",
        f"{path}:8: exclude.phrases: expected a list, got 'acme of'",
    ]


def test_listening_missing_sections(tmp_path):
    path = write(tmp_path, "listening.yaml", "brand: Acme\n")
    with pytest.raises(FileErrors) as caught:
        load_listening(path)
    assert messages(caught.value) == [
        f"{path}: accounts: missing (the brand's own handles, per platform)",
        f"{path}: names: missing (the brand's name as people write it)",
        f"{path}: languages: missing (the languages the team answers in: en, de)",
    ]


def test_triage_errors_name_file_line_and_key(tmp_path):
    path = write(
        tmp_path,
        "triage.yaml",
        """\
priorities: {P1: 3, P2: 4, P3: 2}
sentiment:
  - {below: -0.3, points: 2, label: negative}
  - {below: -1.5, points: 1, label: too low}
reach:
  - {at_least: 1000, points: 1}
  - {at_least: 10000, points: two}
urgent_words:
  points: 3
  en: [refund, Refund]
sentiment_words:
  de: {"geht nicht": -2, Ausfall: -9}
""",
    )
    with pytest.raises(FileErrors) as caught:
        load_triage(path)
    assert messages(caught.value) == [
        f"{path}:1: priorities: P1 must need a higher score than P2, and P2 than P3",
        f"{path}:4: sentiment[1].below: must be between -1 and 1, got -1.5",
        f"{path}:7: reach[1].points: expected a whole number, got 'two'",
        f"{path}:10: urgent_words.en[1]: 'Refund' is listed twice (same as item 0 once case and accents are ignored)",
        f"{path}:12: sentiment_words.de.geht nicht: must be a single word",
        f"{path}:12: sentiment_words.de.Ausfall: must be between -4 and 4, got -9",
    ]


def test_triage_bands_must_be_in_order(tmp_path):
    # The order of the bands is checked once every band is valid on its own.
    path = write(
        tmp_path,
        "triage.yaml",
        """\
priorities: {P1: 7, P2: 4, P3: 2}
sentiment:
  - {below: -0.3, points: 2, label: negative}
  - {below: -0.6, points: 3, label: very negative}
reach:
  - {at_least: 1000, points: 1}
  - {at_least: 10000, points: 2}
""",
    )
    with pytest.raises(FileErrors) as caught:
        load_triage(path)
    assert messages(caught.value) == [
        f"{path}:4: sentiment[1].below: bands go from most negative up; -0.6 is not above -0.3",
        f"{path}:7: reach[1].at_least: bands go from largest down; 10000 is not below 1000",
    ]


def test_load_rules_reports_both_files_at_once(tmp_path):
    write(
        tmp_path, "listening.yaml", "brand: [Acme]\naccounts: {}\nnames: [Acme]\nlanguages: [en]\n"
    )
    write(
        tmp_path,
        "triage.yaml",
        "priorities: {P1: 7, P2: 4, P3: 2}\nflags:\n  abusive: {points: lots}\n",
    )
    with pytest.raises(FileErrors) as caught:
        load_rules(tmp_path)
    assert messages(caught.value) == [
        f"{tmp_path / 'listening.yaml'}:1: brand: expected text, got a list",
        f"{tmp_path / 'triage.yaml'}:3: flags.abusive.points: expected a whole number, got 'lots'",
    ]


def test_missing_file_and_broken_yaml(tmp_path):
    shutil.copy(RULES_DIR / "triage.yaml", tmp_path / "triage.yaml")
    with pytest.raises(FileErrors) as caught:
        load_rules(tmp_path)
    assert messages(caught.value) == [f"{tmp_path / 'listening.yaml'}: file not found"]
    path = write(tmp_path, "listening.yaml", "names: [Acme\n")
    with pytest.raises(FileError) as broken:
        load_listening(path)
    assert str(broken.value).startswith(f"{path}:2: not valid YAML")


def test_terms_must_start_like_a_word(tmp_path):
    path = write(
        tmp_path,
        "listening.yaml",
        "brand: Acme\naccounts: {}\nnames:\n  - Acme\n  - '*acme'\nlanguages: [en]\n",
    )
    with pytest.raises(FileErrors) as caught:
        load_listening(path)
    assert messages(caught.value) == [
        f"{path}:5: names[1]: '*acme' must start with a letter or digit"
    ]
