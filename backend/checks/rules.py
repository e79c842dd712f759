"""Load rules/tone.yaml, rules/privacy.yaml and rules/conduct.yaml into one
frozen CheckRules, reporting every mistake as file:line: key: reason."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import yamlfile
from backend.yamlfile import FileError, FileErrors, Located

from .abuse_model import load_abuse_model
from .canned import CannedRule
from .conduct import ADVISORY_SEVERITY, SEVERITIES, ConductRules, ModelSetting
from .deobfuscate import Deobfuscator
from .language import LANGUAGES
from .phrases import PhraseCheck, compile_phrase, compile_phrases
from .privacy import NumberFormat, PrivacyRules, national_digits
from .tone import ShoutingRule, ToneRules

RULE_FILES = ("tone.yaml", "privacy.yaml", "conduct.yaml")


@dataclass(frozen=True)
class CheckRules:
    """Everything the tone, privacy and conduct checks need, compiled once."""

    tone: ToneRules
    canned: CannedRule
    privacy: PrivacyRules
    conduct: ConductRules
    files: tuple[str, ...] = ()


class _Reader:
    """Reads one document, collecting errors instead of stopping at the first."""

    def __init__(self, doc: Located):
        self.doc = doc
        self.errors: list[FileError] = []

    def fail(self, key: str, reason: str) -> None:
        self.errors.append(self.doc.error(key, reason))

    def get(
        self,
        data: Any,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
        *,
        path: str | None = None,
    ) -> Any:
        """data[key] checked against `kind`; records an error and returns None when wrong."""
        dotted = path or key
        if not isinstance(data, dict) or key not in data:
            if default is not ...:
                return default
            self.fail(dotted, "is missing")
            return None
        try:
            return yamlfile.expect(self.doc, dotted, data[key], kind)
        except FileError as exc:
            self.errors.append(exc)
            return None

    def text(self, data: Any, key: str, path: str) -> str:
        value = self.get(data, key, str, path=path)
        if isinstance(value, str) and not value.strip():
            self.fail(path, "is empty")
        return value or ""

    def number(self, data: Any, key: str, path: str, low: float, high: float) -> float:
        value = self.get(data, key, float, path=path)
        if value is None:
            return low
        if not low <= value <= high:
            self.fail(path, f"must be between {low:g} and {high:g}, got {value:g}")
        return value

    def whole(self, data: Any, key: str, path: str, low: int) -> int:
        value = self.get(data, key, int, path=path)
        if value is None:
            return low
        if value < low:
            self.fail(path, f"must be at least {low}, got {value}")
        return value

    def patterns(self, data: Any, key: str, path: str, required: bool = True) -> list[str]:
        """A list of regular expressions; each one that does not compile is an error at its line."""
        items = (
            self.get(data, key, list, path=path)
            if required
            else self.get(data, key, list, [], path=path)
        )
        good = []
        for i, item in enumerate(items or []):
            where = f"{path}[{i}]"
            if not isinstance(item, str) or not item.strip():
                self.fail(where, f"expected a phrase, got {yamlfile.describe(item)}")
                continue
            try:
                pattern = compile_phrase(item)
            except re.error as exc:
                self.fail(
                    where, f"not a valid pattern: {exc.msg} (at character {exc.pos}) in {item!r}"
                )
                continue
            if pattern.search(""):
                self.fail(where, f"matches empty text, so it would flag everything: {item!r}")
                continue
            good.append(item)
        return good

    def one_pattern(self, data: Any, key: str, path: str) -> re.Pattern[str] | None:
        """One whole-word regular expression, or None (with an error) when it is wrong."""
        text = self.get(data, key, str, path=path)
        if not text:
            return None
        try:
            pattern = compile_phrase(text)
        except re.error as exc:
            self.fail(path, f"not a valid pattern: {exc.msg} (at character {exc.pos}) in {text!r}")
            return None
        if pattern.search(""):
            self.fail(path, f"matches empty text, so it would flag everything: {text!r}")
            return None
        return pattern

    def unknown_keys(self, data: Any, allowed: set[str], prefix: str = "") -> None:
        if isinstance(data, dict):
            for key in data:
                if key not in allowed:
                    where = f"{prefix}.{key}" if prefix else key
                    self.fail(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})")


def _by_language(r: _Reader, section: Any, path: str) -> dict[str, re.Pattern[str]]:
    out = {}
    for lang in LANGUAGES:
        phrases = r.patterns(section, lang, f"{path}.{lang}")
        pattern = compile_phrases(phrases)
        if pattern is not None:
            out[lang] = pattern
    return out


def _phrase_check(r: _Reader, data: Any, name: str, key: str | None = None) -> PhraseCheck:
    key = key or name
    section = r.get(data, key, dict)
    r.unknown_keys(section, {"message", "suggestion", *LANGUAGES}, key)
    return PhraseCheck(
        name,
        r.text(section, "message", f"{key}.message"),
        r.text(section, "suggestion", f"{key}.suggestion"),
        _by_language(r, section, key),
    )


def _read_tone(r: _Reader) -> tuple[ToneRules, CannedRule]:
    data = r.doc.data
    r.unknown_keys(
        data, {"defensive", "negative", "blame", "shouting", "apology", "name", "canned"}
    )
    checks = tuple(_phrase_check(r, data, n) for n in ("defensive", "negative", "blame"))
    apology = _phrase_check(r, data, "no_apology", "apology")
    s = r.get(data, "shouting", dict)
    r.unknown_keys(
        s,
        {
            "message",
            "suggestion",
            "upper_share",
            "min_letters",
            "caps_words_in_row",
            "exclamations_in_row",
            "not_shouting",
            "acronym_letters",
        },
        "shouting",
    )
    not_shouting = r.get(s, "not_shouting", list, [], path="shouting.not_shouting") or []
    shouting = ShoutingRule(
        r.text(s, "message", "shouting.message"),
        r.text(s, "suggestion", "shouting.suggestion"),
        r.number(s, "upper_share", "shouting.upper_share", 0.1, 1.0),
        r.whole(s, "min_letters", "shouting.min_letters", 1),
        r.whole(s, "caps_words_in_row", "shouting.caps_words_in_row", 2),
        r.whole(s, "exclamations_in_row", "shouting.exclamations_in_row", 2),
        frozenset(str(w).upper() for w in not_shouting),
        r.get(s, "acronym_letters", int, 0, path="shouting.acronym_letters") or 0,
    )
    n = r.get(data, "name", dict)
    r.unknown_keys(n, {"message", "suggestion"}, "name")
    c = r.get(data, "canned", dict)
    r.unknown_keys(
        c,
        {
            "template_similarity",
            "recent_similarity",
            "min_words",
            "template_message",
            "template_suggestion",
            "recent_message",
            "recent_suggestion",
            "stock_message",
            "stock_suggestion",
            "stock",
        },
        "canned",
    )
    stock_section = r.get(c, "stock", dict, {}, path="canned.stock") or {}
    r.unknown_keys(stock_section, set(LANGUAGES), "canned.stock")
    stock = {}
    for lang in LANGUAGES:
        pattern = compile_phrases(
            r.patterns(stock_section, lang, f"canned.stock.{lang}", required=False)
        )
        if pattern is not None:
            stock[lang] = pattern
    canned = CannedRule(
        r.number(c, "template_similarity", "canned.template_similarity", 0.5, 1.0),
        r.number(c, "recent_similarity", "canned.recent_similarity", 0.5, 1.0),
        r.whole(c, "min_words", "canned.min_words", 1),
        r.text(c, "template_message", "canned.template_message"),
        r.text(c, "template_suggestion", "canned.template_suggestion"),
        r.text(c, "recent_message", "canned.recent_message"),
        r.text(c, "recent_suggestion", "canned.recent_suggestion"),
        r.get(c, "stock_message", str, CannedRule.stock_message, path="canned.stock_message"),
        r.get(
            c, "stock_suggestion", str, CannedRule.stock_suggestion, path="canned.stock_suggestion"
        ),
        stock,
    )
    tone = ToneRules(
        checks,
        shouting,
        apology,
        r.text(n, "message", "name.message"),
        r.text(n, "suggestion", "name.suggestion"),
    )
    return tone, canned


def _read_privacy(r: _Reader) -> PrivacyRules:
    data = r.doc.data
    r.unknown_keys(
        data,
        {
            "iban",
            "card",
            "email",
            "phone",
            "numbers",
            "allowed",
            "messages",
            "mask",
            "brand_contacts",
            "service_numbers",
        },
    )
    contacts = r.get(data, "brand_contacts", dict, {}) or {}
    r.unknown_keys(contacts, {"phones", "emails", "domains"}, "brand_contacts")
    brand_domains = tuple(
        str(d).strip().lower().lstrip("@")
        for d in r.get(contacts, "domains", list, [], path="brand_contacts.domains") or []
    )
    brand_phones = set()
    for i, number in enumerate(
        r.get(contacts, "phones", list, [], path="brand_contacts.phones") or []
    ):
        digits = national_digits(str(number))
        if len(digits) < 5:
            r.fail(f"brand_contacts.phones[{i}]", f"expected a phone number, got {number!r}")
        brand_phones.add(digits)
    brand_emails = {
        str(e).strip().lower()
        for e in r.get(contacts, "emails", list, [], path="brand_contacts.emails") or []
    }
    service = r.get(data, "service_numbers", dict, {}) or {}
    r.unknown_keys(service, {"prefixes", "message", "suggestion"}, "service_numbers")
    prefixes = []
    for i, prefix in enumerate(
        r.get(service, "prefixes", list, [], path="service_numbers.prefixes") or []
    ):
        if not str(prefix).isdigit():
            r.fail(f"service_numbers.prefixes[{i}]", f"expected digits, got {prefix!r}")
        else:
            prefixes.append(str(prefix))
    switches = {k: r.get(data, k, bool) for k in ("iban", "card", "email")}
    phone = r.get(data, "phone", dict)
    r.unknown_keys(phone, {"min_digits", "max_digits", "patterns"}, "phone")
    low = r.whole(phone, "min_digits", "phone.min_digits", 3)
    high = r.whole(phone, "max_digits", "phone.max_digits", 3)
    if low > high:
        r.fail("phone.max_digits", f"must not be less than min_digits ({low})")
    phone_patterns = tuple(re.compile(p) for p in r.patterns(phone, "patterns", "phone.patterns"))
    numbers = []
    seen_names: set[str] = set()
    for i, item in enumerate(r.get(data, "numbers", list, []) or []):
        where = f"numbers[{i}]"
        if not isinstance(item, dict):
            r.fail(
                where, f"expected a mapping with name and pattern, got {yamlfile.describe(item)}"
            )
            continue
        r.unknown_keys(item, {"name", "pattern"}, where)
        name = r.text(item, "name", f"{where}.name")
        if name in seen_names:
            r.fail(f"{where}.name", f"{name!r} appears twice")
        seen_names.add(name)
        pattern = r.one_pattern(item, "pattern", f"{where}.pattern")
        if pattern is not None and name:
            numbers.append(NumberFormat(name, pattern))
    allowed = tuple(
        re.compile(p, re.IGNORECASE) for p in r.patterns(data, "allowed", "allowed", required=False)
    )
    m = r.get(data, "messages", dict)
    r.unknown_keys(m, {"refusal", "refusal_suggestion", "flag", "flag_suggestion"}, "messages")
    mask = r.get(data, "mask", dict, {}) or {}
    r.unknown_keys(mask, {"symbol", "keep_last"}, "mask")
    symbol = r.get(mask, "symbol", str, "•", path="mask.symbol") or "•"
    if len(symbol) != 1:
        r.fail("mask.symbol", f"must be one character, got {symbol!r}")
    keep = r.get(mask, "keep_last", int, 2, path="mask.keep_last")
    if keep is not None and not 0 <= keep <= 4:
        r.fail("mask.keep_last", f"must be between 0 and 4, got {keep}")
    return PrivacyRules(
        bool(switches["iban"]),
        bool(switches["card"]),
        bool(switches["email"]),
        phone_patterns,
        low,
        high,
        tuple(numbers),
        allowed,
        r.text(m, "refusal", "messages.refusal"),
        r.text(m, "refusal_suggestion", "messages.refusal_suggestion"),
        r.text(m, "flag", "messages.flag"),
        r.text(m, "flag_suggestion", "messages.flag_suggestion"),
        symbol[:1] or "•",
        keep if keep is not None else 2,
        frozenset(brand_phones),
        frozenset(brand_emails),
        brand_domains,
        tuple(prefixes),
        *(
            [
                r.text(service, "message", "service_numbers.message"),
                r.text(service, "suggestion", "service_numbers.suggestion"),
            ]
            if "message" in service
            else []
        ),
    )


def _per_language_texts(r: _Reader, data: Any, key: str) -> dict[str, str]:
    section = r.get(data, key, dict)
    r.unknown_keys(section, set(LANGUAGES), key)
    return {lang: " ".join(r.text(section, lang, f"{key}.{lang}").split()) for lang in LANGUAGES}


def _read_conduct(r: _Reader) -> ConductRules:
    data = r.doc.data
    r.unknown_keys(data, {"house_rules", "bio", "reply", "abusive", "threats", "obfuscation"})
    house_rules = _per_language_texts(r, data, "house_rules")
    replies = _per_language_texts(r, data, "reply")
    bio = r.get(data, "bio", dict)
    r.unknown_keys(bio, {"lengths", "texts"}, "bio")
    lengths: dict[str, int] = {}
    for platform, value in (r.get(bio, "lengths", dict, path="bio.lengths") or {}).items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 20:
            r.fail(
                f"bio.lengths.{platform}",
                f"expected a length of at least 20 characters, got {yamlfile.describe(value)}",
            )
        else:
            lengths[str(platform)] = value
    texts = []
    for i, text in enumerate(r.get(bio, "texts", list, path="bio.texts") or []):
        if not isinstance(text, str) or not text.strip():
            r.fail(f"bio.texts[{i}]", f"expected text, got {yamlfile.describe(text)}")
        else:
            texts.append(" ".join(text.split()))
    if texts and lengths:
        shortest = min(texts, key=len)
        for platform, limit in lengths.items():
            if len(shortest) > limit:
                r.fail(
                    f"bio.lengths.{platform}",
                    f"no bio text fits {platform}'s {limit} characters (shortest is {len(shortest)})",
                )
    elif lengths and not texts:
        r.fail("bio.texts", "needs at least one text")
    a = r.get(data, "abusive", dict)
    r.unknown_keys(
        a,
        {
            "message",
            "suggestion",
            "possible_message",
            "possible_suggestion",
            "not_abusive",
            "model",
            *LANGUAGES,
        },
        "abusive",
    )
    abusive: dict[str, dict[str, re.Pattern[str]]] = {}
    for lang in LANGUAGES:
        section = r.get(a, lang, dict, path=f"abusive.{lang}")
        r.unknown_keys(section, {*SEVERITIES, ADVISORY_SEVERITY}, f"abusive.{lang}")
        for severity in (*SEVERITIES, ADVISORY_SEVERITY):
            phrases = r.patterns(section, severity, f"abusive.{lang}.{severity}", required=False)
            pattern = compile_phrases(phrases)
            if pattern is not None:
                abusive.setdefault(lang, {})[severity] = pattern
    exceptions = r.get(a, "not_abusive", dict, {}, path="abusive.not_abusive") or {}
    r.unknown_keys(exceptions, set(LANGUAGES), "abusive.not_abusive")
    not_abusive = {}
    for lang in LANGUAGES:
        pattern = compile_phrases(
            r.patterns(exceptions, lang, f"abusive.not_abusive.{lang}", required=False)
        )
        if pattern is not None:
            not_abusive[lang] = pattern
    t = r.get(data, "threats", dict, {}) or {}
    r.unknown_keys(t, {"message", "suggestion", *LANGUAGES}, "threats")
    threats = {}
    for lang in LANGUAGES:
        pattern = compile_phrases(r.patterns(t, lang, f"threats.{lang}", required=False))
        if pattern is not None:
            threats[lang] = pattern
    o = r.get(data, "obfuscation", dict, {}) or {}
    r.unknown_keys(o, {"words"}, "obfuscation")
    words = r.get(o, "words", list, [], path="obfuscation.words") or []
    bad = [w for w in words if not isinstance(w, str) or not w.strip() or " " in w.strip()]
    if bad:
        r.fail("obfuscation.words", f"expected single words, got {yamlfile.describe(bad[0])}")
    extra = {}
    if t:
        extra["threat_message"] = r.text(t, "message", "threats.message")
        extra["threat_suggestion"] = r.text(t, "suggestion", "threats.suggestion")
    if "possible_message" in (a or {}):
        extra["possible_message"] = r.text(a, "possible_message", "abusive.possible_message")
        extra["possible_suggestion"] = r.text(
            a, "possible_suggestion", "abusive.possible_suggestion"
        )
    return ConductRules(
        house_rules,
        lengths,
        tuple(sorted(texts, key=len, reverse=True)),
        replies,
        r.text(a, "message", "abusive.message"),
        r.text(a, "suggestion", "abusive.suggestion"),
        abusive,
        not_abusive,
        _abuse_models(r, a),
        threats=threats,
        deobfuscator=Deobfuscator(frozenset(w.strip().lower() for w in words if w not in bad)),
        **extra,
    )


def _abuse_models(r: _Reader, abusive: Any) -> dict[str, ModelSetting]:
    """abusive.model.<lang>: file (beside the rules file) and optional
    `abusive` / `possible` thresholds overriding the trained operating points."""
    section = r.get(abusive, "model", dict, {}, path="abusive.model") or {}
    r.unknown_keys(section, set(LANGUAGES), "abusive.model")
    models = {}
    for lang in LANGUAGES:
        if lang not in section:
            continue
        where = f"abusive.model.{lang}"
        entry = r.get(section, lang, dict, path=where)
        if entry is None:
            continue
        r.unknown_keys(entry, {"file", "abusive", "possible"}, where)
        name = r.text(entry, "file", f"{where}.file")
        ok = bool(name)
        points: dict[str, float] = {}
        for point in ("abusive", "possible"):
            if point in entry:
                value = r.get(entry, point, float, path=f"{where}.{point}")
                if value is None:
                    ok = False
                elif not 0 < value < 1:
                    r.fail(
                        f"{where}.{point}", f"must be between 0 and 1 (exclusive), got {value:g}"
                    )
                    ok = False
                else:
                    points[point] = value
        if not name:
            continue
        # Load the file even when a setting is wrong, so all mistakes show at once.
        try:
            model = load_abuse_model(Path(r.doc.path).parent / name)
        except ValueError as exc:
            r.fail(f"{where}.file", str(exc))
            continue
        if model.language != lang:
            r.fail(f"{where}.file", f"{name} is a model for {model.language!r}, not {lang!r}")
            continue
        high = points.get("abusive", model.abusive)
        low = points.get("possible", model.possible)
        if low > high:
            r.fail(f"{where}.possible", f"must not be above the abusive threshold ({high:g})")
            ok = False
        if ok:
            models[lang] = ModelSetting(model, high, low)
    return models


_READERS: dict[str, Callable[[_Reader], Any]] = {
    "tone.yaml": _read_tone,
    "privacy.yaml": _read_privacy,
    "conduct.yaml": _read_conduct,
}


def load_rules(rules_dir: Path | str) -> CheckRules:
    """Load and validate the three rules files.

    Raises FileErrors with every problem found in every file, each naming
    the file, line and key, so a care lead can fix them in one go.
    """
    rules_dir = Path(rules_dir)
    errors: list[FileError] = []
    parts: dict[str, Any] = {}
    for name in RULE_FILES:
        path = rules_dir / name
        try:
            doc = yamlfile.load(path)
        except FileError as exc:
            errors.append(exc)
            continue
        if not isinstance(doc.data, dict):
            errors.append(
                FileError(
                    path,
                    "",
                    f"expected a mapping of settings, got {yamlfile.describe(doc.data)}",
                    1,
                )
            )
            continue
        reader = _Reader(doc)
        parts[name] = _READERS[name](reader)
        errors += reader.errors
    if errors:
        raise FileErrors(errors)
    tone, canned = parts["tone.yaml"]
    return CheckRules(
        tone,
        canned,
        parts["privacy.yaml"],
        parts["conduct.yaml"],
        tuple(str(rules_dir / n) for n in RULE_FILES),
    )
