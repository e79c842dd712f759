"""Personal data in a text: IBANs, payment cards, e-mail, phone, Acme's numbers.

Pure functions on plain data. IBANs must pass mod-97 and cards must pass
Luhn, so that ordinary long numbers (tracking codes, amounts) are not
taken for bank details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.i18n import Message, Text, as_text, say
from backend.listening.triage import PERSONAL_DATA_TEXTS

from .prefilter import count_digits, has_digit, min_digits

# Length of an IBAN per country (ISO 13616 registry), so a candidate can be
# cut to the right length when words follow it.
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SC": 31,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
}

# Two letters, two check digits, then letters/digits in groups separated by
# at most one space or dash. Cut to length and validated afterwards.
_IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})((?:[ \-]?[A-Za-z0-9]){11,32})")
# 13-19 digits, optionally in groups separated by one space or dash.
# Not part of a longer digit run (a 20-digit tracking code in groups of 4).
_CARD_CANDIDATE = re.compile(
    r"(?<![\w.,+-])(?<!\d[ \-])\d(?:[ \-]?\d){12,18}(?![ \-]?\d)(?!\w|[.,]\d)"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
# Every e-mail address has a name character, "@", letters or digits, then a
# dot: posts that merely tag someone ("@acme thanks", "@acme.bsky.social")
# skip the slower full pattern. The lookbehind sits after the literal '@' so
# the engine can skip quickly from '@' to '@'.
_EMAIL_HINT = re.compile(r"@(?<=[\w.+-]@)[A-Za-z0-9-]+\.")
# Links: digits in a URL path (a help article, a status id) are not a phone number.
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|de|io|co|uk|us|me|ly|gl|app|help|support|example)/\S*",
    re.IGNORECASE,
)
# Country codes written in front of a national number, and the national prefix they replace.
_COUNTRY = (("49", "0"), ("43", "0"), ("41", "0"), ("44", "0"), ("33", "0"), ("1", "1"))
_IBAN_DIGITS = min_digits(_IBAN_CANDIDATE)  # 2: the check digits
_CARD_DIGITS = min_digits(_CARD_CANDIDATE)  # 13
# Card networks: Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37,
# Discover/UnionPay 6, Diners 36/38/30, JCB 35, Maestro 50/56-69.
_CARD_PREFIX = re.compile(r"^(4|5[0-9]|2[2-7]|3[0-8]|6)")


@dataclass(frozen=True)
class NumberFormat:
    """One of the brand's own formats, e.g. order numbers."""

    name: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class PrivacyRules:
    """The compiled contents of rules/privacy.yaml."""

    iban: bool
    card: bool
    email: bool
    phone_patterns: tuple[re.Pattern[str], ...]
    phone_min_digits: int
    phone_max_digits: int
    numbers: tuple[NumberFormat, ...]
    allowed: tuple[re.Pattern[str], ...]
    refusal_message: Message
    refusal_suggestion: Message
    flag_message: Message
    flag_suggestion: Message
    mask_symbol: str = "•"
    mask_keep_last: int = 2
    # The brand's own published contact details (never personal data):
    # phone numbers as national digits (see national_digits), e-mail addresses lower case.
    brand_phones: frozenset[str] = frozenset()
    brand_emails: frozenset[str] = frozenset()
    brand_domains: tuple[str, ...] = ()  # any address at these domains is the brand's
    # First digits (national form) of toll-free and service numbers: a
    # company's line, not a person's; at most an advisory.
    service_prefixes: tuple[str, ...] = ()
    service_message: Message = say(
        "privacy.service_message",
        "A service or toll-free number — check it is ours before it goes out.",
    )
    service_suggestion: Message = say(
        "privacy.service_suggestion", "Give only the brand's own published numbers."
    )
    # Each configured pattern with the digits every match of it has (see
    # prefilter.min_digits), worked out once here rather than for every post:
    # most posts have no digit or one or two, too few for any of them.
    numbers_by_digits: tuple[tuple[NumberFormat, int], ...] = field(
        init=False, repr=False, compare=False
    )
    phones_by_digits: tuple[tuple[re.Pattern[str], int], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "numbers_by_digits", tuple((n, min_digits(n.pattern)) for n in self.numbers)
        )
        object.__setattr__(
            self, "phones_by_digits", tuple((p, min_digits(p)) for p in self.phone_patterns)
        )


@dataclass(frozen=True)
class PersonalData:
    """One piece of personal data found in a text."""

    type: str  # "iban", "card", "email", "phone", or a configured number name
    start: int
    end: int
    text: str


def iban_is_valid(candidate: str) -> bool:
    """True when `candidate` (spaces allowed) is a well-formed IBAN passing mod-97."""
    compact = re.sub(r"[ \-]", "", candidate).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", compact):
        return False
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is None or len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def luhn_is_valid(number: str) -> bool:
    """True when the digits of `number` pass the Luhn checksum."""
    digits = [int(d) for d in number if d.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _find_ibans(text: str) -> list[PersonalData]:
    found: list[PersonalData] = []
    pos = 0
    while True:
        m = _IBAN_CANDIDATE.search(text, pos)
        if not m:
            return found
        country = m.group(1).upper()
        length = IBAN_LENGTHS.get(country)
        hit = None
        if length is not None:
            # Walk the characters until the country's length is reached, so a
            # following word ("DE89 … 00 thanks") is not swallowed.
            need = length
            end = m.start()
            for i in range(m.start(), m.end()):
                if text[i].isalnum():
                    need -= 1
                    if need == 0:
                        end = i + 1
                        break
            if need == 0 and not (end < len(text) and text[end].isalnum()):
                if iban_is_valid(text[m.start() : end]):
                    hit = PersonalData("iban", m.start(), end, text[m.start() : end])
        if hit:
            found.append(hit)
            pos = hit.end
        else:
            pos = m.start() + 1


def _find_cards(text: str, taken: list[PersonalData]) -> list[PersonalData]:
    found = []
    for m in _CARD_CANDIDATE.finditer(text):
        if _overlaps(m.start(), m.end(), taken):
            continue
        digits = re.sub(r"\D", "", m.group())
        if _CARD_PREFIX.match(digits) and luhn_is_valid(digits):
            found.append(PersonalData("card", m.start(), m.end(), m.group()))
    return found


def national_digits(number: str) -> str:
    """A phone number's digits in national form: "+49 800 1234567" and
    "0800 1234567" are both "08001234567"; "+1 800…" is "1800…"."""
    digits = "".join(ch for ch in number if ch.isdigit())
    international = number.lstrip().startswith("+") or digits.startswith("00")
    if international:
        digits = digits[2:] if digits.startswith("00") else digits
        for code, national in _COUNTRY:
            if digits.startswith(code):
                return national + digits[len(code) :]
    return digits


def is_service_number(rules: PrivacyRules, number: str) -> bool:
    """Whether a phone number is a toll-free or service line (by its first digits)."""
    digits = national_digits(number)
    return bool(rules.service_prefixes) and digits.startswith(rules.service_prefixes)


def _is_brand_contact(rules: PrivacyRules, item: PersonalData) -> bool:
    if item.type == "email":
        address = item.text.lower()
        domain = address.rpartition("@")[2]
        return address in rules.brand_emails or any(
            domain == d or domain.endswith("." + d) for d in rules.brand_domains
        )
    if item.type == "phone" and rules.brand_phones:
        return national_digits(item.text) in rules.brand_phones
    return False


def _overlaps(start: int, end: int, taken: list[PersonalData]) -> bool:
    return any(start < t.end and t.start < end for t in taken)


def find_personal_data(rules: PrivacyRules, text: str) -> list[PersonalData]:
    """Every piece of personal data in `text`, in order, without overlaps.

    Checksummed kinds win over patterns: an IBAN's digits are not also
    reported as a phone number.
    """
    # Most posts have no digit and no '@', or a digit or two: the patterns that
    # need more digits than the text has are skipped (IBANs, cards and e-mail
    # by their shape, configured patterns by reading them), same findings.
    digits = count_digits(text) if has_digit(text) else 0
    found: list[PersonalData] = []
    if rules.iban and digits >= _IBAN_DIGITS:
        found += _find_ibans(text)
    if rules.email and "@" in text and _EMAIL_HINT.search(text):
        found += [
            PersonalData("email", m.start(), m.end(), m.group())
            for m in _EMAIL.finditer(text)
            if not _overlaps(m.start(), m.end(), found)
        ]
    for number, needed in rules.numbers_by_digits:
        if digits < needed:
            continue
        found += [
            PersonalData(number.name, m.start(), m.end(), m.group())
            for m in number.pattern.finditer(text)
            if not _overlaps(m.start(), m.end(), found)
        ]
    if rules.card and digits >= _CARD_DIGITS:
        found += _find_cards(text, found)
    links: list[PersonalData] = []
    if digits >= _CARD_DIGITS or any(d >= 1 for _, d in rules.phones_by_digits):
        if "/" in text or "www" in text:
            links = [PersonalData("link", m.start(), m.end(), "") for m in _URL.finditer(text)]
    if links:
        # A card or phone "number" inside a link is part of the link.
        found = [
            f for f in found if f.type not in ("card",) or not _overlaps(f.start, f.end, links)
        ]
    for pattern, needed in rules.phones_by_digits:
        if digits < needed:
            continue
        for m in pattern.finditer(text):
            if _overlaps(m.start(), m.end(), found) or _overlaps(m.start(), m.end(), links):
                continue
            digit_count = sum(ch.isdigit() for ch in m.group())
            if rules.phone_min_digits <= digit_count <= rules.phone_max_digits:
                kind = "service_number" if is_service_number(rules, m.group()) else "phone"
                found.append(PersonalData(kind, m.start(), m.end(), m.group()))
    if (rules.brand_phones or rules.brand_emails or rules.brand_domains) and found:
        found = [f for f in found if not _is_brand_contact(rules, f)]
    if rules.allowed and found:
        spans = [(m.start(), m.end()) for p in rules.allowed for m in p.finditer(text)]
        found = [f for f in found if not any(s <= f.start and f.end <= e for s, e in spans)]
    found.sort(key=lambda p: p.start)
    return found


def mask(rules: PrivacyRules, text: str) -> str:
    """`text` with every letter and digit of its personal data hidden.

    Separators stay (so the shape is recognisable) and the last
    `mask_keep_last` letters/digits stay visible to tell items apart.
    """
    pieces = []
    last = 0
    for item in find_personal_data(rules, text):
        if item.type == "service_number":  # a company's line: nothing to hide
            continue
        pieces.append(text[last : item.start])
        alnum_positions = [i for i, ch in enumerate(item.text) if ch.isalnum()]
        keep = set(alnum_positions[-rules.mask_keep_last :]) if rules.mask_keep_last else set()
        pieces.append(
            "".join(
                ch if (not ch.isalnum() or i in keep) else rules.mask_symbol
                for i, ch in enumerate(item.text)
            )
        )
        last = item.end
    pieces.append(text[last:])
    return "".join(pieces)


def describe(item: PersonalData) -> str:
    """The name an operator understands: "IBAN", "order number", ..."""
    return str(describe_text(item))


def describe_text(item: PersonalData) -> Text:
    """`describe` in the reader's language; the brand's own number names as privacy.yaml has them."""
    return PERSONAL_DATA_TEXTS.get(item.type) or as_text(item.type)
