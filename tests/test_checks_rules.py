import shutil
from pathlib import Path

import pytest

from backend.checks import load_rules
from backend.yamlfile import FileErrors

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def rules_dir(tmp_path):
    for name in (
        "tone.yaml",
        "privacy.yaml",
        "conduct.yaml",
        "conduct_de_model.npz",
        "conduct_en_model.npz",
    ):
        shutil.copy(ROOT / "rules" / name, tmp_path / name)
    return tmp_path


def replace(path: Path, old: str, new: str) -> int:
    text = path.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def test_shipped_rules_load(rules_dir):
    assert load_rules(rules_dir).privacy.numbers


def test_errors_name_file_line_and_key_and_are_all_collected(rules_dir):
    bad_pattern = replace(
        rules_dir / "tone.yaml", "    - like we (already )?said", "    - like we (already said"
    )
    bad_number = replace(
        rules_dir / "tone.yaml", "  template_similarity: 0.9", "  template_similarity: high"
    )
    bad_switch = replace(rules_dir / "privacy.yaml", "iban: true", "iban: yes please")
    with pytest.raises(FileErrors) as caught:
        load_rules(rules_dir)
    messages = [str(e) for e in caught.value.errors]
    tone, privacy = str(rules_dir / "tone.yaml"), str(rules_dir / "privacy.yaml")
    assert any(
        m.startswith(f"{tone}:{bad_pattern}: defensive.en[") and "not a valid pattern" in m
        for m in messages
    )
    assert (
        f"{tone}:{bad_number}: canned.template_similarity: expected a number, got 'high'"
        in messages
    )
    assert f"{privacy}:{bad_switch}: iban: expected true or false, got 'yes please'" in messages


def test_unknown_key_and_pattern_matching_everything(rules_dir):
    line = replace(rules_dir / "conduct.yaml", "  lengths:\n", "  lenghts:\n")
    empty = replace(rules_dir / "privacy.yaml", "    pattern: KD ?\\d{8}", "    pattern: (KD)?")
    with pytest.raises(FileErrors) as caught:
        load_rules(rules_dir)
    text = "\n".join(str(e) for e in caught.value.errors)
    assert f"conduct.yaml:{line}: bio.lenghts: unknown setting (did you mean bio.lengths?)" in text
    assert f"privacy.yaml:{empty}: numbers[1].pattern: matches empty text" in text


def test_bio_that_fits_no_platform_is_refused(rules_dir):
    line = replace(rules_dir / "conduct.yaml", "    bluesky: 256", "    bluesky: 40")
    with pytest.raises(
        FileErrors, match=rf"conduct.yaml:{line}: bio.lengths.bluesky: no bio text fits"
    ):
        load_rules(rules_dir)


def test_missing_file(tmp_path):
    with pytest.raises(FileErrors) as caught:
        load_rules(tmp_path)
    assert len(caught.value.errors) == 3
    assert all("file not found" in str(e) for e in caught.value.errors)


def test_model_settings_are_checked_at_their_line(rules_dir):
    missing = replace(
        rules_dir / "conduct.yaml", "      file: conduct_de_model.npz", "      file: nowhere.npz"
    )
    wrong = replace(
        rules_dir / "conduct.yaml",
        "      file: conduct_en_model.npz",
        "      file: conduct_en_model.npz\n      possible: 1.5",
    )
    with pytest.raises(FileErrors) as caught:
        load_rules(rules_dir)
    text = "\n".join(str(e) for e in caught.value.errors)
    assert (
        f"conduct.yaml:{missing}: abusive.model.de.file: model file " in text
        and "not found" in text
    )
    assert f"conduct.yaml:{wrong + 1}: abusive.model.en.possible: must be between 0 and 1" in text


def test_model_operating_points_can_be_overridden(rules_dir):
    replace(
        rules_dir / "conduct.yaml",
        "      file: conduct_de_model.npz",
        "      file: conduct_de_model.npz\n      abusive: 0.9\n      possible: 0.6",
    )
    setting = load_rules(rules_dir).conduct.models["de"]
    assert (setting.abusive, setting.possible) == (0.9, 0.6)
    line = replace(rules_dir / "conduct.yaml", "      possible: 0.6", "      possible: 0.95")
    with pytest.raises(
        FileErrors,
        match=rf"conduct.yaml:{line}: abusive.model.de.possible: must not be above",
    ):
        load_rules(rules_dir)
