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
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import babel
import babel.numbers
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
    if isinstance(value, Joined):
        return [part.id for part in value.parts]
    if isinstance(value, (Text, Wording)):
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
        values = _rendered_params(self.params, language)
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

    def ref(self) -> dict[str, Any]:
        """The id and params without the wording, for clients that key on the text."""
        return {"id": self.id, "params": {k: _json_ready(v) for k, v in self.params.items()}}

    def __str__(self) -> str:
        return self.render(SOURCE_LANGUAGE)


def _rendered_params(params: Mapping[str, Any], language: str) -> dict[str, Any]:
    return {
        k: v.render(language)
        if isinstance(v, (Text, Wording, Joined))
        else _LocalNumber(v, language)
        if isinstance(v, float)
        else v
        for k, v in params.items()
    }


class _LocalNumber:
    """A decimal in a text, written the way the reader's language writes it: the pattern's
    own format (`{score:+.2f}`) first, then the locale's decimal and group marks
    ("-0,72" in German). Whole numbers are left alone: they are often ids."""

    def __init__(self, value: float, language: str):
        self.value = value
        self.language = language

    def __format__(self, spec: str) -> str:
        text = format(self.value, spec)
        decimal, group = _number_marks(self.language)
        if (decimal, group) == (".", ","):
            return text
        return text.replace(",", "\0").replace(".", decimal).replace("\0", group)

    def __str__(self) -> str:
        return self.__format__("")


@functools.cache
def _number_marks(language: str) -> tuple[str, str]:
    try:
        return babel.numbers.get_decimal_symbol(language), babel.numbers.get_group_symbol(language)
    except (ValueError, babel.UnknownLocaleError):
        return ".", ","


_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Wording:
    """A sentence a care lead wrote in a rules file, per language: `{en: ..., de: ...}`.

    Not in a gettext catalog (the lead edits the YAML, not .po files), so it carries its own
    texts; `id` names where it was written ("tone.defensive.message"). A language it lacks gets
    the English. `{name}` fields are filled from `params`; other braces are left as written, so
    a lead's text can never break rendering.
    """

    id: str
    texts: Mapping[str, str]
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, language: str = SOURCE_LANGUAGE) -> str:
        pattern = self.texts.get(language) or self.texts.get(SOURCE_LANGUAGE) or ""
        if not self.params:
            return pattern
        values = _rendered_params(self.params, language)
        return _FIELD.sub(
            lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(), pattern
        )

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "params": {k: _json_ready(v) for k, v in self.params.items()}}

    def __str__(self) -> str:
        return self.render(SOURCE_LANGUAGE)


@dataclass(frozen=True)
class Joined:
    """Several texts read as one ("This cannot be posted publicly: A; B"), each in the language."""

    parts: tuple[Text | Wording | Joined, ...]
    separator: str = "; "
    id: str = "joined"

    def render(self, language: str = SOURCE_LANGUAGE) -> str:
        return self.separator.join(part.render(language) for part in self.parts)

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "params": {"parts": [part.ref() for part in self.parts]}}

    def __str__(self) -> str:
        return self.render(SOURCE_LANGUAGE)


Message = Text | Wording | Joined
"""Anything a person reads that is rendered per language."""


def with_params(message: Text | Wording, /, **params: Any) -> Text | Wording:
    """`message` with more parameters (a rule's "Hi {name}" once the name is known)."""
    return replace(message, params={**message.params, **params})


# ------------------------------------------------------------------------- keeping texts
# A text kept in the database (a flag on a post, an advisory sent despite, a priority reason) is
# kept whole, so it can be shown later in whichever language the reader has: a catalog text by
# its id, English and params; a rules text with all its languages as they were when it fired.


def dump(message: Message) -> dict[str, Any]:
    """`message` as plain JSON, for `load`."""
    if isinstance(message, Joined):
        return {
            "id": message.id,
            "parts": [dump(p) for p in message.parts],
            "sep": message.separator,
        }
    params = {k: _dump_param(v) for k, v in message.params.items()}
    if isinstance(message, Wording):
        return {"id": message.id, "texts": dict(message.texts), "params": params}
    return {"id": message.id, "en": message.english, "params": params}


def _dump_param(value: Any) -> Any:
    if isinstance(value, (Text, Wording, Joined)):
        return {"$": dump(value)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def load(data: Any) -> Message:
    """What `dump` gave, back as a text; anything else (an older row's plain string, a broken
    value) as its English, untranslated, never an error: stored data must always show."""
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        if isinstance(data.get("parts"), list):
            return Joined(tuple(map(load, data["parts"])), str(data.get("sep", "; ")))
        raw = data.get("params")
        params = (
            {
                str(k): load(v["$"]) if isinstance(v, dict) and "$" in v else v
                for k, v in raw.items()
            }
            if isinstance(raw, dict)
            else {}
        )
        texts = data.get("texts")
        if isinstance(texts, dict) and all(isinstance(t, str) for t in texts.values()):
            return Wording(data["id"], texts, params)
        if isinstance(data.get("en"), str):
            return Text(data["id"], data["en"], params)
    return as_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))


# Ingest keeps a few reasons per post and they repeat ("tagged us", "urgent word: refund", a
# sentiment to two places): encoding each anew cost ~10 µs a reason, most of listening's budget.
_ENCODED: dict[tuple[Any, ...], tuple[Message, str]] = {}
_ENCODED_MOST = 4096


def _encoding_key(message: Message) -> tuple[Any, ...] | None:
    """What decides `encode(message)`, cheaply; nested texts by identity (the cache keeps them
    alive, so an identity is never reused while it is a key). None: not worth caching."""
    if not isinstance(message, Text):
        return None
    parts: list[Any] = [message.id, message.english]
    for name, value in message.params.items():
        if isinstance(value, (Text, Wording, Joined)):
            parts.append((name, id(value)))
        elif value is None or isinstance(value, (str, int, float, bool)):
            parts.append((name, type(value), value))
        else:
            return None
    return tuple(parts)


def encode(message: Message) -> str:
    """`message` as one line of text (a priority reason in a text[] column)."""
    key = _encoding_key(message)
    if key is not None:
        hit = _ENCODED.get(key)
        if hit is not None:
            return hit[1]
    encoded = json.dumps(dump(message), ensure_ascii=False, separators=(",", ":"))
    if key is not None:
        if len(_ENCODED) >= _ENCODED_MOST:
            _ENCODED.clear()
        _ENCODED[key] = (message, encoded)
    return encoded


def decode(stored: str) -> Message:
    """What `encode` gave, back as a text; a plain sentence (an older row) as it is."""
    if stored.startswith("{"):
        try:
            return load(json.loads(stored))
        except ValueError:
            pass
    return as_text(stored)


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
