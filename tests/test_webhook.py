"""Webhook signatures and body parsing: pure functions, no server needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backend.connectors import webhook
from backend.connectors.webhook import WebhookError, parse, sign, verify

SECRET = "whsec-very-secret"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))


def post(**overrides):
    p = {
        "id": "p1",
        "author": {"id": "u1", "handle": "@jo_k", "display_name": "Jo", "followers": 3},
        "text": "@acme help",
        "created_at": "2026-11-25T08:59:00Z",
        "hashtags": ["#acmefail"],
        "mentions": ["acme"],
        "extra": {"kept": True},
    }
    p.update(overrides)
    return p


def body(obj) -> bytes:
    return json.dumps(obj).encode()


def test_good_signature_passes():
    b = body(post())
    verify(SECRET, TS, sign(SECRET, TS, b), b, NOW)


@pytest.mark.parametrize(
    "ts, sig, message",
    [
        (None, "sha256=" + "0" * 64, "X-Shiftdesk-Timestamp header missing"),
        (TS, None, "X-Shiftdesk-Signature header missing"),
        ("yesterday", "sha256=" + "0" * 64, "X-Shiftdesk-Timestamp: expected Unix seconds"),
        (str(int(NOW.timestamp()) - 301), None, "301 s old, outside the 300 s window"),
        (str(int(NOW.timestamp()) + 400), None, "400 s in the future"),
        (TS, "md5=abc", "X-Shiftdesk-Signature: expected sha256=<64 hex digits>"),
        (TS, "sha256=" + "0" * 64, "X-Shiftdesk-Signature: does not match the body"),
    ],
)
def test_bad_signatures_say_which_header_and_never_the_secret(ts, sig, message):
    b = body(post())
    if sig is None and ts and ts.isdigit() and ts != TS:
        sig = sign(SECRET, ts, b)  # correctly signed, just stale
    with pytest.raises(WebhookError) as err:
        verify(SECRET, ts, sig, b, NOW)
    assert err.value.status == 401 and message in err.value.message
    assert SECRET not in str(err.value)


def test_tampered_body_or_wrong_secret_fails():
    b = body(post())
    good = sign(SECRET, TS, b)
    with pytest.raises(WebhookError, match="does not match"):
        verify(SECRET, TS, good, body(post(text="changed")), NOW)
    with pytest.raises(WebhookError, match="does not match"):
        verify("other-secret", TS, good, b, NOW)


def test_signature_compared_in_constant_time(monkeypatch):
    calls = []
    real = webhook.hmac.compare_digest
    monkeypatch.setattr(
        webhook.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b)
    )
    b = body(post())
    verify(SECRET, TS, sign(SECRET, TS, b), b, NOW)
    assert len(calls) == 1


def test_one_post_and_a_list_parse():
    [one] = parse("forum", body(post()), 10_000)
    assert one.platform == "forum" and one.post_id == "p1" and one.author.handle == "jo_k"
    assert (
        one.author.followers == 3
        and one.hashtags == ("acmefail",)
        and one.mentioned_handles == ("acme",)
    )
    assert one.created_at == datetime(2026, 11, 25, 8, 59, tzinfo=UTC)
    assert one.raw["extra"] == {"kept": True}
    many = parse("forum", body({"posts": [post(id=f"p{i}") for i in range(3)]}), 10_000)
    assert [p.post_id for p in many] == ["p0", "p1", "p2"]


@pytest.mark.parametrize(
    "payload, status, message",
    [
        (
            {
                "posts": [
                    post(),
                    post(id="p2"),
                    post(id="p3"),
                    post(id="p4", author={"id": "u", "handle": 7}),
                ]
            },
            422,
            "posts[3].author.handle: expected text",
        ),
        (
            {"posts": [post(created_at="2026-11-25T08:59:00")]},
            422,
            "posts[0].created_at: needs a timezone",
        ),
        (
            {"posts": [post(created_at="soon")]},
            422,
            "posts[0].created_at: expected an ISO 8601 time",
        ),
        (post(id=None), 422, "post.id: missing"),
        (
            post(author={"id": "u", "handle": "x", "followers": -1}),
            422,
            "post.author.followers: expected a whole number",
        ),
        (post(is_direct="yes"), 422, "post.is_direct: expected true or false"),
        (post(hashtags=["ok", 3]), 422, "post.hashtags[1]: expected non-empty text"),
        (post(text="nul \u0000 inside"), 422, "post.text: contains a NUL character"),
        ({"posts": [post(), post()]}, 422, "posts[1].id: 'p1' appears twice"),
        ({"posts": "p1"}, 422, "posts: expected a list"),
        ([post()], 422, "body: expected one post"),
    ],
)
def test_invalid_fields_are_named_and_nothing_is_accepted(payload, status, message):
    with pytest.raises(WebhookError) as err:
        parse("forum", body(payload), 100_000)
    assert err.value.status == status and message in err.value.message


@pytest.mark.parametrize(
    "raw, kwargs, status, message",
    [
        (b"\xff\xfe{}", {}, 400, "body: not UTF-8 (byte 0)"),
        (b'{"id": "1"\x00}', {}, 400, "NUL byte"),
        (b'{"id": ', {}, 400, "body: not JSON"),
        (b"x" * 101, {}, 413, "101 bytes, more than the 100 allowed"),
        (b"{}", {"content_type": "text/plain"}, 415, "expected application/json"),
    ],
)
def test_unreadable_bodies(raw, kwargs, status, message):
    with pytest.raises(WebhookError) as err:
        parse("forum", raw, 100, **kwargs)
    assert err.value.status == status and message in err.value.message


def test_source_name_is_checked_and_json_with_charset_accepted():
    with pytest.raises(WebhookError, match="source"):
        parse("../etc", body(post()), 10_000)
    assert parse("forum", body(post()), 10_000, content_type="application/json; charset=utf-8")


@pytest.mark.faults
@pytest.mark.parametrize(
    "ts",
    [
        "¹⁷⁶⁴⁰⁶¹²⁰⁰",  # superscript: str.isdigit() says yes, int() says no
        "١٧٦٤٠٦١٢٠٠",  # Arabic-Indic: int() accepts them
        "１７６４０６１２００",  # full-width
        "9" * 5000,  # past int()'s digit limit, and an overflow in the window arithmetic
        "9" * 13,
        "-1",
        "1.5e9",
        " ",
    ],
)
def test_a_timestamp_of_anything_but_a_few_ascii_digits_is_a_401_naming_the_header(ts):
    b = body(post())
    with pytest.raises(WebhookError) as err:
        verify(SECRET, ts, "sha256=" + "0" * 64, b, NOW)
    assert err.value.status == 401 and "X-Shiftdesk-Timestamp: expected Unix seconds" in str(
        err.value
    )


@pytest.mark.faults
def test_headers_are_checked_without_the_body_and_the_body_after():
    digest = sign(SECRET, TS, b"{}").removeprefix("sha256=")
    stamp, sig = webhook.check_headers(TS, " sha256=" + digest.upper() + " ", NOW)
    webhook.check_body(SECRET, stamp, sig, b"{}")  # hex in capitals, spaces around: still ours
    with pytest.raises(WebhookError, match="does not match"):
        webhook.check_body(SECRET, stamp, sig, b"{ }")


HUGE = 2**31


@pytest.mark.faults
@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"author": {"id": "u", "handle": "x", "followers": HUGE}}, "followers: expected a whole"),
        ({"created_at": "0001-01-01T00:00:00Z"}, "created_at: '0001-01-01T00:00:00Z' is not"),
        ({"created_at": "9999-12-31T23:59:59+00:00"}, "is not between 2000 and 2100"),
        ({"extra": {"deep": json.loads("[" * 40 + "]" * 40)}}, "nested more than 16 levels"),
        ({"extra": "nul \u0000"}, "posts[1].extra: contains a NUL character"),
        ({"extra": {"k": "\ud800"}}, "posts[1].extra.k: contains a lone UTF-16 surrogate"),
        ({"text": "\udfff"}, "posts[1].text: contains a lone UTF-16 surrogate"),
        ({"extra": [float("nan")]}, "posts[1].extra[0]: NaN is not a JSON number"),
        ({"extra": float("inf")}, "Infinity is not a JSON number"),
        ({"text": "x" * 10_001}, "posts[1].text: 10001 characters, more than 10000"),
        ({"author": {"id": "u", "handle": "h" * 101}}, "author.handle: 101 characters"),
        ({"author": {"id": "u", "handle": "h", "display_name": "n" * 201}}, "display_name: 201"),
        ({"hashtags": ["t"] * 101}, "hashtags: 101 entries, more than 100"),
        ({"url": "u" * 2001}, "posts[1].url: 2001 characters"),
    ],
)
def test_a_bad_post_is_refused_alone_with_its_index_and_reason(bad, reason):
    text = json.dumps({"posts": [post(id="a"), post(id="b", **bad), post(id="c")]})
    # (json.dumps writes NaN and Infinity as the bare words, as a careless sender would.)
    batch = webhook.parse_batch("forum", text.encode(), 1_000_000)
    assert [p.post_id for p in batch.posts] == ["a", "c"]
    [refused] = batch.refused
    assert refused.index == 1 and reason in refused.reason, refused
    with pytest.raises(WebhookError) as err:  # all or nothing for callers that want it
        parse("forum", text.encode(), 1_000_000)
    assert err.value.status == 422 and reason in err.value.message


@pytest.mark.faults
def test_numbers_past_what_can_be_stored_are_refused_per_post_and_whole_bodies_too_deep_are_400():
    big = json.dumps(post(id="b"))[:-1] + ', "big": ' + "9" * 5000 + "}"
    text = '{"posts": [' + json.dumps(post(id="a")) + ", " + big + "]}"
    batch = webhook.parse_batch("forum", text.encode(), 1_000_000)
    assert [p.post_id for p in batch.posts] == ["a"]
    assert "posts[1].big" in batch.refused[0].reason and "digits" in batch.refused[0].reason
    with pytest.raises(WebhookError) as err:
        webhook.parse_batch("forum", b"[" * 200_000 + b"]" * 200_000, 1_000_000)
    assert err.value.status == 400 and "nested too deeply" in err.value.message
