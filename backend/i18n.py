"""The backend's words in the operator's language: gettext catalogs kept with Babel.

A text a person reads (an API error, a refusal, the handover report) is written in English in
the code and marked for the catalog in `backend/locale` (`python scripts/i18n.py` extracts,
updates and compiles it, next to the console's own catalog in `tui/locale`):

- `say("conversation.none", "There is no conversation {conversation}.", conversation=7)` makes a
  `Text`: a stable id (the gettext context, so clients can key on it whatever the wording),
  the English source and its parameters. It is rendered per request, so one exception raised
  deep in a rule can answer each operator in their own language.
- Longer texts built in one place (the handover report) use `catalog(language).gettext`
  bound to `_`, as the console does.

Which language a request gets: the operator's profile language if set (and we have it), else
the best match for Accept-Language (Babel's `negotiate_locale`), else English. A third language
is a new catalog (`python scripts/i18n.py init fr`), not code.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel import Locale, negotiate_locale

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"  # the texts in the code: no catalog needed


@functools.cache
def available_languages() -> tuple[str, ...]:
    """English plus every language with a compiled backend catalog."""
    found = {SOURCE_LANGUAGE}
    if LOCALE_DIR.is_dir():
        found.update(
            entry.name
            for entry in LOCALE_DIR.iterdir()
            if (entry / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()
        )
    return tuple(sorted(found))


@functools.cache
def catalog(language: str) -> gettext.NullTranslations:
    """The translations into `language`; English (or a language we lack) translates to itself."""
    return gettext.translation(DOMAIN, LOCALE_DIR, [language], fallback=True)


def babel_locale(language: str) -> Locale:
    """The Babel locale for numbers, dates and durations in `language`."""
    return Locale.parse(language)


def _json_ready(value: Any) -> Any:
    if isinstance(value, Text):
        return value.id  # a nested text (a state's wording, an action's name) by its stable id
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass(frozen=True)
class Text:
    """A sentence for a person: a stable id, the English source with {fields}, the values.

    `str()` gives the English (logs, exceptions printed by the CLI); `render(language)` the
    operator's. Parameters that are themselves `Text` are rendered in the same language.
    """

    id: str
    english: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, language: str = SOURCE_LANGUAGE) -> str:
        pattern = catalog(language).pgettext(self.id, self.english)
        values = {
            k: v.render(language) if isinstance(v, Text) else v for k, v in self.params.items()
        }
        try:
            return pattern.format(**values)
        except (KeyError, IndexError, ValueError):
            # A translation with a broken field must not turn an error into a 500: fall back.
            return self.english.format(**values)

    def to_json(self, language: str) -> dict[str, Any]:
        """`error` (the text in `language`), `error_id` and `params`, as every API error carries.

        `error_id`, not `message_id`: in this API a message is a reply we send."""
        return {
            "error": self.render(language),
            "error_id": self.id,
            "params": {k: _json_ready(v) for k, v in self.params.items()},
        }

    def __str__(self) -> str:
        return self.render(SOURCE_LANGUAGE)


def say(error_id: str, english: str, /, **params: Any) -> Text:
    """Mark `english` for the catalog under the stable id `error_id`; rendered later, per request.

    Extracted by `scripts/i18n.py` as a gettext context (the id) and message (the English)."""
    return Text(error_id, english, params)


def as_text(message: Text | str) -> Text:
    """A `Text` as it is; a bare string (from code that has no catalog entry) untranslated."""
    if isinstance(message, Text):
        return message
    return Text("untranslated", "{text}", {"text": message})


def accepted_languages(header: str | None) -> list[str]:
    """Accept-Language as a list, most wanted first ('*' and q=0 left out; malformed parts too)."""
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        tag = tag.strip()
        quality = 1.0
        rest = rest.strip()
        if rest.startswith("q="):
            try:
                quality = float(rest[2:])
            except ValueError:
                continue
        if not tag or tag == "*" or quality <= 0 or len(tag) > 35:
            continue
        wanted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(wanted)]


def negotiate(profile: str | None, accept_language: str | None) -> str:
    """The language to answer in: the operator's profile, else Accept-Language, else English."""
    languages = available_languages()
    if profile in languages:
        return profile
    found = negotiate_locale(accepted_languages(accept_language), languages, sep="-", aliases={})
    if found is None:
        return SOURCE_LANGUAGE
    # negotiate_locale answers in the client's spelling ("DE", "de-DE" -> "de"); use ours.
    return next((lang for lang in languages if lang.lower() == found.lower()), SOURCE_LANGUAGE)


class Refused(ValueError):
    """A ValueError a person reads: its message is a `Text`, rendered where it is answered."""

    def __init__(self, text: Text):
        self.text = text
        self.message = str(text)  # the English, for logs, the CLI and tests
        super().__init__(self.message)


def text_of(exc: BaseException) -> Text:
    """What `exc` says, as a `Text` when it carries one, else its English untranslated."""
    text = getattr(exc, "text", None)
    return text if isinstance(text, Text) else as_text(str(exc))
