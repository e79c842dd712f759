"""Keep the translation catalogs: extract the marked texts, update each language, compile.

    python scripts/i18n.py extract            # tui/locale/messages.pot, backend/locale/messages.pot
    python scripts/i18n.py update             # merge new texts into every <lang>/messages.po
    python scripts/i18n.py compile            # .po -> .mo (the .mo files are committed)
    python scripts/i18n.py init fr            # start a new language (both catalogs)
    python scripts/i18n.py all                # extract, update, compile

The same as pybabel's extract/update/compile/init with the options below (babel.cfg maps the
sources). Locations are left out of the catalogs so moving code never changes them (fewer merge
conflicts); update does no fuzzy matching, so a changed text is untranslated until someone
translates it, and tests/test_i18n_catalogs.py fails until then.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parent.parent
# catalog name -> (the sources it is extracted from, its locale folder)
CATALOGS = {
    "tui": (ROOT / "tui", ROOT / "tui" / "locale"),
    "backend": (ROOT / "backend", ROOT / "backend" / "locale"),
}


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(name: str, output: Path | None = None) -> Path:
    """Write the catalog template (messages.pot) of `name`; returns its path."""
    sources, locale_dir = CATALOGS[name]
    pot = output or locale_dir / "messages.pot"
    pot.parent.mkdir(parents=True, exist_ok=True)
    pybabel(
        "extract",
        "-F",
        str(ROOT / "babel.cfg"),
        "-k",
        "N_",
        # The backend's say("id", "English {field}", field=...): the id is the gettext context.
        "-k",
        "say:1c,2",
        "--no-location",
        "--sort-output",
        "--project",
        "shiftdesk",
        "-o",
        str(pot),
        str(sources),
    )
    return pot


def languages(name: str) -> list[str]:
    _, locale_dir = CATALOGS[name]
    return sorted(p.parent.parent.name for p in locale_dir.glob("*/LC_MESSAGES/messages.po"))


def update(name: str) -> None:
    _, locale_dir = CATALOGS[name]
    if languages(name):
        pybabel(
            "update",
            "-i",
            str(locale_dir / "messages.pot"),
            "-d",
            str(locale_dir),
            "--no-fuzzy-matching",
            "--ignore-obsolete",
        )


def compile_(name: str) -> None:
    _, locale_dir = CATALOGS[name]
    if languages(name):
        pybabel("compile", "-d", str(locale_dir), "--statistics")


def init(name: str, language: str) -> None:
    _, locale_dir = CATALOGS[name]
    pybabel("init", "-i", str(locale_dir / "messages.pot"), "-d", str(locale_dir), "-l", language)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("extract", "update", "compile", "init", "all"):
        print(__doc__)
        return 2
    command = argv[0]
    for name in CATALOGS:
        if command in ("extract", "all"):
            extract(name)
        if command in ("update", "all"):
            update(name)
        if command == "init":
            if len(argv) != 2:
                print("usage: python scripts/i18n.py init LANG")
                return 2
            extract(name)
            init(name, argv[1])
        if command in ("compile", "all", "init"):
            compile_(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
