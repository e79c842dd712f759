"""The console's words in the operator's language: gettext catalogs kept with Babel.

Texts in the code are English and marked with `_()` (translated where they are made) or `N_()`
(marked only: bindings are declared once on the class, before anyone has chosen a language,
so the footer, the help and the palette translate their descriptions where they show them).
The catalogs live in `tui/locale/<lang>/LC_MESSAGES/messages.po`, compiled to `.mo` next to
them; `python scripts/i18n.py` extracts, updates and compiles (see the README).

One language per console process: `use_language()` is called once by the App before the first
screen is drawn. Numbers, dates and durations go through `babel_locale()` (tui/formats.py).
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

from babel import Locale

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"  # the texts in the code: no catalog needed

_translations: gettext.NullTranslations = gettext.NullTranslations()
_language = SOURCE_LANGUAGE
_chosen_by_operator = False  # --lang: it wins over the profile, for the backend's words too


def available_languages() -> list[str]:
    """English plus every language with a compiled catalog: a new catalog is a new language."""
    found = {SOURCE_LANGUAGE}
    if LOCALE_DIR.is_dir():
        for entry in LOCALE_DIR.iterdir():
            if (entry / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file():
                found.add(entry.name)
    return sorted(found)


def language_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The language the POSIX locale asks for (LC_ALL, then LC_MESSAGES, then LANG, as the C
    library reads them): 'de' for de_DE.UTF-8, None for C/POSIX or nothing set."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "").strip()
        if value:
            code = value.split(".")[0].split("@")[0].split("_")[0].lower()
            return None if code in ("c", "posix") else code
    return None


def choose_language(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """--lang if given, else the locale's language if we have it, else English."""
    languages = available_languages()
    if explicit:
        if explicit not in languages:
            raise ValueError(
                f"--lang {explicit}: no such catalog; available: {', '.join(languages)}"
            )
        return explicit
    wanted = language_from_environment(environ)
    return wanted if wanted in languages else SOURCE_LANGUAGE


def use_language(language: str, *, chosen_by_operator: bool = False) -> None:
    """Translate from now on into `language` (English, the source, needs no catalog).
    `chosen_by_operator`: asked for with --lang, so the backend answers in it too."""
    global _translations, _language, _chosen_by_operator
    _language = language
    _chosen_by_operator = chosen_by_operator
    _translations = gettext.translation(DOMAIN, LOCALE_DIR, [language], fallback=True)


def language() -> str:
    return _language


def language_headers() -> dict[str, str]:
    """How the console asks the backend for its language: Accept-Language always (the
    profile wins over it), and the override header when the operator chose it with --lang."""
    headers = {"Accept-Language": _language}
    if _chosen_by_operator:
        headers[LANGUAGE_OVERRIDE] = _language
    return headers


LANGUAGE_OVERRIDE = "X-Shiftdesk-Language"  # the backend reads it before the profile


def babel_locale() -> Locale:
    """The Babel locale for numbers, dates and durations in the chosen language."""
    return Locale.parse(_language)


def _(message: str) -> str:
    """`message` in the chosen language."""
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the chosen language."""
    return _translations.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark `message` for the catalog without translating it here (translated where shown)."""
    return message
