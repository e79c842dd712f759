"""Load rules/tone.yaml, rules/privacy.yaml and rules/conduct.yaml into one
frozen CheckRules, reporting every mistake as file:line: key: reason.

Each file is described by a `Schema` model (`ToneFile`, `PrivacyFile`,
`ConductFile`): types, defaults and limits declared once, every phrase
compiled while it is checked so a bad regular expression is reported at its
line. The models are then compiled into the plain dataclasses the checks run
on (one alternation per phrase list, see phrases.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    ValidationInfo,
    model_validator,
)

from backend import schema, yamlfile
from backend.i18n import Wording
from backend.schema import Problem, Prose, Said, Schema, Text
from backend.yamlfile import Located, describe

from .abuse_model import AbuseModel, load_abuse_model
from .canned import CannedRule
from .conduct import ADVISORY_SEVERITY, SEVERITIES, ConductRules, ModelSetting
from .deobfuscate import Deobfuscator
from .language import LANGUAGES
from .phrases import PhraseCheck, compile_phrase, compile_phrases
from .privacy import NumberFormat, PrivacyRules, national_digits
from .tone import ShoutingRule, ToneRules, UpsetRule

RULE_FILES = ("tone.yaml", "privacy.yaml", "conduct.yaml")


@dataclass(frozen=True)
class CheckRules:
    """Everything the tone, privacy and conduct checks need, compiled once."""

    tone: ToneRules
    canned: CannedRule
    privacy: PrivacyRules
    conduct: ConductRules
    files: tuple[str, ...] = ()


# ------------------------------------------------------------------------- shared types


def _phrase(phrase: str) -> str:
    # Compiled as the checks will compile it, so a mistake shows at its own line.
    try:
        pattern = compile_phrase(phrase)
    except re.error as exc:
        raise ValueError(
            f"not a valid pattern: {_regex_error(phrase, exc)} in {phrase!r}"
        ) from None
    if pattern.search(""):
        raise ValueError(f"matches empty text, so it would flag everything: {phrase!r}")
    return phrase


def _regex_error(phrase: str, wrapped: re.error) -> str:
    """What is wrong, at a position counted in the phrase as written
    (compile_phrase wraps it in word boundaries, which shifts the count)."""
    try:
        re.compile(phrase)
    except re.error as exc:
        return f"{exc.msg} (at character {exc.pos})"
    return wrapped.msg


Phrase = Annotated[Text, AfterValidator(_phrase)]
"""A regular expression matched on whole words, any case."""
Phrases = list[Phrase]
Share = Annotated[float, Field(ge=0.5, le=1)]


class Advice(Schema):
    """What the operator is told, and what to do instead (each a text or one per language)."""

    message: Said
    suggestion: Said


class PhraseSection(Advice):
    """A check that fires on any of its phrases (`defensive:`, `negative:`, ...)."""

    en: Phrases
    de: Phrases


class PhrasesByLanguage(Schema):
    """Phrases per language, either left out."""

    en: Phrases = []
    de: Phrases = []


def _by_language(section: PhrasesByLanguage | PhraseSection) -> dict[str, re.Pattern[str]]:
    """One pattern per language that lists any phrase."""
    out = {}
    for lang in LANGUAGES:
        pattern = compile_phrases(getattr(section, lang))
        if pattern is not None:
            out[lang] = pattern
    return out


# ------------------------------------------------------------------------- tone.yaml


class ShoutingSection(Advice):
    """`shouting:`, when a reply reads as shouting."""

    upper_share: Annotated[float, Field(ge=0.1, le=1)]
    min_letters: Annotated[int, Field(ge=1)]
    caps_words_in_row: Annotated[int, Field(ge=2)]
    exclamations_in_row: Annotated[int, Field(ge=2)]
    not_shouting: list[str] = []
    acronym_letters: Annotated[int, Field(ge=0)] = 0


class WordsByLanguage(Schema):
    """Plain words per language, either left out."""

    en: list[Text] = []
    de: list[Text] = []


class UpsetSection(Schema):
    """`apology.upset:`, when a customer's post reads as upset."""

    sentiment_at_most: Annotated[float, Field(ge=-1, le=0)] = -0.25
    fault_words: WordsByLanguage = WordsByLanguage()


class ApologySection(PhraseSection):
    """`apology:`, the phrases that apologise, and when the customer is upset."""

    upset: UpsetSection = UpsetSection()


class CannedSection(Schema):
    """`canned:`, templates sent unedited and copies of recent replies."""

    template_similarity: Share
    recent_similarity: Share
    min_words: Annotated[int, Field(ge=1)]
    template_message: Said
    template_suggestion: Said
    recent_message: Said
    recent_suggestion: Said
    stock_message: Said | None = None
    stock_suggestion: Said | None = None
    stock: PhrasesByLanguage = PhrasesByLanguage()


class ToneFile(Schema):
    """What rules/tone.yaml may say (see that file for the format)."""

    defensive: PhraseSection
    negative: PhraseSection
    blame: PhraseSection
    shouting: ShoutingSection
    apology: ApologySection
    name: Advice
    canned: CannedSection


def _said(file: str, key: str, texts: dict[str, str]) -> Wording:
    """A rules text as the checks report it: its id says where it was written."""
    return Wording(f"{file}.{key}", texts)


def _advice(file: str, key: str, section: Advice) -> tuple[Wording, Wording]:
    return (
        _said(file, f"{key}.message", section.message),
        _said(file, f"{key}.suggestion", section.suggestion),
    )


def _given_said(file: str, **fields: tuple[str, dict[str, str] | None]) -> dict[str, Wording]:
    """The texts a file gave (field -> (key in the file, texts)) as wordings; the rest keep the
    defaults the dataclass declares."""
    return {
        name: _said(file, key, texts) for name, (key, texts) in fields.items() if texts is not None
    }


def _tone(doc: Located) -> tuple[ToneRules, CannedRule]:
    f = schema.validate_document(doc, ToneFile)
    s, c = f.shouting, f.canned
    checks = tuple(
        PhraseCheck(name, *_advice("tone", name, section), _by_language(section))
        for name, section in (
            ("defensive", f.defensive),
            ("negative", f.negative),
            ("blame", f.blame),
        )
    )
    apology = PhraseCheck(
        "no_apology", *_advice("tone", "apology", f.apology), _by_language(f.apology)
    )
    shouting = ShoutingRule(
        *_advice("tone", "shouting", s),
        s.upper_share,
        s.min_letters,
        s.caps_words_in_row,
        s.exclamations_in_row,
        frozenset(w.upper() for w in s.not_shouting),
        s.acronym_letters,
    )
    canned = CannedRule(
        c.template_similarity,
        c.recent_similarity,
        c.min_words,
        _said("tone", "canned.template_message", c.template_message),
        _said("tone", "canned.template_suggestion", c.template_suggestion),
        _said("tone", "canned.recent_message", c.recent_message),
        _said("tone", "canned.recent_suggestion", c.recent_suggestion),
        stock=_by_language(c.stock),
        **_given_said(
            "tone",
            stock_message=("canned.stock_message", c.stock_message),
            stock_suggestion=("canned.stock_suggestion", c.stock_suggestion),
        ),
    )
    u = f.apology.upset
    upset = UpsetRule(
        u.sentiment_at_most,
        {lang: frozenset(w.lower() for w in getattr(u.fault_words, lang)) for lang in LANGUAGES},
    )
    return ToneRules(checks, shouting, apology, *_advice("tone", "name", f.name), upset), canned


# ------------------------------------------------------------------------- privacy.yaml


def _national(number: object) -> str:
    # Compared by digits: "+49 800 123 4567" is "0800 1234567".
    digits = national_digits(str(number))
    if isinstance(number, bool) or len(digits) < 5:
        raise ValueError(f"expected a phone number, got {describe(number)}")
    return digits


def _digits(prefix: object) -> str:
    # Quoted or not: YAML reads 800 as a number, "0800" as text.
    text = prefix if isinstance(prefix, str) else str(prefix)
    if isinstance(prefix, bool) or not text.isdigit():
        raise ValueError(f"expected digits, got {describe(prefix)}")
    return text


def _one_character(symbol: str) -> str:
    if len(symbol) != 1:
        raise ValueError(f"must be one character, got {symbol!r}")
    return symbol


def _lower(text: str) -> str:
    return text.strip().lower()


class PhoneSection(Schema):
    """`phone:`, which numbers count as phone numbers."""

    min_digits: Annotated[int, Field(ge=3)]
    max_digits: Annotated[int, Field(ge=3)]
    patterns: Phrases

    @model_validator(mode="after")
    def _in_order(self) -> PhoneSection:
        if self.min_digits > self.max_digits:
            raise Problem(f"must not be less than min_digits ({self.min_digits})", "max_digits")
        return self


class NumberEntry(Schema):
    """One of the brand's own number formats under `numbers:`."""

    name: Text
    pattern: Phrase


class PrivacyMessages(Schema):
    """`messages:`, what a refusal and a flag say."""

    refusal: Said
    refusal_suggestion: Said
    flag: Said
    flag_suggestion: Said


class MaskSection(Schema):
    """`mask:`, how hidden personal data is shown."""

    symbol: Annotated[str, AfterValidator(_one_character)] = "•"
    keep_last: Annotated[int, Field(ge=0, le=4)] = 2


class BrandContacts(Schema):
    """`brand_contacts:`, the brand's published details (never personal data)."""

    phones: list[Annotated[str, BeforeValidator(_national)]] = []
    emails: list[Annotated[str, AfterValidator(_lower)]] = []
    domains: list[Annotated[str, AfterValidator(_lower)]] = []


class ServiceNumbers(Schema):
    """`service_numbers:`, toll-free and service lines by their first digits."""

    prefixes: list[Annotated[str, BeforeValidator(_digits)]] = []
    message: Said | None = None
    suggestion: Said | None = None


class PrivacyFile(Schema):
    """What rules/privacy.yaml may say (see that file for the format)."""

    iban: bool
    card: bool
    email: bool
    phone: PhoneSection
    numbers: Annotated[list[NumberEntry], schema.once_each("name")] = []
    allowed: Phrases = []
    messages: PrivacyMessages
    mask: MaskSection = MaskSection()
    brand_contacts: BrandContacts = BrandContacts()
    service_numbers: ServiceNumbers = ServiceNumbers()


def _privacy(doc: Located) -> PrivacyRules:
    f = schema.validate_document(doc, PrivacyFile)
    m, service = f.messages, f.service_numbers
    return PrivacyRules(
        f.iban,
        f.card,
        f.email,
        tuple(re.compile(p) for p in f.phone.patterns),
        f.phone.min_digits,
        f.phone.max_digits,
        tuple(NumberFormat(n.name, compile_phrase(n.pattern)) for n in f.numbers),
        tuple(re.compile(p, re.IGNORECASE) for p in f.allowed),
        _said("privacy", "messages.refusal", m.refusal),
        _said("privacy", "messages.refusal_suggestion", m.refusal_suggestion),
        _said("privacy", "messages.flag", m.flag),
        _said("privacy", "messages.flag_suggestion", m.flag_suggestion),
        f.mask.symbol,
        f.mask.keep_last,
        frozenset(f.brand_contacts.phones),
        frozenset(f.brand_contacts.emails),
        tuple(d.lstrip("@") for d in f.brand_contacts.domains),
        tuple(service.prefixes),
        **_given_said(
            "privacy",
            service_message=("service_numbers.message", service.message),
            service_suggestion=("service_numbers.suggestion", service.suggestion),
        ),
    )


# ------------------------------------------------------------------------- conduct.yaml


def _single_word(word: str) -> str:
    if not word.strip() or " " in word.strip():
        raise ValueError(f"expected a single word, got {word!r}")
    return word.strip().lower()


def _model_file(name: object, info: ValidationInfo) -> AbuseModel:
    # Loaded while checking, so a missing or broken model is reported at its line.
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"expected a model file name, got {describe(name)}")
    return load_abuse_model(schema.beside(info, name))


Threshold = Annotated[float, Field(gt=0, lt=1)]


class PerLanguageText(Schema):
    """A text in every language (`house_rules:`, `reply:`)."""

    en: Prose
    de: Prose


class BioSection(Schema):
    """`bio:`, the house-rules statement fitted to each platform's bio."""

    lengths: dict[str, Annotated[int, Field(ge=20)]]
    texts: list[Prose]

    @model_validator(mode="after")
    def _fits(self) -> BioSection:
        if self.lengths and not self.texts:
            raise Problem("needs at least one text", "texts")
        shortest = min(map(len, self.texts), default=0)
        for platform, limit in self.lengths.items():
            if shortest > limit:
                raise Problem(
                    f"no bio text fits {platform}'s {limit} characters (shortest is {shortest})",
                    "lengths",
                    platform,
                )
        return self


class ModelEntry(Schema):
    """`abusive.model.<language>:`, a model file beside conduct.yaml and,
    optionally, thresholds overriding the ones it was trained with."""

    file: Annotated[AbuseModel, PlainValidator(_model_file)]
    abusive: Threshold | None = None
    possible: Threshold | None = None

    @property
    def setting(self) -> ModelSetting:
        high = self.abusive if self.abusive is not None else self.file.abusive
        low = self.possible if self.possible is not None else self.file.possible
        return ModelSetting(self.file, high, low)

    @model_validator(mode="after")
    def _possible_below_abusive(self) -> ModelEntry:
        setting = self.setting
        if setting.possible > setting.abusive:
            raise Problem(
                f"must not be above the abusive threshold ({setting.abusive:g})", "possible"
            )
        return self


class Models(Schema):
    """`abusive.model:`, one model per language."""

    en: ModelEntry | None = None
    de: ModelEntry | None = None

    @model_validator(mode="after")
    def _for_its_language(self) -> Models:
        for lang in LANGUAGES:
            entry: ModelEntry | None = getattr(self, lang)
            if entry is not None and entry.file.language != lang:
                name = Path(entry.file.source).name
                raise Problem(
                    f"{name} is a model for {entry.file.language!r}, not {lang!r}", lang, "file"
                )
        return self


class Severities(Schema):
    """Abusive phrases in one language: `high` and `medium` route, `possible` advises."""

    high: Phrases = []
    medium: Phrases = []
    possible: Phrases = []


class AbusiveSection(Advice):
    """`abusive:`, phrases and models for abusive language."""

    possible_message: Said | None = None
    possible_suggestion: Said | None = None
    not_abusive: PhrasesByLanguage = PhrasesByLanguage()
    model: Models = Models()
    en: Severities
    de: Severities


class ThreatsSection(PhrasesByLanguage):
    """`threats:`, threats of violence or damage."""

    message: Said | None = None
    suggestion: Said | None = None


class Obfuscation(Schema):
    """`obfuscation:`, words to spell out when written as f*ck or 1d10t."""

    words: list[Annotated[str, AfterValidator(_single_word)]] = []


class ConductFile(Schema):
    """What rules/conduct.yaml may say (see that file for the format)."""

    house_rules: PerLanguageText
    bio: BioSection
    reply: PerLanguageText
    abusive: AbusiveSection
    threats: ThreatsSection = ThreatsSection()
    obfuscation: Obfuscation = Obfuscation()


def _conduct(doc: Located) -> ConductRules:
    f = schema.validate_document(doc, ConductFile)
    a, t = f.abusive, f.threats
    abusive: dict[str, dict[str, re.Pattern[str]]] = {}
    for lang in LANGUAGES:
        severities: Severities = getattr(a, lang)
        for severity in (*SEVERITIES, ADVISORY_SEVERITY):
            pattern = compile_phrases(getattr(severities, severity))
            if pattern is not None:
                abusive.setdefault(lang, {})[severity] = pattern
    models = {
        lang: entry.setting for lang in LANGUAGES if (entry := getattr(a.model, lang)) is not None
    }
    return ConductRules(
        f.house_rules.model_dump(),
        dict(f.bio.lengths),
        tuple(sorted(f.bio.texts, key=len, reverse=True)),
        f.reply.model_dump(),
        *_advice("conduct", "abusive", a),
        abusive,
        _by_language(a.not_abusive),
        models,
        threats=_by_language(t),
        deobfuscator=Deobfuscator(frozenset(f.obfuscation.words)),
        **_given_said(
            "conduct",
            threat_message=("threats.message", t.message),
            threat_suggestion=("threats.suggestion", t.suggestion),
            possible_message=("abusive.possible_message", a.possible_message),
            possible_suggestion=("abusive.possible_suggestion", a.possible_suggestion),
        ),
    )


# ------------------------------------------------------------------------- loading

# rules file -> what checks and compiles its parsed document (tone.yaml gives (ToneRules, CannedRule))
FROM_DOCUMENT: dict[str, Callable[[Located], Any]] = {
    "tone.yaml": _tone,
    "privacy.yaml": _privacy,
    "conduct.yaml": _conduct,
}


def load_rules(rules_dir: Path | str) -> CheckRules:
    """Load and validate the three rules files.

    Raises FileErrors with every problem found in every file, each naming
    the file, line and key, so a care lead can fix them in one go.
    """
    rules_dir = Path(rules_dir)
    problems = yamlfile.Problems()
    parts = {
        name: problems.attempt(lambda n: FROM_DOCUMENT[n](yamlfile.load(rules_dir / n)), name)
        for name in RULE_FILES
    }
    problems.raise_any()
    tone, canned = parts["tone.yaml"]
    return CheckRules(
        tone,
        canned,
        parts["privacy.yaml"],
        parts["conduct.yaml"],
        tuple(str(rules_dir / n) for n in RULE_FILES),
    )
