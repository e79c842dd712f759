"""Load and check rules/listening.yaml and rules/triage.yaml.

Both files are edited by a care-team lead. Each is described by a `Schema`
model (`ListeningFile`, `TriageFile`: types, defaults and limits declared
once) and read through `schema.validate_document`, so every problem is
reported as `file:line: key: what is wrong`, all at once, and a broken file is
fixed in one go. Patterns are compiled here, once, so matching a post costs
only a few regex searches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from backend import schema, yamlfile
from backend.i18n import SOURCE_LANGUAGE, Wording
from backend.schema import Problem, Said, Schema
from backend.yamlfile import Located

from .sentiment import Lexicon, lexicon
from .text import TermSet, fold

Language = Literal["en", "de"]
SUPPORTED_LANGUAGES: tuple[Language, ...] = get_args(Language)
MentionKind = Literal["direct", "tagged", "hashtag", "name"]
MENTION_KINDS: tuple[MentionKind, ...] = get_args(MentionKind)
PRIORITIES = ("P1", "P2", "P3", "P4")
ANY_PLATFORM = "any"

_HANDLE = re.compile(r"^@?[^\s@]+(@[^\s@]+)?$")


@dataclass(frozen=True)
class ListeningRules:
    """What counts as a mention of the brand: rules/listening.yaml, compiled."""

    path: str
    brand: str
    accounts: Mapping[str, tuple[str, ...]]  # platform -> the brand's own handles, without '@'
    hashtags: tuple[str, ...]  # without '#'
    names: tuple[str, ...]  # names, aliases and product names
    exclude_phrases: tuple[str, ...]
    exclude_accounts: Mapping[str, tuple[str, ...]]  # platform (or "any") -> handles
    languages: tuple[str, ...]
    # Compiled at load; not part of equality.
    # platform -> folded handle (and bare name of name@server) -> "@handle" as written
    own_handles: Mapping[str, Mapping[str, str]] = field(
        compare=False, repr=False, default_factory=dict
    )
    hashtag_labels: Mapping[str, str] = field(
        compare=False, repr=False, default_factory=dict
    )  # folded -> "#tag"
    name_terms: TermSet | None = field(compare=False, repr=False, default=None)
    exclude_phrase_terms: TermSet | None = field(compare=False, repr=False, default=None)
    excluded_handles: Mapping[str, frozenset[str]] = field(
        compare=False, repr=False, default_factory=dict
    )
    # Our names written as a tag nobody listed ("@Acme", "#AcmeFail"):
    # "exact" (the tag is a name), "prefix" (the tag starts with one) or "off".
    name_handles: NameTagMode = "off"
    name_hashtags: NameTagMode = "off"
    # The same for the host of a link ("primevideo.com" for "Prime").
    name_links: NameTagMode = "off"
    # The names folded with spaces and punctuation removed, as they appear in a tag.
    name_tag_keys: tuple[str, ...] = field(compare=False, repr=False, default=())


NameTagMode = Literal["exact", "prefix", "off"]
NAME_TAG_MODES: tuple[NameTagMode, ...] = get_args(NameTagMode)


@dataclass(frozen=True)
class SentimentBand:
    """Points for a sentiment below a threshold, e.g. below -0.6 is "very negative"."""

    below: float
    points: int
    label: Wording  # in each language the file gives


@dataclass(frozen=True)
class ReachBand:
    """Points for an author with at least this many followers."""

    at_least: int
    points: int


@dataclass(frozen=True)
class FlagRule:
    """Points for a flag raised by the privacy or conduct checks."""

    check: str
    points: int
    label: Wording


@dataclass(frozen=True)
class TriageRules:
    """How a mention earns its priority: rules/triage.yaml, compiled."""

    path: str
    thresholds: Mapping[str, int]  # P1..P3 -> lowest score earning it
    sentiment: tuple[SentimentBand, ...]  # most negative first
    reach: tuple[ReachBand, ...]  # largest first
    mentioned: Mapping[str, int]  # how the brand was mentioned -> points
    urgent_points: int
    urgent_words: Mapping[str, tuple[str, ...]]  # language -> words as written
    flags: Mapping[str, FlagRule]
    sentiment_words: Mapping[str, Mapping[str, float]]  # language -> word -> valence (-4..4)
    urgent_terms: TermSet | None = field(compare=False, repr=False, default=None)
    # language -> sentiment lexicon with sentiment_words on top, built at load
    lexicons: Mapping[str, Lexicon] = field(compare=False, repr=False, default_factory=dict)


@dataclass(frozen=True)
class Rules:
    """Both rule files, loaded together."""

    listening: ListeningRules
    triage: TriageRules


# ------------------------------------------------------------------------- the schema
# What each file may say. A list of words or handles is checked item by item
# (each mistake at its own line), then as a whole (nothing listed twice).


def _entry(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _word_start(term: str) -> str:
    # Terms are matched from a word boundary, so one starting with '*' or '-' never matches.
    if not re.match(r"\w", fold(term)):
        raise ValueError(f"{term!r} must start with a letter or digit")
    return term


def _handle(handle: str) -> str:
    if not _HANDLE.match(handle):
        raise ValueError(f"{handle!r} is not a handle (expected name, name@server or name.domain)")
    return handle.lstrip("@")


def _hashtag(tag: str) -> str:
    tag = tag.lstrip("#")
    if not re.fullmatch(r"\w+", fold(tag)):
        raise ValueError(f"{tag!r} is not a hashtag (letters, digits and _ only)")
    return tag


def _once(items: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        key = fold(item)
        if key in seen:
            raise Problem(
                f"{item!r} is listed twice (same as item {seen[key]} once case and accents are ignored)",
                i,
            )
        seen[key] = i
    return items


def _single_word(word: str) -> str:
    if not re.fullmatch(r"\w+", word):
        raise ValueError("must be a single word")
    return word


def _off(value: object) -> object:
    return "off" if value is False else value  # YAML reads a bare `off` as false


Term = Annotated[str, AfterValidator(_entry), AfterValidator(_word_start)]
Terms = Annotated[list[Term], AfterValidator(_once)]
Handle = Annotated[str, AfterValidator(_entry), AfterValidator(_handle)]
# platform -> the handles there; a platform listed must list someone
Handles = dict[str, Annotated[list[Handle], Field(min_length=1), AfterValidator(_once)]]
Hashtag = Annotated[str, AfterValidator(_entry), AfterValidator(_hashtag)]
Mode = Annotated[NameTagMode, BeforeValidator(_off)]
Points = int
Valence = Annotated[float, Field(ge=-4, le=4)]


class ExcludeSection(Schema):
    """`exclude:`, posts that look like mentions but are not about us."""

    phrases: Terms | None = None
    accounts: Handles | None = None


class NamesInTags(Schema):
    """`names_in_tags:`, our name written as a tag nobody listed."""

    handles: Mode = "off"
    hashtags: Mode = "off"
    links: Mode = "off"


class ListeningFile(Schema):
    """What rules/listening.yaml may say (see that file for the format).

    A list left empty (`aliases:` with every item commented out) means none.
    """

    brand: Annotated[str, AfterValidator(_entry), Field(description="the brand's name")]
    accounts: Annotated[Handles, Field(description="the brand's own handles, per platform")]
    hashtags: Annotated[list[Hashtag], AfterValidator(_once)] | None = None
    names: Annotated[Terms, Field(min_length=1, description="the brand's name as people write it")]
    aliases: Terms | None = None
    products: Terms | None = None
    exclude: ExcludeSection | None = None
    languages: Annotated[
        list[Language],
        Field(min_length=1, description="the languages the team answers in: en, de"),
        AfterValidator(_once),
    ]
    names_in_tags: NamesInTags | None = None


class PriorityScores(Schema):
    """`priorities:`, the lowest score earning P1, P2 and P3."""

    P1: Points
    P2: Points
    P3: Points

    @model_validator(mode="after")
    def _descending(self) -> PriorityScores:
        if not self.P1 > self.P2 > self.P3:
            raise Problem("P1 must need a higher score than P2, and P2 than P3")
        return self


class SentimentEntry(Schema):
    """One band under `sentiment:`."""

    below: Annotated[float, Field(ge=-1, le=1)]
    points: Points
    label: Said  # a text, or one per language: {en: very negative, de: sehr negativ}


class ReachEntry(Schema):
    """One band under `reach:`."""

    at_least: Annotated[int, Field(ge=0)]
    points: Points


def _rising(bands: list[SentimentEntry]) -> list[SentimentEntry]:
    for i, (before, band) in enumerate(zip(bands, bands[1:]), start=1):
        if band.below <= before.below:
            raise Problem(
                f"bands go from most negative up; {band.below} is not above {before.below}",
                i,
                "below",
            )
    return bands


def _falling(bands: list[ReachEntry]) -> list[ReachEntry]:
    for i, (before, band) in enumerate(zip(bands, bands[1:]), start=1):
        if band.at_least >= before.at_least:
            raise Problem(
                f"bands go from largest down; {band.at_least} is not below {before.at_least}",
                i,
                "at_least",
            )
    return bands


class MentionedPoints(Schema):
    """`mentioned:`, points for how the brand was mentioned."""

    direct: Points | None = None
    tagged: Points | None = None
    hashtag: Points | None = None
    name: Points | None = None


UrgentList = Annotated[Terms, Field(min_length=1)]


class UrgentWords(Schema):
    """`urgent_words:`, points given once, and the words per language."""

    points: Annotated[Points, Field(description="points given once for any urgent word")]
    en: UrgentList | None = None
    de: UrgentList | None = None


class FlagEntry(Schema):
    """One check under `flags:`."""

    points: Points
    label: Said | None = None  # the check's name, with spaces; or one per language


WordValences = dict[Annotated[str, AfterValidator(_single_word)], Valence]


class SentimentWords(Schema):
    """`sentiment_words:`, word -> valence from -4 to +4, per language."""

    en: WordValences | None = None
    de: WordValences | None = None


class TriageFile(Schema):
    """What rules/triage.yaml may say (see that file for the format)."""

    priorities: Annotated[PriorityScores, Field(description="the lowest score for P1, P2 and P3")]
    sentiment: Annotated[list[SentimentEntry], AfterValidator(_rising)] = []
    reach: Annotated[list[ReachEntry], AfterValidator(_falling)] = []
    mentioned: MentionedPoints = MentionedPoints()
    urgent_words: UrgentWords | None = None
    flags: dict[str, FlagEntry] = {}
    sentiment_words: SentimentWords = SentimentWords()


# ------------------------------------------------------------------------- compiling


def _short_handles(handle: str) -> list[str]:
    """A handle and, for name@server, the bare name (Mastodon shows local accounts without the server)."""
    folded = fold(handle)
    name, at, _server = folded.partition("@")
    return [folded, name] if at else [folded]


def _tuples(handles: Handles | None) -> dict[str, tuple[str, ...]]:
    return {platform: tuple(hs) for platform, hs in (handles or {}).items()}


def listening_from_doc(doc: Located) -> ListeningRules:
    """Check and compile a parsed listening.yaml; raises FileErrors listing every problem."""
    f = schema.validate_document(doc, ListeningFile)
    accounts = _tuples(f.accounts)
    hashtags = f.hashtags or []
    names = f.names + (f.aliases or []) + (f.products or [])
    exclude = f.exclude or ExcludeSection()
    phrases = exclude.phrases or []
    excluded = _tuples(exclude.accounts)
    in_tags = f.names_in_tags or NamesInTags()
    own = {
        p: {short: "@" + h for h in hs for short in _short_handles(h)} for p, hs in accounts.items()
    }
    return ListeningRules(
        path=doc.path,
        brand=f.brand,
        accounts=accounts,
        hashtags=tuple(hashtags),
        names=tuple(names),
        exclude_phrases=tuple(phrases),
        exclude_accounts=excluded,
        languages=tuple(f.languages),
        own_handles=own,
        hashtag_labels={fold(h): "#" + h for h in hashtags},
        name_terms=TermSet(names, not_after="#@"),
        exclude_phrase_terms=TermSet(phrases),
        excluded_handles={p: frozenset(fold(h) for h in hs) for p, hs in excluded.items()},
        name_handles=in_tags.handles,
        name_hashtags=in_tags.hashtags,
        name_links=in_tags.links,
        name_tag_keys=tuple(
            sorted({k for k in (re.sub(r"\W|_", "", fold(n)) for n in names) if k}, key=len)
        ),
    )


def triage_from_doc(doc: Located) -> TriageRules:
    """Check and compile a parsed triage.yaml; raises FileErrors listing every problem."""
    f = schema.validate_document(doc, TriageFile)
    urgent = f.urgent_words
    urgent_words: dict[str, tuple[str, ...]] = {
        lang: tuple(words)
        for lang in SUPPORTED_LANGUAGES
        if urgent is not None and (words := getattr(urgent, lang)) is not None
    }
    sentiment_words: dict[str, dict[str, float]] = {
        lang: dict(table)
        for lang in SUPPORTED_LANGUAGES
        if (table := getattr(f.sentiment_words, lang)) is not None
    }
    all_urgent = [w for words in urgent_words.values() for w in words]
    return TriageRules(
        path=doc.path,
        thresholds={"P1": f.priorities.P1, "P2": f.priorities.P2, "P3": f.priorities.P3},
        sentiment=tuple(
            SentimentBand(b.below, b.points, Wording(f"triage.sentiment[{i}].label", b.label))
            for i, b in enumerate(f.sentiment)
        ),
        reach=tuple(ReachBand(b.at_least, b.points) for b in f.reach),
        mentioned={
            kind: points
            for kind in MENTION_KINDS
            if (points := getattr(f.mentioned, kind)) is not None
        },
        urgent_points=urgent.points if urgent is not None else 0,
        urgent_words=urgent_words,
        flags={
            check: FlagRule(
                check,
                flag.points,
                Wording(
                    f"triage.flags.{check}.label",
                    flag.label or {SOURCE_LANGUAGE: check.replace("_", " ")},
                ),
            )
            for check, flag in f.flags.items()
        },
        sentiment_words=sentiment_words,
        urgent_terms=TermSet(all_urgent),
        lexicons={
            code: lex
            for code in SUPPORTED_LANGUAGES
            if (lex := lexicon(code, sentiment_words.get(code))) is not None
        },
    )


def load_listening(path: str | Path) -> ListeningRules:
    """Load rules/listening.yaml; raises FileError or FileErrors naming file, line and key."""
    return listening_from_doc(yamlfile.load(path))


def load_triage(path: str | Path) -> TriageRules:
    """Load rules/triage.yaml; raises FileError or FileErrors naming file, line and key."""
    return triage_from_doc(yamlfile.load(path))


def load_rules(rules_dir: str | Path) -> Rules:
    """Load listening.yaml and triage.yaml from a rules folder, reporting both files' problems together."""
    rules_dir = Path(rules_dir)
    problems = yamlfile.Problems()
    listening = problems.attempt(load_listening, rules_dir / "listening.yaml")
    triage = problems.attempt(load_triage, rules_dir / "triage.yaml")
    problems.raise_any()
    return Rules(listening=listening, triage=triage)
