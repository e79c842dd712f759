"""Load and check rules/listening.yaml and rules/triage.yaml.

Both files are edited by a care-team lead. Every problem is collected and
reported as `file:line: key: what is wrong`, all at once, so a broken file is
fixed in one go. Patterns are compiled here, once, so matching a post costs
only a few regex searches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend import yamlfile
from backend.yamlfile import FileError, FileErrors, Located

from .sentiment import Lexicon, lexicon
from .text import TermSet, fold

SUPPORTED_LANGUAGES = ("en", "de")
MENTION_KINDS = ("direct", "tagged", "hashtag", "name")
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
    name_handles: str = "off"
    name_hashtags: str = "off"
    # The names folded with spaces and punctuation removed, as they appear in a tag.
    name_tag_keys: tuple[str, ...] = field(compare=False, repr=False, default=())


NAME_TAG_MODES = ("exact", "prefix", "off")


@dataclass(frozen=True)
class SentimentBand:
    """Points for a sentiment below a threshold, e.g. below -0.6 is "very negative"."""

    below: float
    points: int
    label: str


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
    label: str


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


class _Reader:
    """Reads values out of a Located document, collecting errors instead of stopping."""

    def __init__(self, doc: Located):
        self.doc = doc
        self.errors: list[FileError] = []

    def fail(self, key: str, reason: str) -> None:
        self.errors.append(self.doc.error(key, reason))

    def get(
        self,
        data: dict,
        key: str,
        dotted: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
    ) -> Any:
        if key not in data or data[key] is None:
            if default is ...:
                self.fail(dotted, "is missing")
            return None if default is ... else default
        try:
            return yamlfile.expect(self.doc, dotted, data[key], kind)
        except FileError as err:
            self.errors.append(err)
            return None

    def mapping(self, data: Any, dotted: str, allowed: tuple[str, ...] | None = None) -> dict:
        if not isinstance(data, dict):
            self.fail(dotted, f"expected a mapping, got {yamlfile.describe(data)}")
            return {}
        if allowed is not None:
            for key in data:
                if key not in allowed:
                    where = f"{dotted}.{key}" if dotted else key
                    self.fail(where, f"unknown key; expected one of {', '.join(allowed)}")
        return data

    def texts(
        self, data: dict, key: str, dotted: str, required: bool = True, word: bool = False
    ) -> list[str]:
        """A list of non-empty, distinct texts (distinct after folding).

        `word`: each must start with a letter or digit, since terms are matched
        from a word boundary.
        """
        items = self.get(data, key, dotted, list, default=... if required else [])
        if items is None:
            return []
        out: list[str] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            where = f"{dotted}[{i}]"
            if not isinstance(item, str) or not item.strip():
                self.fail(where, f"expected non-empty text, got {yamlfile.describe(item)}")
                continue
            folded = fold(item.strip())
            if word and not re.match(r"\w", folded):
                self.fail(where, f"{item!r} must start with a letter or digit")
                continue
            if folded in seen:
                self.fail(
                    where,
                    f"{item!r} is listed twice (same as item {seen[folded]} once case and accents are ignored)",
                )
                continue
            seen[folded] = i
            out.append(item.strip())
        if required and not out and not any(e.key.startswith(dotted) for e in self.errors):
            self.fail(dotted, "must list at least one entry")
        return out

    def handles(self, data: Any, dotted: str) -> dict[str, tuple[str, ...]]:
        """platform -> handles, each checked and stripped of a leading '@'."""
        out: dict[str, tuple[str, ...]] = {}
        for platform in self.mapping(data, dotted):
            handles = []
            for i, handle in enumerate(self.texts(data, platform, f"{dotted}.{platform}")):
                if not _HANDLE.match(handle):
                    self.fail(
                        f"{dotted}.{platform}[{i}]",
                        f"{handle!r} is not a handle (expected name, name@server or name.domain)",
                    )
                    continue
                handles.append(handle.lstrip("@"))
            out[str(platform)] = tuple(handles)
        return out

    def raise_if_any(self) -> None:
        if self.errors:
            # In file order, so the lead can fix them top to bottom.
            raise FileErrors(sorted(self.errors, key=lambda e: e.line or 0))


def _short_handles(handle: str) -> list[str]:
    """A handle and, for name@server, the bare name (Mastodon shows local accounts without the server)."""
    folded = fold(handle)
    name, at, _server = folded.partition("@")
    return [folded, name] if at else [folded]


def listening_from_doc(doc: Located) -> ListeningRules:
    """Check and compile a parsed listening.yaml; raises FileErrors listing every problem."""
    r = _Reader(doc)
    top = r.mapping(
        doc.data,
        "",
        (
            "brand",
            "accounts",
            "hashtags",
            "names",
            "aliases",
            "products",
            "exclude",
            "languages",
            "names_in_tags",
        ),
    )
    brand = r.get(top, "brand", "brand", str) or ""
    accounts = r.handles(top.get("accounts"), "accounts") if "accounts" in top else {}
    if "accounts" not in top:
        r.fail("accounts", "is missing (the brand's own handles, per platform)")
    hashtags = [h.lstrip("#") for h in r.texts(top, "hashtags", "hashtags", required=False)]
    for i, tag in enumerate(hashtags):
        if not re.fullmatch(r"\w+", fold(tag)):
            r.fail(f"hashtags[{i}]", f"{tag!r} is not a hashtag (letters, digits and _ only)")
    names = r.texts(top, "names", "names", word=True)
    names += r.texts(top, "aliases", "aliases", required=False, word=True)
    names += r.texts(top, "products", "products", required=False, word=True)
    exclude = r.mapping(top.get("exclude", {}), "exclude", ("phrases", "accounts"))
    phrases = r.texts(exclude, "phrases", "exclude.phrases", required=False, word=True)
    excluded = r.handles(exclude["accounts"], "exclude.accounts") if exclude.get("accounts") else {}
    in_tags = r.mapping(top.get("names_in_tags", {}), "names_in_tags", ("handles", "hashtags"))
    modes = {}
    for key in ("handles", "hashtags"):
        mode = in_tags.get(key, "off")
        if mode is False:  # YAML reads a bare `off` as false
            mode = "off"
        if mode not in NAME_TAG_MODES:
            r.fail(
                f"names_in_tags.{key}", f"expected one of {', '.join(NAME_TAG_MODES)}, got {mode!r}"
            )
            mode = "off"
        modes[key] = mode
    languages = r.texts(top, "languages", "languages")
    for i, lang in enumerate(languages):
        if lang not in SUPPORTED_LANGUAGES:
            r.fail(
                f"languages[{i}]",
                f"{lang!r} is not supported; expected some of {', '.join(SUPPORTED_LANGUAGES)}",
            )
    r.raise_if_any()

    own = {
        p: {short: "@" + h for h in hs for short in _short_handles(h)} for p, hs in accounts.items()
    }
    return ListeningRules(
        path=doc.path,
        brand=brand,
        accounts=accounts,
        hashtags=tuple(hashtags),
        names=tuple(names),
        exclude_phrases=tuple(phrases),
        exclude_accounts=excluded,
        languages=tuple(languages),
        own_handles=own,
        hashtag_labels={fold(h): "#" + h for h in hashtags},
        name_terms=TermSet(names, not_after="#@"),
        exclude_phrase_terms=TermSet(phrases),
        excluded_handles={p: frozenset(fold(h) for h in hs) for p, hs in excluded.items()},
        name_handles=modes["handles"],
        name_hashtags=modes["hashtags"],
        name_tag_keys=tuple(
            sorted({k for k in (re.sub(r"\W|_", "", fold(n)) for n in names) if k}, key=len)
        ),
    )


def _number(r: _Reader, data: dict, key: str, dotted: str, low: float, high: float) -> float | None:
    value = r.get(data, key, dotted, float)
    if value is not None and not low <= value <= high:
        r.fail(dotted, f"{value} is outside {low} to {high}")
        return None
    return value


def _points(r: _Reader, data: dict, key: str, dotted: str) -> int:
    value = r.get(data, key, dotted, int)
    return value if value is not None else 0


def triage_from_doc(doc: Located) -> TriageRules:
    """Check and compile a parsed triage.yaml; raises FileErrors listing every problem."""
    r = _Reader(doc)
    top = r.mapping(
        doc.data,
        "",
        (
            "priorities",
            "sentiment",
            "reach",
            "mentioned",
            "urgent_words",
            "flags",
            "sentiment_words",
        ),
    )

    prios = (
        r.mapping(top.get("priorities"), "priorities", PRIORITIES[:3])
        if "priorities" in top
        else {}
    )
    if "priorities" not in top:
        r.fail("priorities", "is missing (the lowest score for P1, P2 and P3)")
    thresholds: dict[str, int] = {}
    for p in PRIORITIES[:3]:
        if "priorities" in top:
            value = r.get(prios, p, f"priorities.{p}", int)
            if value is not None:
                thresholds[p] = value
    if len(thresholds) == 3 and not thresholds["P1"] > thresholds["P2"] > thresholds["P3"]:
        r.fail("priorities", "P1 must need a higher score than P2, and P2 than P3")

    bands: list[SentimentBand] = []
    for i, item in enumerate(r.get(top, "sentiment", "sentiment", list, default=[]) or []):
        key = f"sentiment[{i}]"
        item = r.mapping(item, key, ("below", "points", "label"))
        below = _number(r, item, "below", f"{key}.below", -1.0, 1.0)
        label = r.get(item, "label", f"{key}.label", str)
        if below is not None and label is not None:
            if bands and below <= bands[-1].below:
                r.fail(
                    f"{key}.below",
                    f"bands go from most negative up; {below} is not above {bands[-1].below}",
                )
            bands.append(SentimentBand(below, _points(r, item, "points", f"{key}.points"), label))

    reach: list[ReachBand] = []
    for i, item in enumerate(r.get(top, "reach", "reach", list, default=[]) or []):
        key = f"reach[{i}]"
        item = r.mapping(item, key, ("at_least", "points"))
        at_least = r.get(item, "at_least", f"{key}.at_least", int)
        if at_least is not None:
            if at_least < 0:
                r.fail(f"{key}.at_least", "a follower count cannot be negative")
            elif reach and at_least >= reach[-1].at_least:
                r.fail(
                    f"{key}.at_least",
                    f"bands go from largest down; {at_least} is not below {reach[-1].at_least}",
                )
            reach.append(ReachBand(at_least, _points(r, item, "points", f"{key}.points")))

    mentioned_raw = r.mapping(top.get("mentioned", {}), "mentioned", MENTION_KINDS)
    mentioned = {
        k: _points(r, mentioned_raw, k, f"mentioned.{k}")
        for k in mentioned_raw
        if k in MENTION_KINDS
    }

    urgent = r.mapping(
        top.get("urgent_words", {}), "urgent_words", ("points",) + SUPPORTED_LANGUAGES
    )
    urgent_points = _points(r, urgent, "points", "urgent_words.points") if urgent else 0
    urgent_words = {
        lang: tuple(r.texts(urgent, lang, f"urgent_words.{lang}", word=True))
        for lang in SUPPORTED_LANGUAGES
        if lang in urgent
    }

    flags: dict[str, FlagRule] = {}
    for check, item in r.mapping(top.get("flags", {}), "flags").items():
        key = f"flags.{check}"
        item = r.mapping(item, key, ("points", "label"))
        label = r.get(item, "label", f"{key}.label", str, default=str(check).replace("_", " "))
        flags[str(check)] = FlagRule(str(check), _points(r, item, "points", f"{key}.points"), label)

    words_raw = r.mapping(top.get("sentiment_words", {}), "sentiment_words", SUPPORTED_LANGUAGES)
    sentiment_words: dict[str, dict[str, float]] = {}
    for lang, table in words_raw.items():
        table = r.mapping(table, f"sentiment_words.{lang}")
        sentiment_words[lang] = {}
        for word in table:
            if not re.fullmatch(r"\w+", str(word)):
                r.fail(f"sentiment_words.{lang}.{word}", "must be a single word")
                continue
            value = _number(r, table, word, f"sentiment_words.{lang}.{word}", -4.0, 4.0)
            if value is not None:
                sentiment_words[lang][str(word)] = value
    r.raise_if_any()

    all_urgent = [w for words in urgent_words.values() for w in words]
    return TriageRules(
        path=doc.path,
        thresholds=thresholds,
        sentiment=tuple(bands),
        reach=tuple(reach),
        mentioned=mentioned,
        urgent_points=urgent_points,
        urgent_words=urgent_words,
        flags=flags,
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
