"""The translation catalogs are complete and current: every text marked in the code has a German
translation, no catalog keeps a stale or fuzzy entry, and the committed .mo is the compiled .po.

Fix a failure with `python scripts/i18n.py all`, then translate what it left empty.
"""

from __future__ import annotations

import gettext
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = {"tui": ROOT / "tui" / "locale", "backend": ROOT / "backend" / "locale"}
FIELD = re.compile(r"\{(\w*)[^{}]*\}")


def languages(locale_dir: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in locale_dir.glob("*/LC_MESSAGES/messages.po"))


def key(m: Message) -> tuple[str | None, object]:
    """An entry is its context and its text: the backend's texts carry a stable id as context,
    and two ids may share an English text ("claimed" the state, "claimed" the report word)."""
    return (m.context, m.id)


def extracted(name: str, tmp_path: Path) -> dict[object, Message]:
    """What the code marks now, extracted afresh into a temporary .pot."""
    pot = tmp_path / f"{name}.pot"
    code = (
        "import sys; sys.path.insert(0, 'scripts'); import i18n; "
        f"i18n.extract({name!r}, __import__('pathlib').Path({str(pot)!r}))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    with pot.open("rb") as f:
        return {key(m): m for m in read_po(f) if m.id}


def test_german_is_among_the_languages() -> None:
    for locale_dir in CATALOGS.values():
        assert "de" in languages(locale_dir)


@pytest.mark.parametrize("name", sorted(CATALOGS))
def test_template_is_current(name: str, tmp_path: Path) -> None:
    fresh = extracted(name, tmp_path)
    with (CATALOGS[name] / "messages.pot").open("rb") as f:
        committed = {key(m) for m in read_po(f) if m.id}
    assert set(fresh) - committed == set(), "marked in the code, not in messages.pot"
    assert committed - set(fresh) == set(), "in messages.pot, no longer in the code"


@pytest.mark.parametrize(
    "name,language",
    [(name, lang) for name, locale_dir in CATALOGS.items() for lang in languages(locale_dir)],
)
def test_every_marked_text_is_translated(name: str, language: str, tmp_path: Path) -> None:
    fresh = extracted(name, tmp_path)
    po_path = CATALOGS[name] / language / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as f:
        catalog = read_po(f)
    entries = {key(m): m for m in catalog if m.id}
    assert not catalog.obsolete, f"{po_path}: obsolete entries {list(catalog.obsolete)}"
    missing = [k for k in fresh if k not in entries]
    stale = [k for k in entries if k not in fresh]
    fuzzy = [k for k, m in entries.items() if m.fuzzy]
    empty = [
        k
        for k, m in entries.items()
        if not (all(m.string) if isinstance(m.string, (list, tuple)) else m.string)
    ]
    assert missing == [], f"{po_path}: no translation for {missing}"
    assert stale == [], f"{po_path}: stale entries {stale}"
    assert fuzzy == [], f"{po_path}: fuzzy entries {fuzzy}"
    assert empty == [], f"{po_path}: untranslated {empty}"
    # A translation keeps the {fields} its English fills in, or .format() breaks at run time.
    for found, m in entries.items():
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, (list, tuple)) else (m.string,)
        wanted = set(FIELD.findall(ids[-1]))
        for text in strings:
            assert set(FIELD.findall(text)) == wanted, f"{po_path}: {found!r} -> {text!r}"


@pytest.mark.parametrize(
    "name,language",
    [(name, lang) for name, locale_dir in CATALOGS.items() for lang in languages(locale_dir)],
)
def test_committed_mo_is_the_compiled_po(name: str, language: str) -> None:
    """The .mo files are committed (a fresh clone installs without a build step); stale ones fail."""
    folder = CATALOGS[name] / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as f:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(f))
    compiled.seek(0)
    with (folder / "messages.mo").open("rb") as f:
        committed = gettext.GNUTranslations(f)
    assert committed._catalog == gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]


def test_no_marked_text_hides_in_an_f_string() -> None:
    """_("…") inside an f-string is invisible to extraction (Python 3.11 tokenizes it whole)."""
    hidden = re.compile(r"""\{_\(["']|\{ngettext\(["']""")
    for source in [*ROOT.joinpath("tui").rglob("*.py"), *ROOT.joinpath("backend").rglob("*.py")]:
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            assert not hidden.search(line), f"{source}:{number}: {line.strip()}"
