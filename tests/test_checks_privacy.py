import pytest

from backend.checks import FLAG, REFUSAL, check_inbound, check_outbound, mask_personal_data
from backend.checks.privacy import iban_is_valid, luhn_is_valid


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91 ABNA 0417 1643 00",
        "AT61 1904 3002 3457 3201",
        "CH93 0076 2011 6238 5295 7",
        "be68 5390 0754 7034",
    ],
)
def test_valid_ibans_pass_mod_97(iban):
    assert iban_is_valid(iban)


@pytest.mark.parametrize(
    "not_iban",
    [
        "DE89 3704 0044 0532 0130 01",  # one digit off: checksum fails
        "DE89 3704 0044 0532 0130",  # too short for Germany
        "XX89 3704 0044 0532 0130 00",  # no such country
    ],
)
def test_near_miss_ibans_fail(not_iban):
    assert not iban_is_valid(not_iban)


def test_luhn():
    assert luhn_is_valid("4111 1111 1111 1111")
    assert luhn_is_valid("378282246310005")
    assert not luhn_is_valid("4111 1111 1111 1112")


def test_iban_in_public_reply_is_refused_with_span(rules):
    text = "Refund goes to DE89 3704 0044 0532 0130 00 today, thanks!"
    [f] = [f for f in check_outbound(rules, text, channel="public") if f.check == "personal_data"]
    assert f.kind == REFUSAL
    assert text[f.start : f.end] == "DE89 3704 0044 0532 0130 00"
    assert f.detail["type"] == "iban"


def test_personal_data_allowed_in_dm(rules):
    text = "Refund goes to DE89 3704 0044 0532 0130 00, mail jo@example.org"
    assert not [f for f in check_outbound(rules, text, channel="dm") if f.check == "personal_data"]


@pytest.mark.parametrize(
    "text,kind",
    [
        ("card 4111 1111 1111 1111 was charged", "card"),
        ("write to anna.schmidt@example.de", "email"),
        ("call +49 151 23456789", "phone"),
        ("ruf an: 030/12345678", "phone"),
        ("order ACM-123456 is late", "order number"),
        ("Kundennummer KD12345678", "customer number"),
    ],
)
def test_each_kind_is_found(rules, text, kind):
    found = [f.detail["type"] for f in check_inbound(rules, text, channel="public")]
    assert found == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 was charged",  # fails Luhn
        "tracking 0034 0434 1610 9404 2557",  # 20 digits, not a card or phone
        "tracking JJD000390007727433",
        "ordered 01.12.2025 for 1.299,00 €",
        "PLZ 10115 Berlin, model 4006-381-333",
        "write to care@acme.example or call 0800 123 4567",  # Acme's own contacts
    ],
)
def test_near_misses_are_not_personal_data(rules, text):
    assert check_inbound(rules, text, channel="public") == []


def test_inbound_public_post_is_flagged_for_dm(rules):
    [f] = check_inbound(rules, "my iban DE89370400440532013000 pls refund", channel="public")
    assert f.kind == FLAG and f.detail["suggest"] == "move_to_dm"
    assert check_inbound(rules, "my iban DE89370400440532013000", channel="dm") == []


def test_masking_hides_all_but_the_last_characters(rules):
    masked = mask_personal_data(
        rules, "IBAN DE89 3704 0044 0532 0130 00 and jo@example.org, thanks"
    )
    assert masked == "IBAN •••• •••• •••• •••• •••• 00 and ••@•••••••.•rg, thanks"


def test_email_hint_never_skips_an_address():
    import random

    from backend.checks.privacy import _EMAIL, _EMAIL_HINT

    rng = random.Random(8)
    texts = [
        "".join(rng.choice("ab1@@..-+_ Zé") for _ in range(rng.randrange(25))) for _ in range(50000)
    ]
    found = [t for t in texts if _EMAIL.search(t)]
    assert len(found) > 100 and all(_EMAIL_HINT.search(t) for t in found)
    assert _EMAIL_HINT.search(
        "@acme thanks, @acme@social.example! wait"
    )  # a handle with a server: run the full pattern
    assert _EMAIL_HINT.search("@acme thanks for nothing") is None
    assert _EMAIL_HINT.search("@acme.bsky.social where is my parcel?") is None


def test_patterns_that_need_digits_are_sorted_out_at_load(rules):
    p = rules.privacy
    assert [(n.name, d) for n, d in p.numbers_by_digits] == [
        ("order number", 6),
        ("customer number", 8),
        ("contract number", 8),
    ]
    assert [d for _, d in p.phones_by_digits] == [4, 5, 10, 10]
    from backend.checks import privacy

    assert (privacy._IBAN_DIGITS, privacy._CARD_DIGITS) == (2, 13)
