"""Pure parts of publishing and recognising: how a message addresses the
customer, how long the platform counts it, Bluesky facets and record keys,
and the start-up identity check. No peer, no fake: plain functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from backend.connectors.address import address, address_of, already_addressed, platform_length
from backend.connectors.bluesky import post_to_inbound, quoted_uri, record_key, tid
from backend.connectors.mastodon import reread_floor, status_to_post
from backend.connectors.own import Identity, identity_problem
from backend.connectors.richtext import facets, mentioned_handles
from backend.model import OutboundMessage
from tests.fakes.mastodon import FakeMastodon

# ---------------------------------------------------------------- A: addressing


@pytest.mark.parametrize(
    "handle, text, expected",
    [
        ("jo", "Sorry Jo, looking now", "@jo Sorry Jo, looking now"),
        ("dave@remote.example", "Sorry!", "@dave@remote.example Sorry!"),
        ("jo", "@jo sorry", "@jo sorry"),  # typed already: not doubled
        ("jo", "Sorry @JO.", "Sorry @JO."),  # anywhere, any case, before punctuation
        ("jo", "thanks @joanna", "@jo thanks @joanna"),  # a longer handle is not the customer
        ("jo", "ask @jo@other.social", "@jo ask @jo@other.social"),  # nor a remote namesake
        ("dave@remote.example", "@dave hi", "@dave@remote.example @dave hi"),  # local != remote
    ],
)
def test_mastodon_statuses_mention_the_customers_acct_once(handle, text, expected):
    out = address("mastodon", handle, text)
    assert out.text == expected
    assert out.prefix == expected[: len(expected) - len(text)]


CASED_BELOW = 0x1F000  # no character from here on has a case (Unicode 15)


def test_the_fold_before_the_pattern_never_hides_a_match_the_pattern_would_find():
    """already_addressed skips the per-customer pattern when the folded address is not in
    the folded text; that is exact only if every pair of characters IGNORECASE takes as
    equal folds to the same text. Checked for every pair re's case handling relates."""
    import _sre
    import sys
    from collections import defaultdict
    from re import _casefix  # type: ignore[attr-defined]  # re's table of extra case pairs

    from backend.connectors.address import _fold

    by_lower: dict[int, set[int]] = defaultdict(set)
    for cp in range(CASED_BELOW):
        if not 0xD800 <= cp <= 0xDFFF:
            by_lower[_sre.unicode_tolower(cp)].add(cp)
    assert not any(chr(cp).casefold() != chr(cp) for cp in range(CASED_BELOW, sys.maxunicode + 1))
    # IGNORECASE takes two characters as equal when their lower cases are equal, or
    # when re's table of extra cases relates those lower cases: each such group folds
    # to one text.
    groups = 0
    for low, same in by_lower.items():
        related = set(same)
        for extra in _casefix._EXTRA_CASES.get(low, ()):
            related |= by_lower.get(extra, {extra})
        if len(related) > 1:
            groups += 1
            assert len({_fold(chr(c)) for c in related}) == 1, sorted(map(hex, related))
    assert groups > 1000  # the table was really walked (Turkish i, Kelvin sign, long s, ...)
    assert re.fullmatch("\u212a", "k", re.IGNORECASE) and re.fullmatch("\u0131", "I", re.IGNORECASE)
    # And the answers agree with the pattern alone on the cases that fold oddly.
    for handle, text, said in [
        ("kai", "Thanks @\u212aAI", True),  # Kelvin sign
        ("ıris", "hi @IRIS", True),  # dotless i, as IGNORECASE reads it
        ("iris", "hi @\u0130ris", True),  # dotted capital I
        ("ſam", "hi @SAM", True),  # long s
        ("strauß", "hi @STRAUSS", False),  # ß is not "ss" to IGNORECASE
        ("jo", "no mention here", False),
    ]:
        assert already_addressed("mastodon", handle, text) is said, (handle, text)


def test_bluesky_reply_to_the_customer_needs_no_text_anything_else_gets_the_handle():
    reply = address("bluesky", "jo.bsky.social", "Sorry, Jo", replies_to_customer=True)
    assert (reply.text, reply.prefix, reply.by_reply) == ("Sorry, Jo", "", True)
    closing = address("bluesky", "jo.bsky.social", "All fixed, Jo")
    assert closing.text == "@jo.bsky.social All fixed, Jo" and not closing.by_reply
    assert address("bluesky", "jo.bsky.social", "Hi @jo.bsky.social").prefix == ""


def test_platforms_without_a_way_to_address_are_left_alone():
    assert address("simulator", "jo", "hi").text == "hi"
    assert address_of("simulator", "jo") == "" and already_addressed("simulator", "jo", "x")


def test_lengths_count_as_the_platforms_do():
    url = "https://acme.example/" + "x" * 80
    # Mastodon: any link is 23, a remote mention counts without its domain.
    assert platform_length("mastodon", f"@dave@remote.example see {url}") == len("@dave see ") + 23
    # Bluesky: graphemes; a family emoji and a combining accent are one each.
    assert platform_length("bluesky", "👨\u200d👩\u200d👧 e\u0301") == 3
    # Plain ASCII counts one a character, on the fast path as on the slow one.
    assert platform_length("bluesky", "Sorry, we're on it. ^Ben") == 24
    assert platform_length("bluesky", "Sorry, we're on it. ^Bén") == 24
    long = address("mastodon", "jo", "x" * 497)
    assert long.length == 501 and long.too_long and long.limit == 500


# ---------------------------------------------------------------- G: Bluesky facets


def test_facets_cover_links_tags_and_resolved_mentions_in_utf8_bytes():
    text = "@jo.bsky.social Entschuldigung für #AcmeFail, siehe https://acme.example/status. @x.y"
    found = facets(text, {"jo.bsky.social": "did:plc:jo"})
    raw = text.encode("utf-8")
    shown = [
        (
            f["features"][0]["$type"].rsplit("#", 1)[1],
            raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(),
        )
        for f in found
    ]
    assert shown == [
        ("mention", "@jo.bsky.social"),
        ("tag", "#AcmeFail"),
        ("link", "https://acme.example/status"),
    ]  # @x.y did not resolve: plain text
    assert found[0]["features"][0]["did"] == "did:plc:jo"
    assert found[1]["features"][0]["tag"] == "AcmeFail"
    # "für" is 4 bytes in UTF-8: offsets after it are bytes, not characters.
    assert found[1]["index"]["byteStart"] == len("@jo.bsky.social Entschuldigung für ".encode())
    assert mentioned_handles(text) == ["jo.bsky.social", "x.y"]


def test_a_hash_inside_a_link_is_part_of_the_link():
    found = facets("see https://acme.example/a#b now", {})
    assert [f["features"][0]["$type"].rsplit("#", 1)[1] for f in found] == ["link"]


# ---------------------------------------------------------------- F: record keys


def test_record_key_is_a_tid_fixed_per_message_and_distinct_between_messages():
    at = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=UTC)
    one = OutboundMessage("shiftdesk-7-abc", "bluesky", "hi", created_at=at)
    again = OutboundMessage("shiftdesk-7-abc", "bluesky", "hi (edited?)", created_at=at)
    other = OutboundMessage("shiftdesk-8-def", "bluesky", "hi", created_at=at)
    key = record_key(one)
    assert key == record_key(again) != record_key(other)
    assert len(key) == 13 and key[0] in "234567abcdefghij"
    assert all(c in "234567abcdefghijklmnopqrstuvwxyz" for c in key)
    # TIDs sort by time: a later message sorts after.
    later = OutboundMessage("shiftdesk-7-abc", "bluesky", "hi", created_at=at.replace(second=1))
    assert record_key(later) > key
    assert tid(0, 0) == "2222222222222"


# ---------------------------------------------------------------- C, D: mapping with our identity


def test_mastodon_status_by_us_or_replying_to_us_is_marked():
    fake = FakeMastodon()
    us = Identity("mastodon", fake.us["id"], "acme")
    ours = fake.post("acme", "@jo sorry about that")
    reply = fake.post("jo", "still broken", in_reply_to_id=ours["id"])  # no @acme in the text
    mine = status_to_post(ours, us)
    theirs = status_to_post(reply, us)
    assert mine.by_us and not theirs.by_us
    assert theirs.reason == "reply" and "acme" in theirs.mentioned_handles
    assert status_to_post(reply).reason is None  # without our identity nothing is claimed
    quote = dict(
        fake.post("max", "look at this"), quote={"state": "accepted", "quoted_status": ours}
    )
    quoted = status_to_post(quote, us)
    assert quoted.reason == "quote" and quoted.quote_of == ours["id"]
    assert "acme" in quoted.mentioned_handles


def test_bluesky_notification_reason_is_kept_and_replies_and_quotes_address_us():
    us = Identity("bluesky", "did:plc:acme", "acme.bsky.social")
    author = {"did": "did:plc:jo", "handle": "jo.bsky.social"}
    ours = "at://did:plc:acme/app.bsky.feed.post/3lacme"
    base = {"uri": "at://did:plc:jo/app.bsky.feed.post/3ljo", "cid": "c", "author": author}
    reply = {
        **base,
        "reason": "reply",
        "indexedAt": "2026-11-25T09:00:00Z",
        "record": {
            "text": "nope, still broken",
            "createdAt": "2026-11-25T09:00:00Z",
            "reply": {"root": {"uri": ours, "cid": "r"}, "parent": {"uri": ours, "cid": "r"}},
        },
    }
    post = post_to_inbound(reply, us=us)
    assert post.reason == "reply" and post.mentioned_handles == ("acme.bsky.social",)
    record = {
        "text": "lol",
        "createdAt": "2026-11-25T09:00:00Z",
        "embed": {"$type": "app.bsky.embed.record", "record": {"uri": ours, "cid": "r"}},
    }
    assert quoted_uri(record) == ours
    found = post_to_inbound({**base, "indexedAt": "2026-11-25T09:00:00Z", "record": record}, us=us)
    assert found.reason == "quote" and found.quote_of == ours and not found.by_us
    assert "acme.bsky.social" in found.mentioned_handles


# ---------------------------------------------------------------- C: who we are


def test_identity_must_match_config_and_rules():
    me = Identity("mastodon", "1001", "acme")
    assert identity_problem(me, "acme", ["acme@social.example"]) is None
    wrong = identity_problem(me, "acme_support", ["acme@social.example"])
    assert wrong and "configured for @acme_support but the token logs in as @acme (1001)" in wrong
    unlisted = identity_problem(me, "acme", ["acmehelp@social.example"])
    assert (
        unlisted
        and "rules/listening.yaml: accounts.mastodon lists @acmehelp@social.example" in unlisted
    )
    sky = Identity("bluesky", "did:plc:acme", "acme.bsky.social")
    assert identity_problem(sky, "did:plc:acme", ["acme.bsky.social"]) is None  # a DID in config
    assert identity_problem(sky, "acme.bsky.social", []) is not None


# ---------------------------------------------------------------- E: re-read window


def test_reread_floor_uses_the_time_inside_snowflake_ids_only():
    since = str((1_780_000_000_000 << 16) + 5)  # a Mastodon id: ms since 1970, then a sequence
    assert int(reread_floor(since, 120) or 0) == (1_780_000_000_000 - 120_000) << 16
    assert reread_floor("12345", 120) is None  # a row number says nothing about time
    assert reread_floor(since, 0) is None and reread_floor(None, 120) is None
